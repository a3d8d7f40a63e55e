"""Issue #15: bring a project generated before the ops/ layout to it without losing the team's edits.

The template's own modules moved from `src/<package>/<module>.py` to `src/<package>/ops/<concern>/...` and its
tests from `tests/test_X.py` to `tests/ops/test_X.py`. Copier carries the team's edits to files that keep
their path (its 3-way merge), but it deletes a file the new version no longer has, edited or not. copier.yml
runs this script as a `_migrations` step of every update:

- `before` (copier has rendered the old version, it has not yet read the project's git index): for each
  moved file the team edited, save the edit as `.mlops-ladder/patches/<old path>.patch` (a unified diff from
  the template's old text to the team's), put the template's old text back and `git add` it, so copier's
  update moves a clean file; print one line per saved patch.
- `after`: put those index entries back to the last commit (copier leaves its own changes unstaged) and
  list the patches still to re-apply.

A project already on the ops/ layout (or one that has none of the moved files) is left alone. The script
runs with the interpreter copier runs on (`_copier_python`), so it imports copier and PyYAML.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

# Old path -> new path of every template file the ops/ layout moved ({package}: the package name). The test
# suite checks it against components.yml before and after the move (tests/test_update.py).
MOVES: dict[str, str] = {
    "src/{package}/config.py": "src/{package}/ops/config.py",
    "src/{package}/lifecycle.py": "src/{package}/ops/lifecycle.py",
    "src/{package}/predict.py": "src/{package}/ops/training/predict.py",
    "src/{package}/pipeline.py": "src/{package}/ops/training/pipeline.py",
    "src/{package}/sagemaker_pipeline.py": "src/{package}/ops/training/sagemaker_pipeline.py",
    "src/{package}/vertex_pipeline.py": "src/{package}/ops/training/vertex_pipeline.py",
    "src/{package}/monitor.py": "src/{package}/ops/monitoring/baseline.py",
    "src/{package}/monitoring.py": "src/{package}/ops/monitoring/continuous.py",
    "src/{package}/alerts.py": "src/{package}/ops/monitoring/alerts.py",
    "src/{package}/drift.py": "src/{package}/ops/monitoring/drift.py",
    "src/{package}/tracking.py": "src/{package}/ops/tracking/tracking.py",
    "src/{package}/registry.py": "src/{package}/ops/tracking/registry.py",
    "src/{package}/data_pipeline.py": "src/{package}/ops/data/data_pipeline.py",
    "src/{package}/data_versions.py": "src/{package}/ops/data/data_versions.py",
    "src/{package}/promotion.py": "src/{package}/ops/deployment/promotion.py",
    "src/{package}/endpoint.py": "src/{package}/ops/deployment/endpoint.py",
    "src/{package}/smoke.py": "src/{package}/ops/deployment/smoke.py",
    "src/{package}/service.py": "src/{package}/ops/serving/service.py",
    "src/{package}/bench.py": "src/{package}/ops/serving/bench.py",
    "src/{package}/container.py": "src/{package}/ops/serving/container.py",
    "src/{package}/canary.py": "src/{package}/ops/reports/canary.py",
    "src/{package}/shadow.py": "src/{package}/ops/reports/shadow.py",
    "src/{package}/retraining.py": "src/{package}/ops/retraining/retraining.py",
    "src/{package}/feedback.py": "src/{package}/ops/retraining/feedback.py",
    "src/{package}/audit.py": "src/{package}/ops/governance/audit.py",
    "src/{package}/model_card.py": "src/{package}/ops/governance/model_card.py",
    "src/{package}/trail.py": "src/{package}/ops/governance/trail.py",
    "src/{package}/explain.py": "src/{package}/ops/governance/explain.py",
    "src/{package}/fairness.py": "src/{package}/ops/governance/fairness.py",
    "src/{package}/compliance.py": "src/{package}/ops/governance/compliance.py",
    "tests/test_tracking.py": "tests/ops/test_tracking.py",
    "tests/test_data_pipeline.py": "tests/ops/test_data_pipeline.py",
    "tests/test_pipeline.py": "tests/ops/test_pipeline.py",
    "tests/test_sagemaker_pipeline.py": "tests/ops/test_sagemaker_pipeline.py",
    "tests/test_vertex_pipeline.py": "tests/ops/test_vertex_pipeline.py",
    "tests/test_registry.py": "tests/ops/test_registry.py",
    "tests/test_features.py": "tests/ops/test_features.py",
    "tests/test_data_versions.py": "tests/ops/test_data_versions.py",
    "tests/test_drift.py": "tests/ops/test_drift.py",
    "tests/test_promotion.py": "tests/ops/test_promotion.py",
    "tests/test_service.py": "tests/ops/test_service.py",
    "tests/test_canary.py": "tests/ops/test_canary.py",
    "tests/test_shadow.py": "tests/ops/test_shadow.py",
    "tests/test_bench.py": "tests/ops/test_bench.py",
    "tests/test_endpoint.py": "tests/ops/test_endpoint.py",
    "tests/test_smoke.py": "tests/ops/test_smoke.py",
    "tests/test_monitoring.py": "tests/ops/test_monitoring.py",
    "tests/test_alerts.py": "tests/ops/test_alerts.py",
    "tests/test_retraining.py": "tests/ops/test_retraining.py",
    "tests/test_audit.py": "tests/ops/test_audit.py",
    "tests/test_interruptions.py": "tests/ops/test_interruptions.py",
    "tests/test_model_card.py": "tests/ops/test_model_card.py",
    "tests/test_trail.py": "tests/ops/test_trail.py",
    "tests/test_explain.py": "tests/ops/test_explain.py",
    "tests/test_fairness.py": "tests/ops/test_fairness.py",
    "tests/test_compliance.py": "tests/ops/test_compliance.py",
}
# Where the team's edits to moved files are kept: the team's folder (no template version renders anything
# there, so no update touches it); commit it, and delete each patch once re-applied.
PATCHES = ".mlops-ladder/patches"
# A file only the ops/ layout has: a project with it needs no migration.
NEW_LAYOUT_MARK = "src/{package}/ops/__init__.py"
# Any path of MOVES, whatever the package.
OLD_PATH = re.compile("|".join(re.escape(old).replace(re.escape("{package}"), "[^/]+") for old in MOVES))
# The template version this script belongs to (copier runs it from the version the project goes to).
TEMPLATE_ROOT = Path(__file__).resolve().parent.parent


def moves(package: str) -> dict[str, str]:
    """MOVES with the package name filled in."""
    return {old.format(package=package): new.format(package=package) for old, new in MOVES.items()}


def patch_path(old: str) -> str:
    return f"{PATCHES}/{old}.patch"


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True).stdout


def say(line: str) -> None:
    """Copier prints its own messages on stderr; these go with them."""
    print(f"mlops-ladder: {line}", file=sys.stderr, flush=True)


def recorded_answers(project: Path, answers_file: str) -> dict[str, Any]:
    """The answers file as the last update left it (copier rewrites it only after the `before` stage)."""
    import yaml  # the interpreter copier runs on has it

    return yaml.safe_load((project / answers_file).read_text(encoding="utf-8")) or {}


def package_of(recorded: dict[str, Any]) -> str:
    """copier.yml's default of package_name (never asked, never recorded). In the `before` stage copier has
    no answers in its context yet, so `{{ package_name }}` renders empty there."""
    return str(recorded.get("package_name") or str(recorded["project_name"]).replace("-", "_"))


def render_old_version(recorded: dict[str, Any], destination: Path) -> None:
    """The project as the template version it records rendered it: copier's own update renders the same
    into a folder of its own, which a migration cannot reach."""
    import copier  # the interpreter copier runs on

    copier.run_copy(
        str(recorded["_src_path"]),
        destination,
        data={key: value for key, value in recorded.items() if not key.startswith("_")},
        vcs_ref=str(recorded["_commit"]),
        defaults=True,
        overwrite=True,
        unsafe=True,
        quiet=True,
        skip_tasks=True,
    )


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its newline (only "\n" ends a line, as in a patch)."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


def unified_diff(old: str, template_text: str, team_text: str) -> str:
    """`git diff`-style patch from the template's text of `old` to the team's."""
    lines = []
    for line in difflib.unified_diff(
        _lines(template_text), _lines(team_text), fromfile=f"a/{old}", tofile=f"b/{old}"
    ):
        lines.append(line)
        if not line.endswith("\n"):
            lines.append("\n\\ No newline at end of file\n")
    return f"diff --git a/{old} b/{old}\n" + "".join(lines)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _state_file(project: Path) -> Path:
    """Where `before` leaves what `after` reports and does (inside .git: never committed)."""
    return project / git(project, "rev-parse", "--git-path", "mlops-ladder-ops-layout.json").strip()


def _imports(package: str, module: str) -> re.Pattern[str]:
    """An import of the package's module `module` (relative or absolute)."""
    pkg, mod = re.escape(package), re.escape(module)
    return re.compile(
        rf"^\s*(?:from\s+(?:\.|{pkg}\.){mod}\b|import\s+{pkg}\.{mod}\b"
        rf"|from\s+(?:\.|{pkg})\s+import\s+.*\b{mod}\b)",
        flags=re.MULTILINE,
    )


