"""Stepping up with `copier update`: the new level's files arrive, the team's own work stays byte-for-byte.

Every level pair (a < b) for the default stack, and 0 -> the highest built level for every tracker x ci x
platform; the list grows by itself as components.yml marks more levels built.
"""

from __future__ import annotations

import pytest
from conftest import (
    DEFAULTS,
    LEVELS,
    MANIFEST,
    STACK_CHOICES,
    Generate,
    all_answers,
    answers_id,
    commit_all,
    git,
)
from updating import (
    assert_maturity_report,
    assert_stepped_up,
    copier_cli,
    edit_like_a_team,
    maturity_report,
    step_up,
)

HIGHEST = MANIFEST.highest_level
DEFAULT_STACK = {question: DEFAULTS[question] for question in STACK_CHOICES}
STEP_UPS = [(low, high) for low in LEVELS for high in LEVELS if low < high]
EVERY_STACK = all_answers([0]) if HIGHEST > 0 else []


def _pair_id(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-to-{pair[1]}"


@pytest.mark.parametrize(("low", "high"), STEP_UPS, ids=map(_pair_id, STEP_UPS))
def test_step_up_keeps_the_team_work(
    generate: Generate, git_project, record_property, low: int, high: int
) -> None:
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": low}))
    work = edit_like_a_team(project)
    commit_all(project, "team edits")

    seconds = step_up(project, high)

    record_property("update_seconds", round(seconds, 2))
    assert_stepped_up(project, work, high)
    assert_maturity_report(maturity_report(project), high)


@pytest.mark.parametrize("stack", EVERY_STACK, ids=map(answers_id, EVERY_STACK))
def test_step_up_to_the_highest_level_on_every_stack(
    generate: Generate, git_project, record_property, stack: dict
) -> None:
    project = git_project(generate(stack))
    work = edit_like_a_team(project)
    commit_all(project, "team edits")

    seconds = step_up(project, HIGHEST)

    record_property("update_seconds", round(seconds, 2))
    assert_stepped_up(project, work, HIGHEST)
    assert_maturity_report(maturity_report(project), HIGHEST)


@pytest.mark.skipif(HIGHEST < 1, reason="only level 0 is built")
def test_climb_one_command_a_step(generate: Generate, git_project) -> None:
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
def test_step_up_with_the_documented_command(generate: Generate, git_project) -> None:
    project = git_project(generate({**DEFAULT_STACK, "maturity_level": 0}))
    work = edit_like_a_team(project)
    commit_all(project, "team edits")

    result = copier_cli(project, "update", "--trust", "--defaults", "-d", "maturity_level=1")

    assert result.returncode == 0, result.stderr
    assert f"level 0 ({MANIFEST.level_name(0)}) -> 1 ({MANIFEST.level_name(1)})" in result.stderr
    assert_stepped_up(project, work, 1)
    assert_maturity_report(maturity_report(project), 1)
