"""The generated project's own interface works, as its team would use it.

For the projects of the built levels (every stack at levels 0 and 1, and above them a covering subset: each
tracker x platform pair at one level, every tracker on the default platform at the highest: `runs_make`), in a
fresh git repo: `make install`, `make check`, `make lint` (from the level that adds it), `make test`, `make
train`, `make pipeline` and, on SageMaker / Vertex AI, `make pipeline-definition` (from level 2), and `make
monitor-batch` (level 4: `make monitor`) pass; from level 3 `make promote` makes the pipeline's model the
champion, `make serve` starts the service as a real process and `make smoke` checks it over HTTP, `make
canary-report` reads what it logged and (self-hosted, at the highest level) `make bench` must find the
service's throughput at least that of `mlflow models serve` of the same model (p99 is too noisy on a shared CI
machine to assert; the report keeps it). At level 4, `make retrain`, `make audit`, `make model-card-report`,
`make explain-report` and `make compliance-report` run, and (self-hosted) the scenario of continuous.py. The
runs leave nothing for git to track but the lock file `make install` writes. Three of the highest level's
projects run all of this on a team's own problem rather than the demo's (TEAM_PROBLEMS: team_swap.py's data
and model swapped in before `make install`, as a team would, only the team's files): a binary mixed-type
table, a multiclass one and a regression, across both trackers, self-hosted and both clouds; the demo's
runs at the highest level on the default stack. `make maturity` names the level and the command that steps
up, and lists each file under its owner.

Many combinations render the same project apart from the files that record their answers (below level 2
the platform changes nothing; at level 0 neither does the rest of the stack) or that only the CI reads (the
CI choice changes no make target), so the make targets run once
per distinct project: each test takes the combinations the manifest predicts to be one project (a level and
the stack answers that level uses), groups them by a hash of the rendered tree without the files that only
record answers (MAKE_BLIND), and runs the targets once per group it finds. A wrong prediction costs a
run, never a combination. (One test per predicted project rather than per combination: pytest-xdist's
loadgroup cannot keep combinations together under pytest 9.2, and these tests must not wait on each other.)
uv and pre-commit use their default shared caches, so a dependency is downloaded once for all projects.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    MANIFEST,
    STACK_CHOICES,
    Render,
    all_answers,
    answers_id,
    commit_all,
    full_answers,
    git,
)
from continuous import run_scenario, served
from ladder import DEFAULTS
from team_swap import PROBLEMS, swap
from updating import maturity_owners

# Files that only record the answers (the stack a level does not use yet included); no make target reads them.
ANSWERS_ONLY = {".copier-answers.yml", ".mlops-ladder/manifest.json", "catalog-info.yaml"}
# The CI system's files, the README that describes them and the Renovate configuration that updates what
# they pin change what the CI runs, never what a make target does: the CI choices are one project here
# (test_ci_files.py validates every CI file).
CI_QUESTION = "ci"
CI_FILES = {
    path for c in MANIFEST.components if set(c.when) == {CI_QUESTION} for path, _ in c.paths("{package}")
}
MAKE_BLIND = ANSWERS_ONLY | CI_FILES | {"README.md", "renovate.json"}
LINT_FROM_LEVEL = next(c.level for c in MANIFEST.components if c.name == "lint_precommit")
PIPELINE_FROM_LEVEL = next(c.level for c in MANIFEST.components if c.name == "training_pipeline")
ENGINE_FROM_LEVEL = MANIFEST.stack["pipeline_engine"]["from_level"]
PLATFORM_PIPELINES = [c for c in MANIFEST.components if c.name.startswith("platform_pipeline")]
BIN = Path(sys.executable).parent
MAKE_TIMEOUT = 1800  # the first MLflow install downloads ~850 MB


def predicted_project(answers: dict[str, Any]) -> str:
    """The group a combination's project should fall in: its level and the stack answers that level uses."""
    level = answers["maturity_level"]
    full = full_answers(answers)
    used = [
        str(full[q])
        for q, spec in MANIFEST.stack.items()
        if spec["from_level"] <= level
        and q != CI_QUESTION
        and ("when" not in spec or full[q] != DEFAULTS[q])  # pipeline_engine: named when not the default
    ]
    return "-".join([str(level), *used])