def stale_imports(project: Path, package: str, own_files: list[str]) -> list[str]:
    """One line for each import of a module that moved, in the team's own Python files."""
    modules = {
        PurePosixPath(old).stem: ".".join(PurePosixPath(new).with_suffix("").parts[1:])
        for old, new in moves(package).items()
        if old.startswith(f"src/{package}/")
    }
    found = []
    for path in own_files:
        text = _text((project / path).read_bytes())
        found += [
            f"{path} imports {package}.{module}, which is {new} now: update the import"
            for module, new in modules.items()
            if _imports(package, module).search(text)
        ]
    return found


def before(project: Path, package: str, answers_file: str) -> list[str]:
    """Save the team's edits to moved files as patches and restore the template's text; remember which
    moved files the team had deleted. Returns the old paths whose edits were saved."""
    if not (TEMPLATE_ROOT / "template" / NEW_LAYOUT_MARK.format(package="{{ package_name }}")).exists():
        return []  # the version the project goes to does not have the ops/ layout: nothing moves
    _state_file(project).unlink(missing_ok=True)  # left by an update that stopped half-way
    tracked = set(git(project, "ls-files", "-z").split("\0")) - {""}
    if not any(OLD_PATH.fullmatch(path) for path in tracked):
        return []  # the common case, decided before reading the answers (PyYAML takes long to import)
    recorded = recorded_answers(project, answers_file)
    package = package or package_of(recorded)
    if (project / NEW_LAYOUT_MARK.format(package=package)).exists() or not tracked & set(moves(package)):
        return []
    saved, deleted = [], []
    with tempfile.TemporaryDirectory(prefix="mlops-ladder-old.") as scratch:
        old_render = Path(scratch) / "project"
        render_old_version(recorded, old_render)
        for old, new in moves(package).items():
            template_file = old_render / old
            if not template_file.is_file():  # not the template's at this level: copier leaves it alone
                continue
            if not (project / old).is_file():  # deleted by the team: copier must not bring it back as `new`
                deleted.append(new)
                continue
            template_bytes, team_bytes = template_file.read_bytes(), (project / old).read_bytes()
            if team_bytes == template_bytes:
                continue
            patch = project / patch_path(old)
            patch.parent.mkdir(parents=True, exist_ok=True)
            diff = unified_diff(old, _text(template_bytes), _text(team_bytes))
            patch.write_bytes(diff.encode("utf-8", errors="surrogateescape"))
            (project / old).write_bytes(template_bytes)
            git(project, "add", "--", old)
            saved.append(old)
            say(f"your edits to {old} are in {patch_path(old)}: re-apply them to {new}")
        own = sorted(
            path
            for path in tracked
            if path.endswith(".py") and (project / path).is_file() and not (old_render / path).exists()
        )
    state = {"deleted": deleted, "imports": stale_imports(project, package, own)}
    _state_file(project).write_text(json.dumps(state), encoding="utf-8")
    return saved


