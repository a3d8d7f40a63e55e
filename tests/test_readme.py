"""The README's matrix is the manifest's, and its two fresh-machine commands are the ones that work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP = "pip install uv && "  # installs uv on a fresh machine; the test environment has it already
COMMANDS = [
    block.strip()
    for block in re.findall(r"^```bash\n(.*?)^```", README, re.DOTALL | re.MULTILINE)
    if block.startswith(SETUP)
]


def fresh_machine_command(word: str) -> str:
    matching = [command for command in COMMANDS if word in command]
    assert len(matching) == 1, f"one fresh-machine command with {word!r}, found {matching}"
    return matching[0]


def test_matrix_block_is_the_manifests() -> None:
    script = ROOT / "scripts" / "render_matrix.py"
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    start, end = "<!-- matrix:start -->\n", "<!-- matrix:end -->"
    assert README.count(start) == 1 and README.count(end) == 1
    block = README.partition(start)[2].partition(end)[0]
    assert block == printed.stdout, "run `python scripts/render_matrix.py --update`"


def test_readme_has_exactly_two_fresh_machine_commands() -> None:
    assert len(COMMANDS) == 2
    assert all("\n" not in command for command in COMMANDS), "one line each, to paste as is"
    fresh_machine_command("copier copy")
    fresh_machine_command("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    test_command = fresh_machine_command("pytest").removeprefix(SETUP)
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "set -euo pipefail" in ci_run
    assert ci_run[-1] == test_command, ".ci/run ends with the README's test command"


@pytest.mark.slow
def test_readme_generate_command_trains(template_repo: Path, tmp_path: Path) -> None:
    """The README's first command, run in a clone of the template, with the destination in tmp_path."""
    command = fresh_machine_command("copier copy").removeprefix(SETUP)
    assert command.count("/tmp/ml-project") == 2
    command = command.replace("/tmp/ml-project", str(tmp_path / "ml-project"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=template_repo,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert any((tmp_path / "ml-project" / "models").iterdir()), "no model file saved"
    assert "accuracy" in result.stdout
