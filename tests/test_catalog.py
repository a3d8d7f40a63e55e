"""The platform-team catalog: org presets, settings `trust:`, catalog-info.yaml, the Backstage template."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from conftest import MANIFEST, TEMPLATE_VERSION, Generate, all_answers, answers_id, full_answers, git
from copier.errors import UnsafeTemplateError
from jinja2 import Environment, nodes
from plumbum import local

ROOT = Path(__file__).resolve().parent.parent
COPIER_CLI = str(Path(sys.executable).parent / "copier")
COPIER_YML = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
QUESTIONS = {
    name: spec
    for name, spec in COPIER_YML.items()
    if not name.startswith("_") and spec.get("when") is not False
}
SETTINGS = ROOT / "presets" / "copier-settings.yml"
PRESETS = sorted(path for path in (ROOT / "presets").glob("*.yml") if path != SETTINGS)
BACKSTAGE = yaml.safe_load((ROOT / "backstage" / "template.yaml").read_text(encoding="utf-8"))

# Backstage's entity rules (https://backstage.io/docs/features/software-catalog/descriptor-format).
NAME = re.compile(r"^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$")
PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TAG = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")
ENTITY_REF = re.compile(r"^([a-z]+:)?([A-Za-z0-9][-_.A-Za-z0-9]*/)?[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$")


def choices(question: str) -> dict[str, Any]:
    """{label: value} of a question's choices (a list, a mapping, or a mapping to {value: ...} specs)."""
    raw = QUESTIONS[question].get("choices", {})
    if isinstance(raw, list):
        return {str(value): value for value in raw}
    return {label: spec["value"] if isinstance(spec, Mapping) else spec for label, spec in raw.items()}


def run_cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COPIER_CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )


# ---------------------------------------------------------------------------------------------------------
# Backstage entity rules, and what catalog-info.yaml must say


def check_entity_rules(entity: dict[str, Any]) -> None:
    """A Component entity that Backstage's catalog would accept."""
    assert entity["apiVersion"] == "backstage.io/v1alpha1"
    assert entity["kind"] == "Component"
    meta = entity["metadata"]
    assert NAME.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
    for key, value in {**meta.get("labels", {}), **meta.get("annotations", {})}.items():
        prefix, _, name = key.rpartition("/")
        assert (not prefix or (PREFIX.match(prefix) and len(prefix) <= 253)) and NAME.match(name), key
        assert isinstance(value, str), (key, value)
    for value in meta.get("labels", {}).values():
        assert NAME.match(value) and len(value) <= 63, value
    for tag in meta.get("tags", []):
        assert TAG.match(tag) and len(tag) <= 63, tag
    spec = entity["spec"]
    assert all(isinstance(spec[key], str) and spec[key] for key in ("type", "lifecycle", "owner")), spec
    assert ENTITY_REF.match(spec["owner"]), spec["owner"]


def check_carries(entity: dict[str, Any], answers: Mapping[str, Any]) -> None:
    """The labels carry the level (number and name) and the stack of these answers."""
    level = int(answers["maturity_level"])
    labels = entity["metadata"]["labels"]
    assert labels["mlops-ladder/maturity-level"] == str(level)
    assert labels["mlops-ladder/maturity-name"] == MANIFEST.level_name(level)
    for question in MANIFEST.stack:
        assert labels[f"mlops-ladder/{question}"] == answers[question]
    assert f"mlops-level-{level}" in entity["metadata"]["tags"]
    assert entity["spec"]["lifecycle"] == ("production" if level >= 3 else "experimental")


def catalog_info(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "catalog-info.yaml").read_text(encoding="utf-8"))


def recorded(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("answers", all_answers(), ids=answers_id)
def test_catalog_info_carries_level_and_stack(generate: Generate, answers: dict[str, Any]) -> None:
    entity = catalog_info(generate(answers))
    check_entity_rules(entity)
    check_carries(entity, full_answers(answers))
    assert entity["metadata"]["name"] == "ml-project"


def test_catalog_info_owner_and_description_from_free_text(generate: Generate) -> None:
    answers = {"project_name": "acme-churn", "author_name": "ACME ML Platform (EU)!",
               "description": 'Churn & "risk": <who leaves>'}
    entity = catalog_info(generate(answers))
    check_entity_rules(entity)
    assert entity["metadata"]["name"] == "acme-churn"
    assert entity["metadata"]["description"] == answers["description"]
    assert entity["spec"]["owner"] == "group:acme-ml-platform-eu"


def test_step_up_rewrites_the_labels(
    generate: Generate, git_project: Callable[[Path], Path]
) -> None:
    project = git_project(generate({"maturity_level": 0, "tracker": "wandb", "ci": "gitlab"}))
    copier.run_update(
        project, data={"maturity_level": 1}, overwrite=True, unsafe=True, defaults=True,
        vcs_ref=copier.VcsRef.CURRENT, quiet=True,
    )
    entity = catalog_info(project)
    check_entity_rules(entity)
    check_carries(entity, full_answers({"maturity_level": 1, "tracker": "wandb", "ci": "gitlab"}))


# ---------------------------------------------------------------------------------------------------------
# Org presets


@pytest.mark.parametrize("preset", PRESETS, ids=lambda path: path.name)
def test_preset_answers_questions_with_valid_choices(preset: Path) -> None:
    data = yaml.safe_load(preset.read_text(encoding="utf-8"))
    assert set(data) <= set(QUESTIONS), f"not questions of copier.yml: {sorted(set(data) - set(QUESTIONS))}"
    assert set(MANIFEST.stack) <= set(data), "a preset pins the whole stack"
    for question, value in data.items():
        if "choices" in QUESTIONS[question]:
            assert value in choices(question).values(), (question, value)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda path: path.name)