def after(project: Path, package: str, answers_file: str) -> list[str]:
    """Leave the index as copier does (unstage what `before` staged), keep deleted files deleted, name the
    imports to update and the patches to re-apply. Returns the old paths of the patches in the project."""
    package = package or package_of(recorded_answers(project, answers_file))
    paths = moves(package)
    staged = git(project, "diff", "--cached", "--name-only", "--", *paths).splitlines()
    if staged:
        git(project, "reset", "-q", "--", *staged)
    state_file = _state_file(project)
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else {}
    state_file.unlink(missing_ok=True)
    for new in state.get("deleted", []):
        if (project / new).is_file():
            (project / new).unlink()
            say(f"{new} stays deleted: you had deleted it under its old name")
    for line in state.get("imports", []):
        say(line)
    patches = sorted((project / PATCHES).rglob("*.patch")) if (project / PATCHES).is_dir() else []
    olds = [path.relative_to(project / PATCHES).as_posix().removesuffix(".patch") for path in patches]
    if olds:
        say(f"{len(olds)} edit(s) of yours to template files that moved are kept in {PATCHES}/:")
        for old in olds:
            say(f"  {patch_path(old)}: re-apply to {paths.get(old, 'its new place')}")
        say("re-apply each (`patch <new path> < <patch>`, or by hand), then delete the patch and commit")
    return olds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("stage", choices=["before", "after"])
    parser.add_argument("--package", default="", help="the package name (default: from the answers file)")
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    args = parser.parse_args(argv)
    project = Path.cwd()
    if args.stage == "before":
        before(project, args.package, args.answers_file)
    else:
        after(project, args.package, args.answers_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
