"""What the benchmarks share: a committed, tagged copy of the template, timers, project sizes.

The test suite's helpers (tests/conftest.py) are reused for the answers and git; only the template copy,
which conftest provides as a pytest fixture, is rebuilt here as a plain function.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import copier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import (  # noqa: E402  (conftest also puts extensions/ on sys.path)
    LEVELS,
    MANIFEST,
    TEMPLATE_VERSION,
    all_answers,
    answers_id,
    commit_all,
    full_answers,
    git,
    project_files,
)

__all__ = [
    "LEVELS",
    "MANIFEST",
    "Timing",
    "all_answers",
    "answers_id",
    "best_of",
    "commit_all",
    "full_answers",
    "generate",
    "git",
    "project_size",
    "step_up",
    "template_copy",
    "timed",
]
T = TypeVar("T")


def template_copy(parent: Path) -> Path:
    """This working tree (files git tracks or does not ignore) committed, tagged, packed: parent/mlops-ladder.

    Packed as a template repository a user clones is (a host's, copier's cache of it, a developer's clone): a
    fresh commit leaves every file a loose object, which copier's clone links one by one (0.06 CPU s and
    0.25 s of wall time of a level-4 `copier copy` here).
    """
    repo = parent / "mlops-ladder"
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for relative in filter(None, listed):
        source = ROOT / relative
        if source.is_file():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / relative)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "template under benchmark")
    git(repo, "tag", TEMPLATE_VERSION)
    git(repo, "repack", "-a", "-d", "-q")
    return repo


@dataclass(frozen=True)
class Timing:
    """Wall seconds, and CPU seconds of this process and the processes it waited for (git, make, uv)."""

    wall: float
    cpu: float

    def value(self, judge: str) -> float:
        return self.wall if judge == "wall" else self.cpu


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed(run: Callable[[], T]) -> tuple[Timing, T]:
    wall, cpu = time.perf_counter(), _cpu()
    result = run()
    return Timing(time.perf_counter() - wall, _cpu() - cpu), result


def best_of(repeat: int, run: Callable[[], T]) -> tuple[Timing, T]:
    """The shortest wall and CPU times of `repeat` runs (the least disturbed by load), and the last result."""
    timings, results = zip(*(timed(run) for _ in range(repeat)), strict=True)
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings)), results[-1]


def generate(template: Path, destination: Path, answers: Mapping[str, Any]) -> Path:
    """copier copy, as the tests run it; an existing destination is replaced."""
    shutil.rmtree(destination, ignore_errors=True)
    copier.run_copy(str(template), destination, data=dict(answers), defaults=True, unsafe=True, quiet=True)
    return destination


def step_up(project: Path, level: int) -> Path:
    """copier update to `level`, as a team runs it on a committed project."""
    copier.run_update(
        project,
        data={"maturity_level": level},
        overwrite=True,
        unsafe=True,
        defaults=True,
        vcs_ref=copier.VcsRef.CURRENT,
        quiet=True,
    )
    return project


def project_size(project: Path) -> tuple[int, int]:
    """(files, lines) of a generated project, outside git and caches."""
    files = sorted(project_files(project))
    lines = sum(len((project / name).read_bytes().splitlines()) for name in files)
    return len(files), lines