def test_preset_generates_its_pinned_stack(template_repo: Path, tmp_path: Path, preset: Path) -> None:
    data = yaml.safe_load(preset.read_text(encoding="utf-8"))
    project = tmp_path / "acme-churn"
    result = run_cli("copy", "--trust", "--defaults", "--quiet", "--data-file", str(preset),
                     "-d", "project_name=acme-churn", "-d", "maturity_level=1",
                     str(template_repo), str(project))
    assert result.returncode == 0, result.stderr
    answers = recorded(project)
    assert {key: answers[key] for key in data} == data
    check_carries(catalog_info(project), answers)


def test_cli_data_overrides_the_preset(template_repo: Path, tmp_path: Path) -> None:
    preset = yaml.safe_load(PRESETS[0].read_text(encoding="utf-8"))
    other_ci = next(value for value in choices("ci").values() if value != preset["ci"])
    result = run_cli("copy", "--trust", "--defaults", "--quiet", "--data-file", str(PRESETS[0]),
                     "-d", f"ci={other_ci}", str(template_repo), str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    answers = recorded(tmp_path / "p")
    assert answers["ci"] == other_ci
    assert answers["tracker"] == preset["tracker"] and answers["platform"] == preset["platform"]


# ---------------------------------------------------------------------------------------------------------
# Copier settings: `trust:` instead of --trust


@pytest.fixture
def org_remotes(template_repo: Path, tmp_path: Path) -> Iterator[None]:
    """The org's template URLs served from this template's committed copy (git `insteadOf`, offline).
    Copier runs git through plumbum, whose environment is a copy taken at import: set it there."""
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    (remotes / "mlops-ladder.git").symlink_to(template_repo)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        "".join(f'[url "file://{remotes}/"]\n\tinsteadOf = {base}\n' for base in (
            "https://github.com/acme/", "https://github.com/elsewhere/",
            "https://gitlab.acme.example/ml-platform/",
        )),
        encoding="utf-8",
    )
    with local.env(GIT_CONFIG_GLOBAL=str(gitconfig)):
        yield


@pytest.mark.usefixtures("org_remotes")
@pytest.mark.parametrize("source", [
    "https://github.com/acme/mlops-ladder.git",  # exact entry
    "gh:acme/mlops-ladder",  # the shortcut, matched as typed
    "https://gitlab.acme.example/ml-platform/mlops-ladder.git",  # prefix entry
])
def test_settings_trust_lets_the_org_template_run(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(SETTINGS))
    copier.run_copy(source, tmp_path / "p", defaults=True, quiet=True)  # no unsafe=True
    answers = recorded(tmp_path / "p")
    assert answers["_src_path"] == source and answers["_commit"] == TEMPLATE_VERSION
    assert answers["author_email"] == yaml.safe_load(SETTINGS.read_text())["defaults"]["author_email"]


@pytest.mark.usefixtures("org_remotes")
@pytest.mark.parametrize("source", [
    "https://github.com/elsewhere/mlops-ladder.git",  # under no entry
    "gh:acme/mlops-ladder.git",  # not the exact spelling of the entry
])
def test_settings_trust_is_no_blanket(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(SETTINGS))
    with pytest.raises(UnsafeTemplateError, match="jinja_extensions"):
        copier.run_copy(source, tmp_path / "p", defaults=True, quiet=True)


