"""Every valid combination renders exactly the files components.yml says, and nothing else.

Renders are shared: the `render` fixture generates each combination once per session (per xdist worker),
and every assertion below reads that one copy.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import subprocess
import sys
import tomllib
import warnings
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from conftest import (
    LEVELS,
    MANIFEST,
    ROOT,
    Generate,
    Render,
    all_answers,
    answers_id,
    full_answers,
    project_files,
    question_applies,
)
from dockerfiles import cli_commands
from updating import team_part

COMBINATIONS = all_answers()
STACKS = sorted({tuple((q, a[q]) for q in MANIFEST.stack) for a in COMBINATIONS})
COPIER = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
RUFF = Path(sys.executable).with_name("ruff")

# Jinja left in the output; `${{ ... }}` (GitHub Actions), `${#...}` (shell) and `{{$.outputs...}}` (the
# placeholders of a compiled Kubeflow pipeline) are not Jinja.
JINJA = re.compile(r"(?<!\$)\{(?:\{(?!\$\.)|[%#])")


def manifest_path(template_path: str) -> str:
    """A template file's path as components.yml names it in a generated project."""
    path = template_path.removesuffix(COPIER["_templates_suffix"])
    return path.replace("{{ package_name }}", "{package}").replace(
        "{{ _copier_conf.answers_file }}", COPIER["_answers_file"]
    )


def combination(answers: dict[str, Any]) -> Any:
    return pytest.param(answers, id=answers_id(answers))


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_file_set_is_exactly_the_manifests(render: Render, answers: dict[str, Any]) -> None:
    expected = set(MANIFEST.files(full_answers(answers)))
    actual = project_files(render(answers))
    assert actual - expected == set(), "files the manifest does not list for these answers"
    assert expected - actual == set(), "files the manifest lists but copier did not generate"


