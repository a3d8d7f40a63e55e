"""The generated project's own interface works, as its team would use it.

For every combination of the built levels, in a fresh git repo: `make install`, `make lint` (from the level
that adds it), `make test`, `make train` and `make monitor` pass, and the runs leave nothing for git to track
but the lock file `make install` writes. `make maturity` names the level and the command that steps up.

Many combinations render the same project apart from the files that record their answers (below level 2
the platform changes nothing; at level 0 neither does the rest of the stack). The make targets therefore run
once per distinct project: combinations are grouped by a hash of the rendered tree without
.copier-answers.yml and .mlops-ladder/maturity.py, and each combination's test checks its group's run.
xdist workers share the runs through a directory and a lock per group; `--dist loadgroup` sends all the
combinations of the project the manifest predicts (the level and the stack answers it uses) to one worker, so
workers do not wait on each other's runs.
uv and pre-commit use their default shared caches, so a dependency is downloaded once for all projects.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MANIFEST, Render, all_answers, answers_id, commit_all, git

ANSWERS_ONLY = {".copier-answers.yml", ".mlops-ladder/maturity.py"}
LINT_FROM_LEVEL = next(c.level for c in MANIFEST.components if c.name == "lint_precommit")
BIN = Path(sys.executable).parent
MAKE_TIMEOUT = 1800  # the first MLflow install downloads ~850 MB


def predicted_project(answers: dict[str, Any]) -> str:
    """The group a combination's project should fall in: its level and the stack answers that level uses."""
    level = answers["maturity_level"]
    used = [str(answers[q]) for q, spec in MANIFEST.stack.items() if spec["from_level"] <= level]
    return "-".join([str(level), *used])


COMBINATIONS = [pytest.param(a, id=answers_id(a)) for a in all_answers()]
# With --dist loadgroup (pyproject's addopts) one worker gets all combinations of a predicted project.
GROUPED = [
    pytest.param(a, id=answers_id(a), marks=pytest.mark.xdist_group(f"project-{predicted_project(a)}"))
    for a in all_answers()
]


def tree_hash(project: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        relative = path.relative_to(project).as_posix()
        if relative not in ANSWERS_ONLY:
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def make_env() -> dict[str, str]:
    """The environment of a team member's shell: the dev tools' uv on PATH, nothing of this test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "UV_PROJECT"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", UV_PYTHON_DOWNLOADS="never", WANDB_MODE="offline")
    return env


def targets(level: int) -> list[str]:
    return ["install", *(["lint"] if level >= LINT_FROM_LEVEL else []), "test", "train", "monitor"]


def run_targets(project: Path, level: int) -> dict[str, Any]:
    steps = []
    for target in targets(level):
        start = time.monotonic()
        result = subprocess.run(
            ["make", target],
            cwd=project,
            env=make_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MAKE_TIMEOUT,
        )
        output = (result.stdout + result.stderr)[-4000:]
        steps.append({"target": target, "seconds": round(time.monotonic() - start, 1), "output": output})
        steps[-1]["returncode"] = result.returncode
        if result.returncode != 0:
            break
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    )
    return {"steps": steps, "untracked": status.stdout.splitlines()}


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A directory every xdist worker of this session shares."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    directory = shared / "project-runs"
    directory.mkdir(exist_ok=True)
    return directory


def project_run(render: Render, runs_dir: Path, answers: dict[str, Any]) -> dict[str, Any]:
    """The make run of this combination's project: done here unless a test already did it."""
    source = render(answers)
    digest = tree_hash(source)
    outcome_file = runs_dir / f"{digest}.json"
    with (runs_dir / f"{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if outcome_file.exists():
            return json.loads(outcome_file.read_text())
        project = runs_dir / digest
        shutil.copytree(source, project)
        git(project, "init", "-q", "-b", "main")
        commit_all(project, "generated by mlops-ladder")
        outcome = {"ran_for": answers_id(answers), "project": str(project)}
        outcome.update(run_targets(project, answers["maturity_level"]))
        outcome_file.write_text(json.dumps(outcome))
        return outcome


@pytest.mark.slow
@pytest.mark.parametrize("answers", GROUPED)
def test_make_targets_pass(
    render: Render, runs_dir: Path, answers: dict[str, Any], record_property: Any
) -> None:
    outcome = project_run(render, runs_dir, answers)
    ran = [step["target"] for step in outcome["steps"]]
    timings = ", ".join(f"{step['target']} {step['seconds']}s" for step in outcome["steps"])
    shared = "" if outcome["ran_for"] == answers_id(answers) else f" (same project as {outcome['ran_for']})"
    record_property("timings", timings + shared)
    print(f"{answers_id(answers)}: {timings}{shared}")
    failed = [step for step in outcome["steps"] if step["returncode"] != 0]
    assert not failed, f"make {failed[0]['target']} failed in {outcome['project']}:\n{failed[0]['output']}"
    assert ran == targets(answers["maturity_level"])
    assert [line for line in outcome["untracked"] if line != "?? uv.lock"] == [], "left for git to track"


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_make_maturity_names_the_level_and_the_step_up(render: Render, answers: dict[str, Any]) -> None:
    level = answers["maturity_level"]
    result = subprocess.run(
        ["make", "--no-print-directory", "maturity"],
        cwd=render(answers),
        env=make_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"maturity level {level} ({MANIFEST.level_name(level)})" in result.stdout
    following = level + 1
    command = f"copier update --trust --defaults -d maturity_level={following}"
    if following <= MANIFEST.highest_level:
        assert command in result.stdout
    else:
        assert "copier update --trust" not in result.stdout, "offers a level this template has not built"
        if following < len(MANIFEST.levels):
            assert f"level {following} ({MANIFEST.level_name(following)})" in result.stdout