COMBINATIONS = [pytest.param(a, id=answers_id(a)) for a in all_answers()]
PREDICTED: dict[str, list[dict[str, Any]]] = {}
for _answers in all_answers():
    PREDICTED.setdefault(predicted_project(_answers), []).append(_answers)


def runs_make(combinations: list[dict[str, Any]]) -> bool:
    """Whether the make targets run for this predicted project.

    Every project below the level where the platform starts to matter runs them. From there, a level holds
    every file of the level below it, so each tracker x platform pair runs at one level of the two above
    the pipeline's: the lower levels alternate (pairs whose tracker and platform indices and level add up to
    an even number) and the highest runs the pairs its level below skipped, plus every tracker on the
    default platform, where the highest level's own scenario (serving, shadow, retraining, the trail) runs.
    The levels' own Jinja branches still run in every level, for both trackers and every platform (the
    render tests); CI time stays within budget.
    """
    answers = combinations[0]
    level = answers["maturity_level"]
    if level < PIPELINE_FROM_LEVEL:
        return True
    if full_answers(answers)["pipeline_engine"] != DEFAULTS["pipeline_engine"]:
        # Kubeflow Pipelines changes the training of level 2 only (its definition, its submission, the
        # cluster's manifests); the higher levels add the local engine's files. One project runs it, where it
        # starts, on the tracker that test_update.py's switch to Kubeflow (make install lint test) leaves out.
        return level == ENGINE_FROM_LEVEL and answers["tracker"] != DEFAULTS["tracker"]
    indices = [list(STACK_CHOICES[q]).index(answers[q]) for q in ("tracker", "platform")]

    def alternate(at: int) -> bool:
        return (sum(indices) + at) % 2 == 0

    if level == MANIFEST.highest_level:
        return answers["platform"] == DEFAULTS["platform"] or not alternate(level - 1)
    return alternate(level)


MADE = {key: same for key, same in PREDICTED.items() if runs_make(same)}


