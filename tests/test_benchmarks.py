"""Smoke runs of benchmarks/bench_template.py: it prints its tables and the targets hold for what it measured.

The suite runs beside other tests, so wall time here measures their load too; the smoke runs check the time
targets on CPU seconds (--judge cpu), and print the wall seconds beside them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import LEVELS, MANIFEST, Generate, answers_id, full_answers, git
from plumbum.commands.base import BaseCommand

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_template import CCDS_RATIO_LIMIT as RATIO_LIMIT
from compare_ccds import ccds_source

ROOT = Path(__file__).resolve().parent.parent


def section(output: str, title: str) -> list[list[str]]:
    """The body rows of the markdown table under the heading that starts with `title`."""
    lines = output.split(f"## {title}", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    return rows[2:]


def test_quick_benchmark_prints_its_tables_and_meets_the_targets() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_template.py"), "--quick", "--judge", "cpu"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    print(result.stdout)
    targets = section(result.stdout, "Targets")
    assert [row[0] for row in targets] == [
        "any combination generates (cpu)",
        "a step-up update (cpu)",
        "a level-0 project's files",
    ], result.stderr
    assert all(row[3] == "pass" for row in targets), targets
    assert result.returncode == 0

    others = {q: list(spec["choices"])[-1] for q, spec in MANIFEST.stack.items()}
    expected = [{"maturity_level": level} for level in LEVELS] + [{"maturity_level": LEVELS[-1], **others}]
    generated = section(result.stdout, "Generation per combination")
    assert [row[0] for row in generated] == [answers_id(full_answers(a)) for a in expected]
    for row, answers in zip(generated, expected, strict=True):
        assert int(row[3]) == len(MANIFEST.files(full_answers(answers))), row
        assert 0 < float(row[2]) <= float(row[1]) * 2 and int(row[4]) > 0, row

    steps = section(result.stdout, "Step-up updates")
    assert [row[0] for row in steps] == [f"{level} -> {level + 1}" for level in LEVELS[:-1]]
    sizes = section(result.stdout, "Size per level")
    assert [row[0] for row in sizes] == [f"{level} {MANIFEST.level_name(level)}" for level in LEVELS]


def compared(runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    """One `--compare` run, checked for what both tools generated: its CPU ratio and its output."""
    bench = ROOT / "benchmarks" / "bench_template.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--compare", "--runs", str(runs), "--judge", "cpu"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    print(result.stdout)
    targets = section(result.stdout, "Targets")
    assert [row[0] for row in targets] == ["level-4 copier copy / ccds default (cpu)"], result.stderr
    rows = section(result.stdout, "Versus cookiecutter-data-science")
    assert [row[0].split(",")[0] for row in rows] == ["`copier copy`", "`ccds --no-input`", "ratio"]
    copier_row, ccds_row, ratio_row = rows
    # Both generated what they should: this template's level-4 files, ccds's defaults after its hooks ran.
    assert int(copier_row[3]) == len(MANIFEST.files(full_answers({"maturity_level": 4})))
    assert int(ccds_row[3]) == 28
    for row in (copier_row, ccds_row):
        assert 0 < float(row[2]) <= float(row[1]) * 2, row
    assert targets[0][1] == ratio_row[2]
    ratio = float(ratio_row[2].rstrip("x"))
    assert (targets[0][3] == "pass") == (ratio <= RATIO_LIMIT) == (result.returncode == 0), result.stdout
    return ratio, result


@pytest.mark.skipif(
    ccds_source() is None, reason="no local clone of cookiecutter-data-science (CCDS_SOURCE) to compare with"
)
def test_level4_copy_beside_cookiecutter_data_science_meets_the_ratio() -> None:
    """--compare: a level-4 `copier copy` takes at most 1.3 times ccds's default generation (CPU seconds).

    The CPU seconds of two processes that write files still move with the machine's load (this suite's
    other worker shares the two cores): a measurement over the limit is taken once more, with more runs,
    and the better median ratio counts. A real regression fails both."""
    ratio, _ = compared(runs=5)
    if ratio > RATIO_LIMIT:
        ratio = min(ratio, compared(runs=9)[0])
    assert ratio <= RATIO_LIMIT, f"level-4 copier copy takes {ratio:.2f}x ccds's CPU seconds (target <= 1.3x)"


@pytest.mark.parametrize("file_mode", [None, "true", "false"])
def test_copy_asks_git_for_the_file_mode_once_unless_it_is_false(
    generate: Generate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_mode: str | None
) -> None:
    """extensions/ladder.py spares copier a `git config --get core.fileMode` per written file: one asks.

    Where the destination says "false", copier's own per-file check (and its index update) runs as before.
    """
    if file_mode is not None:
        (tmp_path / "project").mkdir()
        git(tmp_path / "project", "init", "-q")
        git(tmp_path / "project", "config", "core.fileMode", file_mode)
    asked: list[tuple[str, ...]] = []
    run = BaseCommand.run

    def spy(self: BaseCommand, args: Any = (), **kwargs: Any) -> Any:
        if "core.fileMode" in args:
            asked.append(tuple(args))
        return run(self, args, **kwargs)

    monkeypatch.setattr(BaseCommand, "run", spy)
    project = generate({"maturity_level": 1}, overwrite=True)
    written = len(MANIFEST.files(full_answers({"maturity_level": 1})))
    assert len(asked) == (1 + written if file_mode == "false" else 1), asked[:3]
    assert (project / ".copier-answers.yml").is_file()


PLAIN = ["ops", "drift.py", "", "two\nlines", "ends with a newline\n", "a { brace } and a % sign"]
JINJA = ["{{ package_name }}", "{% if true %}kept{% endif %}", "{# a comment #}text", "line\r\nbreak"]


def test_copier_builds_the_render_context_only_for_strings_that_hold_jinja(
    template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """extensions/ladder.py hands copier back a path part or answers-file name with no Jinja in it as it is.

    Copier builds its whole render context for each of a level-4 copy's ~1,400 path parts, twice more to
    compare each with the answers file's name; here the plain ones cost nothing and give the same text, and
    anything with Jinja in it is rendered by copier as before."""
    from copier._main import Worker

    with Worker(
        src_path=str(template_repo),
        dst_path=tmp_path / "project",
        data={"project_name": "acme-churn"},
        answers_file=Path(".answers/{{ project_name }}.yml"),
        defaults=True,
        unsafe=True,
        quiet=True,
    ) as worker:
        environment = worker.jinja_env  # loads the extensions: extensions/ladder.py patches copier's Worker
        worker._ask()
        context = Worker._render_context
        built: list[None] = []

        def counted(self: Worker) -> Any:
            built.append(None)
            return context(self)

        monkeypatch.setattr(Worker, "_render_context", counted)
        assert [worker._render_string(string) for string in PLAIN] == PLAIN
        assert not built, "a plain string built copier's render context"
        rendered = [worker._render_string(string) for string in JINJA]
        assert len(built) == len(JINJA)
        assert rendered == [environment.from_string(s).render(**context(worker)) for s in JINJA]
        assert rendered[:3] == ["acme_churn", "kept", "text"]
        assert worker.answers_relpath == Path(".answers/acme-churn.yml")  # a name with Jinja: rendered
        worker.answers_file = Path(".copier-answers.yml")
        built.clear()
        assert worker.answers_relpath == Path(".copier-answers.yml") and not built
