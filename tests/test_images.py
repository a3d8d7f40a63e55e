"""The container images a generated project builds, checked statically (there is no Docker engine here).

Which Dockerfiles a project has comes from components.yml (every file named Dockerfile; see dockerfiles.py).
For each: hadolint finds nothing; the image runs as an unprivileged user; no build argument or environment
variable carries a secret; the build context is an allow-list holding everything the Dockerfile copies; the
entry point is the module the image is for (the step image: the pipeline; the serving image: the service on
self-hosted, the platform's serving contract, container.py, on SageMaker and Vertex AI) and a module the
project has; an image that listens has a health check on the port it exposes, asking a route its entry
module serves; and every CI job that builds the image passes the commit it builds from.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import MANIFEST, Render, all_answers, answers_id, full_answers
from dockerfiles import (
    dockerfiles,
    entry_module,
    final_stage,
    healthcheck_url,
    ignore_file,
    instruction,
    instructions,
    served_routes,
)

HADOLINT = Path(sys.executable).with_name("hadolint")
SECRET_WORDS = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL)", re.IGNORECASE)
DOCKER_BUILD = re.compile(r"\bdocker (?:buildx )?build\b(?P<args>.*)")
COMMIT_ARG = re.compile(r"--build-arg GIT_COMMIT=\"\$(GITHUB_SHA|CI_COMMIT_SHA)\"")
GITHUB_COMMIT = re.compile(r"GIT_COMMIT=\$\{\{\s*github\.sha\s*\}\}")
# What each image is for: the module its ENTRYPOINT runs (the contract of components.yml's step_image and
# serving_image components).
# The command each image runs; its module comes from the manifest (components.yml `commands`).
ENTRY_COMMANDS = {
    "Dockerfile": lambda answers: "pipeline",
    "deploy/Dockerfile": lambda answers: "serve" if answers["platform"] == "self-hosted" else "container",
}
IMAGES = [
    pytest.param(answers, dockerfile, id=f"{answers_id(answers)}-{dockerfile}")
    for answers in all_answers()
    for dockerfile in dockerfiles(answers)
]


def read(project: Path, path: str) -> str:
    return (project / path).read_text(encoding="utf-8")


def ci_files(project: Path, answers: dict[str, Any]) -> list[Path]:
    files = MANIFEST.files(full_answers(answers))
    return [project / path for path in files if path.startswith((".github/", ".gitlab"))]


def ci_builds(project: Path, answers: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(Dockerfile, passes the commit as GIT_COMMIT, the build's text) of every image build of the CI files:
    `docker build` command lines (`-f`/`--file` names the Dockerfile, else the root one) and GitHub's
    docker/build-push-action steps."""
    builds = []
    for path in ci_files(project, answers):
        text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
        for match in DOCKER_BUILD.finditer(text):
            file = re.search(r"(?:-f|--file)[ =](\S+)", match["args"])
            dockerfile = file[1].strip("\"'").removeprefix("./") if file else "Dockerfile"
            builds.append((dockerfile, bool(COMMIT_ARG.search(match["args"])), match[0]))
        if path.suffix in {".yml", ".yaml"} and path.parts[-3:-1] == (".github", "workflows"):
            for job in (yaml.safe_load(path.read_text(encoding="utf-8")).get("jobs") or {}).values():
                for step in job.get("steps", []):
                    if str(step.get("uses", "")).startswith("docker/build-push-action"):
                        given = step.get("with", {})
                        dockerfile = str(given.get("file", "Dockerfile")).removeprefix("./")
                        commit = bool(GITHUB_COMMIT.search(str(given.get("build-args", ""))))
                        builds.append((dockerfile, commit, str(step)))
    return builds


def test_there_are_images_to_check() -> None:
    assert IMAGES, "no combination has a Dockerfile: the manifest lost its images"
    named = {dockerfile for _, dockerfile in (param.values for param in IMAGES)}
    assert named <= set(ENTRY_COMMANDS), f"say what these images run: {sorted(named - set(ENTRY_COMMANDS))}"


