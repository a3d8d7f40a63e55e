"""Bad answers fail before anything is written, with a message naming the question and the fix.

Each case runs twice: through copier's Python API (what presets and tools call) and through the `copier copy`
command a person types, where the message must reach the terminal.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest
from conftest import LEVELS, MANIFEST, STACK_CHOICES

COPIER = Path(sys.executable).with_name("copier")


@dataclass(frozen=True)
class Case:
    question: str
    value: str | int
    fix: tuple[str, ...]  # what the message must name besides the question and the bad value


CASES = [
    Case("project_name", "Acme_Churn", ("'acme-churn'",)),
    Case("maturity_level", 7, (str(LEVELS),)),
    Case("tracker", "neptune", (str(STACK_CHOICES["tracker"]),)),
    Case("author_email", "nobody", ("team@example.com",)),
]
if MANIFEST.highest_level < max(level["level"] for level in MANIFEST.levels):
    unbuilt = MANIFEST.highest_level + 1
    CASES.append(
        Case("maturity_level", unbuilt, (MANIFEST.level_name(unbuilt), f"from 0 to {MANIFEST.highest_level}"))
    )

PARAMS = [pytest.param(case, id=f"{case.question}={case.value}") for case in CASES]


def assert_names_question_and_fix(message: str, case: Case) -> None:
    assert f"'{case.question}'" in message
    assert str(case.value) in message
    for fragment in case.fix:
        assert fragment in message, f"the message does not name the fix {fragment!r}"


@pytest.mark.parametrize("case", PARAMS)
def test_api_refuses_bad_answer(template_repo: Path, tmp_path: Path, case: Case) -> None:
    destination = tmp_path / "project"
    with pytest.raises(ValueError) as error:
        copier.run_copy(
            str(template_repo),
            destination,
            data={case.question: case.value},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
    assert_names_question_and_fix(str(error.value), case)
    assert not destination.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", PARAMS)
def test_cli_refuses_bad_answer(template_repo: Path, tmp_path: Path, case: Case) -> None:
    destination = tmp_path / "project"
    answer, source = f"{case.question}={case.value}", str(template_repo)
    result = subprocess.run(
        [str(COPIER), "copy", "--trust", "--defaults", "--data", answer, source, str(destination)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert_names_question_and_fix(last_line, case)
    assert not destination.exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------
# Names that pass the slug rule but break the project, and a hidden answer set from outside.

NAME_CASES = [
    Case("project_name", "import", ("Python keyword", "'import-model'")),
    Case("project_name", "json", ("standard library", "'json-model'")),
    Case("project_name", "mlflow", ("installs", "'mlflow-model'")),
    Case("project_name", "sklearn", ("installs", "'sklearn-model'")),
    Case("project_name", "scikit-learn", ("installs", "'scikit-learn-model'")),
    Case("project_name", "a" * 64, ("64 characters", "at most 63")),
    Case("package_name", "x;touch /tmp/p;echo", ("project_name", "'ml_project'")),
    Case("author_email", "team`id`@example.com", ("team@example.com",)),
    Case("author_email", "t*m[0]{x}@example.com", ("team@example.com",)),
]
NAME_PARAMS = [pytest.param(case, id=f"{case.question}={case.value[:20]}") for case in NAME_CASES]


@pytest.mark.parametrize("case", NAME_PARAMS)
def test_api_refuses_a_name_that_breaks_the_project(template_repo: Path, tmp_path: Path, case: Case) -> None:
    test_api_refuses_bad_answer(template_repo, tmp_path, case)


def test_cli_refuses_a_package_name_from_outside(template_repo: Path, tmp_path: Path) -> None:
    """What `-d package_name=...` typed in a shell does: refused in one line, nothing written or run."""
    test_cli_refuses_bad_answer(template_repo, tmp_path, NAME_CASES[-3])


@pytest.mark.parametrize("name", ["mlflow", "wandb", "pandas", "fastapi", "sklearn", "scipy", "boto3", "kfp"])
def test_the_packages_a_project_installs_are_read_from_the_template(name: str) -> None:
    from ladder import installed_names, project_name_refusal

    assert name in installed_names()
    assert "installs" in project_name_refusal(name)


def test_a_preset_cannot_set_package_name_through_user_defaults(template_repo: Path, tmp_path: Path) -> None:
    """Copier does not validate a hidden answer that comes from user defaults; the check before writing does."""
    destination = tmp_path / "project"
    with pytest.raises(Exception, match="package_name 'x;touch /tmp/p;echo' cannot be set") as error:
        copier.run_copy(
            str(template_repo),
            destination,
            user_defaults={"package_name": "x;touch /tmp/p;echo"},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
    assert "project_name" in str(error.value)
    assert not destination.exists() or list(destination.iterdir()) == []