@pytest.mark.parametrize("level", LEVELS)
def test_package_name_follows_project_name(render: Render, level: int) -> None:
    answers = {"maturity_level": level, "project_name": "acme-churn"}
    project = render(answers)
    assert project_files(project) == set(MANIFEST.files(full_answers(answers)))
    assert (project / "src" / "acme_churn" / "__init__.py").is_file()


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_no_unrendered_jinja(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    leftovers = []
    for relative in sorted(project_files(project)):
        if JINJA.search(relative):
            leftovers.append(f"{relative}: in the file name")
        text = (project / relative).read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if JINJA.search(line):
                leftovers.append(f"{relative}:{number}: {line.strip()}")
    assert leftovers == []


def test_every_template_file_belongs_to_exactly_one_component(template_repo: Path) -> None:
    template = template_repo / COPIER["_subdirectory"]
    on_disk = {manifest_path(p.relative_to(template).as_posix()) for p in template.rglob("*") if p.is_file()}
    owners = Counter(path for component in MANIFEST.components for path, _ in component.paths("{package}"))
    assert sorted(p for p in on_disk if owners[p] == 0) == [], "template files no component lists"
    # A file may belong to several components only when no project has two of them (their stacks exclude
    # each other, as SageMaker's and Vertex AI's endpoint components do).
    listing = {
        path: [c for c in MANIFEST.components if path in dict(c.paths("{package}"))] for path in on_disk
    }
    together = sorted(
        path
        for path, components in listing.items()
        for a, b in itertools.combinations(components, 2)
        if not any(q in b.when and not set(a.when[q]) & set(b.when[q]) for q in a.when)
    )
    assert together == [], "template files listed by several components that a project can have together"
    built = {path for c in MANIFEST.components if not c.planned for path, _ in c.paths("{package}")}
    assert sorted(built - on_disk) == [], "manifest paths with no template file"


@pytest.mark.parametrize("stack", [pytest.param(dict(s), id="-".join(v for _, v in s)) for s in STACKS])
def test_user_files_are_identical_at_every_level(render: Render, stack: dict[str, str]) -> None:
    """A step-up never touches the team's files: they render byte for byte the same at every level."""
    versions: dict[str, dict[bytes, list[int]]] = {}
    for level in LEVELS:
        answers = {"maturity_level": level, **stack}
        project = render(answers)
        for path, owner in MANIFEST.files(full_answers(answers)).items():
            content = (project / path).read_bytes()
            if owner == "shared":  # the team's part: above the README's marker line, below pyproject.toml's
                content = team_part(f"{path} at level {level}", content.decode("utf-8")).encode("utf-8")
            if owner in ("user", "shared"):
                versions.setdefault(path, {}).setdefault(content, []).append(level)
    differing = {path: list(found.values()) for path, found in versions.items() if len(found) > 1}
    assert differing == {}, "user-owned files that differ between levels (path: the levels of each version)"


# The line that opens every template-owned file of a generated project (after a Dockerfile's parser
# directive, which must come first); files that cannot hold a comment are named with the reason.
OWNED_LINE = "# Kept by the template: `copier update` rewrites this file."
NO_COMMENT = {
    ".python-version": "one version number, read by uv and pyenv",
    ".mlops-ladder/manifest.json": "JSON",
    "renovate.json": "JSON: its description's first line says so",
    ".copier-answers.yml": "written by copier, with its own warning line",
}


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_every_template_file_says_it_is_the_templates(render: Render, answers: dict[str, Any]) -> None:
    """A newcomer tells from a file's first line that `copier update` rewrites it; the team's files say no
    such thing (the README and pyproject.toml, shared, carry a marker line instead)."""
    project = render(answers)
    unmarked, claimed = [], []
    for path, owner in MANIFEST.files(full_answers(answers)).items():
        lines = (project / path).read_text(encoding="utf-8").splitlines() or [""]
        first = lines[1] if lines[0].startswith("# syntax=") and len(lines) > 1 else lines[0]
        if owner == "template" and path not in NO_COMMENT and first != OWNED_LINE:
            unmarked.append(f"{path}: {first[:60]!r}")
        if owner != "template" and OWNED_LINE in lines:
            claimed.append(path)
    assert not unmarked, f"template files without the ownership line: {unmarked}"
    assert not claimed, f"files of the team that claim to be the template's: {claimed}"


MAKE_TARGET = re.compile(r"^([a-z][a-z-]*):[^=\n]*## ", re.MULTILINE)
CLI_CALL = re.compile(r"\$\(CLI\) ([a-z][a-z-]*)")
MAKE_MENTION = re.compile(r"`make ([a-z][a-z-]*)")


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_make_targets_are_phony_and_call_the_manifests_commands(
    render: Render, answers: dict[str, Any]
) -> None:
    """Each documented target is .PHONY, runs commands the manifest gives this project, the command line
    offers exactly those commands, and every `make X` the README names is a target."""
    project = render(answers)
    full = full_answers(answers)
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    targets = set(MAKE_TARGET.findall(makefile))
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", makefile, re.MULTILINE) for name in line.split()}
    assert targets == phony, (
        f"documented but not .PHONY: {targets - phony}; .PHONY but undocumented: {phony - targets}"
    )
    commands = MANIFEST.commands(full)
    called = set(CLI_CALL.findall(makefile))
    assert called <= set(commands), f"the Makefile calls commands the project lacks: {called - set(commands)}"
    assert cli_commands(project, full["package_name"]) == commands, (
        "ops/cli.py's COMMANDS differ from components.yml's commands"
    )
    readme = (project / "README.md").read_text(encoding="utf-8")
    named = set(MAKE_MENTION.findall(readme))
    assert named <= targets, f"the README names targets the Makefile lacks: {named - targets}"


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_generated_python_is_ruff_clean(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [str(RUFF), *command, "--no-cache", "."], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_free_text_answers_keep_the_project_valid(generate: Generate) -> None:
    """Quotes and backslashes in the description and the author's name reach the files intact and valid."""
    description = 'Scores "churn risk" for C:\\Users and \\d-like text """ too'
    author = 'O"Brien \\ Data Team'
    project = generate({"maturity_level": 1, "description": description, "author_name": author})
    package = full_answers({})["package_name"]

    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata["description"] == description
    assert metadata["authors"][0]["name"] == author
    source = (project / "src" / package / "__init__.py").read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape sequence would only warn
        docstring = ast.get_docstring(ast.parse(source))
    assert docstring == f"{description}."


# How each store of the governance trail shows in a file; a project's trail module (src/<package>/trail.py)
# and its tests name the store of its stack only: the platform's bucket, or on self-hosted its tracker.
TRAIL_STORES = {
    "sagemaker": re.compile(r"(?i)\baws\b|amazon|\bs3\b|sagemaker|boto"),
    "vertex": re.compile(r"(?i)google|\bgcs\b|gs://|vertex|cloud storage"),
    "mlflow": re.compile(r"(?i)mlflow"),
    "wandb": re.compile(r"(?i)wandb|w&b|weights & biases"),
}


TRAIL_FROM_LEVEL = next(c.level for c in MANIFEST.components if c.name == "governance")


@pytest.mark.parametrize(
    "answers", [combination(a) for a in COMBINATIONS if a["maturity_level"] >= TRAIL_FROM_LEVEL]
)
def test_the_trail_module_names_only_its_store(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    files = [
        path for path in MANIFEST.files(full_answers(answers)) if PurePosixPath(path).stem.endswith("trail")
    ]
    assert len(files) == 2, files
    store = answers["platform"] if answers["platform"] != "self-hosted" else answers["tracker"]
    for path in files:
        text = (project / path).read_text(encoding="utf-8")
        named = {name for name, words in TRAIL_STORES.items() if words.search(text)}
        assert named == {store}, f"{path} names {sorted(named)}"


# Issue #15: pyproject.toml names the stack the project chose and no other, in its comments too.
STACK_WORDS = {
    "mlflow": re.compile(r"(?i)mlflow"),
    "wandb": re.compile(r"(?i)wandb|w&b|weights & biases"),
    "github": re.compile(r"(?i)github"),
    "gitlab": re.compile(r"(?i)gitlab"),
    "sagemaker": re.compile(r"(?i)sagemaker|amazon|\baws\b|boto|\bmoto\b"),
    "vertex": re.compile(r"(?i)vertex|google|\bgcp\b"),
    "self-hosted": re.compile(r"(?i)self-hosted"),
    "local": re.compile(r"(?!)"),  # the absence of a pipeline engine, with no word of its own
    "kubeflow": re.compile(r"(?i)kfp|kubeflow"),
}


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_pyproject_names_no_stack_it_did_not_choose(render: Render, answers: dict[str, Any]) -> None:
    text = (render(answers) / "pyproject.toml").read_text(encoding="utf-8")
    others = [
        c
        for q, spec in MANIFEST.stack.items()
        if question_applies(q, answers)  # a Vertex AI pipeline is a Kubeflow one, whatever pipeline_engine
        for c in spec["choices"]
        if c != answers[q]
    ]
    named = {c: STACK_WORDS[c].findall(text) for c in others if STACK_WORDS[c].search(text)}
    assert named == {}, "pyproject.toml names a stack choice this project did not make"


# Issue #15: the project carries the manifest as data (.mlops-ladder/manifest.json), rendered by
# extensions/ladder.py from components.yml; `make maturity` reads it.
MANIFEST_JSON = ".mlops-ladder/manifest.json"


@pytest.mark.parametrize("answers", [combination(a) for a in COMBINATIONS])
def test_manifest_json_is_the_manifest_for_the_answers(render: Render, answers: dict[str, Any]) -> None:
    carried = json.loads((render(answers) / MANIFEST_JSON).read_text(encoding="utf-8"))
    full = full_answers(answers)
    assert carried["files"] == MANIFEST.files(full), "the files' owners are not the manifest's"
    assert carried["levels"] == MANIFEST.levels
    assert carried["highest_level"] == MANIFEST.highest_level
    by_name = {c.name: c for c in MANIFEST.components}
    for entry in carried["components"]:
        component = by_name[entry["name"]]
        assert entry["present"] is component.enabled(full), entry["name"]
        assert (entry["level"], entry["title"], entry["purpose"]) == (
            component.level,
            component.title,
            component.purpose,
        )
        files = {file["path"]: file["owner"] for file in entry["files"]}
        assert files == dict(component.paths(full["package_name"])), entry["name"]
    present = {f["path"]: f["owner"] for c in carried["components"] if c["present"] for f in c["files"]}
    assert present == carried["files"]
