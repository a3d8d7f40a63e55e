"""Fixtures: the template as a committed, tagged git repo, and projects generated from it.

Copier records where a project came from; generating from an uncommitted tree records a throw-away
commit that breaks every later `copier update`, so every test generates from a temporary repo holding
a committed, tagged copy of this working tree.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import copier
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "extensions"))

from ladder import DEFAULTS, load_manifest  # noqa: E402

MANIFEST = load_manifest()
STACK_CHOICES = {question: list(spec["choices"]) for question, spec in MANIFEST.stack.items()}
LEVELS = list(range(MANIFEST.highest_level + 1))
TEMPLATE_VERSION = "v1.0.0"

# Generated projects run offline with the interpreter that is here; uv shares one cache across them.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("WANDB_API_KEY", None)


def question_applies(question: str, answers: Mapping[str, Any]) -> bool:
    """Whether a stack question is asked for these answers (its `when` in components.yml)."""
    when = MANIFEST.stack[question].get("when", {})
    return all(answers.get(other) in choices for other, choices in when.items())


def all_answers(levels: list[int] = LEVELS) -> list[dict[str, Any]]:
    """Every valid combination of level x tracker x ci x platform (x pipeline_engine on self-hosted).

    A question with a `when` (pipeline_engine) varies only where it is asked and from the level that uses
    it; elsewhere it keeps its default, as copier records it."""
    questions = list(STACK_CHOICES)
    combinations = []
    for level in levels:
        for stack in itertools.product(*(STACK_CHOICES[q] for q in questions)):
            answers = {"maturity_level": level, **dict(zip(questions, stack, strict=True))}
            conditional = [q for q in questions if "when" in MANIFEST.stack[q]]
            if all(
                answers[q] == DEFAULTS[q]
                or (question_applies(q, answers) and level >= MANIFEST.stack[q]["from_level"])
                for q in conditional
            ):
                combinations.append(answers)
    return combinations


def answers_id(answers: Mapping[str, Any]) -> str:
    """level-tracker-ci-platform, and a conditional question's answer (-kubeflow) unless it is the default."""
    keys = [q for q in STACK_CHOICES if "when" not in MANIFEST.stack[q]]
    extra = [
        str(answers[q]) for q in STACK_CHOICES if q not in keys and answers.get(q, DEFAULTS[q]) != DEFAULTS[q]
    ]
    return "-".join([str(answers["maturity_level"]), *(str(answers[key]) for key in keys), *extra])


def full_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers with the derived ones filled in, as the manifest reads them."""
    merged = {**DEFAULTS, "project_name": "ml-project", **answers}
    merged["package_name"] = merged["project_name"].replace("-", "_")
    return merged


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        },
    ).stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree, committed and tagged in a temporary git repo."""
    repo = tmp_path_factory.mktemp("template") / "mlops-ladder"
    tracked = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for relative in filter(None, tracked):
        source = ROOT / relative
        if source.is_file():
            target = repo / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "template under test")
    git(repo, "tag", TEMPLATE_VERSION)
    return repo


Generate = Callable[..., Path]


@pytest.fixture
def generate(template_repo: Path, tmp_path: Path) -> Generate:
    """generate(answers, name=...) -> the generated project's path."""

    def _generate(answers: Mapping[str, Any], name: str = "project", **kwargs: Any) -> Path:
        destination = tmp_path / name
        copier.run_copy(
            str(template_repo),
            destination,
            data=dict(answers),
            defaults=True,
            unsafe=True,
            quiet=True,
            **kwargs,
        )
        return destination

    return _generate


def project_files(project: Path) -> set[str]:
    """Every file of a generated project, relative, outside git and the tools' caches."""
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and not skip.intersection(path.relative_to(project).parts)
    }


@pytest.fixture
def git_project() -> Iterator[Callable[[Path], Path]]:
    """Make a generated project a git repo with everything committed, as a team would."""

    def _init(project: Path) -> Path:
        git(project, "init", "-q", "-b", "main")
        commit_all(project, "generated")
        return project

    yield _init


Render = Callable[[Mapping[str, Any]], Path]


@pytest.fixture(scope="session")
def render(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Render:
    """render(answers) -> a project generated once per session (per xdist worker). Treat it as read-only:
    tests that build or run anything in a project copy it first."""
    root = tmp_path_factory.mktemp("renders")
    cache: dict[str, Path] = {}

    def _render(answers: Mapping[str, Any]) -> Path:
        key = json.dumps(dict(answers), sort_keys=True)
        if key not in cache:
            destination = root / f"{len(cache):03d}-{answers_id(full_answers(answers))}"
            copier.run_copy(
                str(template_repo), destination, data=dict(answers), defaults=True, unsafe=True, quiet=True
            )
            cache[key] = destination
        return cache[key]

    return _render


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, the highest level first among them: with pytest-xdist's work stealing, the
    short tests then fill the time around them and no worker is left with a long make run at the end."""

    def level(item: pytest.Item) -> int:
        found = re.findall(r"(?:level-|to-)(\d)", item.name)
        return int(found[-1]) if found else 0

    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, -level(item)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show the timings tests recorded with record_property("timings", ...), xdist workers' included."""
    reports = [r for outcome in ("passed", "failed") for r in terminalreporter.stats.get(outcome, [])]
    rows = [(r.nodeid, value) for r in reports for name, value in r.user_properties if name == "timings"]
    if rows:
        terminalreporter.write_sep("-", "timings")
        for nodeid, value in sorted(rows):
            terminalreporter.write_line(f"{nodeid}: {value}")
