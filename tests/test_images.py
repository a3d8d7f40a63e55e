"""The container images a generated project builds, checked statically (there is no Docker engine here).

For every combination whose manifest includes a Dockerfile: hadolint finds nothing; the image runs as an
unprivileged user; no build argument or environment variable carries a secret; the build context is an
allow-list; the image's entry point is the package's pipeline; and every CI job that builds the image passes
the commit it builds from, so the runs inside record their code version.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MANIFEST, Render, all_answers, answers_id, full_answers

HADOLINT = Path(sys.executable).with_name("hadolint")
IMAGE_FILES = {"Dockerfile", ".dockerignore"}
SECRET_WORDS = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL)", re.IGNORECASE)
WITH_IMAGE = [
    pytest.param(answers, id=answers_id(answers))
    for answers in all_answers()
    if set(MANIFEST.files(full_answers(answers))) >= IMAGE_FILES
]


def final_stage(dockerfile: str) -> list[str]:
    """The instructions of the last build stage, one logical line each (continuations joined)."""
    logical = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in logical.splitlines() if line.strip() and not line.startswith("#")]
    start = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[start:]


def ci_files(project: Path, answers: dict[str, Any]) -> list[Path]:
    files = MANIFEST.files(full_answers(answers))
    return [project / path for path in files if path.startswith((".github/", ".gitlab"))]


def test_there_are_images_to_check() -> None:
    assert WITH_IMAGE, "no combination has a Dockerfile: the manifest lost the step image"


@pytest.mark.parametrize("answers", WITH_IMAGE)
def test_dockerfile_passes_hadolint(render: Render, answers: dict[str, Any]) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "Dockerfile"],
        cwd=render(answers),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("answers", WITH_IMAGE)
def test_image_runs_unprivileged_with_no_secrets(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    stage = final_stage(dockerfile)
    users = [line.split()[1] for line in stage if line.upper().startswith("USER ")]
    assert users, "the image runs as root: its last stage has no USER"
    assert users[-1] not in {"0", "root"}, users[-1]
    for line in re.sub(r"\\\n\s*", " ", dockerfile).splitlines():
        if line.upper().startswith(("ARG ", "ENV ")):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", line) or line.split()[1:2]
            assert not [n for n in names if SECRET_WORDS.search(n)], f"a secret in the image: {line}"
    package = full_answers(answers)["package_name"]
    entrypoint = next(line for line in stage if line.upper().startswith("ENTRYPOINT "))
    assert f'"{package}.pipeline"' in entrypoint, entrypoint


@pytest.mark.parametrize("answers", WITH_IMAGE)
def test_build_context_is_an_allow_list(render: Render, answers: dict[str, Any]) -> None:
    ignore = (render(answers) / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "the build context must start from nothing"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed <= {"pyproject.toml", "uv.lock", "README.md", "src", "config"}, allowed
    dockerfile = (render(answers) / "Dockerfile").read_text(encoding="utf-8")
    copied = {
        word.rstrip("/")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for word in line.split()[1:-1]
    }
    assert copied <= allowed, f"COPY of files the context leaves out: {sorted(copied - allowed)}"


@pytest.mark.parametrize("answers", WITH_IMAGE)
def test_ci_builds_pass_the_commit_the_image_records(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    assert re.search(r"^ARG GIT_COMMIT\b", (project / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    builds = [
        line
        for path in ci_files(project, answers)
        for line in path.read_text(encoding="utf-8").splitlines()
        if "docker build" in line
    ]
    assert builds, f"no CI job of {answers_id(answers)} builds the image"
    for line in builds:
        assert re.search(r"--build-arg GIT_COMMIT=\"\$(GITHUB_SHA|CI_COMMIT_SHA)\"", line), line
