"""Helpers for the step-up tests: a team's edits, the update itself, and what must hold after it.

A team edits its own files between generation and a step-up (training code, the README above the marker
line, a config value, a dependency in its `team` group of pyproject.toml); after `copier update` those bytes
must still be there, the project must hold exactly the manifest's files for its new level, and the recorded
stack must be the one the team chose.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml
from conftest import MANIFEST, ROOT, commit_all, full_answers, git, project_files
from ladder import ANSWERS_FILE, Manifest, load_manifest  # on sys.path through conftest

README = "README.md"
CONFLICT_MARKERS = ("<<<<<<<", ">>>>>>>")
# The README line above which the team writes and below which `copier update` rewrites (from the template).
README_MARKER = next(
    line
    for line in (ROOT / "template" / "README.md.jinja").read_text(encoding="utf-8").splitlines()
    if line.startswith("<!-- mlops-ladder:")
)
TEAM_FUNCTION = '''

def describe(metrics: dict[str, float]) -> str:
    """The team's one-line summary of a run."""
    return ", ".join(f"{name}={value:.3f}" for name, value in sorted(metrics.items()))
'''
TEAM_NOTES = "## Team notes\n\nRetrain every month; the churn data team owns the labels.\n\n"
PYPROJECT = "pyproject.toml"
# A library the team's code needs, added by hand to its group (small, pure Python, in no level's tree).
TEAM_DEPENDENCY = '    "tabulate>=0.9,<1",'
# The marker line of a shared file (components.yml): the team owns the part above it (README.md), or the part
# below it where the line says so (pyproject.toml: the `team` dependency group); the template the rest.
SHARED_MARKER = re.compile(r"^(?:<!-- |# )mlops-ladder: .*$", re.MULTILINE)
TEAM_BELOW = "below this line is yours"


def _replace_first(path: Path, pattern: str, replace: Any) -> str:
    """Rewrite the first line matching `pattern`; return the new line (the test fails if none matches)."""
    text = path.read_text(encoding="utf-8")
    match = re.search(pattern, text, flags=re.MULTILINE)
    assert match, f"{path.name} has no line matching {pattern!r} to edit"
    new_line = replace(match)
    path.write_text(text[: match.start()] + new_line + text[match.end() :], encoding="utf-8")
    return new_line


@dataclass(frozen=True)
class TeamWork:
    """What the team wrote before a step-up: edited lines, the bytes of every file the team owns and the
    team's part of each shared file."""

    edited_lines: dict[str, list[str]]
    user_files: dict[str, bytes]
    shared_parts: dict[str, str]
    answers: dict[str, Any]


def team_part(path: str, text: str) -> str:
    """The team's part of a shared file, its marker line included."""
    markers = SHARED_MARKER.findall(text)
    assert len(markers) == 1, f"{path} needs one marker line, has {markers}"
    before, marker, after = text.partition(markers[0])
    return marker + after if TEAM_BELOW in marker else before + marker


def shared_parts(project: Path, answers: Mapping[str, Any], manifest: Manifest = MANIFEST) -> dict[str, str]:
    """{path: the team's part} of every shared file of the project."""
    shared = [path for path, owner in manifest.files(full_answers(answers)).items() if owner == "shared"]
    return {path: team_part(path, (project / path).read_text(encoding="utf-8")) for path in shared}


def recorded(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))


def edit_like_a_team(project: Path, manifest: Manifest = MANIFEST) -> TeamWork:
    """Edit the training code (a new function, a changed print), the README above the marker, a config
    value and the team's dependency group, as a team would between levels; return what must survive."""
    answers = recorded(project)
    package = full_answers(answers)["package_name"]
    train = project / "src" / package / "train.py"
    printed = _replace_first(
        train, r'^\s*print\(f".*$', lambda m: m.group(0).replace('print(f"', 'print(f"[team] ', 1)
    )
    train.write_text(train.read_text(encoding="utf-8") + TEAM_FUNCTION, encoding="utf-8")
    config = project / "config" / "train.toml"
    setting = _replace_first(config, r"^(\w+) = (\d+)$", lambda m: f"{m.group(1)} = {int(m.group(2)) + 1}")
    readme = project / README
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace(README_MARKER, TEAM_NOTES + README_MARKER), encoding="utf-8")
    # A project from before the team's dependency group (a template version older than it) has none to edit.
    has_group = re.search(r"^team = \[", (project / PYPROJECT).read_text(encoding="utf-8"), re.MULTILINE)
    if has_group:
        _replace_first(  # `team = []` as generated, or `team = [` once the group has entries
            project / PYPROJECT,
            r"^team = \[\]?$",
            lambda m: f"team = [\n{TEAM_DEPENDENCY}" + ("\n]" if m.group(0).endswith("]") else ""),
        )
    user_owned = [path for path, owner in manifest.files(full_answers(answers)).items() if owner == "user"]
    return TeamWork(
        edited_lines={
            f"src/{package}/train.py": [printed, *TEAM_FUNCTION.strip().splitlines()],
            "config/train.toml": [setting],
            README: TEAM_NOTES.strip().splitlines(),
            **({PYPROJECT: [TEAM_DEPENDENCY]} if has_group else {}),
        },
        user_files={path: (project / path).read_bytes() for path in user_owned},
        shared_parts=shared_parts(project, answers, manifest),
        answers=answers,
    )


# The team's model picks its columns by name (a ColumnTransformer over make_column_selector), as a model of
# numeric and categorical columns does; its output keeps the input names, so the model stays linear in them.
MODEL_BY_NAME = """(
{indent}    "scale",
{indent}    ColumnTransformer(
{indent}        [("numbers", StandardScaler(), make_column_selector(dtype_include="number"))],
{indent}        verbose_feature_names_out=False,
{indent}    ),
{indent}),"""


def pick_columns_by_name(project: Path) -> str:
    """Make model.py's scaling step a ColumnTransformer that selects the columns by name from a data frame
    (it fails on an array); return the new line."""
    model = project / "src" / full_answers(recorded(project))["package_name"] / "model.py"
    line = _replace_first(
        model,
        r'^(\s*)\("scale", StandardScaler\(\)\),$',
        lambda m: m.group(1) + MODEL_BY_NAME.format(indent=m.group(1)),
    )
    _replace_first(
        model,
        r"^from sklearn\.base import ClassifierMixin$",
        lambda m: m.group(0) + "\nfrom sklearn.compose import ColumnTransformer, make_column_selector",
    )
    return line


def step_up(project: Path, level: int | None, vcs_ref: Any = copier.VcsRef.CURRENT) -> float:
    """`copier update --trust --defaults [-d maturity_level=level]` through the API; its wall time."""
    data = {} if level is None else {"maturity_level": level}
    start = time.perf_counter()
    copier.run_update(
        project, data=data, overwrite=True, unsafe=True, defaults=True, vcs_ref=vcs_ref, quiet=True
    )
    return time.perf_counter() - start


def copier_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The copier command of this environment, run in the project as a user types it."""
    command = Path(sys.executable).with_name("copier")
    return subprocess.run([str(command), *args], cwd=project, capture_output=True, text=True, check=False)


def conflicted(project: Path, paths: list[str]) -> list[str]:
    """`path:line` of every conflict marker copier left in these files."""
    return [
        f"{path}:{number}"
        for path in paths
        if (project / path).is_file()
        for number, line in enumerate((project / path).read_text(encoding="utf-8").splitlines(), 1)
        if line.startswith(CONFLICT_MARKERS)
    ]


def unmerged(project: Path) -> list[str]:
    """Paths git reports as unmerged (both sides changed them) after an update."""
    status = git(project, "status", "--porcelain").splitlines()
    return [line for line in status if line[:2] in {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}]


def assert_team_work_kept(project: Path, work: TeamWork, renamed: Mapping[str, str] | None = None) -> None:
    """The team's files are byte-for-byte what it committed, and so are its parts of the shared files (the
    README above the marker line, the dependency group below pyproject.toml's); its edited lines are there."""
    renamed = renamed or {}
    for path, content in work.user_files.items():
        now = renamed.get(path, path)
        assert (project / now).is_file(), f"{now}: the team's file is gone"
        assert (project / now).read_bytes() == content, f"{now}: the team's file changed"
    for path, part in work.shared_parts.items():
        text = (project / path).read_text(encoding="utf-8")
        assert team_part(path, text) == part, f"{path}: the team's part (see its marker line) changed"
    for path, lines in work.edited_lines.items():
        text = (project / path).read_text(encoding="utf-8").splitlines()
        for line in lines:
            assert line in text, f"{path}: the team's line {line!r} is gone"


def assert_stepped_up(
    project: Path,
    work: TeamWork,
    level: int,
    manifest: Manifest = MANIFEST,
    renamed: Mapping[str, str] | None = None,
    extra: frozenset[str] = frozenset(),
) -> None:
    """Everything a team checks after `copier update -d maturity_level=level` (`extra`: the team's own
    files beyond the manifest's, such as a committed uv.lock)."""
    assert_team_work_kept(project, work, renamed)
    answers = recorded(project)
    assert answers["maturity_level"] == level
    stack = {key: value for key, value in work.answers.items() if key not in {"maturity_level", "_commit"}}
    assert {key: answers.get(key) for key in stack} == stack, "recorded answers other than the level changed"
    expected = manifest.files(full_answers(answers))
    assert project_files(project) == set(expected) | extra, "the files are not the manifest's for the level"
    assert conflicted(project, sorted(expected)) == [], "conflict markers left after a step-up"
    assert unmerged(project) == []


def maturity_report(project: Path, script: str = ".mlops-ladder/maturity.py") -> str:
    """What `make maturity` prints (the script it runs, with the interpreter a user has)."""
    return subprocess.run(["python3", script], cwd=project, capture_output=True, text=True, check=True).stdout


# The headings under which `make maturity` lists the project's files, by owner (components.yml).
OWNER_HEADINGS = {"user": "yours (", "shared": "yours on one side", "template": "the template's ("}


def maturity_owners(report: str) -> dict[str, str]:
    """{path: owner} as `make maturity` lists the project's files."""
    owners: dict[str, str] = {}
    owner = None
    for line in report.splitlines():
        heading = [found for found, start in OWNER_HEADINGS.items() if line.startswith(start)]
        if heading or not line.startswith("  "):
            owner = heading[0] if heading else None
        elif owner:
            owners[line.strip()] = owner
    return owners


def assert_maturity_report(
    report: str, level: int, manifest: Manifest = MANIFEST, files: Mapping[str, str] | None = None
) -> None:
    """`make maturity` names the level and, while a higher one is built, the exact command to step up; it
    lists `files` ({path: owner}, when given) under their owners."""
    assert f"maturity level {level} ({manifest.level_name(level)})" in report, report
    command = f"copier update --trust --defaults -d maturity_level={level + 1}"
    assert (command in report) is (level < manifest.highest_level), report
    if files is not None:
        assert maturity_owners(report) == dict(files), report


def project_env() -> dict[str, str]:
    """The environment a generated project's make targets run in: this venv's uv, offline trackers."""
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(UV_PYTHON_DOWNLOADS="never", WANDB_MODE="offline", WANDB_SILENT="true")
    return env


def run(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=project, env=project_env(), capture_output=True, text=True, check=False
    )


def commit_with_hooks(project: Path, message: str) -> subprocess.CompletedProcess[str]:
    """`git add -A && git commit` as the team does it: through the git hooks `make install` installed."""
    identity = {
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "team"), ("EMAIL", "team@example.com"))
    }
    git(project, "add", "-A")
    return subprocess.run(
        ["git", "commit", "-q", "-m", message],
        cwd=project,
        env={**project_env(), **identity},
        capture_output=True,
        text=True,
        check=False,
    )


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the project outside .git, by path: to prove a refused update touched nothing."""
    return {path: (project / path).read_bytes() for path in sorted(project_files(project))}


# A second template version: a new question with a default, a renamed template-owned file, and a renamed
# user-owned file whose content a `_migrations` entry carries over to the new name.
V2 = "v2.0.0"
NEW_QUESTION = ("license", "MIT")
RENAMES = {
    ".mlops-ladder/maturity.py": ".mlops-ladder/status.py",
    "tests/test_train.py": "tests/test_training.py",
}
V2_COPIER_YML = f"""
{NEW_QUESTION[0]}:
  type: str
  help: License of the project (added in {V2})
  default: {NEW_QUESTION[1]}

# Copier deletes a file the new version no longer renders, edited or not: a renamed file the team owns is
# carried over from the team's last commit once the update has run (the `after` stage, the default).
_migrations:
  - version: {V2}
    command: >-
      if git cat-file -e HEAD:tests/test_train.py 2>/dev/null;
      then git show HEAD:tests/test_train.py > tests/test_training.py && rm -f tests/test_train.py; fi
"""


def release_v2(repo: Path) -> None:
    """Commit and tag the second version in a clone of the template repo."""
    for old, new in RENAMES.items():
        source = next(p for p in (repo / "template" / old, repo / "template" / f"{old}.jinja") if p.exists())
        git(repo, "mv", str(source), str(source).replace(old, new))
    for relative in filter(None, git(repo, "ls-files").splitlines()):
        path = repo / relative
        if relative.startswith(("template/", "stacks/")) or relative == "components.yml":
            text = path.read_text(encoding="utf-8")
            for old, new in RENAMES.items():
                text = text.replace(old, new)
            path.write_text(text, encoding="utf-8")
    config = repo / "copier.yml"
    text = config.read_text(encoding="utf-8")
    question, key, migration = V2_COPIER_YML.partition("_migrations:\n")
    if f"\n{key}" in text:  # the template's own migrations stay (a second key would replace them)
        text = text.replace(f"\n{key}", f"\n{key}{migration}", 1) + question
    else:
        text += V2_COPIER_YML
    config.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{V2}: a new question, two renamed files")
    git(repo, "tag", V2)


# The ops/ layout (issue #15): a project generated before it, when the template's modules sat directly in
# src/<package>/ and its tests in tests/, comes along with `copier update` (migrations/ops_layout.py).
OLD_LAYOUT_COMMIT = "cec26e0"  # the template as it was before the move
OLD_LAYOUT_VERSION = "v0.9.0"
PATCHES = ".mlops-ladder/patches"
TEAM_TWEAK = "# the team's tweak: keep this line\n"


def has_commit(commit: str) -> bool:
    """Whether this checkout's history holds `commit` (a shallow clone may not)."""
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    return found.returncode == 0


def _extract(source: Path, commit: str, destination: Path) -> None:
    """The tree of `commit` in the repo at `source`, written into `destination`."""
    archive = subprocess.run(["git", "archive", commit], cwd=source, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)


def build_layout_repo(repo: Path, template_repo: Path, version: str) -> Path:
    """A template repo whose history holds the old layout (OLD_LAYOUT_VERSION) and then this working tree
    (`version`, committed in `template_repo`), as a team's template source has them after the release."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _extract(ROOT, OLD_LAYOUT_COMMIT, repo)
    commit_all(repo, f"the template at {OLD_LAYOUT_COMMIT}, before the ops/ layout")
    git(repo, "tag", OLD_LAYOUT_VERSION)
    git(repo, "rm", "-rq", ".")
    _extract(template_repo, "HEAD", repo)
    commit_all(repo, "the template under test")
    git(repo, "tag", version)
    return repo


def old_layout_manifest(repo: Path) -> Manifest:
    """components.yml as the old layout's version has it, from a repo build_layout_repo made."""
    path = repo.parent / f"components-{OLD_LAYOUT_VERSION}.yml"
    if not path.exists():
        path.write_text(git(repo, "show", f"{OLD_LAYOUT_VERSION}:components.yml"), encoding="utf-8")
    return load_manifest(path)


def tweak(path: Path) -> str:
    """The team's edit to a template file: a comment line above its first function; the line."""
    text = path.read_text(encoding="utf-8")
    index = text.index("\ndef ") + 1
    path.write_text(text[:index] + TEAM_TWEAK + text[index:], encoding="utf-8")
    return TEAM_TWEAK.rstrip("\n")


def merged(ours: bytes, base: bytes, theirs: bytes, scratch: Path) -> bytes:
    """`git merge-file`: the template's change (base -> theirs) merged cleanly into the team's file (ours)."""
    scratch.mkdir(parents=True, exist_ok=True)
    files = []
    for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
        (scratch / name).write_bytes(content)
        files.append(str(scratch / name))
    result = subprocess.run(["git", "merge-file", "-p", *files], capture_output=True, check=False)
    assert result.returncode == 0, f"the template's change conflicts with the team's: {result.stdout!r}"
    return result.stdout


def applied(patch: Path, path: str, original: bytes, scratch: Path) -> bytes:
    """`original` (the file at `path`) with `patch` applied by `git apply`, as a team re-applies it."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / path).parent.mkdir(parents=True, exist_ok=True)
    (scratch / path).write_bytes(original)
    subprocess.run(["git", "apply", str(patch)], cwd=scratch, check=True, capture_output=True)
    return (scratch / path).read_bytes()


def _package_names(init: Path) -> set[str]:
    """The names a package's __init__.py binds at its top level."""
    names: set[str] = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def unresolved_imports(project: Path, package: str) -> list[str]:
    """`file: import` for each import of the package's own modules (relative or absolute) naming a module or
    package member the project does not have: a stale import after the layout moved."""
    root = project / "src"

    def module_path(parts: list[str]) -> Path | None:
        base = root.joinpath(*parts)
        return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)

    missing = []
    for source in sorted((root / package).rglob("*.py")):
        where = source.relative_to(project)
        here = list(source.relative_to(root).with_suffix("").parts)  # __init__ counts as a module below
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                dotted = [alias.name for alias in node.names if alias.name.split(".")[0] == package]
                missing += [f"{where}: import {name}" for name in dotted if not module_path(name.split("."))]
                continue
            if not isinstance(node, ast.ImportFrom):
                continue
            named = node.module.split(".") if node.module else []
            parts = [*here[: len(here) - node.level], *named] if node.level else named
            if parts[:1] != [package]:
                continue  # another package's import
            written = f"from {'.' * node.level}{node.module or ''}"
            target = module_path(parts)
            if target is None:
                missing.append(f"{where}: {written}")
            elif target.name == "__init__.py":
                names = _package_names(target)
                missing += [
                    f"{where}: {alias.name} {written}"
                    for alias in node.names
                    if alias.name not in names and module_path([*parts, alias.name]) is None
                ]
    return missing