def tree_hash(project: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        relative = path.relative_to(project).as_posix()
        if relative not in MAKE_BLIND:
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def make_env(**variables: str) -> dict[str, str]:
    """The environment of a team member's shell: the dev tools' uv on PATH, nothing of this test run; plus
    `variables` (MLFLOW_TRACKING_URI=..., say)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "UV_PROJECT"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", UV_PYTHON_DOWNLOADS="never", WANDB_MODE="offline")
    env.update(variables)
    return env


def has(component: str, answers: dict[str, Any]) -> bool:
    return any(c.name == component and c.enabled(full_answers(answers)) for c in MANIFEST.components)


# A pseudo-target: `make serve` in the background on a free port, then `make smoke URL=...` against it.
SERVE_AND_SMOKE = "serve+smoke"
# A pseudo-target: the level-4 scenario of continuous.py (serve, drift, guarded retraining, audit).
CONTINUOUS = "continuous"
# A pseudo-target: `make trail-push` into the local MLflow store, the trail's files moved away, `make
# trail-pull`: the same files come back (trail.py keeps them in the tracker's store: the local one here).
TRAIL_ROUND_TRIP = "trail-push+pull"
TRAIL_LOGS = ("reports/audit/audit.jsonl", "reports/monitoring/history.jsonl", "data/feedback.csv")
TRAIL_FOLDERS = ("reports/retraining", "reports/promotions", "reports/model_cards", "reports/explanations")


# The highest level's projects that run their make targets on a team's own problem (team_swap.PROBLEMS)
# instead of the demo's, by (tracker, platform): each task type once, both trackers, self-hosted and both
# clouds. The problem is swapped in and committed before `make install`.
TEAM_PROBLEMS = {
    ("wandb", "self-hosted"): "binary-mixed",
    ("wandb", "sagemaker"): "multiclass",
    ("mlflow", "vertex"): "regression",
}


def team_problem(answers: dict[str, Any]) -> str | None:
    """The team problem this combination's project runs its make targets on (None: the demo's)."""
    if answers["maturity_level"] != MANIFEST.highest_level:
        return None
    return TEAM_PROBLEMS.get((answers.get("tracker"), answers.get("platform")))


def targets(answers: dict[str, Any]) -> list[str]:
    level = answers["maturity_level"]
    lint = ["lint"] if level >= LINT_FROM_LEVEL else []
    pipeline = ["pipeline"] if level >= PIPELINE_FROM_LEVEL else []
    if pipeline and any(c.enabled(full_answers(answers)) for c in PLATFORM_PIPELINES):
        pipeline.append("pipeline-definition")  # builds offline; submitting needs the cloud
    if pipeline and "kfp-local" in MANIFEST.commands(full_answers(answers)):
        pipeline.append("pipeline-local-kfp")  # the Kubeflow definition's DAG through kfp's local runner
    deploy = ["promote"] if has("promotion_gate", answers) else []
    served = has("serving", answers) and has("smoke_test", answers)
    # On SageMaker / Vertex AI `make smoke` calls the cloud endpoint; the service runs locally all the same.
    # The canary report reads the prediction logs that the served requests left (on the clouds they stay in
    # the endpoint's containers).
    if served and answers.get("platform", "self-hosted") == "self-hosted":
        deploy.append(SERVE_AND_SMOKE)
        if has("canary", answers):
            deploy.append("canary-report")
    if has("serving_benchmark", answers) and level == MANIFEST.highest_level:
        deploy.append("bench")  # the same service and benchmark as at level 3; a minute each, so once
    continuous = []
    if has("guarded_retraining", answers):
        # With no traffic logged a retrain decides "no action", so the clouds are not called.
        continuous = ["retrain", "audit", "model-card-report"]
        if has("explainability", answers):
            continuous.append("explain-report")
        if has("compliance_report", answers):
            continuous.append("compliance-report")
        if answers.get("platform", "self-hosted") == "self-hosted":
            continuous.append(CONTINUOUS)  # its last step serves a shadow and runs `make shadow-report`
            # The trail's store is reachable offline only in MLflow's local store; offline W&B keeps nothing.
            continuous.append(TRAIL_ROUND_TRIP if answers["tracker"] == "mlflow" else "trail-pull")
    # Level 4's `make monitor` checks the live traffic (none yet); below, `make monitor-batch` scores a batch.
    monitor = "monitor" if has("continuous_monitoring", answers) else "monitor-batch"
    return ["install", "check", *lint, "test", "train", *pipeline, monitor, *deploy, *continuous]


# A shorter benchmark than a team's default: the comparison, not the precision, is what is checked.
TARGET_ARGS = {"bench": ["ARGS=--requests 300 --warmup 30"]}


def bench_shortfalls(project: Path) -> list[str]:
    """Where `make bench` found the service slower than `mlflow models serve` of the same model."""
    report = json.loads((project / "reports" / "bench.json").read_text(encoding="utf-8"))
    return [
        f"{phase} {measure}: the service at {ratio}x mlflow models serve"
        for phase, measures in report["ratio"].items()
        for measure, ratio in measures.items()
        if measure == "throughput" and ratio < 1.0
    ]


def make(project: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the project, as a team member's shell (`env`, else make_env()) runs it, its output
    captured."""
    return subprocess.run(
        ["make", *args],
        cwd=project,
        env=dict(env) if env is not None else make_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=MAKE_TIMEOUT,
    )


