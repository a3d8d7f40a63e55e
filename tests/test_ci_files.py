"""Generated CI files are valid for their CI system and least-privilege.

Which CI files exist comes from components.yml; this module only knows each CI system's own conventions
(where its files live) and the validators for them. Identical files are validated once per worker.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import gitlab_ci
import pytest
import yaml
from conftest import MANIFEST, STACK_CHOICES, Render, all_answers, answers_id, full_answers
from gitlab_ci import GLOBAL_KEYS
from jinja2 import Environment
from ladder import LadderExtension, UnknownAction, load_actions

BIN = Path(sys.executable).parent
TEMPLATE = Path(__file__).resolve().parent.parent / "template"


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


ACTIONS = load_actions()
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(.*?)\s*$", re.MULTILINE)


def test_pinned_actions_are_commits_of_a_release() -> None:
    """stacks/ci/actions.yml: a full commit and the exact release tag it was resolved from, per action."""
    for action in ACTIONS.values():
        assert re.fullmatch(r"[0-9a-f]{40}", action.commit), f"{action.name}: {action.commit!r} is no commit"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", action.version), f"{action.name}: {action.version!r}"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_actions_are_pinned_to_a_commit(render: Render, answers: dict[str, Any], path: str) -> None:
    """Every `uses:` is `owner/name@<commit> # <version>`, exactly as stacks/ci/actions.yml pins it."""
    text = (render(answers) / path).read_text(encoding="utf-8")
    uses = USES.findall(text)
    assert uses, "a workflow that uses no action"
    pinned = {action.uses() for action in ACTIONS.values()}
    wrong = [line for line in uses if line not in pinned]
    assert wrong == [], f"pin these in stacks/ci/actions.yml and use ladder_action(): {wrong}"
    workflow = load(render(answers), path)
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    assert len([step for step in steps if "uses" in step]) == len(uses)


def test_an_unpinned_action_fails_the_render() -> None:
    environment = Environment(extensions=[LadderExtension])
    with pytest.raises(UnknownAction, match=r"'actions/chekout' is not in stacks/ci/actions.yml: pin it"):
        environment.from_string('uses: {{ ladder_action("actions/chekout") }}').render()


def test_every_pinned_action_is_used() -> None:
    """An action no template file names would only be kept up to date for nothing."""
    sources = "\n".join(
        path.read_text(encoding="utf-8") for path in (TEMPLATE / ".github").rglob("*") if path.is_file()
    )
    assert sorted(name for name in ACTIONS if f'ladder_action("{name}")' not in sources) == []


ZIZMOR = (str(BIN / "zizmor"), "--offline", "--no-progress", "--format", "plain")


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_zizmor_finds_nothing(render: Render, answers: dict[str, Any], path: str) -> None:
    """zizmor's offline audits, default persona (run once per distinct workflow)."""
    returncode, output = run_check(ZIZMOR, render(answers) / path)
    assert returncode == 0, f"zizmor {path}:\n{output}"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_checkouts_keep_no_credentials(render: Render, answers: dict[str, Any], path: str) -> None:
    workflow = load(render(answers), path)
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"job {name}: {step}"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_secrets_only_in_jobs_with_an_environment(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    """A job that reads a secret runs in an environment, whose protection rules (branches, reviewers) then
    guard the secret; no other job sees it."""
    workflow = load(render(answers), path)
    assert "secrets." not in yaml.safe_dump({k: v for k, v in workflow.items() if k != "jobs"})
    for name, job in workflow["jobs"].items():
        if "secrets." in yaml.safe_dump(job):
            assert job.get("environment"), f"job {name} reads a secret outside an environment"


def scripts(document: Any, key: str | None = None) -> list[str]:
    """Every shell script in a CI file: GitHub's `run`, GitLab's `script`, `before_script`, `after_script`."""
    if isinstance(document, dict):
        return [script for k, value in document.items() for script in scripts(value, k)]
    if isinstance(document, list):
        return [script for value in document for script in scripts(value, key)]
    return [document] if isinstance(document, str) and key in SCRIPT_KEYS else []


SCRIPT_KEYS = {"run", "script", "before_script", "after_script"}


def script_of(document: Any) -> str:
    return "\n".join(scripts(document))


MAKE = re.compile(r"(?:^|[;&|(]|\bthen\b|\bdo\b)\s*make\s+([^;&|)\n]*)", re.MULTILINE)
MAKE_TARGET = re.compile(r"^([^\s:=#][^:=#]*?)\s*:(?!=)", re.MULTILINE)


def make_targets(script: str) -> list[str]:
    """The targets of each `make` command in a script (options and VAR=value left out)."""
    words = [word for match in MAKE.finditer(script) for word in match.group(1).split()]
    return [word for word in words if not word.startswith("-") and "=" not in word]


@pytest.mark.parametrize("answers", [pytest.param(a, id=answers_id(a)) for a in all_answers() if ci_files(a)])
def test_ci_runs_only_make_targets_the_makefile_has(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    targets = {target for match in MAKE_TARGET.finditer(makefile) for target in match.group(1).split()}
    used = {t for path in ci_files(answers) for s in scripts(load(project, path)) for t in make_targets(s)}
    assert used, "the CI runs no make target"
    assert sorted(used - targets) == [], "make targets the CI runs that the Makefile lacks"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_run_scripts_take_values_from_env(render: Render, answers: dict[str, Any], path: str) -> None:
    """`${{ }}` inside `run:` is pasted into the script before the shell parses it (script injection)."""
    assert [script for script in scripts(load(render(answers), path)) if "${{" in script] == []


# Cloud credentials are short-lived (OIDC); a CI file never names a stored key.
STORED_KEYS = re.compile(
    r"(?i)access[_-]?key|secret[_-]access|credentials[_-]?json|service[_-]account[_-]key|private[_-]key"
    r"|GOOGLE_CREDENTIALS"
)


@pytest.mark.parametrize(("answers", "path"), CI_FILES)
def test_ci_file_names_no_stored_cloud_key(render: Render, answers: dict[str, Any], path: str) -> None:
    assert STORED_KEYS.findall((render(answers) / path).read_text(encoding="utf-8")) == []


# ---------------------------------------------------------------------------------------------------------
# GitLab: the whole configuration as GitLab merges it (gitlab_ci.py), and which jobs each pipeline runs.

GITLAB = [pytest.param(a, id=answers_id(a)) for a in all_answers() if a["ci"] == "gitlab" and ci_files(a)]
SCHEDULE_VARIABLE = "SCHEDULE_TASK"  # a schedule names its task; a file's scheduled jobs answer to its name


def pipeline(source: str, **variables: str) -> dict[str, str]:
    """The predefined variables of a pipeline on the default branch (or of a merge request)."""
    where = {"CI_MERGE_REQUEST_IID": "1"} if source == "merge_request_event" else {"CI_COMMIT_BRANCH": "main"}
    return {"CI_PIPELINE_SOURCE": source, "CI_DEFAULT_BRANCH": "main", **where, **variables}


PUSHES = {"push": pipeline("push"), "merge request": pipeline("merge_request_event")}
# Set in branch pipelines (schedules and runs by hand included) whose branch has an open merge request.
OPEN_MERGE_REQUEST = {"CI_OPEN_MERGE_REQUESTS": "group/project!1"}


def task(path: str) -> str:
    return PurePosixPath(path).stem


def jobs_of(project: Path, path: str) -> list[str]:
    """The visible jobs a file defines."""
    return [name for name in load(project, path) if name not in GLOBAL_KEYS and not name.startswith(".")]


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_includes_every_ci_file(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    included = {path.relative_to(project).as_posix() for path in gitlab_ci.local_includes(project)}
    assert sorted(set(ci_files(answers)) - included - {".gitlab-ci.yml"}) == []


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_merged_config_is_valid(render: Render, answers: dict[str, Any], tmp_path: Path) -> None:
    project = render(answers)
    defined = Counter(name for path in ci_files(answers) for name in jobs_of(project, path))
    assert [name for name, count in defined.items() if count > 1] == [], "jobs of one name merge silently"
    merged = tmp_path / "merged-gitlab-ci.yml"
    merged.write_text(yaml.safe_dump(gitlab_ci.merged_config(project), sort_keys=False), encoding="utf-8")
    for command in CI_SYSTEMS["gitlab"].checks:
        returncode, output = run_check(command, merged)
        assert returncode == 0, f"{Path(command[0]).name} (merged configuration):\n{output}"


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_stages_are_declared_and_used(render: Render, answers: dict[str, Any]) -> None:
    config = gitlab_ci.merged_config(render(answers))
    used = {job.get("stage", "test") for job in gitlab_ci.jobs(config).values()}
    declared = config.get("stages", ["build", "test", "deploy"])
    assert sorted(used - {*declared, ".pre", ".post"}) == [], "jobs in undeclared stages"
    if "stages" in config:
        assert [stage for stage in declared if stage not in used] == [], "declared stages no job uses"


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_schedules_run_only_their_own_task(render: Render, answers: dict[str, Any]) -> None:
    """A schedule with SCHEDULE_TASK=<file name> runs that file's jobs and no other; unscheduled jobs run
    on pushes and merge requests, scheduled ones never do."""
    project = render(answers)
    config = gitlab_ci.merged_config(project)
    jobs = gitlab_ci.jobs(config)
    files = [path for path in ci_files(answers) if jobs_of(project, path)]
    schedules = {"(no task)": pipeline("schedule")}
    schedules |= {task(p): pipeline("schedule", **{SCHEDULE_VARIABLE: task(p)}) for p in files}
    for path in files:
        for name in jobs_of(project, path):
            job = jobs[name]
            on = [label for label, variables in schedules.items() if gitlab_ci.runs(config, job, variables)]
            pushed = [label for label, variables in PUSHES.items() if gitlab_ci.runs(config, job, variables)]
            assert on in ([], [task(path)]), f"{path}: {name} runs in the schedules {on}"
            if path in deploy_files(answers):  # deployments: pushes to the default branch, never an MR
                assert (on, pushed) == ([], ["push"]), f"{path}: {name} runs on {on + pushed}"
            else:
                assert pushed == ([] if on else list(PUSHES)), f"{path}: {name} runs on {pushed}"


# ---------------------------------------------------------------------------------------------------------
# Scheduled training (level 2): the files of the scheduled_training components, per CI system.


def built(prefix: str) -> list[Any]:
    """The built components whose name starts with `prefix`."""
    return [c for c in MANIFEST.components if c.name.startswith(prefix) and not c.planned]


TRAINING_COMPONENTS = built("scheduled_training")
CD_COMPONENTS = built("cd_")
# Scheduled monitoring (level 4) runs `make retrain`, which submits the cloud pipeline on sagemaker / vertex.
MONITORING_COMPONENTS = built("scheduled_monitoring")


def enabled_files(components: list[Any], answers: dict[str, Any]) -> list[str]:
    """The files of those of `components` that the answers enable, sorted."""
    full = full_answers(answers)
    enabled = [c for c in components if c.enabled(full)]
    return sorted(path for c in enabled for path, _ in c.paths(full["package_name"]))


def training_files(answers: dict[str, Any]) -> list[str]:
    return enabled_files(TRAINING_COMPONENTS, answers)


def monitoring_files(answers: dict[str, Any]) -> list[str]:
    return enabled_files(MONITORING_COMPONENTS, answers)


def deploy_files(answers: dict[str, Any]) -> list[str]:
    return enabled_files(CD_COMPONENTS, answers)


@dataclass(frozen=True)
class Cloud:
    github_login: str  # the action that trades GitHub's OIDC token for the cloud's short-lived credentials
    gitlab_audience: str  # how the audience of the GitLab ID token for the cloud starts
    words: re.Pattern[str]  # how the cloud shows in a file


CLOUDS = {
    "sagemaker": Cloud(
        github_login="aws-actions/configure-aws-credentials",
        gitlab_audience="sts.amazonaws.com",
        words=re.compile(r"(?i)\baws|amazon|\becr\b|sagemaker"),
    ),
    "vertex": Cloud(
        github_login="google-github-actions/auth",
        gitlab_audience="https://iam.googleapis.com/",
        words=re.compile(r"(?i)google|gcloud|gcp|vertex"),
    ),
}
# What `make pipeline` leaves in the project (the level-2 contract); a local training keeps it.
RUN_OUTPUTS = ("models", "reports", "pipeline")


def submits(answers: dict[str, Any]) -> bool:
    """Whether training runs elsewhere than on the runner: on a cloud, or on the team's Kubeflow Pipelines."""
    return answers["platform"] in CLOUDS or full_answers(answers)["pipeline_engine"] == "kubeflow"


def expected_target(answers: dict[str, Any]) -> str:
    """The contract: `make pipeline` runs on this machine, `make pipeline-submit` submits to the cloud or to
    Kubeflow Pipelines."""
    return "pipeline-submit" if submits(answers) else "pipeline"


def training_params(**stack: Callable[[str], bool]) -> list[Any]:
    """(answers, training file) of every combination whose stack answers pass the given checks."""
    return [
        pytest.param(answers, path, id=f"{answers_id(answers)}:{path}")
        for answers in all_answers()
        if all(check(answers[question]) for question, check in stack.items())
        for path in training_files(answers)
    ]


TRAINING = training_params()
GITHUB_TRAINING = training_params(ci="github".__eq__)
GITLAB_TRAINING = training_params(ci="gitlab".__eq__)
LOCAL_TRAINING = [p for p in TRAINING if not submits(p.values[0])]  # type: ignore[arg-type]
SUBMITTED_TRAINING = [p for p in TRAINING if submits(p.values[0])]  # type: ignore[arg-type]


def test_every_ci_choice_schedules_training_and_one_platform_runs_locally() -> None:
    covered = {choice for c in TRAINING_COMPONENTS for choice in c.when.get("ci", STACK_CHOICES["ci"])}
    assert sorted(covered) == sorted(STACK_CHOICES["ci"])
    assert set(CLOUDS) < set(STACK_CHOICES["platform"])
    assert len(set(STACK_CHOICES["platform"]) - set(CLOUDS)) == 1, "give a new cloud platform a Cloud"


@pytest.mark.parametrize("answers", [pytest.param(a, id=answers_id(a)) for a in all_answers()])
def test_one_training_file_from_the_level_that_adds_it(answers: dict[str, Any]) -> None:
    level = min(c.level for c in TRAINING_COMPONENTS)
    assert len(training_files(answers)) == (answers["maturity_level"] >= level)
    assert set(training_files(answers)) <= set(ci_files(answers))


@pytest.mark.parametrize(("answers", "path"), TRAINING)
def test_training_runs_the_platforms_pipeline_command(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    targets = {t for script in scripts(load(render(answers), path)) for t in make_targets(script)}
    expected = expected_target(answers)
    others = {"pipeline", "pipeline-submit"} - {expected}
    assert expected in targets, f"no `make {expected}` in {sorted(targets)}"
    assert sorted(targets & others) == [], "the command of another platform"


@pytest.mark.parametrize(("answers", "path"), TRAINING)
def test_training_file_names_only_its_platform_and_tracker(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    text = (render(answers) / path).read_text(encoding="utf-8")
    for platform, cloud in CLOUDS.items():
        found = sorted(set(cloud.words.findall(text)))
        assert bool(found) is (platform == answers["platform"]), f"{platform}: {found}"
    for tracker in STACK_CHOICES["tracker"]:
        mentioned = f"{tracker.upper()}_" in text
        assert mentioned is (tracker == answers["tracker"] and not submits(answers)), tracker


@pytest.mark.parametrize(("answers", "path"), GITHUB_TRAINING)
def test_github_training_runs_weekly_and_by_hand(render: Render, answers: dict[str, Any], path: str) -> None:
    workflow = load(render(answers), path)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert sorted(triggers) == ["schedule", "workflow_dispatch"]
    [cron] = [entry["cron"] for entry in triggers["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert (day, month) == ("*", "*") and all(f.isdigit() for f in (minute, hour, weekday)), f"weekly? {cron}"
    concurrency = workflow["concurrency"]
    assert concurrency["cancel-in-progress"] is False, "a new run waits; it never cancels a training"
    assert "${{" not in concurrency["group"], "one group for every branch: trainings never overlap"


@pytest.mark.parametrize(("answers", "path"), GITHUB_WORKFLOWS)
def test_github_id_token_only_where_a_cloud_login_needs_it(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    project = render(answers)
    workflow = load(project, path)
    cloud = CLOUDS.get(answers["platform"])
    assert "id-token" not in (workflow["permissions"] or {}), "id-token belongs in the job that logs in"
    logins = {c.github_login for c in CLOUDS.values()}
    with_token = []
    for name, job in workflow["jobs"].items():
        used = [step["uses"].partition("@")[0] for step in job.get("steps", []) if "uses" in step]
        login = [action for action in used if action in logins]
        writes = (job.get("permissions") or {}).get("id-token") == "write"
        assert writes is bool(login), f"job {name}: id-token: write {'without' if writes else 'but'} a login"
        assert login in ([], [cloud.github_login] if cloud else []), f"job {name} logs in with {login}"
        with_token += [name] if writes else []
    if path in training_files(answers) + monitoring_files(answers):  # one job, which submits the pipeline
        assert len(with_token) == (cloud is not None)
    else:  # a deployment logs in in each job that touches the cloud, and only for a cloud
        assert bool(with_token) is (cloud is not None and path in deploy_files(answers))
    recorded = load(project, ".copier-answers.yml")
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").partition("@")[0] in logins:
                inputs = step["with"]
                identity = inputs.get("role-to-assume", inputs.get("workload_identity_provider", ""))
                assert re.fullmatch(r"\$\{\{ vars\.\w+ \}\}", identity), f"identity {identity!r}: a variable"
                assert inputs.get("aws-region", recorded["cloud_region"]) == recorded["cloud_region"]


@pytest.mark.parametrize(("answers", "path"), GITLAB_TRAINING)
def test_gitlab_training_runs_on_its_schedule_and_by_hand(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    project = render(answers)
    config = gitlab_ci.merged_config(project)
    jobs = gitlab_ci.jobs(config)
    for open_merge_request in ({}, OPEN_MERGE_REQUEST):
        scheduled = pipeline("schedule", **{SCHEDULE_VARIABLE: task(path)}, **open_merge_request)
        by_hand = pipeline("web", **open_merge_request)
        for name in jobs_of(project, path):
            assert gitlab_ci.runs(config, jobs[name], scheduled), f"{name}: not in the schedule {task(path)}"
            assert gitlab_ci.runs(config, jobs[name], by_hand), f"{name}: not in a pipeline run by hand"
    target = expected_target(answers)
    trainers = [name for name in jobs_of(project, path) if target in make_targets(script_of(jobs[name]))]
    assert trainers, f"no job runs make {target}"
    assert [n for n in trainers if not jobs[n].get("resource_group")] == [], "trainings must not overlap"


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_id_tokens_only_for_cloud_training_and_deployment(
    render: Render, answers: dict[str, Any]
) -> None:
    project = render(answers)
    jobs = gitlab_ci.jobs(gitlab_ci.merged_config(project))
    cloud = CLOUDS.get(answers["platform"])
    files = training_files(answers) + deploy_files(answers) + monitoring_files(answers)
    in_the_cloud = {name for path in files for name in jobs_of(project, path)}
    for name, job in jobs.items():
        audiences = [token["aud"] for token in job.get("id_tokens", {}).values()]
        if cloud is None or name not in in_the_cloud:
            assert audiences == [], f"{name}: an ID token it does not need"
        else:
            assert audiences, f"{name}: no ID token for {answers['platform']}"
            assert all(aud.startswith(cloud.gitlab_audience) for aud in audiences), audiences


@pytest.mark.parametrize(("answers", "path"), LOCAL_TRAINING)
def test_local_training_keeps_its_outputs(render: Render, answers: dict[str, Any], path: str) -> None:
    document = load(render(answers), path)
    if answers["ci"] == "github":
        steps = [step for job in document["jobs"].values() for step in job.get("steps", [])]
        uploads = [s["with"]["path"] for s in steps if "actions/upload-artifact@" in s.get("uses", "")]
        kept = [line for upload in uploads for line in upload.split()]
    else:
        jobs = [job for job in document.values() if isinstance(job, dict)]
        kept = [path for job in jobs for path in job.get("artifacts", {}).get("paths", [])]
    assert sorted(set(RUN_OUTPUTS) - {p.rstrip("/") for p in kept}) == []


def expand(word: str, script: str) -> str:
    """A shell word with the script's own `name="value"` assignments substituted (the last one wins)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        found = re.findall(rf'^\s*(?:export\s+)?{name}="?([^"\n]*?)"?\s*$', script, re.MULTILINE)
        return expand(found[-1], script) if found else match.group(0)

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", value, word.strip("\"'"))


@pytest.mark.parametrize(("answers", "path"), SUBMITTED_TRAINING)
def test_submitted_training_runs_the_image_it_pushed(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    """The step image is pushed tagged with the commit and reaches `make pipeline-submit` (PIPELINE_IMAGE)."""
    project = render(answers)
    if answers["ci"] == "github":
        steps = [s for job in load(project, path)["jobs"].values() for s in job.get("steps", [])]
        runs = [step.get("run", "") for step in steps]
        [submit] = [i for i, run in enumerate(runs) if "pipeline-submit" in make_targets(run)]
        pushes = [run for run in runs[:submit] if "docker push" in run]
        commit, handover = "$GITHUB_SHA", r'"?\$GITHUB_ENV"?'
    else:
        jobs = gitlab_ci.jobs(gitlab_ci.merged_config(project))
        [submit] = [job for job in jobs.values() if "pipeline-submit" in make_targets(script_of(job))]
        needed = [jobs[need if isinstance(need, str) else need["job"]] for need in submit.get("needs", [])]
        builders = [job for job in needed if "docker push" in script_of(job)]
        pushes = [script_of(job) for job in builders]
        dotenv = [str(job["artifacts"]["reports"]["dotenv"]) for job in builders]
        commit, handover = "$CI_COMMIT_SHA", "|".join(rf'"?{re.escape(file)}"?' for file in dotenv) or "-"
    assert len(pushes) == 1, "one image push before the submission"
    pushed = [expand(word, pushes[0]) for word in re.findall(r"docker push (\S+)", pushes[0])]
    handed = [
        expand(word, pushes[0])
        for word in re.findall(rf"echo \"?PIPELINE_IMAGE=(\S+?)\"? >>? ?(?:{handover})", pushes[0])
    ]
    assert len(pushed) == 1 and pushed[0].endswith(f":{commit}"), f"push {pushed}: tag it with the commit"
    assert handed == pushed, "the pushed image reaches the submission as PIPELINE_IMAGE"


# ---------------------------------------------------------------------------------------------------------
# Continuous deployment (level 3): the files of the cd_* components, per CI system.
# Jobs are found by what they run, not by their names: the tests hold whatever a team renames.

DEPLOY = [
    pytest.param(answers, path, id=f"{answers_id(answers)}:{path}")
    for answers in all_answers()
    for path in deploy_files(answers)
]
GITHUB_DEPLOY = [p for p in DEPLOY if p.values[0]["ci"] == "github"]  # type: ignore[index]
GITLAB_DEPLOY = [p for p in DEPLOY if p.values[0]["ci"] == "gitlab"]  # type: ignore[index]


def make_commands(script: str) -> list[list[str]]:
    """Each `make` command of a script as its words (targets and VAR=value alike), in order."""
    return [match.group(1).replace('"', "").split() for match in MAKE.finditer(script)]


# Each part of the deployment and the make command (its first words) that gives its job away.
ROLES = {
    "test": ["test"],
    "staging": ["deploy", "ENV=staging"],
    "smoke": ["smoke", "ENV=staging"],
    "production": ["promote"],
    "rollback": ["promote", "ARGS=--rollback"],
}


def roles(scripts_by_job: dict[str, str]) -> dict[str, str]:
    """Which job plays which part of the deployment, found by what it runs (one job per part)."""
    found: dict[str, str] = {}
    for role, words in [("build", None), *ROLES.items()]:
        names = [
            name
            for name, script in scripts_by_job.items()
            if ("docker push" in script if words is None else plays(make_commands(script), words))
        ]
        assert len(names) == 1, f"{role}: jobs {names}"
        found[role] = names[0]
    return found


def plays(commands: list[list[str]], words: list[str]) -> bool:
    """Whether a make command starts with these words (`test` counts anywhere among the targets)."""
    if words == ["test"]:
        return any("test" in command for command in commands)
    return any(
        command == words if words == ["promote"] else command[: len(words)] == words for command in commands
    )


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else [n if isinstance(n, str) else n["job"] for n in needs]


def environment_of(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def assert_production_steps(commands: list[list[str]], first: list[str]) -> None:
    """The gate (or the rollback) first, then the production deployment, then its smoke test."""
    deploy = [c for c in commands if c[:1] == ["deploy"]]
    smoke = [c for c in commands if c[:1] == ["smoke"]]
    assert [c[:2] for c in deploy] == [["deploy", "ENV=production"]], deploy
    assert [c[:2] for c in smoke] == [["smoke", "ENV=production"]], smoke
    assert commands.index(first) < commands.index(deploy[0]) < commands.index(smoke[0]), commands


def test_every_ci_choice_deploys() -> None:
    covered = {choice for c in CD_COMPONENTS for choice in c.when.get("ci", STACK_CHOICES["ci"])}
    assert sorted(covered) == sorted(STACK_CHOICES["ci"])


@pytest.mark.parametrize("answers", [pytest.param(a, id=answers_id(a)) for a in all_answers()])
def test_one_deploy_file_from_the_level_that_adds_it(answers: dict[str, Any]) -> None:
    level = min((c.level for c in CD_COMPONENTS), default=MANIFEST.highest_level + 1)
    assert len(deploy_files(answers)) == (answers["maturity_level"] >= level)
    assert set(deploy_files(answers)) <= set(ci_files(answers))


def image_pushed(script: str, image: str) -> None:
    """The build uses deploy/Dockerfile and pushes the image it built, which names the commit."""
    [build] = [line for line in script.splitlines() if "docker build" in line]
    assert "--file deploy/Dockerfile" in build, build
    assert re.search(r'--tag "\$IMAGE"', build) and 'docker push "$IMAGE"' in script, script
    assert re.search(r"(\$GITHUB_SHA|\$\{\{ github\.sha \}\}|\$CI_COMMIT_SHA)$", image), f"image {image}"


@pytest.mark.parametrize(("answers", "path"), GITHUB_DEPLOY)
def test_github_deploy_runs_test_build_staging_smoke_then_approved_production(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    workflow = load(render(answers), path)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert triggers["push"] == {"branches": ["main"]}, "deploys from main only"
    assert triggers["workflow_dispatch"]["inputs"]["rollback"]["type"] == "boolean"
    assert sorted(triggers) == ["push", "workflow_dispatch"]
    jobs = workflow["jobs"]
    role = roles({name: script_of(job.get("steps", [])) for name, job in jobs.items()})
    chain = ["test", "build", "staging", "smoke", "production"]
    for before, after in itertools.pairwise(chain):
        assert role[before] in needs_of(jobs[role[after]]), f"{role[after]} must wait for {role[before]}"
    assert needs_of(jobs[role["test"]]) == [] and needs_of(jobs[role["rollback"]]) == []
    # Production deploys only behind the environment whose required reviewers approve it.
    assert environment_of(jobs[role["staging"]]) == "staging"
    for part in ("production", "rollback"):
        assert environment_of(jobs[role[part]]) == "production", f"{part} outside the production environment"
    assert [name for name, job in jobs.items() if environment_of(job) == "production"] == [
        role["production"],
        role["rollback"],
    ]
    production = make_commands(script_of(jobs[role["production"]]["steps"]))
    assert_production_steps(production, ["promote"])
    rollback = make_commands(script_of(jobs[role["rollback"]]["steps"]))
    assert_production_steps(rollback, ["promote", "ARGS=--rollback"])
    # A rollback run moves champion back and deploys nothing new; a push never rolls back.
    assert jobs[role["rollback"]]["if"] == "${{ inputs.rollback }}"
    assert jobs[role["test"]]["if"] == "${{ !inputs.rollback }}"
    build = jobs[role["build"]]
    image = build.get("env", {}).get("IMAGE") or workflow.get("env", {}).get("IMAGE")
    if image is None:  # set by a step: the lower-cased repository, tagged with the commit
        [image] = re.findall(r"IMAGE=(\S+?)\"? >> \"?\$GITHUB_ENV", script_of(build["steps"]))
    image_pushed(script_of(build["steps"]), image)


@pytest.mark.parametrize(("answers", "path"), GITHUB_DEPLOY)
def test_github_deploy_permissions_are_per_job(render: Render, answers: dict[str, Any], path: str) -> None:
    workflow = load(render(answers), path)
    assert workflow["permissions"] == {}, "nothing at the top: each job names what it needs"
    jobs = workflow["jobs"]
    role = roles({name: script_of(job.get("steps", [])) for name, job in jobs.items()})
    for name, job in jobs.items():
        granted = job.get("permissions")
        assert isinstance(granted, dict) and granted.get("contents") == "read", f"{name}: {granted}"
        extra = {scope: access for scope, access in granted.items() if scope not in ("contents", "id-token")}
        registry_push = name == role["build"] and answers["platform"] not in CLOUDS
        assert extra == ({"packages": "write"} if registry_push else {}), f"{name}: {extra}"
    assert "id-token" not in jobs[role["test"]]["permissions"], "the tests never get a cloud identity"


@pytest.mark.parametrize(("answers", "path"), GITLAB_DEPLOY)
def test_gitlab_deploy_runs_build_staging_smoke_then_manual_production(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    project = render(answers)
    config = gitlab_ci.merged_config(project)
    jobs = gitlab_ci.jobs(config)
    mine = set(jobs_of(project, path))
    scripts_by_job = {name: script_of(job) for name, job in jobs.items()}
    tests = {name for name, script in scripts_by_job.items() if plays(make_commands(script), ROLES["test"])}
    role = roles({name: script for name, script in scripts_by_job.items() if name in mine | tests})
    assert set(role.values()) - {role["test"]} == mine
    chain = ["test", "build", "staging", "smoke", "production"]
    for before, after in itertools.pairwise(chain):
        assert role[before] in needs_of(jobs[role[after]]), f"{role[after]} must wait for {role[before]}"
    assert environment_of(jobs[role["staging"]]) == "staging"
    for part in ("production", "rollback"):
        job = jobs[role[part]]
        assert environment_of(job) == "production", f"{part} outside the production environment"
        assert [rule.get("when") for rule in job["rules"]] == ["manual"], f"{part}: run by hand only"
    assert jobs[role["production"]]["rules"][0].get("allow_failure", False) is False, "production blocks"
    assert jobs[role["rollback"]]["rules"][0].get("allow_failure") is True, "an unused rollback blocks"
    assert needs_of(jobs[role["rollback"]]) == [], "a rollback waits for nothing"
    assert_production_steps(make_commands(script_of(jobs[role["production"]])), ["promote"])
    assert_production_steps(make_commands(script_of(jobs[role["rollback"]])), ["promote", "ARGS=--rollback"])
    build = jobs[role["build"]]
    image_pushed(script_of(build), build["variables"]["IMAGE"])
    if answers["platform"] not in CLOUDS:  # the project's registry, with the job's own token
        [login] = [line for line in script_of(build).splitlines() if "docker login" in line]
        assert re.search(r"\$CI_REGISTRY_(PASSWORD|JOB_TOKEN)|\$CI_JOB_TOKEN", login), login
        assert '"$CI_REGISTRY"' in login, login


# A push as `docker push` prints it: the digest comes last, with the tag.
FAKE_DOCKER = """#!/bin/sh
case "$1" in
  push) echo "The push refers to repository [${2%:*}]"; echo "5f70bf18a086: Pushed"
        echo "${2##*:}: digest: $FAKE_DIGEST size: 1573";;
  *) cat > /dev/null;;
esac
"""
SELF_HOSTED_DEPLOY = [p for p in DEPLOY if p.values[0]["platform"] == "self-hosted"]  # type: ignore[index]
NEEDS_OUTPUT = re.compile(r"^\$\{\{ needs\.([\w-]+)\.outputs\.([\w-]+) \}\}$")
STEPS_OUTPUT = re.compile(r"^\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}$")


def substitute(word: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: variables[m.group(1) or m.group(2)], word.strip("\"'"))


@pytest.mark.parametrize(("answers", "path"), SELF_HOSTED_DEPLOY)
def test_staging_and_production_deploy_the_pushed_image_by_digest(
    render: Render, answers: dict[str, Any], path: str, tmp_path: Path
) -> None:
    """The build's push script, run with a docker that prints a push, hands on <repository>@<digest>, and the
    staging and production jobs pass exactly that to `make deploy` (a rollback, which builds nothing, may run
    the commit's tag)."""
    project = render(answers)
    digest = "sha256:" + hashlib.sha256(b"the pushed image").hexdigest()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/docker").write_text(FAKE_DOCKER, encoding="utf-8")
    (tmp_path / "bin/docker").chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "FAKE_DIGEST": digest, "HOME": str(tmp_path)}
    deploys: dict[str, str] = {}  # staging / production -> the IMAGE its `make deploy` gets
    if answers["ci"] == "github":
        jobs = load(project, path)["jobs"]
        role = roles({name: script_of(job.get("steps", [])) for name, job in jobs.items()})
        build = jobs[role["build"]]
        files = {name: tmp_path / name for name in ("env", "output")}
        env |= {"GITHUB_ENV": str(files["env"]), "RUNNER_TEMP": str(tmp_path), "GITHUB_ACTOR": "someone"}
        env |= {"GITHUB_REPOSITORY": "Acme/ML-Project", "GITHUB_SHA": "3f2a1b9" * 5 + "0" * 5}
        outputs: dict[str, dict[str, str]] = {}
        for step in build["steps"]:
            if "run" not in step:
                continue
            files["output"].write_text("", encoding="utf-8")
            step_env = (
                env
                | {key: "a-token" for key in step.get("env", {})}
                | {"GITHUB_OUTPUT": str(files["output"])}
            )
            ran = subprocess.run(
                ["bash", "-e", "-c", step["run"]],
                env=step_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            if files["env"].exists():
                env |= dict(
                    line.split("=", 1) for line in files["env"].read_text(encoding="utf-8").splitlines()
                )
            written = files["output"].read_text(encoding="utf-8").splitlines()
            outputs[step.get("id", "")] = dict(line.split("=", 1) for line in written)
        assert 'docker push "$IMAGE"' in script_of(build["steps"]), "the build pushes no $IMAGE"
        pushed = env["IMAGE"]
        for part in ("staging", "production"):
            job = jobs[role[part]]
            [step] = [
                s
                for s in job["steps"]
                if ["deploy", f"ENV={part}"] in [c[:2] for c in make_commands(s.get("run", ""))]
            ]
            [command] = [c for c in make_commands(step["run"]) if c[:1] == ["deploy"]]
            [word] = [w for w in command if w.startswith("IMAGE=")]
            reference = NEEDS_OUTPUT.match(step.get("env", {}).get(word.removeprefix("IMAGE=$"), ""))
            assert reference, f"{part}: IMAGE comes from no job's output: {step}"
            assert reference[1] == role["build"] and role["build"] in needs_of(job), (part, reference[0])
            source = STEPS_OUTPUT.match(build["outputs"][reference[2]])
            assert source, build["outputs"]
            deploys[part] = outputs[source[1]][source[2]]
    else:
        jobs = gitlab_ci.jobs(gitlab_ci.merged_config(project))
        scripts_by_job = {name: script_of(job) for name, job in jobs.items()}
        tests = {
            name for name, script in scripts_by_job.items() if plays(make_commands(script), ROLES["test"])
        }
        mine = set(jobs_of(project, path)) | tests
        role = roles({name: script for name, script in scripts_by_job.items() if name in mine})
        build = jobs[role["build"]]
        env |= {
            "CI_REGISTRY_IMAGE": "registry.example.com/acme/ml-project",
            "CI_COMMIT_SHA": "3f2a1b9" * 5 + "0" * 5,
        }
        env |= {
            "CI_REGISTRY": "registry.example.com",
            "CI_REGISTRY_USER": "ci",
            "CI_REGISTRY_PASSWORD": "a-token",
        }
        exports = "".join(f'export {key}="{value}"\n' for key, value in build["variables"].items())
        script = exports + "\n".join(build["script"])
        ran = subprocess.run(
            ["sh", "-e", "-c", script],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        pushed = substitute(build["variables"]["IMAGE"], env)
        dotenv = tmp_path / build["artifacts"]["reports"]["dotenv"]
        handed = dict(line.split("=", 1) for line in dotenv.read_text(encoding="utf-8").splitlines())
        for part in ("staging", "production"):
            job = jobs[role[part]]
            assert role["build"] in needs_of(job), f"{part} gets no dotenv report of {role['build']}"
            [command] = [c for c in make_commands(script_of(job)) if c[:1] == ["deploy"]]
            [word] = [w for w in command if w.startswith("IMAGE=")]
            deploys[part] = substitute(word.removeprefix("IMAGE="), handed)
    repository = pushed.rsplit(":", 1)[0]
    assert deploys == {"staging": f"{repository}@{digest}", "production": f"{repository}@{digest}"}, pushed


@pytest.mark.parametrize(("answers", "path"), GITLAB_DEPLOY)
def test_gitlab_deploys_only_from_default_branch_pushes(
    render: Render, answers: dict[str, Any], path: str
) -> None:
    project = render(answers)
    config = gitlab_ci.merged_config(project)
    jobs = gitlab_ci.jobs(config)
    other_branch = {**pipeline("push"), "CI_COMMIT_BRANCH": "feature"}
    never = {
        "merge request": pipeline("merge_request_event"),
        "push to another branch": other_branch,
        "run by hand": pipeline("web"),
        "schedule": pipeline("schedule"),
        **{f"schedule {task(p)}": pipeline("schedule", SCHEDULE_TASK=task(p)) for p in ci_files(answers)},
    }
    for name in jobs_of(project, path):
        assert gitlab_ci.runs(config, jobs[name], pipeline("push")), f"{name}: not on a push to main"
        ran = [label for label, variables in never.items() if gitlab_ci.runs(config, jobs[name], variables)]
        assert ran == [], f"{name} runs in {ran}"


# ---------------------------------------------------------------------------------------------------------
# The governance trail (level 4): every job that writes it on the CI machine (`make retrain`, `make promote`
# with or without --rollback, `make pipeline`) fetches it first (`make trail-pull`) and sends it back after
# (`make trail-push`), when its own step failed too but never after a failed fetch; a failed push fails the
# job and stops nothing else; no cache holds it. Jobs are found by what they run, and their scripts run, with
# `make` stubbed, the way each CI system runs them.

TRAIL_PULL, TRAIL_PUSH = "trail-pull", "trail-push"
TRAIL_WRITERS = ("retrain", "promote", "pipeline")
TRAIL_PATHS = ("reports", "data/feedback.csv")
TRAIL_FROM_LEVEL = next(c.level for c in MANIFEST.components if c.name == "governance" and not c.planned)
TRAIL = [pytest.param(a, id=answers_id(a)) for a in all_answers() if a["maturity_level"] >= TRAIL_FROM_LEVEL]
# A `make` that records its arguments and fails for the targets in $FAILING; a `uv` that does nothing.
FAKE_MAKE = """#!/bin/sh
echo "$*" >> "$MAKE_LOG"
for target in $FAILING; do [ "$1" = "$target" ] && exit 2; done
exit 0
"""


@dataclass(frozen=True)
class Outcome:
    targets: list[str]  # the first target of each `make` that ran, in order
    failed: bool  # whether the job failed


class Runner:
    """Runs a job's scripts with `make` stubbed; `failing` names the make targets that fail."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.bin = folder, folder / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        (self.bin / "make").write_text(FAKE_MAKE, encoding="utf-8")
        (self.bin / "uv").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        for tool in ("make", "uv"):
            (self.bin / tool).chmod(0o755)

    def bash(self, script: str, failing: set[str], log: Path, given: tuple[str, ...] = ()) -> int:
        """Run a script; the variables the CI file hands it (`given`) are set, to a placeholder."""
        env = {
            **dict.fromkeys(given, "set-by-the-ci-file"),
            "GITHUB_ENV": str(self.folder / "github-env"),
            "RUNNER_TEMP": str(self.folder),
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.folder),
            "MAKE_LOG": str(log),
            "FAILING": " ".join(sorted(failing)),
        }
        # GitHub's `bash -e {0}` shell and the GitLab runner's bash both stop at the first failing command.
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
        return subprocess.run(command, env=env, cwd=self.folder, capture_output=True, timeout=60).returncode

    def targets(self, log: Path) -> list[str]:
        return (
            [line.split()[0] for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
        )

    def gitlab(self, job: dict[str, Any], failing: set[str]) -> Outcome:
        """GitLab runs `script` as one shell session that stops at the first failing line."""
        log = self.folder / f"make-{len(list(self.folder.glob('make-*')))}.log"
        code = self.bash("\n".join(job["script"]), failing, log)
        return Outcome(self.targets(log), code != 0)

    def github(self, job: dict[str, Any], failing: set[str]) -> Outcome:
        """GitHub runs each step whose `if` holds (success() unless it names a status function); a failed
        step fails the job unless it continues on error; `uses` steps succeed."""
        log = self.folder / f"make-{len(list(self.folder.glob('make-*')))}.log"
        failed, outcomes = False, {}
        for step in job.get("steps", []):
            if github_condition(str(step.get("if", "success()")), failed, outcomes):
                given = (*job.get("env", {}), *step.get("env", {}))
                code = self.bash(step["run"], failing, log, given) if "run" in step else 0
                outcome = "failure" if code else "success"
            else:
                outcome = "skipped"
            if "id" in step:
                outcomes[step["id"]] = outcome
            failed = failed or (outcome == "failure" and not step.get("continue-on-error", False))
        return Outcome(self.targets(log), failed)


GITHUB_STATUS = re.compile(r"\b(always|success|failure|cancelled)\(\)")
STEP_OUTCOME = re.compile(r"^steps\.([\w-]+)\.outcome\s*==\s*'(\w+)'$")


def github_condition(condition: str, failed: bool, outcomes: dict[str, str]) -> bool:
    """A step's `if`, for the expressions the generated workflows use (anything else raises)."""
    expression = condition.strip().removeprefix("${{").removesuffix("}}").strip()
    atoms = [atom.strip() for atom in expression.split("&&")]
    if not GITHUB_STATUS.search(expression):
        atoms.append("success()")
    for atom in atoms:
        if atom in ("always()", "!cancelled()"):
            holds = True
        elif atom in ("success()", "failure()"):
            holds = failed is (atom == "failure()")
        elif match := STEP_OUTCOME.match(atom):
            holds = outcomes.get(match.group(1)) == match.group(2)
        else:
            raise NotImplementedError(f"if: {condition!r}: {atom!r} is not understood")
        if not holds:
            return False
    return True


def trail_jobs(project: Path, answers: dict[str, Any]) -> dict[str, tuple[str, Callable[..., Outcome]]]:
    """Each job that writes the trail on the CI machine: its file:name, the target that writes, a runner."""
    found: dict[str, tuple[str, Callable[..., Outcome]]] = {}
    runner = Runner(project.parent / f"{project.name}-runs")
    if answers["ci"] == "github":
        for path in ci_files(answers):
            for name, job in load(project, path).get("jobs", {}).items():
                steps = job.get("steps", [])
                writes = [t for t in make_targets(script_of(steps)) if t in TRAIL_WRITERS]
                if writes:
                    found[f"{path}:{name}"] = (writes[0], lambda failing, j=job: runner.github(j, failing))
    else:
        for name, job in gitlab_ci.jobs(gitlab_ci.merged_config(project)).items():
            writes = [t for t in make_targets("\n".join(job.get("script", []))) if t in TRAIL_WRITERS]
            if writes:
                found[name] = (writes[0], lambda failing, j=job: runner.gitlab(j, failing))
    return found


@pytest.mark.parametrize("answers", TRAIL)
def test_jobs_that_write_the_trail_pull_it_before_and_push_it_after(
    render: Render, answers: dict[str, Any]
) -> None:
    project = render(answers)
    jobs = trail_jobs(project, answers)
    writers = sorted(writer for writer, _ in jobs.values())
    on_the_runner = ["pipeline"] if expected_target(answers) == "pipeline" else []
    # scheduled monitoring, production and rollback, and training where it registers on the runner
    assert writers == sorted(["retrain", "promote", "promote", *on_the_runner]), jobs
    for name, (writer, run) in jobs.items():
        clean = run(set())
        assert not clean.failed, f"{name} fails with nothing failing: {clean.targets}"
        order = [clean.targets.index(t) for t in (TRAIL_PULL, writer, TRAIL_PUSH) if t in clean.targets]
        assert len(order) == 3 and order == sorted(order), f"{name}: pull, {writer}, push? {clean.targets}"

        broken = run({writer})
        assert broken.failed, f"{name}: a failed make {writer} must fail the job"
        assert TRAIL_PUSH in broken.targets, f"{name}: no push after a failed make {writer}: {broken.targets}"

        no_pull = run({TRAIL_PULL})
        assert no_pull.failed and no_pull.targets[-1] == TRAIL_PULL, f"{name}: after a failed pull {no_pull}"

        no_push = run({TRAIL_PUSH})
        assert no_push.failed, f"{name}: a failed push must fail the job"
        assert no_push.targets == clean.targets, f"{name}: a failed push stopped {no_push.targets}"


@pytest.mark.parametrize("answers", TRAIL)
def test_jobs_that_write_nothing_of_the_trail_leave_it_alone(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    writers = set(trail_jobs(project, answers))
    if answers["ci"] == "github":
        scripts_by_job = {
            f"{path}:{name}": script_of(job.get("steps", []))
            for path in ci_files(answers)
            for name, job in load(project, path).get("jobs", {}).items()
        }
    else:
        jobs = gitlab_ci.jobs(gitlab_ci.merged_config(project))
        scripts_by_job = {name: script_of(job) for name, job in jobs.items()}
    touching = {n for n, s in scripts_by_job.items() if {TRAIL_PULL, TRAIL_PUSH} & set(make_targets(s))}
    assert sorted(touching - writers) == []


def cached_paths(document: Any) -> list[str]:
    """Every path a cache keeps: actions/cache steps' `path`, GitLab's `cache: paths` (one or a list)."""
    if isinstance(document, list):
        return [path for item in document for path in cached_paths(item)]
    if not isinstance(document, dict):
        return []
    found = []
    if str(document.get("uses", "")).startswith("actions/cache"):
        found += str(document.get("with", {}).get("path", "")).split()
    for key, value in document.items():
        if key == "cache":
            caches = value if isinstance(value, list) else [value]
            found += [str(p) for cache in caches if isinstance(cache, dict) for p in cache.get("paths", [])]
        else:
            found += cached_paths(value)
    return found


@pytest.mark.parametrize("answers", [pytest.param(a, id=answers_id(a)) for a in all_answers() if ci_files(a)])
def test_no_cache_holds_the_trail(render: Render, answers: dict[str, Any]) -> None:
    """A cache is evicted when unused; the trail lives where trail.py keeps it, never only in a cache."""
    project = render(answers)
    cached = [path for file in ci_files(answers) for path in cached_paths(load(project, file))]
    assert [path for path in cached if path.strip("/").startswith(TRAIL_PATHS)] == []


# ---------------------------------------------------------------------------------------------------------
# Template updates: `copier update --trust` runs the template's own code (its Jinja extension), so the job
# that runs it holds no write token; it hands its result on as a patch to a job that holds the token, runs
# only git and opens the pull or merge request. Jobs are found by what they run.

UPDATE_COMPONENTS = built("template_updates")
UPDATE = [
    pytest.param(a, id=answers_id(a))
    for a in all_answers([min(c.level for c in UPDATE_COMPONENTS)])
    if a["platform"] == "self-hosted" and a["tracker"] == "mlflow"  # the update files name no other choice
]
RENDERS_UPDATE = re.compile(r"\bcopier update\b")


def update_jobs(project: Path, answers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs of the template-update file(s), with GitLab's `extends` merged in."""
    [path] = enabled_files(UPDATE_COMPONENTS, answers)
    if answers["ci"] == "github":
        return dict(load(project, path)["jobs"])
    merged = gitlab_ci.jobs(gitlab_ci.merged_config(project))
    return {name: merged[name] for name in jobs_of(project, path)}


def split_update(jobs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(the job that runs copier update, the job that hands its result to the forge)."""
    [render] = [name for name, job in jobs.items() if RENDERS_UPDATE.search(script_of(job))]
    [opener] = [name for name in jobs if name != render]
    return render, opener


@pytest.mark.parametrize("answers", UPDATE)
def test_template_update_runs_the_template_without_a_write_token(
    render: Render, answers: dict[str, Any]
) -> None:
    jobs = update_jobs(render(answers), answers)
    renderer, opener = split_update(jobs)
    rendering, opening = yaml.safe_dump(jobs[renderer]), yaml.safe_dump(jobs[opener])
    assert "copier update --trust" in script_of(jobs[renderer])
    assert renderer in needs_of(jobs[opener]), f"{opener} must wait for {renderer}'s patch"
    assert environment_of(jobs[opener]), f"{opener}: its token belongs to an environment"
    assert environment_of(jobs[renderer]) is None, f"{renderer} must not see the environment's token"
    assert not re.search(r"copier|uvx|\buv\b|\bmake\b", script_of(jobs[opener])), f"{opener} runs only git"
    if answers["ci"] == "github":
        assert set(jobs[renderer]["permissions"].items()) == {("contents", "read")}
        assert "secrets." not in rendering and "token" not in rendering.lower()
        assert dict(jobs[opener]["permissions"]) == {"contents": "write", "pull-requests": "write"}
    else:
        assert "TEMPLATE_UPDATE_TOKEN" not in rendering and "TEMPLATE_UPDATE_TOKEN" in opening


# A `uvx` standing in for copier: check-update says a newer version exists (exit 2) or not (0); update edits,
# adds, deletes and writes a binary file, as an update may.
FAKE_UVX = """#!/bin/sh
case "$*" in
  *check-update*) exit "$CHECK_UPDATE_STATUS" ;;
  *"copier update"*)
    echo "new line" >> kept.txt; echo added > added.txt; rm gone.txt
    printf '\\000\\001\\377' > image.bin ;;
  *) exit 9 ;;
esac
"""
# A `git` whose push is recorded instead of sent.
FAKE_GIT = """#!/bin/sh
if [ "$1" = push ]; then echo "$*" > "$PUSH_LOG"; exit 0; fi
exec "{git}" "$@"
"""


def github_outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines)


def run_update(project: Path, answers: dict[str, Any], work: Path, newer: bool) -> tuple[Path, Path]:
    """Run both jobs' scripts: the first in a clone of a small repository, the second in a fresh clone
    given only the first's artifact. Returns (the second clone, the push log)."""
    jobs = update_jobs(project, answers)
    renderer, opener = split_update(jobs)
    bin_dir, origin = work / "bin", work / "origin"
    bin_dir.mkdir(parents=True)
    git_path = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    for name, body in (("uvx", FAKE_UVX), ("git", FAKE_GIT.format(git=git_path))):
        (bin_dir / name).write_text(body, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    origin.mkdir()
    for name in ("kept.txt", "gone.txt"):
        (origin / name).write_text(f"{name}\n", encoding="utf-8")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-qm", "base"]):
        subprocess.run(["git", *command], cwd=origin, check=True, capture_output=True)
    clones = [work / "render", work / "open"]
    for clone in clones:
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True, capture_output=True)
    temp = work / "runner-temp"
    temp.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(work),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "CHECK_UPDATE_STATUS": "2" if newer else "0",
        "PUSH_LOG": str(work / "push.log"),
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(work / "outputs"),
        "TEMPLATE_UPDATE_TOKEN": "the-token",
        "CI_SERVER_HOST": "gitlab.example.com",
        "CI_PROJECT_PATH": "team/project",
        "CI_DEFAULT_BRANCH": "main",
    }

    def bash(script: str, cwd: Path) -> None:
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{script}\n{result.stdout}{result.stderr}"

    if answers["ci"] == "gitlab":
        bash("\n".join(jobs[renderer]["script"]), clones[0])
        for path in jobs[renderer]["artifacts"]["paths"]:  # the artifact, handed over by `needs`
            shutil.copy(clones[0] / path, clones[1] / path)
        bash("\n".join(jobs[opener]["script"]), clones[1])
        return clones[1], work / "push.log"
    for step in jobs[renderer]["steps"]:
        condition = step.get("if")
        outputs = github_outputs(work / "outputs")
        if "run" in step and (not condition or outputs.get(condition.split(".")[-1].split(" ")[0]) == "true"):
            bash(step["run"], clones[0])
    changed = github_outputs(work / "outputs").get("changed") == "true"
    assert f"needs.{renderer}.outputs.changed == 'true'" == jobs[opener]["if"]
    if changed:  # the artifact: upload-artifact's path, at download-artifact's path
        [upload] = [s for s in jobs[renderer]["steps"] if "upload-artifact" in s.get("uses", "")]
        [download] = [s for s in jobs[opener]["steps"] if "download-artifact" in s.get("uses", "")]
        target = Path(download["with"]["path"].replace("${{ runner.temp }}", str(temp)))
        target.mkdir(parents=True)
        shutil.copy(upload["with"]["path"].replace("${{ runner.temp }}", str(temp)), target)
        for step in jobs[opener]["steps"]:
            if "run" in step:
                bash(step["run"], clones[1])
    return clones[1], work / "push.log"


@pytest.mark.parametrize("answers", UPDATE)
def test_template_update_hands_the_whole_update_to_the_job_that_opens_the_request(
    render: Render, answers: dict[str, Any], tmp_path: Path
) -> None:
    opened, push_log = run_update(render(answers), answers, tmp_path / "newer", newer=True)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=opened, capture_output=True, text=True)
    if answers["ci"] == "github":  # create-pull-request commits what the job staged
        staged = subprocess.run(["git", "diff", "--cached", "--name-status"], cwd=opened, capture_output=True)
        assert staged.stdout.decode().split() == [
            "A",
            "added.txt",
            "D",
            "gone.txt",
            "A",
            "image.bin",
            "M",
            "kept.txt",
        ]
    else:  # committed on the branch template-update and pushed with the token, asking for a merge request
        shown = subprocess.run(
            ["git", "show", "--name-status", "--format=%s", "template-update"],
            cwd=opened,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n", 1)
        assert shown[0] == "Update to the newest mlops-ladder template"
        assert shown[1].split() == ["A", "added.txt", "D", "gone.txt", "A", "image.bin", "M", "kept.txt"]
        pushed = push_log.read_text(encoding="utf-8")
        assert "merge_request.create" in pushed and "template-update:the-token@gitlab.example.com" in pushed
        assert status.stdout == "", f"left behind: {status.stdout}"
    assert (opened / "image.bin").read_bytes() == b"\x00\x01\xff"
    assert (opened / "kept.txt").read_text(encoding="utf-8") == "kept.txt\nnew line\n"


@pytest.mark.parametrize("answers", UPDATE)
def test_template_update_opens_nothing_when_up_to_date(
    render: Render, answers: dict[str, Any], tmp_path: Path
) -> None:
    opened, push_log = run_update(render(answers), answers, tmp_path / "current", newer=False)
    assert not push_log.exists(), "pushed with nothing to update"
    branches = subprocess.run(["git", "branch", "--list"], cwd=opened, capture_output=True, text=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=opened, capture_output=True)
    assert (branches.stdout.split(), staged.stdout) == (["*", "main"], b"")


# Renovate (optional): its own schema, the managers of the project's files, and no copier run with its token.
RENOVATE = [
    pytest.param(a, id=answers_id(a))
    for a in all_answers()
    if "renovate.json" in MANIFEST.files(full_answers(a))
]
CI_MANAGERS = {"github": "github-actions", "gitlab": "gitlabci"}


@pytest.mark.parametrize("answers", RENOVATE)
def test_renovate_config_is_valid_and_covers_the_project(render: Render, answers: dict[str, Any]) -> None:
    project = render(answers)
    schema = (str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.renovate")
    returncode, output = run_check(schema, project / "renovate.json")
    assert returncode == 0, output
    config = json.loads((project / "renovate.json").read_text(encoding="utf-8"))
    managers = set(config["enabledManagers"])
    assert {"pep621", CI_MANAGERS[answers["ci"]]} <= managers, managers
    files = MANIFEST.files(full_answers(answers))
    assert ("dockerfile" in managers) is any(path.endswith("Dockerfile") for path in files)
    assert ("docker-compose" in managers) is any(path.endswith("compose.yaml") for path in files)
    assert config["copier"] == {"enabled": False}, "Renovate would run copier update --trust with its token"
    assert config["description"][0] == "Kept by the template: `copier update` rewrites this file."


# GitLab hands every CI/CD variable to every job, unless it is scoped to an environment: a job that reads a
# secret (named, or through the registry, the trail or the token a make target uses) names an environment,
# so that the secret can be scoped to it.
GITLAB_SECRETS = re.compile(
    r"\b(WANDB_API_KEY|MLFLOW_TRACKING_(USERNAME|PASSWORD)|MONITORING_WEBHOOK_URL|AUDIT_HMAC_KEY"
    r"|TEMPLATE_UPDATE_TOKEN|KUBECONFIG)\b"
)
SECRET_READING_TARGETS = {
    "pipeline",
    "pipeline-submit",
    "retrain",
    "promote",
    "deploy",
    "trail-pull",
    "trail-push",
}


@pytest.mark.parametrize("answers", GITLAB)
def test_gitlab_jobs_that_read_secrets_name_an_environment(render: Render, answers: dict[str, Any]) -> None:
    jobs = gitlab_ci.jobs(gitlab_ci.merged_config(render(answers)))
    for name, job in jobs.items():
        # `[ -n "${WANDB_API_KEY:-}" ]` (the shared cloud login's) only asks whether the job got the key.
        script = re.sub(r'-n "\$\{\w+:-\}"', "", script_of(job))
        if GITLAB_SECRETS.search(script) or SECRET_READING_TARGETS & set(make_targets(script)):
            assert environment_of(job), f"{name} reads a secret outside an environment"
