"""Bad answers fail before anything is written, with a message naming the question and the fix.

Each case runs twice: through copier's Python API (what presets and tools call) and through the `copier copy`
command a person types, where the message must reach the terminal.
"""

from __future__ import annotations

import ast
import html
import json
import re
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from conftest import (
    LEVELS,
    MANIFEST,
    STACK_CHOICES,
    Generate,
    answers_id,
    commit_all,
    full_answers,
    git,
    project_files,
)
from copier.errors import UserMessageError
from markdown_it import MarkdownIt
from updating import snapshot

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
    Case("pipeline_engine", "argo", ("local", "kubeflow")),
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
    """Copier does not validate a hidden answer from user defaults; the check before writing does."""
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


# ---------------------------------------------------------------------------------------------------------
# Free text is quoted for every format it lands in: hostile answers render into files that all parse.

HOSTILE = {
    "description": (
        'Says "hi" & it\'s {{ 7*7 }} {% raw %} <b>x</b> \\ \n# not a heading\n* not a list [link](x) `code` '
        "\t| a | ~~s~~ $x$ = é 中文 \x7f\x85\u2028 ends with a backslash \\"
    ),
    "author_name": 'O\'Brien "Ops" \\ Team\n[x]{y}*z* #1 `rm -rf` ü """',
    "author_email": "first.last+ml_ops%x@sub-domain.example.co.uk",
}
HOSTILE_STACKS = [
    {"maturity_level": 0, "tracker": "wandb", "ci": "gitlab", "platform": "self-hosted"},
    {"maturity_level": LEVELS[-1], "tracker": "wandb", "ci": "gitlab", "platform": "vertex"},
    {"maturity_level": LEVELS[-1], "tracker": "mlflow", "ci": "github", "platform": "sagemaker"},
]


class AnyTagLoader(yaml.SafeLoader):
    """safe_load that reads GitLab's `!reference [...]` and other local tags as plain data."""


AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def words(text: str) -> str:
    return " ".join(text.split())


def parse_every_file(project: Path) -> dict[str, Any]:
    """Every file of a known format, parsed; a file that does not parse fails the test with its path."""
    parsed: dict[str, Any] = {}
    for relative in sorted(project_files(project)):
        path, text = project / relative, (project / relative).read_text(encoding="utf-8")
        try:
            if path.suffix == ".toml":
                parsed[relative] = tomllib.loads(text)
            elif path.suffix in (".yml", ".yaml"):
                parsed[relative] = list(yaml.load_all(text, Loader=AnyTagLoader))
            elif path.suffix == ".json":
                parsed[relative] = json.loads(text)
            elif path.suffix == ".py":
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # an invalid escape sequence would only warn
                    parsed[relative] = ast.parse(text, filename=relative)
            elif path.suffix == ".md":
                parsed[relative] = MarkdownIt().render(text)
        except Exception as error:  # any parser's error: name the file
            pytest.fail(f"{relative} does not parse: {error}")
    return parsed


@pytest.mark.parametrize("stack", [pytest.param(s, id=answers_id(full_answers(s))) for s in HOSTILE_STACKS])
def test_hostile_free_text_lands_quoted_in_every_format(generate: Generate, stack: dict[str, Any]) -> None:
    project = generate({**stack, **HOSTILE})
    parsed = parse_every_file(project)
    description, author, email = HOSTILE["description"], HOSTILE["author_name"], HOSTILE["author_email"]

    pyproject = parsed["pyproject.toml"]["project"]
    assert pyproject["description"] == description
    assert pyproject["authors"] == [{"name": author, "email": email}]
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert recorded["description"] == description
    package = full_answers(stack)["package_name"]
    docstring = ast.get_docstring(parsed[f"src/{package}/__init__.py"], clean=False)
    assert docstring is not None and words(docstring) == words(description) + "."
    # The README shows the text as typed (Markdown reflows line breaks into spaces): no heading, list, link,
    # code span or HTML comes from an answer.
    readme_html = parsed["README.md"]
    readme_text = html.unescape(re.sub(r"<[^>]+>", "", readme_html))
    assert words(description) + "." in words(readme_text)
    assert f"Owner: {words(author)}" in words(readme_text)
    head = readme_html.split("<h2>")[0]  # the title, the description and the owner
    assert head.count("<h1>") == 1 and "<li>" not in head and "<code>" not in head
    assert re.findall(r"<a [^>]*>", head) == [f'<a href="mailto:{email.replace("%", "%25")}">']
    assert "<b>" not in readme_html

    files = MANIFEST.files(full_answers(stack))
    if "config/model_card.toml" in files:
        assert parsed["config/model_card.toml"]["owner"] == f"{author} <{email}>"
    if "config/catalog.yml" in files:
        assert parsed["config/catalog.yml"][0]["sources"]["breast_cancer"]["owner"] == email
    if "catalog-info.yaml" in files:
        assert parsed["catalog-info.yaml"][0]["metadata"]["description"] == description
    for relative, tree in parsed.items():
        if isinstance(tree, ast.Module):
            compile(tree, relative, "exec")

    # Still the project the template promises: ruff-clean, a Makefile make reads, no Jinja left over.
    ruff = Path(sys.executable).with_name("ruff")
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [str(ruff), *command, "--no-cache", "-q", "."], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    make = subprocess.run(["make", "-n", "help"], cwd=project, capture_output=True, text=True)
    assert make.returncode == 0, make.stderr
    assert not any(marker in (project / "Makefile").read_text(encoding="utf-8") for marker in ("{{", "{%"))


