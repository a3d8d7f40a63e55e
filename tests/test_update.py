"""Stepping up with `copier update`: the new level's files arrive, the team's own work stays byte-for-byte.

Every level pair (a < b) for the default stack, and 0 -> the highest built level for every tracker x ci x
platform; the list grows by itself as components.yml marks more levels built.
"""

from __future__ import annotations

import difflib
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import copier
import jinja2
import pytest
import yaml
from conftest import (
    DEFAULTS,
    LEVELS,
    MANIFEST,
    ROOT,
    STACK_CHOICES,
    TEMPLATE_VERSION,
    Generate,
    all_answers,
    answers_id,
    commit_all,
    full_answers,
    git,
    project_files,
)
from continuous import run_scenario
from copier.errors import UserMessageError
from jinja2.sandbox import SandboxedEnvironment
from ladder import LadderExtension, load_manifest
from updating import (
    NEW_QUESTION,
    OLD_LAYOUT_COMMIT,
    OLD_LAYOUT_VERSION,
    RENAMES,
    V2,
    applied,
    assert_maturity_report,
    assert_stepped_up,
    assert_team_work_kept,
    build_layout_repo,
    commit_with_hooks,
    conflicted,
    copier_cli,
    edit_like_a_team,
    has_commit,
    maturity_report,
    merged,
    old_layout_manifest,
    pick_columns_by_name,
    project_env,
    recorded,
    release_v2,
    run,
    shared_parts,
    snapshot,
    step_up,
    tweak,
    unmerged,
    unresolved_imports,
)

GitProject = Callable[[Path], Path]
RecordProperty = Callable[[str, object], None]

HIGHEST = MANIFEST.highest_level
DEFAULT_STACK = {question: DEFAULTS[question] for question in STACK_CHOICES}
STEP_UPS = [(low, high) for low in LEVELS for high in LEVELS if low < high]
EVERY_STACK = all_answers([0]) if HIGHEST > 0 else []


def _edit_then_step_up(project: Path, level: int, record_property: RecordProperty) -> None:
    """Edit like a team, commit, step up to `level`; the edits survive and the level's files are there."""
    work = edit_like_a_team(project)
    commit_all(project, "team edits")
    seconds = step_up(project, level)
    record_property("update_seconds", round(seconds, 2))
    assert_stepped_up(project, work, level)
    files = MANIFEST.files(full_answers(recorded(project)))
    assert_maturity_report(maturity_report(project), level, files=files)


