"""Generated CI files are valid for their CI system and least-privilege.

Which CI files exist comes from components.yml; this module only knows each CI system's own conventions
(where its files live) and the validators for them. Identical files are validated once per worker.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import MANIFEST, STACK_CHOICES, Render, all_answers, answers_id, full_answers

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class CiSystem:
    owns: Callable[[str], bool]  # whether a project path is one of this system's CI files
    checks: tuple[tuple[str, ...], ...]  # commands that take the file as their last argument


CI_SYSTEMS = {
    "github": CiSystem(
        owns=lambda path: path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")),
        checks=(
            (str(BIN / "actionlint"), "-no-color"),
            (str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"),
        ),
    ),
    "gitlab": CiSystem(
        owns=lambda path: path == ".gitlab-ci.yml" or path.startswith(".gitlab/ci/"),
        checks=(
            (
                str(BIN / "check-jsonschema"),
                *("--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci"),
            ),
        ),
    ),
}
CI_FROM_LEVEL = MANIFEST.stack["ci"]["from_level"]


def ci_files(answers: dict[str, Any]) -> list[str]:
    """The CI files the manifest gives a project with these answers."""
    owns = CI_SYSTEMS[answers["ci"]].owns
    return sorted(path for path in MANIFEST.files(full_answers(answers)) if owns(path))


CI_FILES = [
    pytest.param(answers, path, id=f"{answers_id(answers)}:{path}")
    for answers in all_answers()
    for path in ci_files(answers)
]
GITHUB_WORKFLOWS = [p for p in CI_FILES if p.values[0]["ci"] == "github"]  # type: ignore[index]


CHECKED: dict[tuple[tuple[str, ...], str], tuple[int, str]] = {}


def run_check(command: tuple[str, ...], file: Path) -> tuple[int, str]:
    """Run a validator on a file, once per distinct content."""
    key = (command, hashlib.sha256(file.read_bytes()).hexdigest())
    if key not in CHECKED:
        result = subprocess.run([*command, str(file)], capture_output=True, text=True, timeout=120)
        CHECKED[key] = (result.returncode, result.stdout + result.stderr)
    return CHECKED[key]


def load(project: Path, path: str) -> Any:
    return yaml.safe_load((project / path).read_text(encoding="utf-8"))


def test_every_ci_choice_has_validators() -> None:
    assert sorted(CI_SYSTEMS) == sorted(STACK_CHOICES["ci"])


CI_COMPONENTS = [pytest.param(c, id=c.name) for c in MANIFEST.components if "ci" in c.when and not c.planned]


@pytest.mark.parametrize("component", CI_COMPONENTS)
def test_every_ci_component_yields_ci_files(component: Any) -> None:
    paths = [path for path, _ in component.paths("{package}")]
    for choice in component.when["ci"]:
        assert [p for p in paths if CI_SYSTEMS[choice].owns(p)], f"{component.name}: no {choice} CI file"


@pytest.mark.parametrize("answers", [pytest.param(a, id=answers_id(a)) for a in all_answers()])
def test_ci_files_exist_from_the_level_that_adds_ci(answers: dict[str, Any]) -> None:
    assert bool(ci_files(answers)) is (answers["maturity_level"] >= CI_FROM_LEVEL)


@pytest.mark.parametrize(("answers", "path"), CI_FILES)
def test_ci_file_is_valid(render: Render, answers: dict[str, Any], path: str) -> None:
    for command in CI_SYSTEMS[answers["ci"]].checks:
        returncode, output = run_check(command, render(answers) / path)
        assert returncode == 0, f"{Path(command[0]).name} {path}:\n{output}"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_workflow_is_least_privilege(render: Render, answers: dict[str, Any], path: str) -> None:
    workflow = load(render(answers), path)
    assert "permissions" in workflow, "declare top-level permissions"
    top = workflow["permissions"]
    assert isinstance(top, dict), f"top-level permissions {top!r}: use a mapping such as {{contents: read}}"
    assert {scope: access for scope, access in top.items() if access != "none"} in ({}, {"contents": "read"})
    for name, job in workflow["jobs"].items():
        # A job that needs more says so in its own `permissions`, never with write-all.
        assert job.get("permissions", {}) != "write-all", f"job {name}: list the scopes it writes"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_actions_are_pinned(render: Render, answers: dict[str, Any], path: str) -> None:
    workflow = load(render(answers), path)
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    uses = [step["uses"] for step in steps if "uses" in step]
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})$")
    assert [action for action in uses if not pinned.match(action) and not action.startswith("./")] == []


GITLAB = [pytest.param(a, id=answers_id(a)) for a in all_answers() if a["ci"] == "gitlab" and ci_files(a)]


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_includes_every_ci_file_and_its_jobs_stages(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    root = load(project, ".gitlab-ci.yml")
    includes = [entry for entry in root.get("include", []) if isinstance(entry, dict)]
    locals_ = [entry["local"].lstrip("/") for entry in includes if "local" in entry]
    others = [path for path in ci_files(answers) if path != ".gitlab-ci.yml"]
    assert [p for p in others if not any(fnmatch.fnmatch(p, pattern) for pattern in locals_)] == []
    stages = set(root.get("stages", ["build", "test", "deploy"])) | {".pre", ".post"}
    for path in [".gitlab-ci.yml", *others]:
        for name, job in load(project, path).items():
            if isinstance(job, dict) and "script" in job:
                assert job.get("stage", "test") in stages, f"{path}: job {name} uses an undeclared stage"
