"""The platform-team catalog: org presets, settings `trust:`, catalog-info.yaml, the Backstage template."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import copier
import jsonschema
import pytest
import yaml
from conftest import (
    DEFAULTS,
    MANIFEST,
    TEMPLATE_VERSION,
    Generate,
    Render,
    all_answers,
    answers_id,
    full_answers,
    question_applies,
)
from copier.errors import UnsafeTemplateError
from jinja2 import StrictUndefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
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


# copier.yml's Jinja as copier renders it (its filters, e.g. regex_search); an answer a template reads but
# is not given fails loudly instead of rendering empty.
JINJA = SandboxedEnvironment(
    extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"], undefined=StrictUndefined
)


def render(template: Any, **context: Any) -> str:
    return JINJA.from_string(str(template)).render(**context).strip()


def referenced(template: Any) -> set[str]:
    """The answers a Jinja template in copier.yml reads."""
    return meta.find_undeclared_variables(JINJA.parse(template)) if isinstance(template, str) else set()


# Questions copier asks only for some answers (`when:`), the question their `when` reads, and its choices.
CONDITIONAL = {name: spec for name, spec in QUESTIONS.items() if "when" in spec}
(SWITCH,) = set().union(*(referenced(spec["when"]) for spec in CONDITIONAL.values()))
SWITCH_VALUES = list(choices(SWITCH).values())
# Where the cloud answers land in a level-2 project's config/pipeline.toml ([platform]; LEVEL2-CONTRACT).
PIPELINE_KEYS = {
    "cloud_region": "region",
    "artifact_bucket": "bucket",
    "pipeline_role": "role",
    "gcp_project": "project",
}


def shown_on(question: str) -> list[str]:
    """The choices of SWITCH for which copier asks the question (its `when` renders true)."""
    if question not in CONDITIONAL:
        return SWITCH_VALUES
    return [
        value
        for value in SWITCH_VALUES
        if yaml.safe_load(render(CONDITIONAL[question]["when"], **{SWITCH: value})) is True
    ]


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
        if question_applies(question, answers):
            assert labels[f"mlops-ladder/{question}"] == answers.get(question, DEFAULTS[question])
        else:  # not asked, not recorded: no label
            assert f"mlops-ladder/{question}" not in labels
    assert f"mlops-level-{level}" in entity["metadata"]["tags"]
    assert entity["spec"]["lifecycle"] == ("production" if level >= 3 else "experimental")


def catalog_info(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "catalog-info.yaml").read_text(encoding="utf-8"))


def recorded(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))


# Backstage's own validators (tests/backstage: @backstage/catalog-model, @backstage/plugin-scaffolder-common
# from npm, installed by `npm ci --prefix tests/backstage` as .ci/run does), one node process per worker.
BACKSTAGE_CHECKS = ROOT / "tests" / "backstage"


class BackstageValidator:
    """`node validate.js serve`: a file path in, Backstage's verdict on its entities out."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", "validate.js", "serve"],
            cwd=BACKSTAGE_CHECKS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{line}\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def check(self, path: Path) -> dict[str, Any]:
        """Backstage's verdict on a YAML file's entities: {"ok": ..., "error": ...}."""
        return self.ask(str(path))

    def submit(self, template: Path, values: Mapping[str, Any]) -> list[str]:
        """The scaffolder backend's error messages for a form submission."""
        answer = self.ask(json.dumps({"template": str(template), "values": dict(values)}))
        return [error["message"] for error in answer["errors"]]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def backstage_installed() -> None:
    """Skip without npm (say so); with npm, Backstage's validators must have been installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("npm is not installed: Backstage's validators (tests/backstage) cannot run")
    assert (BACKSTAGE_CHECKS / "node_modules" / "@backstage").is_dir(), (
        "install Backstage's validators first: npm ci --prefix tests/backstage"
    )


@pytest.fixture(scope="module")
def backstage() -> Iterator[BackstageValidator]:
    backstage_installed()
    validator = BackstageValidator()
    yield validator
    validator.close()


@pytest.mark.parametrize("answers", all_answers(), ids=answers_id)
def test_catalog_info_carries_level_and_stack(
    render: Render, backstage: BackstageValidator, answers: dict[str, Any]
) -> None:
    project = render(answers)
    entity = catalog_info(project)
    check_entity_rules(entity)
    check_carries(entity, full_answers(answers))
    assert entity["metadata"]["name"] == "ml-project"
    verdict = backstage.check(project / "catalog-info.yaml")
    assert verdict["ok"], verdict


def test_backstage_template_passes_the_scaffolders_validator(backstage: BackstageValidator) -> None:
    verdict = backstage.check(ROOT / "backstage" / "template.yaml")
    assert verdict["ok"], verdict


def test_backstage_validators_refuse_what_backstage_refuses(
    backstage: BackstageValidator, tmp_path: Path
) -> None:
    """The validators are live: a plain Component passes; a name over 63 characters, an unknown root
    field and a Template without steps do not."""
    component = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "acme-churn"},
        "spec": {"type": "ml-project", "lifecycle": "production", "owner": "group:ml-team"},
    }
    cases = {
        "component": (component, True),
        "long-name": ({**component, "metadata": {"name": "a" * 64}}, False),
        "root-field": ({**component, "status": "extra"}, False),
        "no-steps": (
            {**BACKSTAGE, "spec": {k: v for k, v in BACKSTAGE["spec"].items() if k != "steps"}},
            False,
        ),
    }
    for name, (entity, accepted) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(entity), encoding="utf-8")
        verdict = backstage.check(path)
        assert verdict["ok"] is accepted, f"{name}: {verdict}"


@pytest.mark.parametrize(
    ("switch", "field"),
    [
        pytest.param(switch, name, id=f"{switch}-{name}")
        for switch in SWITCH_VALUES
        for name in sorted(CONDITIONAL)
        if switch in shown_on(name)
    ],
)
def test_backstage_backend_names_a_missing_cloud_field(
    backstage: BackstageValidator, switch: str, field: str
) -> None:
    """What the scaffolder backend answers to a submission without one of the platform's fields (each page
    checked with the `jsonschema` package, as the backend does): an error that names the field."""
    form = form_submission(switch, project_name="acme-churn", maturity_level=2)
    assert backstage.submit(ROOT / "backstage" / "template.yaml", form) == []
    del form[field]
    messages = backstage.submit(ROOT / "backstage" / "template.yaml", form)
    assert f'requires property "{field}"' in messages, messages


def test_catalog_info_owner_and_description_from_free_text(generate: Generate) -> None:
    answers = {
        "project_name": "acme-churn",
        "author_name": "ACME ML Platform (EU)!",
        "description": 'Churn & "risk": <who leaves>',
    }
    entity = catalog_info(generate(answers))
    check_entity_rules(entity)
    assert entity["metadata"]["name"] == "acme-churn"
    assert entity["metadata"]["description"] == answers["description"]
    assert entity["spec"]["owner"] == "group:acme-ml-platform-eu"


def test_step_up_rewrites_the_labels(generate: Generate, git_project: Callable[[Path], Path]) -> None:
    project = git_project(generate({"maturity_level": 0, "tracker": "wandb", "ci": "gitlab"}))
    copier.run_update(
        project,
        data={"maturity_level": 1},
        overwrite=True,
        unsafe=True,
        defaults=True,
        vcs_ref=copier.VcsRef.CURRENT,
        quiet=True,
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
    stack = {question for question in MANIFEST.stack if data.get(SWITCH) in shown_on(question)}
    assert stack <= set(data), "a preset pins the whole stack (the questions its platform is asked)"
    for question, value in data.items():
        if "choices" in QUESTIONS[question]:
            assert value in choices(question).values(), (question, value)
        # copier would not ask (and would drop) a cloud setting of another platform than the pinned one
        assert data[SWITCH] in shown_on(question), f"{question} is not asked for {SWITCH} {data[SWITCH]}"
        if uses_regex(question):
            assert copier_accepts(question, data[SWITCH], str(value)), (question, value)


def copy_with_preset(
    preset: Path, template: Path, destination: Path, *data: str
) -> subprocess.CompletedProcess[str]:
    """`copier copy --trust --defaults --data-file PRESET [-d KEY=VALUE ...]`, as a team runs it."""
    answers = [arg for item in data for arg in ("-d", item)]
    return run_cli(
        "copy",
        "--trust",
        "--defaults",
        "--quiet",
        "--data-file",
        str(preset),
        *answers,
        str(template),
        str(destination),
    )


@pytest.mark.parametrize("preset", PRESETS, ids=lambda path: path.name)
def test_preset_generates_its_pinned_stack(template_repo: Path, tmp_path: Path, preset: Path) -> None:
    data = yaml.safe_load(preset.read_text(encoding="utf-8"))
    project = tmp_path / "acme-churn"
    result = copy_with_preset(preset, template_repo, project, "project_name=acme-churn", "maturity_level=2")
    assert result.returncode == 0, result.stderr
    answers = recorded(project)
    assert {key: answers[key] for key in data} == data
    check_carries(catalog_info(project), answers)
    pipeline = tomllib.loads((project / "config" / "pipeline.toml").read_text(encoding="utf-8"))
    for question in set(data) & set(CONDITIONAL):
        assert pipeline["platform"][PIPELINE_KEYS[question]] == data[question], question


def test_cli_data_overrides_the_preset(template_repo: Path, tmp_path: Path) -> None:
    preset = yaml.safe_load(PRESETS[0].read_text(encoding="utf-8"))
    other_ci = next(value for value in choices("ci").values() if value != preset["ci"])
    result = copy_with_preset(PRESETS[0], template_repo, tmp_path / "p", f"ci={other_ci}")
    assert result.returncode == 0, result.stderr
    answers = recorded(tmp_path / "p")
    assert answers["ci"] == other_ci
    assert answers["tracker"] == preset["tracker"] and answers["platform"] == preset["platform"]


# ---------------------------------------------------------------------------------------------------------
# Copier settings: `trust:` instead of --trust


@pytest.fixture
def org_remotes(template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The org's template URLs served from this template's committed copy (git `insteadOf`, offline).
    Copier runs git through plumbum, whose environment is a copy taken at import: set it there. Copier
    mirrors remote templates in a cache keyed by URL: a per-test cache keeps these URLs out of the user's."""
    monkeypatch.setenv("COPIER_CACHE_DIR", str(tmp_path / "copier-cache"))
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    (remotes / "mlops-ladder.git").symlink_to(template_repo)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        "".join(
            f'[url "file://{remotes}/"]\n\tinsteadOf = {base}\n'
            for base in (
                "https://github.com/acme/",
                "https://github.com/elsewhere/",
                "https://gitlab.acme.example/ml-platform/",
            )
        ),
        encoding="utf-8",
    )
    with local.env(GIT_CONFIG_GLOBAL=str(gitconfig)):
        yield