def _pair_id(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-to-{pair[1]}"


@pytest.mark.parametrize(("low", "high"), STEP_UPS, ids=map(_pair_id, STEP_UPS))
def test_step_up_keeps_the_team_work(
    generate: Generate, git_project: GitProject, record_property: RecordProperty, low: int, high: int
) -> None:
    _edit_then_step_up(git_project(generate({**DEFAULT_STACK, "maturity_level": low})), high, record_property)


@pytest.mark.parametrize("stack", EVERY_STACK, ids=map(answers_id, EVERY_STACK))
def test_step_up_to_the_highest_level_on_every_stack(
    generate: Generate, git_project: GitProject, record_property: RecordProperty, stack: dict
) -> None:
    _edit_then_step_up(git_project(generate(stack)), HIGHEST, record_property)


@pytest.mark.skipif(HIGHEST < 1, reason="only level 0 is built")
def test_climb_one_command_a_step(generate: Generate, git_project: GitProject) -> None:
    """The walkthrough of docs/level-up.md: from 0 to the top, committing after each step."""
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": 0}))
    work = edit_like_a_team(project)
    commit_all(project, "team edits")
    for level in range(1, HIGHEST + 1):
        step_up(project, level)
        assert_stepped_up(project, work, level)
        assert_maturity_report(maturity_report(project), level)
        commit_all(project, f"level {level}")
        assert git(project, "status", "--porcelain") == ""


@pytest.mark.skipif(HIGHEST < 1, reason="only level 0 is built")
def test_step_up_with_the_documented_command(generate: Generate, git_project: GitProject) -> None:
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": 0}))
    work = edit_like_a_team(project)
    commit_all(project, "team edits")

    result = copier_cli(project, "update", "--trust", "--defaults", "-d", "maturity_level=1")

    assert result.returncode == 0, result.stderr
    assert f"level 0 ({MANIFEST.level_name(0)}) -> 1 ({MANIFEST.level_name(1)})" in result.stderr
    assert_stepped_up(project, work, 1)
    assert_maturity_report(maturity_report(project), 1)


# Issue #15: the team's dependencies, in the `team` group below pyproject.toml's marker line, survive every
# step-up, and whatever installs the project installs them: `make install` (so the CI) and the images.

TEAM_PACKAGE = "humanize"  # small, pure Python, no dependencies, in no level's dependency tree
INTERMEDIATE = HIGHEST // 2


def _team_group(project: Path) -> list[str]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["dependency-groups"]["team"]


def _sync_commands(project: Path) -> dict[str, list[str]]:
    """Every `uv sync` of the project's Makefile (`make install`) and Dockerfiles, as {where: argv}."""
    commands = {}
    for path in ["Makefile", *(p for p in project_files(project) if PurePosixPath(p).name == "Dockerfile")]:
        text = re.sub(r"\\\n\s*", " ", (project / path).read_text(encoding="utf-8"))
        for number, line in enumerate(text.splitlines(), 1):
            found = re.search(r"(?:\$\(UV\)|\buv) (sync\b[^&;|]*)", line)
            if found and not line.lstrip().startswith("#"):
                commands[f"{path}:{number}"] = ["uv", *shlex.split(found.group(1))]
    return commands


@pytest.mark.skipif(HIGHEST < 2, reason="needs an intermediate level")
def test_team_dependencies_survive_step_ups(generate: Generate, git_project: GitProject) -> None:
    """`uv add --group team` at level 0, then an intermediate level and the highest: no conflict, the group
    and its lock entries kept, and every `uv sync` of the Makefile and the Dockerfiles installs it."""
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": 0}))
    work = edit_like_a_team(project)  # one dependency added to the group by hand
    added = run(project, "uv", "add", "--group", "team", TEAM_PACKAGE, "--no-sync")  # one the documented way
    assert added.returncode == 0, added.stdout + added.stderr
    assert [entry for entry in _team_group(project) if entry.startswith(TEAM_PACKAGE)], _team_group(project)
    work = replace(work, shared_parts=shared_parts(project, work.answers))
    commit_all(project, "team edits, the team's dependencies locked")
    group = _team_group(project)

    for level in (INTERMEDIATE, HIGHEST):
        step_up(project, level)
        assert_stepped_up(project, work, level, extra=frozenset({"uv.lock"}))
        assert [path for path in project_files(project) if path.endswith((".rej", ".orig"))] == []
        assert _team_group(project) == group
        locked = run(project, "uv", "lock")  # what `make install` runs when pyproject.toml is newer
        assert locked.returncode == 0, locked.stdout + locked.stderr
        checked = run(project, "uv", "lock", "--check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        commit_all(project, f"level {level}")

    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    needs = {
        package["name"]
        for package in lock["package"]
        for dependency in package.get("dependencies", [])
        if dependency["name"] == TEAM_PACKAGE
    }
    assert needs == set(), f"{TEAM_PACKAGE} is a dependency of {needs}: the check below would prove nothing"
    commands = _sync_commands(project)
    assert any(where.startswith("Makefile") for where in commands), commands
    assert any("Dockerfile" in where for where in commands), commands
    for where, command in commands.items():
        result = run(project, *command, "--dry-run")
        assert result.returncode == 0, f"{where}: {' '.join(command)}\n{result.stderr}"
        assert f" {TEAM_PACKAGE}==" in result.stderr, f"{where}: {' '.join(command)} leaves out the group"


# Refused updates: nothing may change in the project.

STEP_DOWNS = [(recorded, lower) for recorded in LEVELS for lower in range(recorded)]
UNBUILT = [(0, HIGHEST + 1)] if len(MANIFEST.levels) > HIGHEST + 1 else []
REFUSED = STEP_DOWNS + UNBUILT


def _refusal_text(recorded: int, requested: int) -> list[str]:
    """What the refusal must tell the team: the recorded level and how to proceed."""
    if requested > HIGHEST:
        return [f"maturity_level {requested}", "not available in this template version", f"0 to {HIGHEST}"]
    return [
        f"lower than the recorded level {recorded} ({MANIFEST.level_name(recorded)})",
        f"-d maturity_level={recorded}",
    ]


@pytest.mark.parametrize("how", ["api", "cli"])
@pytest.mark.parametrize(("recorded", "requested"), REFUSED, ids=map(_pair_id, REFUSED))
def test_refused_level_leaves_the_project_untouched(
    generate: Generate, git_project: GitProject, recorded: int, requested: int, how: str
) -> None:
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": recorded}))
    edit_like_a_team(project)
    commit_all(project, "team edits")
    head, before = git(project, "rev-parse", "HEAD"), snapshot(project)

    if how == "api":  # quiet, as tools call it: the maturity_level validator refuses
        with pytest.raises(ValueError) as refused:
            step_up(project, requested)
        message = str(refused.value)
    else:  # the documented command, with --defaults: copier prints the refusal without a traceback
        result = copier_cli(project, "update", "--trust", "--defaults", "-d", f"maturity_level={requested}")
        assert result.returncode != 0
        assert "Traceback" not in result.stderr, result.stderr
        message = result.stderr

    for text in _refusal_text(recorded, requested):
        assert text in message, message
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head
    assert snapshot(project) == before


@pytest.mark.parametrize("change", ["modified", "untracked"])
def test_dirty_project_gets_copiers_refusal(generate: Generate, git_project: GitProject, change: str) -> None:
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": 0}))
    edit_like_a_team(project)  # not committed: a modified tracked file
    if change == "untracked":
        commit_all(project, "team edits")
        (project / "notes.txt").write_text("scratch\n", encoding="utf-8")
    status, before = git(project, "status", "--porcelain"), snapshot(project)

    with pytest.raises(UserMessageError, match="dirty"):
        step_up(project, HIGHEST)
    result = copier_cli(project, "update", "--trust", "--defaults", "-d", f"maturity_level={HIGHEST}")

    assert result.returncode != 0
    assert "dirty" in result.stderr and "commit or stash" in result.stderr, result.stderr
    assert git(project, "status", "--porcelain") == status
    assert snapshot(project) == before


# What copier reads with old answers during an update.


def test_exclude_renders_with_no_answers_at_all() -> None:
    """Copier renders the new `_exclude` with the old answers: a question added later must not break it."""
    config = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, extensions=[LadderExtension])
    for entry in config["_exclude"]:
        template = env.from_string(entry)
        assert template.render() == template.render(**DEFAULTS), entry


def test_compiled_templates_are_shared_only_where_the_code_would_be_the_same() -> None:
    """The extension's compile cache (in memory and on disk, across renders): a sandboxed environment (as
    copier makes) and a plain one get their own code for one source; a changed source is compiled afresh."""
    call = "{{ ','.join(['a', 'b']) }}"
    for environment_class in (SandboxedEnvironment, jinja2.Environment, SandboxedEnvironment):
        env = environment_class(extensions=[LadderExtension])
        assert env.from_string(call).render() == "a,b"
        assert env.from_string(call).render() == "a,b"  # from memory
        sandboxed = environment_class is SandboxedEnvironment
        assert env.from_string("{{ ''.__class__ }}").render() == ("" if sandboxed else "<class 'str'>")
    env = SandboxedEnvironment(extensions=[LadderExtension])
    assert env.from_string("{{ 1 + 1 }}").render() == "2"
    assert env.from_string("{{ 1 + 2 }}").render() == "3"
    assert env.from_string("{{ 1 + 1 }}", globals={"x": 1}).render() == "2"


def test_missing_answers_default_as_copier_would() -> None:
    """ladder_exclude() fills an answer an old answers file lacks from DEFAULTS: they must be copier.yml's."""
    config = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    for question in [*STACK_CHOICES, "maturity_level"]:
        assert DEFAULTS[question] == config[question]["default"], question


# A template version upgrade, alone or together with a step-up.

TEAM_TEST = """

def test_team_rule():
    assert sorted([3, 1, 2]) == [1, 2, 3]
"""


@pytest.mark.parametrize("level", sorted({0, HIGHEST}))
def test_template_upgrade_keeps_the_team_work(
    template_repo: Path, tmp_path: Path, git_project: GitProject, level: int
) -> None:
    owners = MANIFEST.files(full_answers(DEFAULT_STACK))
    assert [owners[old] for old in RENAMES] == ["template", "user"], "the renamed files changed owners"
    source = tmp_path / "mlops-ladder"
    git(tmp_path, "clone", "-q", str(template_repo), str(source))
    project = tmp_path / "project"
    copier.run_copy(
        str(source),
        project,
        data={**DEFAULT_STACK, "maturity_level": 0},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref=TEMPLATE_VERSION,
    )
    git_project(project)
    team_test = project / "tests" / "test_train.py"
    team_test.write_text(team_test.read_text(encoding="utf-8") + TEAM_TEST, encoding="utf-8")
    work = edit_like_a_team(project)
    commit_all(project, "team edits")
    assert NEW_QUESTION[0] not in recorded(project)
    release_v2(source)

    step_up(project, level, vcs_ref=None)  # None: the newest tag, as `copier update` picks

    answers = recorded(project)
    assert answers["_commit"] == V2
    assert answers[NEW_QUESTION[0]] == NEW_QUESTION[1]
    assert_stepped_up(
        project, work, level, manifest=load_manifest(source / "components.yml"), renamed=RENAMES
    )
    for old, new in RENAMES.items():
        assert (project / new).is_file() and not (project / old).exists(), f"{old} -> {new}"
    assert_maturity_report(maturity_report(project, RENAMES[".mlops-ladder/maturity.py"]), level)


# From level 1 the generated CI checks for a newer template version on a schedule (the lead's CI files).

UPDATE_JOBS = [c for c in MANIFEST.components if c.name.startswith("template_updates") and not c.planned]


@pytest.mark.skipif(not UPDATE_JOBS, reason="no template-update job in components.yml yet")
@pytest.mark.parametrize("ci", STACK_CHOICES["ci"])
def test_scheduled_job_checks_for_a_newer_template(generate: Generate, ci: str) -> None:
    level = min(c.level for c in UPDATE_JOBS)
    answers = {**DEFAULT_STACK, "ci": ci, "maturity_level": max(level, HIGHEST)}
    jobs = [c for c in UPDATE_JOBS if c.enabled(answers)]
    assert jobs, f"no template-update job for ci {ci}"
    project = generate(answers)
    for component in jobs:
        for path, _ in component.paths(full_answers(answers)["package_name"]):
            text = (project / path).read_text(encoding="utf-8")
            assert "copier check-update" in text, path
            assert "copier update --trust --defaults" in text, path


# The project's own checks after a step-up (slow: they install the project's dependencies).

LAST_STACK = EVERY_STACK[-1] if EVERY_STACK else {}
# From this level the project has `make pipeline`, and a stepped-up project must run it like a new one.
PIPELINE_LEVEL = next(c.level for c in MANIFEST.components if c.name == "training_pipeline")
# From this level the pipeline's model goes through the promotion gate before it can be served.
PROMOTE_LEVEL = next(c.level for c in MANIFEST.components if c.name == "promotion_gate")
SCENARIO_LEVEL = next(c.level for c in MANIFEST.components if c.name == "guarded_retraining")
CHECKED = [
    pytest.param(DEFAULT_STACK, 0, 1, True, False, id="default-0-to-1-locked-at-0"),
    # Two levels at once to the top (issue #8: a project stepped up from level 2 gains the shadow of level 3
    # and the explanations, fairness check and compliance report of level 4), lock file committed at level 2.
    # Its model picks its columns by name (issue #16): the level-4 service, which it did not have at level 2,
    # must hand it a data frame, in the project's tests and in the served scenario.
    *(
        [
            pytest.param(
                DEFAULT_STACK, HIGHEST - 2, HIGHEST, True, True, id=f"default-{HIGHEST - 2}-to-{HIGHEST}"
            )
        ]
        if HIGHEST > 2
        else []
    ),
    # 0 -> the highest level on the last stack (the default stack reaches it from two levels below, above).
    pytest.param(
        LAST_STACK,
        0,
        HIGHEST,
        False,
        False,
        id=f"{answers_id(LAST_STACK) if LAST_STACK else 'none'}-to-{HIGHEST}",
    ),
]


@pytest.mark.slow
@pytest.mark.skipif(HIGHEST < 1, reason="only level 0 is built")
@pytest.mark.parametrize(("stack", "low", "high", "locked_before", "model_by_name"), CHECKED)
def test_project_checks_pass_after_a_step_up(
    generate: Generate,
    git_project: GitProject,
    stack: dict[str, Any],
    low: int,
    high: int,
    locked_before: bool,
    model_by_name: bool,
) -> None:
    project = git_project(generate({**stack, "maturity_level": low}))
    if model_by_name:  # the team's own model, before it installs and steps up
        pick_columns_by_name(project)
        commit_all(project, "a model that picks its columns by name")
    extra: frozenset[str] = frozenset()
    if locked_before:  # the team installed at the lower level and committed its lock file
        installed = run(project, "make", "install")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        commit_all(project, "lock")
        extra = frozenset({"uv.lock"})
    work = edit_like_a_team(project)
    commit_all(project, "team edits")

    step_up(project, high)
    assert_stepped_up(project, work, high, extra=extra)
    commit_all(project, f"level {high}")

    pipeline = ["pipeline"] if high >= PIPELINE_LEVEL else []
    promote = ["promote"] if high >= PROMOTE_LEVEL else []
    for target in ("install", "lint", "test", *pipeline, *promote):
        result = run(project, "make", target)
        assert result.returncode == 0, f"make {target}:\n{result.stdout}\n{result.stderr}"
    committed = commit_with_hooks(project, "refreshed lock")  # clean again, ready for the next step-up
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert git(project, "status", "--porcelain") == ""
    if high == SCENARIO_LEVEL and stack["platform"] == "self-hosted":
        # Issues #6 and #8: a stepped-up project runs the level-4 loop, shadow included, like a generated one.
        package = full_answers({**stack, "maturity_level": high})["package_name"]
        run_scenario(project, package, lambda where, *args: run(where, "make", *args), project_env())


# Issue #18: a self-hosted team moves its training from one machine to its Kubeflow Pipelines with
# `copier update --trust --defaults -d pipeline_engine=kubeflow`, at any level from the one that asks it.
ENGINE_LEVEL = MANIFEST.stack["pipeline_engine"]["from_level"]
KUBEFLOW_ONLY = {
    "src/ml_project/ops/training/kubeflow_pipeline.py",
    "Dockerfile",
    "tests/ops/test_kfp_pipeline.py",
}


def switch_to_kubeflow(generate: Generate, git_project: GitProject) -> tuple[Path, Any]:
    """A level-2 project on this machine, edited by its team, switched to Kubeflow Pipelines."""
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": ENGINE_LEVEL}))
    assert recorded(project)["pipeline_engine"] == "local"
    assert not KUBEFLOW_ONLY & project_files(project)
    work = edit_like_a_team(project)
    commit_all(project, "team edits")
    copier.run_update(
        project,
        data={"pipeline_engine": "kubeflow"},
        overwrite=True,
        unsafe=True,
        defaults=True,
        vcs_ref=copier.VcsRef.CURRENT,
        quiet=True,
    )
    return project, work


@pytest.mark.skipif(HIGHEST < ENGINE_LEVEL, reason="no level asks for the pipeline engine yet")
def test_switching_to_kubeflow_keeps_the_team_work(generate: Generate, git_project: GitProject) -> None:
    project, work = switch_to_kubeflow(generate, git_project)
    # config/pipeline.toml is the team's, and gains the tables of the engine it now has ([platform], the
    # steps' environment), as a stack chosen at creation gives them: copier merges them in, the rest stays.
    user_files = dict(work.user_files)
    before = user_files.pop("config/pipeline.toml").decode("utf-8").splitlines()
    assert_team_work_kept(project, replace(work, user_files=user_files))
    after = (project / "config" / "pipeline.toml").read_text(encoding="utf-8").splitlines()
    changes = [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
    assert [line for line in changes if line.startswith("- ")] == [], "a line of the team's file went"
    assert {"+ [platform]", "+ [step_environment]"} <= set(changes)
    answers = recorded(project)
    assert (answers["pipeline_engine"], answers["maturity_level"]) == ("kubeflow", ENGINE_LEVEL)
    expected = MANIFEST.files(full_answers(answers))
    assert project_files(project) == set(expected), "the files are not the manifest's for Kubeflow"
    assert set(expected) >= KUBEFLOW_ONLY
    assert conflicted(project, sorted(expected)) == [] and unmerged(project) == []
    pipeline = tomllib.loads((project / "config" / "pipeline.toml").read_text(encoding="utf-8"))
    assert {"host", "experiment", "pipeline_root", "image"} <= set(pipeline["platform"])


@pytest.mark.slow
@pytest.mark.skipif(HIGHEST < ENGINE_LEVEL, reason="no level asks for the pipeline engine yet")
def test_project_checks_pass_after_switching_to_kubeflow(generate: Generate, git_project: GitProject) -> None:
    """The switched project installs, lints and passes its own tests: the KFP DAG through kfp.local, the
    submission to a stand-in Kubeflow Pipelines API."""
    project, _ = switch_to_kubeflow(generate, git_project)
    commit_all(project, "on Kubeflow Pipelines")
    for target in ("install", "lint", "test"):
        result = run(project, "make", target)
        assert result.returncode == 0, f"make {target}:\n{result.stdout}\n{result.stderr}"


# Both sides changed the same lines of a template-owned file: copier leaves inline conflict markers, and the
# pre-commit conflict check of level 1 refuses them before a commit.

CONFLICT_CHECK = "check-merge-conflict"


def _line_both_change(low_project: Path, high_project: Path, path: str) -> int:
    """Index of a line of `path` that the step-up rewrites (so an edit to it conflicts)."""
    low = (low_project / path).read_text(encoding="utf-8").splitlines()
    high = (high_project / path).read_text(encoding="utf-8").splitlines()
    changed = [
        i1 for tag, i1, _, _, _ in difflib.SequenceMatcher(None, low, high).get_opcodes() if tag == "replace"
    ]
    assert changed, f"the step-up does not rewrite any line of {path}"
    return changed[0]


@pytest.mark.slow
@pytest.mark.skipif(HIGHEST < 1, reason="only level 0 is built")
def test_conflict_markers_in_a_template_file_are_refused_by_the_hook(
    generate: Generate, git_project: GitProject
) -> None:
    hooks = yaml.safe_load((ROOT / "template" / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert CONFLICT_CHECK in [hook["id"] for repo in hooks["repos"] for hook in repo["hooks"]]
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": 0}))
    reference = generate({**DEFAULT_STACK, "maturity_level": 1}, name="reference")
    makefile = project / "Makefile"
    lines = makefile.read_text(encoding="utf-8").splitlines(keepends=True)
    index = _line_both_change(project, reference, "Makefile")
    lines[index] = lines[index].rstrip("\n") + "  # the team's change\n"
    makefile.write_text("".join(lines), encoding="utf-8")
    work = edit_like_a_team(project)
    commit_all(project, "team edits, one in the Makefile")

    step_up(project, 1)

    assert_team_work_kept(project, work)
    assert conflicted(project, ["Makefile"]), "copier did not mark the conflict in the Makefile"
    others = sorted(set(MANIFEST.files(full_answers(recorded(project)))) - {"Makefile"})
    assert conflicted(project, others) == []
    for command in (["uv", "sync"], ["uv", "run", "pre-commit", "install"]):  # `make install`, minus make
        result = run(project, *command)
        assert result.returncode == 0, result.stdout + result.stderr
    head = git(project, "rev-parse", "HEAD")
    git(project, "add", "-A")
    check = run(project, "uv", "run", "pre-commit", "run", CONFLICT_CHECK, "--all-files")
    assert check.returncode != 0, check.stdout
    assert "Makefile:" in check.stdout, check.stdout
    committed = commit_with_hooks(project, "level 1")
    assert committed.returncode != 0
    assert "Makefile:" in committed.stdout + committed.stderr
    assert git(project, "rev-parse", "HEAD") == head


@pytest.mark.skipif(HIGHEST < 1, reason="only level 0 is built")
def test_a_deleted_piece_stays_deleted(generate: Generate, git_project: GitProject) -> None:
    """docs/level-up.md's advice instead of a step down: delete a level's file in a commit, keep the level."""
    answers = {**DEFAULT_STACK, "maturity_level": HIGHEST}
    files = MANIFEST.files(full_answers(answers))
    level_files = [
        path
        for c in MANIFEST.components
        if c.level == HIGHEST and c.enabled(answers)
        for path, owner in c.paths(full_answers(answers)["package_name"])
        if owner == "template"
    ]
    project = git_project(generate(answers))
    # A piece nothing else uses (a Python module the project imports is refused: test_bad_input.py).
    dropped = next(path for path in level_files if not path.endswith(".py"))
    git(project, "rm", "-q", dropped)
    commit_all(project, f"we do not use {dropped}")

    step_up(project, HIGHEST)

    assert not (project / dropped).exists()
    assert project_files(project) == set(files) - {dropped}
    assert git(project, "status", "--porcelain") == ""


def test_ownership_table_in_the_docs_is_current() -> None:
    page = (ROOT / "docs" / "level-up.md").read_text(encoding="utf-8")
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_ownership.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    start, end = "<!-- ownership:start -->\n", "\n<!-- ownership:end -->"
    assert start in page and end in page, "docs/level-up.md lacks the ownership markers"
    table = page.split(start, 1)[1].split(end, 1)[0]
    assert table == printed.rstrip("\n"), "run: python scripts/render_ownership.py --write"
    answers = full_answers({**DEFAULT_STACK, "maturity_level": HIGHEST})
    for path in MANIFEST.files(answers):
        assert f"`{path.replace(answers['package_name'], '<package>')}`" in table, path


# A project generated before the ops/ layout (issue #15): `copier update` moves the template's modules into
# src/<package>/ops/ and its tests into tests/ops/ (migrations/ops_layout.py, a `_migrations` step). Edits the
# team made to moved files are kept as patches and named in the output; nothing is dropped silently.

OPS_LAYOUT = ROOT / "migrations" / "ops_layout.py"
sys.path.insert(0, str(OPS_LAYOUT.parent))
from ops_layout import MOVES, PATCHES  # noqa: E402

LAYOUT_COMMIT = "a5cfee5"  # the commit that moved the files: its parent has the last old layout
# (answers at generation, the level the update asks for: None keeps the level)
LAYOUT_CASES = [
    *(
        pytest.param({**DEFAULT_STACK, "maturity_level": level}, None, id=f"level-{level}")
        for level in (0, 2, 4)
    ),
    pytest.param(
        {**DEFAULT_STACK, "maturity_level": 4, "platform": "sagemaker"}, None, id="level-4-sagemaker"
    ),
    pytest.param({**DEFAULT_STACK, "maturity_level": 0}, HIGHEST, id=f"level-0-to-{HIGHEST}"),
]
# Moved template files the team edits, where the project has them; and one it deletes.
EDITED = ["src/{package}/predict.py", "tests/test_tracking.py", "src/{package}/service.py"]
DELETED = "tests/test_drift.py"
TEAM_MODULE = "src/{package}/team_report.py"
TEAM_MODULE_TEXT = '"""The team\'s own module."""\n\nfrom .config import load_config\n'
needs_history = pytest.mark.skipif(
    not has_commit(OLD_LAYOUT_COMMIT), reason=f"this checkout's history lacks {OLD_LAYOUT_COMMIT}"
)


@pytest.fixture(scope="session")
def layout_repo(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's history as a team's template source has it: the old layout, then this tree."""
    repo = tmp_path_factory.mktemp("layout") / "mlops-ladder"
    return build_layout_repo(repo, template_repo, TEMPLATE_VERSION)


def test_the_moves_table_matches_the_manifests(tmp_path: Path) -> None:
    """Every template file the ops/ layout took away has one entry in MOVES, to a file of its component."""
    if not has_commit(f"{LAYOUT_COMMIT}^"):
        pytest.skip(f"this checkout's history lacks {LAYOUT_COMMIT}^")
    before = tmp_path / "components.yml"
    before.write_text(git(ROOT, "show", f"{LAYOUT_COMMIT}^:components.yml"), encoding="utf-8")
    old, new = load_manifest(before), MANIFEST
    new_files = {c.name: {path for path, _ in c.paths("{package}")} for c in new.components}
    old_files = {c.name: {path for path, _ in c.paths("{package}")} for c in old.components}
    every_new = set().union(*new_files.values())
    gone = {path: name for name, paths in old_files.items() for path in paths if path not in every_new}
    assert set(MOVES) == set(gone)
    for path, component in gone.items():
        assert MOVES[path] in new_files[component], f"{path} -> {MOVES[path]}: not in {component}"


@needs_history
@pytest.mark.parametrize(("answers", "level"), LAYOUT_CASES)
def test_a_project_from_before_the_ops_layout_comes_along(
    layout_repo: Path, tmp_path: Path, git_project: GitProject, answers: dict[str, Any], level: int | None
) -> None:
    package = full_answers(answers)["package_name"]
    project = tmp_path / "project"
    generate = {"data": answers, "defaults": True, "unsafe": True, "quiet": True}
    copier.run_copy(str(layout_repo), project, vcs_ref=OLD_LAYOUT_VERSION, **generate)
    git_project(project)
    generated = snapshot(project)
    old_manifest = old_layout_manifest(layout_repo)
    assert set(generated) == set(old_manifest.files(full_answers(answers))), "not the old layout's files"
    work = edit_like_a_team(project, old_manifest)
    edited = {
        old: tweak(project / old)
        for old in (p.format(package=package) for p in EDITED)
        if (project / old).exists()
    }
    deleted = [DELETED] if (project / DELETED).exists() else []
    for path in deleted:
        git(project, "rm", "-q", path)
    team_module = TEAM_MODULE.format(package=package)
    (project / team_module).write_text(TEAM_MODULE_TEXT, encoding="utf-8")
    commit_all(project, "team edits")
    committed = snapshot(project)

    step_up = [] if level is None else ["-d", f"maturity_level={level}"]
    result = copier_cli(project, "update", "--trust", "--defaults", *step_up)

    assert result.returncode == 0, result.stderr
    answers = {**answers, "maturity_level": answers["maturity_level"] if level is None else level}
    moves = {old.format(package=package): new.format(package=package) for old, new in MOVES.items()}
    patches = {f"{PATCHES}/{old}.patch" for old in edited}
    new_files = MANIFEST.files(full_answers(answers))
    assert project_files(project) == (set(new_files) - {moves[p] for p in deleted}) | patches | {team_module}
    assert recorded(project)["_commit"] == TEMPLATE_VERSION
    assert not [old for old in moves if (project / old).exists()], "old-layout files left"
    assert conflicted(project, sorted(project_files(project))) == [] and unmerged(project) == []
    # Every file is the new version's, with the team's edits to files that kept their path merged in.
    pristine = tmp_path / "pristine"
    copier.run_copy(str(layout_repo), pristine, **{**generate, "data": answers})
    for path in set(new_files) - {moves[p] for p in deleted}:
        expected = (pristine / path).read_bytes()
        if path in generated:
            expected = merged(committed[path], generated[path], expected, tmp_path / "merge")
        assert (project / path).read_bytes() == expected, (
            f"{path}: not the new version's with the team's edits"
        )
    assert (project / team_module).read_bytes() == committed[team_module]
    for path, lines in work.edited_lines.items():
        text = (project / path).read_text(encoding="utf-8").splitlines()
        assert all(line in text for line in lines), f"{path}: the team's edit is gone"
    # The team's part of the README is checked above: the new version's text (its quick start changed
    # between the versions) with the team's notes merged in, as for every file that kept its path.
    # Each edit to a moved file: in its patch, named in the output with where it goes now.
    for old, line in edited.items():
        patch = project / PATCHES / f"{old}.patch"
        assert f"+{line}" in patch.read_text(encoding="utf-8").splitlines()
        assert applied(patch, old, generated[old], tmp_path / "apply" / old) == committed[old]
        named = f"your edits to {old} are in {PATCHES}/{old}.patch: re-apply them to {moves[old]}"
        assert named in result.stderr and f"{PATCHES}/{old}.patch: re-apply to {moves[old]}" in result.stderr
    for path in deleted:
        assert f"{moves[path]} stays deleted" in result.stderr
    assert f"{team_module} imports {package}.config, which is {package}.ops.config now" in result.stderr
    # The project's imports resolve (the team's module aside, named above), and each command finds its module.
    stale = [line for line in unresolved_imports(project, package) if not line.startswith(team_module)]
    assert stale == []
    env = {**project_env(), "PYTHONPATH": str(project / "src")}
    usage = subprocess.run(
        [sys.executable, "-m", package, "--help"], cwd=project, env=env, capture_output=True, text=True
    )
    assert usage.returncode == 0, usage.stderr
    commands = [line.split() for line in usage.stdout.split("commands:\n", 1)[1].splitlines() if line]
    assert commands and all(len(words) > 1 for words in commands), f"a command's module is missing:\n{usage}"
    # Committed, the patches stay through later updates, and the output keeps naming them.
    commit_all(project, "the ops/ layout")
    again = copier_cli(project, "update", "--trust", "--defaults")
    assert again.returncode == 0, again.stderr
    assert git(project, "status", "--porcelain") == ""
    assert all(f"{patch}: re-apply to" in again.stderr for patch in patches)


@needs_history
def test_a_project_on_the_ops_layout_is_left_alone(
    layout_repo: Path, tmp_path: Path, git_project: GitProject
) -> None:
    """Between two versions with the ops/ layout the migration runs and changes nothing: copier's merge
    carries the team's edit to a template file, no patch is written."""
    source = tmp_path / "mlops-ladder"
    git(tmp_path, "clone", "-q", str(layout_repo), str(source))
    answers = {**DEFAULT_STACK, "maturity_level": 0}
    package = full_answers(answers)["package_name"]
    project = tmp_path / "project"
    copier.run_copy(str(source), project, data=answers, defaults=True, unsafe=True, quiet=True)
    git_project(project)
    work = edit_like_a_team(project)
    predict = f"src/{package}/ops/training/predict.py"
    line = tweak(project / predict)
    commit_all(project, "team edits")
    with (source / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("\nA newer version.\n")
    commit_all(source, "v1.1.0")
    git(source, "tag", "v1.1.0")

    result = copier_cli(project, "update", "--trust", "--defaults")

    assert result.returncode == 0, result.stderr
    assert "ops_layout.py', 'before'" in result.stderr and "ops_layout.py', 'after'" in result.stderr
    assert "mlops-ladder: your edits" not in result.stderr and PATCHES not in result.stderr
    assert recorded(project)["_commit"] == "v1.1.0"
    assert_stepped_up(project, work, 0)
    assert line in (project / predict).read_text(encoding="utf-8").splitlines()
    assert sorted(git(project, "status", "--porcelain").splitlines()) == [" M .copier-answers.yml"]