def serve_and_smoke(project: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`make serve` as a team member runs it, `make smoke` against it once /health answers, then stop it."""
    try:
        with served(project, env) as url:
            return make(project, "smoke", f"URL={url}", env=env)
    except AssertionError as failed:
        return subprocess.CompletedProcess(["make", "serve"], 1, str(failed), "")


def trail_files(project: Path) -> dict[str, bytes]:
    files = [project / name for name in TRAIL_LOGS if (project / name).is_file()]
    files += [p for folder in TRAIL_FOLDERS for p in (project / folder).rglob("*") if p.is_file()]
    return {path.relative_to(project).as_posix(): path.read_bytes() for path in files}


def trail_make(project: Path, target: str) -> subprocess.CompletedProcess[str]:
    """`make target` outside CI (this suite's own CI sets CI, where trail.py refuses a local store)."""
    env = {key: value for key, value in make_env().items() if key != "CI"}
    return subprocess.run(
        ["make", target], cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )


def trail_round_trip(project: Path, away: Path) -> subprocess.CompletedProcess[str]:
    """`make trail-push`, the trail's files moved to `away`, `make trail-pull`: the same files are back."""
    pushed = trail_make(project, "trail-push")
    before = trail_files(project)
    if pushed.returncode != 0 or not before:
        return pushed if pushed.returncode else subprocess.CompletedProcess([], 1, "", "no trail to push")
    for name in before:
        (away / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).rename(away / name)
    pulled = trail_make(project, "trail-pull")
    output = pushed.stdout + pushed.stderr + pulled.stdout + pulled.stderr
    after = trail_files(project)
    differ = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    if pulled.returncode == 0 and differ:
        return subprocess.CompletedProcess([], 1, output, f"the pulled trail differs: {differ}")
    return subprocess.CompletedProcess(["make", "trail-push", "trail-pull"], pulled.returncode, output, "")


def continuous_scenario(
    project: Path, answers: dict[str, Any], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """continuous.run_scenario as a step: its assertion, if one fails, is the step's output."""
    try:
        seen = run_scenario(project, full_answers(answers)["package_name"], partial(make, env=env), env)
    except AssertionError:
        return subprocess.CompletedProcess([CONTINUOUS], 1, "", f"scenario failed: {traceback.format_exc()}")
    return subprocess.CompletedProcess([CONTINUOUS], 0, json.dumps(seen), "")


def team_repo(rendered: Path, project: Path) -> Path:
    """A copy of a rendered project in a fresh git repo, everything committed, as a team starts with it."""
    shutil.copytree(rendered, project)
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "generated by mlops-ladder")
    return project


def run_targets(
    project: Path,
    answers: dict[str, Any],
    names: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each target's seconds, return code and output tail (up to the first failure); then `git status`.

    The targets are `names` (default: `targets(answers)`), run in `env` (default: make_env()).
    """
    steps = []
    env = make_env() if env is None else env
    for target in targets(answers) if names is None else names:
        start = time.monotonic()
        if target == SERVE_AND_SMOKE:
            result = serve_and_smoke(project, env)
        elif target == CONTINUOUS:
            result = continuous_scenario(project, answers, env)
        elif target == TRAIL_ROUND_TRIP:
            result = trail_round_trip(project, project.parent / f"{project.name}-trail-away")
        else:
            result = make(project, target, *TARGET_ARGS.get(target, []), env=env)
        seconds, output = round(time.monotonic() - start, 1), (result.stdout + result.stderr)[-4000:]
        steps.append({"target": target, "seconds": seconds, "code": result.returncode, "output": output})
        if result.returncode != 0:
            break
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    )
    return steps, status.stdout.splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("combinations", [pytest.param(c, id=f"level-{p}") for p, c in MADE.items()])
def test_make_targets_pass(
    render: Render, tmp_path: Path, combinations: list[dict[str, Any]], record_property: Any
) -> None:
    projects: dict[str, list[dict[str, Any]]] = {}
    for answers in combinations:
        projects.setdefault(tree_hash(render(answers)), []).append(answers)
    failures = []
    for digest, same in projects.items():
        project = team_repo(render(same[0]), tmp_path / digest)
        names = f"{len(same)} combinations: {', '.join(answers_id(a) for a in same)}"
        if problem := team_problem(same[0]):
            swap(project, full_answers(same[0])["package_name"], problem)
            commit_all(project, f"the team's own data and model ({problem})")
            names += f", on the team's problem {problem} (team_swap.py)"
        steps, untracked = run_targets(project, same[0])
        timings = ", ".join(f"{step['target']} {step['seconds']}s" for step in steps)
        record_property("timings", f"{timings} ({names})")
        print(f"{timings} ({names})")
        failed = [step for step in steps if step["code"] != 0]
        if failed:
            failures.append(
                f"{names}\nmake {failed[0]['target']} failed in {project}:\n{failed[0]['output']}"
            )
        elif "bench" in targets(same[0]) and (slower := bench_shortfalls(project)):
            failures.append(f"{names}: make bench found the service slower: {slower}")
        elif leftovers := [line for line in untracked if line != "?? uv.lock"]:
            failures.append(f"{names}: the make targets left files for git to track: {leftovers}")
    assert not failures, "\n\n".join(failures)


def test_the_team_problems_cover_every_task_tracker_and_platform_in_the_make_runs() -> None:
    """Each team problem runs in a project whose make targets run (MADE), and together with the demo they
    cover every task type, tracker and platform at the highest level."""
    made = [answers for same in MADE.values() for answers in same]
    swapped = {team_problem(answers): answers for answers in made if team_problem(answers)}
    assert set(swapped) == set(TEAM_PROBLEMS.values()), "a team problem in no project the make targets run"
    assert {PROBLEMS[problem].task for problem in swapped} == {"binary", "multiclass", "regression"}
    highest = [answers for answers in made if answers["maturity_level"] == MANIFEST.highest_level]
    for question in ("tracker", "platform"):
        assert {answers[question] for answers in swapped.values()} | {DEFAULTS[question]} == set(
            STACK_CHOICES[question]
        )
    assert all(CONTINUOUS in targets(answers) for answers in highest if answers["platform"] == "self-hosted")


@pytest.mark.parametrize("combinations", [pytest.param(c, id=f"level-{p}") for p, c in PREDICTED.items()])
def test_predicted_projects_render_alike(render: Render, combinations: list[dict[str, Any]]) -> None:
    """Keeps the slow tests at one make run per project: a new file that records the stack at a level that
    does not use it belongs in MAKE_BLIND, or every combination installs and trains on its own."""
    trees = {tree_hash(render(answers)) for answers in combinations}
    assert len(trees) == 1, f"{len(trees)} distinct projects for {[answers_id(a) for a in combinations]}"


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_make_maturity_names_the_level_and_the_step_up(render: Render, answers: dict[str, Any]) -> None:
    level = answers["maturity_level"]
    result = subprocess.run(
        ["make", "--no-print-directory", "maturity"],
        cwd=render(answers),
        env=make_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"maturity level {level} ({MANIFEST.level_name(level)})" in result.stdout
    # Every file under its owner (.mlops-ladder/manifest.json): the team's modules as yours, say.
    owners = maturity_owners(result.stdout)
    assert owners == MANIFEST.files(full_answers(answers)), result.stdout
    assert owners[f"src/{full_answers(answers)['package_name']}/train.py"] == "user"
    following = level + 1
    command = f"copier update --trust --defaults -d maturity_level={following}"
    if following <= MANIFEST.highest_level:
        assert command in result.stdout
    else:
        assert "copier update --trust" not in result.stdout, "offers a level this template has not built"
        if following < len(MANIFEST.levels):
            assert f"level {following} ({MANIFEST.level_name(following)})" in result.stdout