def test_settings_trust_prefix_of_a_local_path(
    template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Backstage backend needs: a `trust:` prefix of the directory its action clones into."""
    settings = tmp_path / "settings.yml"
    settings.write_text(yaml.safe_dump({"trust": [f"{template_repo.parent}/"]}), encoding="utf-8")
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(settings))
    copier.run_copy(str(template_repo), tmp_path / "p", defaults=True, quiet=True)
    assert recorded(tmp_path / "p")["_commit"] == TEMPLATE_VERSION
    settings.write_text(yaml.safe_dump({"trust": [f"{tmp_path}/elsewhere/"]}), encoding="utf-8")
    with pytest.raises(UnsafeTemplateError):
        copier.run_copy(str(template_repo), tmp_path / "q", defaults=True, quiet=True)


# ---------------------------------------------------------------------------------------------------------
# The Backstage Software Template


def parameters() -> dict[str, dict[str, Any]]:
    pages = BACKSTAGE["spec"]["parameters"]
    return {name: spec for page in pages for name, spec in page["properties"].items()}


def copier_step() -> dict[str, Any]:
    (step,) = (step for step in BACKSTAGE["spec"]["steps"] if step["action"] == "fetch:copier")
    return step


def validator_regex(question: str) -> str | None:
    """The regex a copier validator passes to `regex_search`, as Jinja reads the string."""
    if "validator" not in QUESTIONS[question]:
        return None
    tree = Environment().parse(QUESTIONS[question]["validator"])
    calls = [f for f in tree.find_all(nodes.Filter) if f.name == "regex_search"]
    if not calls:
        return None
    (pattern,) = calls[0].args
    assert isinstance(pattern, nodes.Const)
    return str(pattern.value)


def test_backstage_template_is_a_scaffolder_template() -> None:
    assert BACKSTAGE["apiVersion"] == "scaffolder.backstage.io/v1beta3"
    assert BACKSTAGE["kind"] == "Template"
    assert NAME.match(BACKSTAGE["metadata"]["name"])
    assert BACKSTAGE["spec"]["owner"] and BACKSTAGE["spec"]["type"]
    ids = [step["id"] for step in BACKSTAGE["spec"]["steps"]]
    assert len(ids) == len(set(ids))
    text = (ROOT / "backstage" / "template.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"steps\['([^']+)'\]", text)) <= set(ids)
    assert set(re.findall(r"parameters\.(\w+)", text)) <= set(parameters())


def test_backstage_form_mirrors_copier_questions() -> None:
    params = parameters()
    assert set(QUESTIONS) <= set(params), f"missing in the form: {sorted(set(QUESTIONS) - set(params))}"
    required = {name for page in BACKSTAGE["spec"]["parameters"] for name in page.get("required", [])}
    assert set(QUESTIONS) <= required
    types = {"str": "string", "int": "integer", "bool": "boolean"}
    for name, question in QUESTIONS.items():
        param = params[name]
        assert param["type"] == types[question["type"]], name
        assert param["default"] == question["default"], name
        assert param.get("description") == question.get("help"), name
        if "choices" in question:
            offered = {label: value for label, value in choices(name).items()
                       if name != "maturity_level" or value <= MANIFEST.highest_level}
            assert param["enum"] == list(offered.values()), name
            if "enumNames" in param:
                assert param["enumNames"] == list(offered), name


@pytest.mark.parametrize("question", [q for q in QUESTIONS if validator_regex(q)])
def test_backstage_patterns_accept_what_copier_accepts(question: str) -> None:
    copier_regex, form_regex = validator_regex(question), parameters()[question]["pattern"]
    samples = ["acme-churn", "a", "ml-project", "Acme", "acme--churn", "-acme", "acme_churn", "9lives",
               "ml-team@example.com", "a@b.co", "a b@example.com", "no-at.example.com", "x@y.z", "x@y.zz",
               "x@@y.com"]
    for sample in samples:
        assert bool(re.search(form_regex, sample)) == bool(re.search(str(copier_regex), sample)), sample


def test_backstage_copier_step_passes_every_answer() -> None:
    step = copier_step()["input"]
    assert step["values"] == {name: f"${{{{ parameters.{name} }}}}" for name in QUESTIONS}
    assert step["answerFile"] == COPIER_YML["_answers_file"]
    assert step["answerFileDirectory"] == "."


def test_backstage_action_command_line_generates(template_repo: Path, tmp_path: Path) -> None:
    """The command the `fetch:copier` action runs: a depth-100 clone with tags, then `copier copy --force
    -a FILE` with every value as `--data key=value` text and no --trust (settings trust the working dir)."""
    work = tmp_path / "scaffolder"
    clone, workspace = work / "tmp-template", work / "tmp-workspace"
    git(tmp_path, "clone", "-q", "--depth", "100", f"file://{template_repo}", str(clone))
    git(clone, "fetch", "-q", "--tags")
    settings = tmp_path / "settings.yml"
    settings.write_text(yaml.safe_dump({"trust": [f"{work}/"]}), encoding="utf-8")
    form = {name: spec["default"] for name, spec in parameters().items() if "default" in spec}
    form.update(project_name="acme-churn", maturity_level=1, ci="gitlab")
    step = copier_step()["input"]
    data = [
        arg
        for name, value in step["values"].items()
        for arg in ("--data", f"{name}={value.replace(f'${{{{ parameters.{name} }}}}', str(form[name]))}")
    ]
    result = run_cli("copy", "--force", "-a", step["answerFile"], *data, str(clone), str(workspace),
                     env={"COPIER_SETTINGS_PATH": str(settings)})
    assert result.returncode == 0, result.stderr
    answers = recorded(workspace)
    assert answers["_commit"] == TEMPLATE_VERSION and answers["maturity_level"] == 1
    check_entity_rules(catalog_info(workspace))
    check_carries(catalog_info(workspace), answers)