# ---------------------------------------------------------------------------------------------------------
# A copy onto a folder that holds files, a hand-edited answers file, an update of a project that lost files.


def test_copy_onto_existing_files_names_them_and_writes_nothing(template_repo: Path, tmp_path: Path) -> None:
    destination = tmp_path / "project"
    theirs = {"README.md": "our readme\n", "Makefile": "all:\n\techo ours\n", "notes/ideas.md": "keep\n"}
    for relative, text in theirs.items():
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        (destination / relative).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [str(COPIER), "copy", "--trust", "--defaults", str(template_repo), str(destination)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "Makefile, README.md." in last_line and "--overwrite" in last_line, result.stderr
    assert "ideas.md" not in last_line and "Traceback" not in result.stderr
    left = {p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file()}
    assert left == set(theirs)
    assert all((destination / p).read_text(encoding="utf-8") == text for p, text in theirs.items())


def test_copy_into_a_folder_with_other_files_completes_and_keeps_them(
    generate: Generate, tmp_path: Path
) -> None:
    theirs = {"notes/ideas.md": "keep\n", "data/raw/extract.csv": "a,b\n1,2\n"}
    for relative, text in theirs.items():
        (tmp_path / "project" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "project" / relative).write_text(text, encoding="utf-8")
    project = generate({"maturity_level": 0})
    assert project_files(project) == set(MANIFEST.files(full_answers({"maturity_level": 0}))) | set(theirs)
    assert all((project / p).read_text(encoding="utf-8") == text for p, text in theirs.items())


# (A file that is not YAML at all stops copier itself, before the template is read: copier's own message.)
ANSWERS_FILE_EDITS = [
    ("maturity_level: 0", "maturity_level: abc", ("maturity_level 'abc' is not a level", "from 0 to")),
    ("tracker: mlflow", "tracker: foo", ("tracker 'foo' is not a choice", "mlflow, wandb")),
]


@pytest.mark.parametrize(("old", "new", "fix"), ANSWERS_FILE_EDITS, ids=[e[1] for e in ANSWERS_FILE_EDITS])
def test_a_malformed_answers_file_gets_one_line(
    generate: Generate, git_project: Callable[[Path], Path], old: str, new: str, fix: tuple[str, ...]
) -> None:
    project = git_project(generate({"maturity_level": 0, "tracker": "mlflow"}))
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    commit_all(project, "hand edit")
    head = git(project, "rev-parse", "HEAD")

    result = subprocess.run(
        [str(COPIER), "update", "--trust", "--defaults", "-d", "maturity_level=1"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(".copier-answers.yml"), result.stderr
    for fragment in fix:
        assert fragment in last_line
    assert git(project, "rev-parse", "HEAD") == head and git(project, "status", "--porcelain") == ""


# What `make maturity` (.mlops-ladder/maturity.py) says of an answers file copier could not have written; it
# runs before `make install` and reads the file without a YAML library, so it checks the flat form itself.
MATURITY_ANSWERS_EDITS = [
    ("maturity_level: 0", "maturity_level: abc", ("maturity_level 'abc' is not a level", "from 0 to")),
    ("maturity_level: 0", "maturity_level: [0", ("line ", "is not the `key: value` copier writes")),
    ("tracker: mlflow\n", "", ("records no tracker",)),
    (None, None, ("is missing",)),
]


@pytest.mark.parametrize(
    ("old", "new", "fix"), MATURITY_ANSWERS_EDITS, ids=["abc", "not-yaml", "no-tracker", "deleted"]
)
def test_make_maturity_names_a_malformed_answers_file_and_the_fix(
    generate: Generate, old: str | None, new: str | None, fix: tuple[str, ...]
) -> None:
    project = generate({"maturity_level": 0, "tracker": "mlflow"})
    answers = project / ".copier-answers.yml"
    if old is None:
        answers.unlink()
    else:
        assert old in answers.read_text(encoding="utf-8")
        answers.write_text(answers.read_text(encoding="utf-8").replace(old, new or ""), encoding="utf-8")

    result = subprocess.run(
        ["make", "--no-print-directory", "maturity"], cwd=project, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith(".copier-answers.yml") and "git checkout -- .copier-answers.yml" in line, line
    for fragment in fix:
        assert fragment in line, line
    assert result.stdout == ""


@pytest.mark.skipif(MANIFEST.highest_level < 2, reason="needs levels 1 and 2")
def test_a_step_up_names_the_files_the_team_deleted_that_the_project_needs(
    generate: Generate, git_project: Callable[[Path], Path]
) -> None:
    answers = {"project_name": "acme-churn", "maturity_level": 1, "tracker": "mlflow", "ci": "github"}
    package = full_answers(answers)["package_name"]
    project = git_project(generate(answers))
    needed = ["Makefile", f"src/{package}/ops/tracking/tracking.py"]
    for path in needed:
        git(project, "rm", "-q", path)
    commit_all(project, "we thought we did not need these")
    head, before = git(project, "rev-parse", "HEAD"), snapshot(project)

    with pytest.raises(UserMessageError) as error:
        copier.run_update(
            project, data={"maturity_level": 2}, overwrite=True, unsafe=True, defaults=True, quiet=True
        )

    assert "lost 2 file(s)" in str(error.value) and ", ".join(needed) in str(error.value)
    assert "git checkout" in str(error.value)
    assert git(project, "rev-parse", "HEAD") == head and git(project, "status", "--porcelain") == ""
    assert snapshot(project) == before