@pytest.mark.usefixtures("org_remotes")
@pytest.mark.parametrize(
    "source",
    [
        "https://github.com/acme/mlops-ladder.git",  # exact entry
        "gh:acme/mlops-ladder",  # the shortcut, matched as typed
        "https://gitlab.acme.example/ml-platform/mlops-ladder.git",  # prefix entry
    ],
)
def test_settings_trust_lets_the_org_template_run(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(SETTINGS))
    copier.run_copy(source, tmp_path / "p", defaults=True, quiet=True)  # no unsafe=True
    answers = recorded(tmp_path / "p")
    assert answers["_src_path"] == source and answers["_commit"] == TEMPLATE_VERSION
    assert answers["author_email"] == yaml.safe_load(SETTINGS.read_text())["defaults"]["author_email"]


@pytest.mark.usefixtures("org_remotes")
@pytest.mark.parametrize(
    "source",
    [
        "https://github.com/elsewhere/mlops-ladder.git",  # under no entry
        "gh:acme/mlops-ladder.git",  # not the exact spelling of the entry
    ],
)
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


def pages() -> list[dict[str, Any]]:
    return BACKSTAGE["spec"]["parameters"]


def form_fields(answers: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The fields the form shows once these answers are chosen, and the required ones: each page's own
    properties, plus those of the `dependencies` branch (`oneOf`) that the answer to its key selects; the
    required ones also from the `allOf` conditions (if / then) the answers meet."""
    fields: dict[str, dict[str, Any]] = {}
    required: set[str] = set()
    for page in pages():
        fields.update(page["properties"])
        required.update(page.get("required", []))
        for key, dependency in page.get("dependencies", {}).items():
            branches = [
                branch
                for branch in dependency["oneOf"]
                if answers.get(key) in branch["properties"][key]["enum"]
            ]
            assert len(branches) == 1, f"{key}={answers.get(key)!r} selects {len(branches)} branches"
            fields.update({name: spec for name, spec in branches[0]["properties"].items() if name != key})
            required.update(branches[0].get("required", []))
        for condition in page.get("allOf", []):
            if jsonschema.Draft7Validator(condition["if"]).is_valid(dict(answers)):
                required.update(condition["then"].get("required", []))
    return fields, required


def field_names() -> set[str]:
    """Every field of the form, whichever branch shows it."""
    return {name for value in SWITCH_VALUES for name in form_fields({SWITCH: value})[0]}


def copier_step() -> dict[str, Any]:
    (step,) = (step for step in BACKSTAGE["spec"]["steps"] if step["action"] == "fetch:copier")
    return step


def uses_regex(question: str) -> bool:
    """Whether the question's copier validator checks the answer with `regex_search`."""
    if "validator" not in QUESTIONS[question]:
        return False
    tree = JINJA.parse(QUESTIONS[question]["validator"])
    return any(f.name == "regex_search" for f in tree.find_all(nodes.Filter))


def copier_accepts(question: str, switch: str, value: str) -> bool:
    """Copier's own validator of the question, rendered with this answer on this platform."""
    return render(QUESTIONS[question]["validator"], **{SWITCH: switch, question: value}) == ""


def form_submission(switch: str, **chosen: Any) -> dict[str, Any]:
    """What the form submits: the defaults of the fields it shows, the chosen answers, and what a user types
    into the fields that have no default."""
    fields, _ = form_fields({SWITCH: switch})
    form = {name: spec["default"] for name, spec in fields.items() if "default" in spec}
    repo = "github.com?owner=acme&repo=acme-churn"  # what Backstage's pickers (RepoUrlPicker) submit
    pickers = {name: repo for name, spec in fields.items() if "ui:field" in spec}
    return {**form, **pickers, SWITCH: switch, **chosen, **TYPED.get(switch, {})}


def check_form_accepts(form: Mapping[str, Any]) -> None:
    """Every page validates the submission as the form does: JSON Schema draft 7 (newer drafts ignore
    `dependencies`)."""
    for page in pages():
        schema = {
            key: page[key] for key in ("properties", "required", "dependencies", "allOf") if key in page
        }
        jsonschema.Draft7Validator({"type": "object", **schema}).validate(dict(form))


def test_backstage_template_is_a_scaffolder_template() -> None:
    assert BACKSTAGE["apiVersion"] == "scaffolder.backstage.io/v1beta3"
    assert BACKSTAGE["kind"] == "Template"
    assert NAME.match(BACKSTAGE["metadata"]["name"])
    assert BACKSTAGE["spec"]["owner"] and BACKSTAGE["spec"]["type"]
    ids = [step["id"] for step in BACKSTAGE["spec"]["steps"]]
    assert len(ids) == len(set(ids))
    text = (ROOT / "backstage" / "template.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"steps\['([^']+)'\]", text)) <= set(ids)
    assert set(re.findall(r"parameters\.(\w+)", text)) <= field_names()


def test_conditional_questions_depend_on_one_stack_question() -> None:
    """What the form's single `dependencies` key mirrors: every `when` reads the same question."""
    assert CONDITIONAL, "copier.yml asks no question conditionally"
    assert SWITCH in MANIFEST.stack
    for name in CONDITIONAL:
        assert 0 < len(shown_on(name)) < len(SWITCH_VALUES), (name, shown_on(name))


def check_field(name: str, param: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    """The form field mirrors the question as copier asks it in this context (help and default rendered)."""
    question = QUESTIONS[name]
    types = {"str": "string", "int": "integer", "bool": "boolean"}
    assert param["type"] == types[question["type"]], name
    help_text = render(question["help"], **context) if "help" in question else None
    default = question.get("default")
    others = referenced(default) - set(context)
    if others:  # copier derives it from other answers: no default in a form, its description names copier's
        assert "default" not in param, name
        derived = render(default, **context, **{other: f"<{other}>" for other in others})
        assert param["description"].startswith(f"{help_text}; "), name
        assert param["description"].endswith(f"copier's default is {derived}"), (name, derived)
    else:
        assert param["default"] == (render(default, **context) if isinstance(default, str) else default), name
        assert param.get("description") == help_text, name
    if "choices" in question:
        offered = {
            label: value
            for label, value in choices(name).items()
            if name != "maturity_level" or value <= MANIFEST.highest_level
        }
        assert param["enum"] == list(offered.values()), name
        if "enumNames" in param:
            assert param["enumNames"] == list(offered), name


@pytest.mark.parametrize("switch", SWITCH_VALUES)
def test_backstage_form_mirrors_copier_questions(switch: str) -> None:
    """For each platform, the form shows the questions copier asks for it, with copier's defaults."""
    fields, required = form_fields({SWITCH: switch})
    asked = {name for name in QUESTIONS if name not in CONDITIONAL or switch in shown_on(name)}
    assert {name for name in fields if name in QUESTIONS} == asked
    assert all("ui:field" in fields[name] for name in set(fields) - set(QUESTIONS)), "only Backstage pickers"
    assert asked <= required
    for name in asked:
        check_field(name, fields[name], {SWITCH: switch})


# Answers around every validator's edge: slugs, e-mails, regions, project IDs, buckets, role ARNs and
# service-account e-mails.
SAMPLES = [
    "",
    "acme-churn",
    "a",
    "ml-project",
    "Acme",
    "acme--churn",
    "-acme",
    "acme_churn",
    "9lives",
    "ml-team@example.com",
    "a@b.co",
    "a b@example.com",
    "no-at.example.com",
    "x@y.z",
    "x@y.zz",
    "x@@y.com",
    "eu-west-1",
    "europe-west4",
    "us-central1",
    "us-gov-west-1",
    "ap-southeast-2",
    "eu-west",
    "EU-WEST-1",
    "eu_west_1",
    "westeurope",
    "useast1",
    "eu-west-1a",
    "acme-ml-prod",
    "acme",
    "acmem",
    "acmeml",
    "acme-ml-",
    "Acme-ml-prod",
    "9acme-ml",
    "acme_ml_prod",
    "a" * 30,
    "a" * 31,
    "acme-churn-ml-artifacts",
    "ml",
    "mlx",
    "acme.churn.models",
    "s3://acme-models",
    "gs://acme-models",
    "acme-models-",
    "Acme-Models",
    "b" * 63,
    "b" * 64,
    "arn:aws:iam::123456789012:role/acme-churn-pipeline",
    "arn:aws-us-gov:iam::123456789012:role/ml/x",
    "arn:aws:iam::000000000000:role/ml-project-sagemaker-pipeline",
    "arn:aws:iam::12345678901:role/x",
    "arn:aws:iam::123456789012:user/x",
    "arn:aws:iam::123456789012:role/",
    "arn:aws:iam::123456789012:role/a b",
    "ml-pipelines@acme-ml-prod.iam.gserviceaccount.com",
    "ml@acme-ml-prod.iam.gserviceaccount.com",
    "mlpi@acme-ml-prod.iam.gserviceaccount.com",
    "mlpip@acme-ml-prod.iam.gserviceaccount.com",
    f"m{'l' * 29}@acme.iam.gserviceaccount.com",
    f"m{'l' * 30}@acme.iam.gserviceaccount.com",
    "ml-pipelines@acme-ml-prod.gserviceaccount.com",
    "ML-pipelines@acme.iam.gserviceaccount.com",
    "1234-compute@developer.gserviceaccount.com",
    "ml-pipelines@acme-ml-prod.iam.gserviceaccount.com.evil",
]
PATTERN_CASES = sorted(
    {
        (name, switch if name in CONDITIONAL else SWITCH_VALUES[0])
        for name in QUESTIONS
        if uses_regex(name)
        for switch in (shown_on(name) if name in CONDITIONAL else SWITCH_VALUES[:1])
    }
)


def ecmascript_matches(pattern: str, samples: list[str]) -> list[bool] | None:
    """How a browser's `new RegExp(pattern, "u")` (JSON Schema in Backstage's form) reads the samples."""
    node = shutil.which("node")
    if node is None:
        return None
    script = (
        "const [p, s] = JSON.parse(process.argv[1]); "
        "console.log(JSON.stringify(s.map(x => new RegExp(p, 'u').test(x))));"
    )
    result = subprocess.run(
        [node, "-e", script, json.dumps([pattern, samples])], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize(("question", "switch"), PATTERN_CASES, ids=lambda value: str(value))
def test_backstage_patterns_accept_what_copier_accepts(question: str, switch: str) -> None:
    pattern = form_fields({SWITCH: switch})[0][question]["pattern"]
    accepted = [copier_accepts(question, switch, sample) for sample in SAMPLES]
    assert any(accepted) and not all(accepted), "the samples must fall on both sides of the validator"
    for sample, copier_says in zip(SAMPLES, accepted, strict=True):
        assert bool(re.search(pattern, sample)) == copier_says, sample
    in_browser = ecmascript_matches(pattern, SAMPLES)
    if in_browser is not None:
        assert in_browser == accepted


@pytest.mark.parametrize("question", sorted(CONDITIONAL))
def test_copier_accepts_empty_where_it_does_not_ask(question: str) -> None:
    """The copier step passes every field; the ones a platform does not show arrive empty."""
    for switch in SWITCH_VALUES:
        if "validator" in QUESTIONS[question]:
            assert copier_accepts(question, switch, "") == (switch not in shown_on(question)), switch


# The inputs of `fetch:copier` in @diamondlightsource/plugin-scaffolder-backend-module-copier 0.3.4 (its
# action's input schema); the scaffolder ignores any other key, so one here would be a silent no-op.
ACTION_INPUTS = {"url", "targetPath", "values", "imageName"}


def test_backstage_copier_step_passes_every_answer() -> None:
    step = copier_step()["input"]
    assert set(step) <= ACTION_INPUTS, f"inputs the action does not have: {set(step) - ACTION_INPUTS}"
    assert step["values"] == {name: f"${{{{ parameters.{name} }}}}" for name in QUESTIONS}


@pytest.mark.parametrize("switch", SWITCH_VALUES)
def test_backstage_form_requires_the_fields_of_the_chosen_platform(switch: str) -> None:
    form = form_submission(switch, project_name="acme-churn")
    check_form_accepts(form)
    _, required = form_fields({SWITCH: switch})
    for name in required & set(CONDITIONAL):
        with pytest.raises(jsonschema.ValidationError):
            check_form_accepts({key: value for key, value in form.items() if key != name})
        with pytest.raises(jsonschema.ValidationError):
            check_form_accepts({**form, name: "Not Valid"})


# The submissions: for every platform, what a user types into the cloud fields (the vertex one also
# overrides the region's default).
TYPED: dict[str, dict[str, str]] = {
    "sagemaker": {
        "artifact_bucket": "acme-churn-models",
        "pipeline_role": "arn:aws:iam::123456789012:role/acme-churn-pipeline",
    },
    "vertex": {
        "cloud_region": "europe-west1",
        "gcp_project": "acme-ml-prod",
        "artifact_bucket": "acme-churn-models",
        "pipeline_role": "ml-pipelines@acme-ml-prod.iam.gserviceaccount.com",
    },
}
GENERATE_CASES = [
    pytest.param(switch, hidden, id=f"{switch}-{hidden}")
    for switch in SWITCH_VALUES
    for hidden in (["empty", "missing"] if any(switch not in shown_on(n) for n in CONDITIONAL) else ["none"])
]


@pytest.mark.parametrize(("switch", "hidden"), GENERATE_CASES)
def test_backstage_action_command_line_generates(
    template_repo: Path, tmp_path: Path, switch: str, hidden: str
) -> None:
    """The command the `fetch:copier` action runs: `copier copy` with every value as `--data key=value`
    text, the template's URL (copier clones it, tags and all), the destination, and `--trust`; nothing on a
    terminal. A field the platform does not show renders empty, or Backstage drops the key (`missing`)."""
    workspace = tmp_path / "scaffolder" / "intermediate" / "copier"
    form = form_submission(switch, project_name="acme-churn", maturity_level=2, ci="gitlab")
    check_form_accepts(form)
    step = copier_step()["input"]
    rendered = {
        name: value.replace(f"${{{{ parameters.{name} }}}}", str(form.get(name, "")))
        for name, value in step["values"].items()
        if name in form or hidden == "empty"
    }
    data = [arg for name, value in rendered.items() for arg in ("--data", f"{name}={value}")]
    url = f"git+file://{template_repo}"  # a git URL, as https://.../mlops-ladder.git is
    result = run_cli("copy", *data, url, str(workspace), "--trust")
    assert result.returncode == 0, result.stderr
    answers = recorded(workspace)
    assert answers["_commit"] == TEMPLATE_VERSION and answers["maturity_level"] == 2
    assert answers["_src_path"] == url, "copier update in the project fetches the template from here"
    check_entity_rules(catalog_info(workspace))
    check_carries(catalog_info(workspace), answers)
    shown = {name for name in CONDITIONAL if switch in shown_on(name)}
    assert {name: answers.get(name) for name in CONDITIONAL} == {
        name: form[name] if name in shown else None for name in CONDITIONAL
    }
    pipeline = tomllib.loads((workspace / "config" / "pipeline.toml").read_text(encoding="utf-8"))
    submitted = {PIPELINE_KEYS[name]: form[name] for name in shown if name in PIPELINE_KEYS}
    assert {key: pipeline.get("platform", {}).get(key) for key in PIPELINE_KEYS.values()} == {
        key: submitted.get(key) for key in PIPELINE_KEYS.values()
    }