@pytest.mark.parametrize(("answers", "dockerfile"), IMAGES)
def test_dockerfile_passes_hadolint(render: Render, answers: dict[str, Any], dockerfile: str) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", dockerfile],
        cwd=render(answers),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("answers", "dockerfile"), IMAGES)
def test_image_runs_unprivileged_with_no_secrets(
    render: Render, answers: dict[str, Any], dockerfile: str
) -> None:
    project = render(answers)
    text = read(project, dockerfile)
    stage = final_stage(text)
    users = instruction(stage, "USER")
    assert users, "the image runs as root: its last stage has no USER"
    assert users[-1].split(":")[0] not in {"0", "root"}, users[-1]
    for line in instructions(text):
        if line.upper().startswith(("ARG ", "ENV ")):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", line) or line.split()[1:2]
            assert not [n for n in names if SECRET_WORDS.search(n)], f"a secret in the image: {line}"


@pytest.mark.parametrize(("answers", "dockerfile"), IMAGES)
def test_entry_point_is_the_module_the_image_is_for(
    render: Render, answers: dict[str, Any], dockerfile: str
) -> None:
    project = render(answers)
    full = full_answers(answers)
    module = entry_module(final_stage(read(project, dockerfile)), full["package_name"], project)
    assert module == MANIFEST.commands(full)[ENTRY_COMMANDS[dockerfile](full)], f"{dockerfile} runs {module}"
    path = f"src/{full['package_name']}/{module.replace('.', '/')}.py"
    assert path in MANIFEST.files(full), f"the project has no {path}"


@pytest.mark.parametrize(("answers", "dockerfile"), IMAGES)
def test_a_listening_image_checks_its_health_on_a_route_it_serves(
    render: Render, answers: dict[str, Any], dockerfile: str
) -> None:
    project = render(answers)
    package = full_answers(answers)["package_name"]
    stage = final_stage(read(project, dockerfile))
    exposed = [int(port.split("/")[0]) for line in instruction(stage, "EXPOSE") for port in line.split()]
    if not exposed:  # a batch image (the pipeline steps): nothing to ask
        assert not instruction(stage, "HEALTHCHECK"), "a health check on an image that listens nowhere"
        return
    url = urlsplit(healthcheck_url(stage))
    assert url.hostname == "127.0.0.1" and url.port in exposed, f"{url.geturl()} is not on {exposed}"
    module = entry_module(stage, package, project)
    routes = served_routes(project, package, module)
    assert url.path in routes, f"the health check asks {url.path}; {module}.py serves {sorted(routes)}"


@pytest.mark.parametrize(("answers", "dockerfile"), IMAGES)
def test_build_context_is_an_allow_list(render: Render, answers: dict[str, Any], dockerfile: str) -> None:
    project = render(answers)
    ignore = read(project, ignore_file(answers, dockerfile)).splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "the build context must start from nothing"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed <= {"pyproject.toml", "uv.lock", "README.md", "src", "config"}, allowed
    copied = {
        word.rstrip("/")
        for line in instructions(read(project, dockerfile))
        if line.startswith("COPY ") and "--from=" not in line
        for word in line.split()[1:-1]
    }
    assert copied <= allowed, f"COPY of files the context leaves out: {sorted(copied - allowed)}"
    missing = {path for path in copied if not (project / path).exists() and path != "uv.lock"}
    assert not missing, f"COPY of files the project does not have: {sorted(missing)}"


@pytest.mark.parametrize(("answers", "dockerfile"), IMAGES)
def test_ci_builds_pass_the_commit_the_image_records(
    render: Render, answers: dict[str, Any], dockerfile: str
) -> None:
    project = render(answers)
    assert re.search(r"^ARG GIT_COMMIT\b", read(project, dockerfile), re.MULTILINE)
    assert "GIT_COMMIT=${GIT_COMMIT}" in read(project, dockerfile), (
        "the build argument never reaches the runs"
    )
    builds = [(commit, text) for built, commit, text in ci_builds(project, answers) if built == dockerfile]
    assert builds, f"no CI job of {answers_id(answers)} builds {dockerfile}"
    for commit, text in builds:
        assert commit, f"a build of {dockerfile} without GIT_COMMIT set to the commit: {text}"
