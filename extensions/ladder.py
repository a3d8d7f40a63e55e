"""The component manifest (components.yml) as Jinja globals for copier.yml and the template.

copier.yml loads this file through `copier_template_extensions`; the tests import it directly, so the
template, its exclusions, the docs and the tests all read one manifest through one module.
"""

from __future__ import annotations

import functools
import hashlib
import json
import keyword
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import CodeType
from typing import Any

import yaml
from jinja2 import Environment, pass_context
from jinja2.bccache import Bucket, FileSystemBytecodeCache
from jinja2.ext import Extension
from jinja2.runtime import Context

# libyaml's parser when PyYAML has it: components.yml is parsed once per render, and copier renders a project
# two or three times in an update.
YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "components.yml"
ACTIONS = ROOT / "stacks" / "ci" / "actions.yml"
TEMPLATE = ROOT / "template"
ANSWERS_FILE = ".copier-answers.yml"
OWNERS = ("template", "user", "shared")
DEFAULTS: dict[str, Any] = {
    "maturity_level": 0,
    "tracker": "mlflow",
    "ci": "github",
    "platform": "self-hosted",
    "pipeline_engine": "local",
    "package_name": "ml_project",
}


class UnknownComponent(KeyError):
    """A component name that components.yml does not have (a typo in a template's `ladder_has`)."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownAction(KeyError):
    """A GitHub action a workflow names that stacks/ci/actions.yml does not pin."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Component:
    """One entry of components.yml."""

    name: str
    level: int
    title: str
    purpose: str
    when: Mapping[str, list[str]] = field(default_factory=dict)
    files: Mapping[str, list[str]] = field(default_factory=dict)
    commands: Mapping[str, str] = field(default_factory=dict)
    planned: bool = False

    def applies_to(self, answers: Mapping[str, Any]) -> bool:
        """Whether the stack answers select this component (its level aside)."""
        return all(answers.get(question) in choices for question, choices in self.when.items())

    def enabled(self, answers: Mapping[str, Any]) -> bool:
        """Whether a project with these answers contains this component."""
        level = int(answers.get("maturity_level", DEFAULTS["maturity_level"]))
        return not self.planned and self.level <= level and self.applies_to(answers)

    def paths(self, package: str) -> Iterator[tuple[str, str]]:
        """(path, owner) of each file, with the package name filled in."""
        for owner in OWNERS:
            for path in self.files.get(owner, []):
                yield path.format(package=package), owner


@dataclass(frozen=True)
class Manifest:
    """components.yml, parsed."""

    levels: list[dict[str, Any]]
    stack: dict[str, dict[str, Any]]
    components: list[Component]

    @property
    def highest_level(self) -> int:
        """The highest level whose components are all built."""
        planned = [c.level for c in self.components if c.planned]
        return min(planned) - 1 if planned else max(level["level"] for level in self.levels)

    def component(self, name: str) -> Component:
        """The component called `name`; an unknown name is an error that lists the known ones."""
        for component in self.components:
            if component.name == name:
                return component
        known = ", ".join(c.name for c in self.components)
        raise UnknownComponent(f"components.yml has no component {name!r}; it has: {known}")

    def level_name(self, level: int) -> str:
        return str(self.levels[level]["name"])

    def files(self, answers: Mapping[str, Any], *, enabled: bool = True) -> dict[str, str]:
        """{path: owner} of the components that are (or, with enabled=False, are not) in a project."""
        package = str(answers.get("package_name", DEFAULTS["package_name"]))
        return {
            path: owner
            for component in self.components
            if component.enabled(answers) is enabled
            for path, owner in component.paths(package)
        }

    def commands(self, answers: Mapping[str, Any]) -> dict[str, str]:
        """{command: module below the package} of the project's command line, for the components it has."""
        return {
            command: module
            for component in self.components
            if component.enabled(answers)
            for command, module in component.commands.items()
        }

    def excluded_paths(self, answers: Mapping[str, Any]) -> list[str]:
        """Anchored gitignore-style patterns of every file a project with these answers leaves out, and of
        every folder that would hold none of its files (copier would otherwise create it empty)."""
        kept = self.files(answers)
        left_out = [path for path in self.files(answers, enabled=False) if path not in kept]
        kept_folders = {str(parent) for path in kept for parent in PurePosixPath(path).parents}
        empty = {
            str(parent)
            for path in left_out
            for parent in PurePosixPath(path).parents
            if str(parent) != "." and str(parent) not in kept_folders
        }
        return sorted([f"/{path}" for path in left_out] + [f"/{folder}" for folder in empty])

    def for_project(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The manifest as a generated project carries it (.mlops-ladder/manifest.json): every component of
        its stack (those of other trackers, CI systems and platforms left out), whether it is present, and
        each file with its owner; `files`: {path: owner} of the present ones."""
        package = str(answers.get("package_name", DEFAULTS["package_name"]))
        return {
            "levels": self.levels,
            "highest_level": self.highest_level,
            "components": [
                {
                    "name": c.name,
                    "level": c.level,
                    "title": c.title,
                    "purpose": c.purpose,
                    "present": c.enabled(answers),
                    "applies": c.applies_to(answers),
                    "planned": c.planned,
                    "files": [{"path": path, "owner": owner} for path, owner in c.paths(package)],
                }
                for c in self.components
                if c.applies_to(answers)
            ],
            "files": self.files(answers),
        }


@functools.cache
def load_manifest(path: Path = MANIFEST) -> Manifest:
    """Parse components.yml, refusing entries a typo would silently break."""
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=YamlLoader)
    components = []
    for name, entry in raw["components"].items():
        unknown = set(entry.get("files", {})) - set(OWNERS)
        if unknown:
            raise ValueError(f"components.yml: {name}: files has owners {sorted(unknown)}; use {OWNERS}")
        for question, choices in entry.get("when", {}).items():
            known = raw["stack"][question]["choices"]
            if not set(choices) <= set(known):
                raise ValueError(f"components.yml: {name}: when.{question} allows only {sorted(known)}")
        components.append(Component(name=name, **entry))
    return Manifest(levels=raw["levels"], stack=raw["stack"], components=components)


@dataclass(frozen=True)
class Action:
    """A GitHub action of stacks/ci/actions.yml: the commit a workflow runs, and the release it is."""

    name: str
    version: str
    commit: str

    def uses(self) -> str:
        """A workflow's `uses:` value: the commit, then the version as a comment (Renovate's pinned form)."""
        return f"{self.name}@{self.commit} # {self.version}"


@functools.cache
def load_actions(path: Path = ACTIONS) -> dict[str, Action]:
    """stacks/ci/actions.yml: every GitHub action a generated workflow may use, by owner/name."""
    with path.open(encoding="utf-8") as handle:
        entries = yaml.load(handle, Loader=YamlLoader)
    return {name: Action(name, str(pin["version"]), str(pin["commit"])) for name, pin in entries.items()}


class AnswersRefused(Exception):
    """An answer, or an answers file, that mlops-ladder refuses; copier's CLI prints it as one line."""


def _refusal_error() -> type[Exception]:
    try:
        from copier.errors import UserMessageError
    except ImportError:  # outside copier (the tests import this module directly)
        return AnswersRefused
    return UserMessageError


SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# Backstage's metadata.name and Kubernetes' label values, which carry the project's name, allow 63 characters.
NAME_LENGTH = 63
# A requirement in a pyproject.toml: "name>=1", "name[extra]>=1,<2", "name; marker" (all of ours are pinned).
REQUIREMENT = re.compile(r'"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]"]*\])?\s*(?:[<>=!~]=|[<>;])')
# The top-level module of an `import x.y [as z]` or `from x.y import ...` line.
IMPORT = re.compile(
    r"^[ \t]*(?:import\s+([A-Za-z_]\w*)[\w.]*\s*(?:,|as\b|$)|from\s+([A-Za-z_]\w*)[\w.]*\s+import\b)", re.M
)


def module_name(distribution: str) -> str:
    """A distribution's name as a module: lowercase, `-` and `.` as `_` (scikit-learn -> scikit_learn)."""
    return re.sub(r"[-_.]+", "_", distribution).lower()


@functools.cache
def installed_names(template: Path = TEMPLATE) -> frozenset[str]:
    """The module names a generated project (of any answers) installs or imports: the requirements of its
    pyproject.toml and the top-level modules its Python files import, read from the template itself."""
    pyproject = (template / "pyproject.toml.jinja").read_text(encoding="utf-8")
    names = {module_name(name) for name in REQUIREMENT.findall(pyproject)}
    for source in template.rglob("*.py*"):
        if source.name.endswith((".py", ".py.jinja")):
            for found in IMPORT.findall(source.read_text(encoding="utf-8")):
                names.add("".join(found))
    return frozenset(names)


def project_name_refusal(name: str) -> str:
    """The validator of project_name: why `name` cannot name a project, or ""."""
    if not SLUG.fullmatch(name):
        return (
            f"project_name '{name}' is not a lowercase slug: start with a letter and use only a-z, 0-9 "
            "and single hyphens, e.g. 'acme-churn'"
        )
    if len(name) > NAME_LENGTH:
        return (
            f"project_name '{name}' has {len(name)} characters: Backstage and Kubernetes names allow at most "
            f"{NAME_LENGTH}; choose a shorter name, e.g. '{name[:NAME_LENGTH].rstrip('-')}'"
        )
    package = name.replace("-", "_")
    suggestion = f"'{name}-model'"
    if keyword.iskeyword(package):
        why = "is a Python keyword, so its package could not be imported"
    elif package in sys.stdlib_module_names:
        why = f"would name its package {package}, which shadows Python's standard library module {package}"
    elif package in installed_names():
        why = f"would name its package {package}, which shadows the package {package} the project installs"
    else:
        return ""
    return f"project_name '{name}' {why}: choose another name, e.g. {suggestion}"


def package_name_refusal(package: str, project: str) -> str:
    """The validator of package_name, which only the derived value passes."""
    derived = project.replace("-", "_")
    if package == derived:
        return ""
    return (
        f"package_name {package!r} cannot be set: it is always project_name with '_' for '-' ({derived!r} "
        "here); drop package_name from --data and the preset, and set project_name instead"
    )


def answers_file_problem(answers: Mapping[str, Any], manifest: Manifest) -> str:
    """What is wrong with the recorded answers the ladder reads (key, value and fix), or ""."""
    level = answers.get("maturity_level", DEFAULTS["maturity_level"])
    levels = [entry["level"] for entry in manifest.levels]
    if type(level) is not int or level not in levels:
        return (
            f"maturity_level {level!r} is not a level: set it to the level the project is at, "
            f"a whole number from {levels[0]} to {levels[-1]}"
        )
    for question, spec in manifest.stack.items():
        choices = list(spec["choices"])
        if question in answers and answers[question] not in choices:
            return f"{question} {answers[question]!r} is not a choice: set it to one of {', '.join(choices)}"
    name = answers.get("project_name", "ml-project")
    refusal = project_name_refusal(name) if isinstance(name, str) else f"project_name {name!r} is not a name"
    return refusal


def recorded_answers(dst_path: str | Path, manifest: Manifest | None = None) -> dict[str, Any]:
    """The answers recorded in an existing project, or {} for a new one; a file that is not YAML, or whose
    level, stack or name the ladder cannot read, is refused with one line naming the file, key and fix."""
    answers_file = Path(dst_path) / ANSWERS_FILE
    if not answers_file.is_file():
        return {}
    try:
        answers = yaml.safe_load(answers_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise _refusal_error()(
            f"{ANSWERS_FILE} is not valid YAML{where}: fix it, or restore it with "
            f"`git checkout -- {ANSWERS_FILE}`"
        ) from None
    if not isinstance(answers, dict):
        raise _refusal_error()(f"{ANSWERS_FILE} is not a mapping of answers: restore it from git")
    problem = answers_file_problem(answers, manifest or load_manifest())
    if problem:
        raise _refusal_error()(f"{ANSWERS_FILE}: {problem} (edit the file, commit, and update again)")
    return answers


def level_refusal(requested: int, recorded: int, manifest: Manifest) -> str:
    """Why a project recorded at `recorded` cannot go to `requested`, or "" when it can."""
    names = {level["level"]: level["name"] for level in manifest.levels}
    if requested not in names:
        return f"maturity_level {requested} does not exist: choose a level from 0 to {manifest.highest_level}"
    if requested > manifest.highest_level:
        return (
            f"maturity_level {requested} ({names[requested]}) is not available in this template version yet: "
            f"choose a level from 0 to {manifest.highest_level}"
        )
    if requested < recorded:
        return (
            f"maturity_level {requested} is lower than the recorded level {recorded} ({names[recorded]}): "
            f"a step down would delete the files of levels above {requested}, your edits to them included. "
            f"Keep -d maturity_level={recorded} (or higher); to remove a level's pieces, delete them "
            "yourself in a commit and keep the recorded level"
        )
    return ""


# Filters that quote a free-text answer for the format it lands in; every typed answer goes through one.


def toml_string(value: Any) -> str:
    """A TOML basic string: JSON's escapes are TOML's, and TOML also forbids a raw DEL."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def yaml_string(value: Any) -> str:
    """A YAML double-quoted scalar, by PyYAML's own emitter (it escapes what YAML does not allow raw)."""
    dumped = yaml.safe_dump(str(value), default_style='"', allow_unicode=True, width=float("inf"))
    return dumped.removesuffix("\n")


def _python_escape(text: str, quote: str) -> str:
    def escape(char: str) -> str:
        if char in ("\\", quote):
            return "\\" + char
        return char if char.isprintable() else repr(char)[1:-1]

    return "".join(map(escape, text))


def python_string(value: Any) -> str:
    """A Python string literal in the quotes ruff's formatter keeps (double unless that escapes more)."""
    text = str(value)
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + _python_escape(text, quote) + quote


def python_docstring(value: Any, width: int = 103) -> str:
    """The text of a module's \"\"\"docstring\"\"\" at column 0: quotes and backslashes escaped, whitespace
    (line breaks included) as single spaces, wrapped to fit ruff's line length with the quotes around it."""
    words = [_python_escape(word, '"') for word in str(value).split()]
    return "\n".join(textwrap.wrap(" ".join(words), width, break_long_words=False, break_on_hyphens=False))


# Characters Markdown gives a meaning to anywhere in a line: escaped with a backslash (CommonMark and
# Python-Markdown agree on these), or as an HTML character reference where only CommonMark has the escape.
MARKDOWN_BACKSLASHED = frozenset("\\`*_[]")
MARKDOWN_REFERENCES = {"<": "&lt;", "&": "&amp;", "~": "&#126;"}
# What starts a heading, list, quote, thematic break or setext underline at the start of a line.
MARKDOWN_LINE_START = re.compile(r"^([#>+=-]|\d+(?=[.)]))")


def markdown_text(value: Any) -> str:
    """Inline Markdown that shows `value` as typed, at the start of a line or after text; line breaks
    become spaces, as a reader of the rendered page sees them."""
    words = " ".join(str(value).split())
    escaped = "".join(
        "\\" + char if char in MARKDOWN_BACKSLASHED else MARKDOWN_REFERENCES.get(char, char) for char in words
    )
    leading = MARKDOWN_LINE_START.match(escaped)
    if leading is None:
        return escaped
    if leading.group(1).isdigit():  # "1. " or "1) ": escape the period or parenthesis
        end = leading.end()
        return escaped[:end] + "\\" + escaped[end:]
    return "\\" + escaped


FILTERS: dict[str, Callable[[Any], str]] = {
    "toml_string": toml_string,
    "yaml_string": yaml_string,
    "python_string": python_string,
    "python_docstring": python_docstring,
    "markdown_text": markdown_text,
}


def files_in_the_way(destination: Path, answers: Mapping[str, Any], manifest: Manifest) -> list[str]:
    """The files a copy with these answers would write that `destination` already holds."""
    written = {*manifest.files(answers), ANSWERS_FILE}
    return sorted(
        path for path in written if (destination / path).exists() or (destination / path).is_symlink()
    )


def _imports(module: PurePosixPath) -> re.Pattern[str]:
    """`from <parent> import (..., <name>` or `<parent>.<name>`: an import of .../<parent>/<name>.py."""
    parent, name = re.escape(module.parent.name), re.escape(module.stem)
    return re.compile(rf"\b{parent}\s+import\s+(?:\([^)]*|[^\n]*)\b{name}\b|\b{parent}\.{name}\b")


def deleted_in_history(project: Path) -> set[str]:
    """The paths a commit of the project deleted (a file the project never had, such as one a newer template
    version brings, is not lost)."""
    try:
        listed = subprocess.run(
            ["git", "log", "--diff-filter=D", "--name-only", "--pretty=format:", "HEAD", "--", "."],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # not a git repository: copier refuses to update it
        return set()
    return {line for line in listed.splitlines() if line}


def needed_files(
    project: Path, recorded: Mapping[str, Any], target: Mapping[str, Any], manifest: Manifest
) -> list[str]:
    """The template's files (owners template and shared) of the recorded answers that a commit of the project
    deleted and that it still needs: the package's skeleton (the Makefile, the command line, the settings) and
    every Python module that a file the project keeps, or a file the update brings, imports or runs as a
    command. A piece deleted whole, which nothing uses (docs/level-up.md: "to stop using a piece of a level"),
    is not needed."""
    package = str(recorded.get("package_name") or DEFAULTS["package_name"])
    deleted = deleted_in_history(project)
    lost = [
        path
        for path, owner in manifest.files(recorded).items()
        if owner != "user"
        and path in deleted
        and not (project / path).exists()
        and not (project / path).is_symlink()
    ]
    if not lost:
        return []
    skeleton = {path for path, _ in manifest.component("package").paths(package)}
    commands = {
        f"src/{package}/{module.replace('.', '/')}.py" for module in manifest.commands(target).values()
    }
    sources = [path for path in project.rglob("*.py") if ".venv" not in path.parts]
    brought = [
        TEMPLATE / (path.replace(f"src/{package}/", "src/{{ package_name }}/", 1) + suffix)
        for path in manifest.files(target)
        if path.endswith(".py")
        for suffix in ("", ".jinja")
    ]
    texts = [
        source.read_text(encoding="utf-8", errors="replace")
        for source in [*sources, *brought]
        if source.is_file()
    ]
    needed = []
    for path in lost:
        if path in skeleton or path in commands:
            needed.append(path)
        elif path.endswith(".py") and PurePosixPath(path).stem != "__init__" and path.startswith("src/"):
            pattern = _imports(PurePosixPath(path))
            if any(pattern.search(text) for text in texts):
                needed.append(path)
    return sorted(needed)


def check_destination(context: Context, manifest: Manifest) -> None:
    """Refuse, before copier writes anything, a hidden package_name that is not the derived one, a copy onto
    files that are already there, and an update of a project that lost template files it needs."""
    answers = _answers(context)
    project = context.get("project_name")
    refusal = package_name_refusal(str(answers["package_name"]), str(project)) if project is not None else ""
    if refusal:
        raise _refusal_error()(refusal)
    conf = context.get("_copier_conf") or {}
    destination = Path(conf.get("dst_path", "."))
    operation = context.get("_copier_operation")
    if operation == "copy" and not conf.get("overwrite") and not conf.get("pretend"):
        in_the_way = files_in_the_way(destination, answers, manifest)
        if in_the_way:
            raise _refusal_error()(
                f"{destination} already holds {len(in_the_way)} of the files this copy would write, so "
                f"nothing was written: {', '.join(in_the_way)}. Copy into an empty or new folder, move those "
                "files away, or pass --overwrite to replace them"
            )
    elif operation == "update":
        recorded = recorded_answers(destination, manifest)
        if recorded:
            name = str(recorded.get("project_name", context.get("project_name")))
            recorded = {**DEFAULTS, **recorded, "package_name": name.replace("-", "_")}  # copier hides it
            gone = needed_files(destination, recorded, answers, manifest)
            if gone:
                raise _refusal_error()(
                    f"mlops-ladder refuses this update: the project lost {len(gone)} file(s) the template "
                    f"keeps and its level needs, and nothing was changed: {', '.join(gone)}. Restore them "
                    "(`git log --diff-filter=D -- <path>` finds the commit that deleted one; "
                    "`git checkout <commit>^ -- <path>` brings it back), commit, and run copier update again"
                )


def _answers(context: Context) -> dict[str, Any]:
    return {key: context.get(key, default) for key, default in DEFAULTS.items()}


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    """Jinja's own on-disk cache of compiled code (in the temp dir, private to the user) if possible."""
    try:
        return FileSystemBytecodeCache(pattern="__mlops_ladder_%s.cache")
    except (OSError, RuntimeError):  # no usable temp dir: compile in memory only
        return None


# Jinja's generated code depends on these settings besides the source (and on the environment's class: a
# sandbox routes calls through itself, the extensions, escaping and finalising).
CODE_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
)


def code_settings(environment: Environment) -> str:
    """What the code Jinja generates for a source depends on in this environment, as one string."""

    def named(value: Any) -> str:
        return getattr(value, "__qualname__", repr(value))

    settings = [getattr(environment, setting) for setting in CODE_SETTINGS]
    extensions = sorted(environment.extensions)
    return repr(
        (
            named(type(environment)),
            settings,
            extensions,
            named(environment.autoescape),
            named(environment.finalize),
        )
    )


def cache_compiled_templates(environment: Environment) -> None:
    """Compile each distinct template source once: in memory for this render, on disk for the next.

    Copier renders from a fresh clone of the template each run (so Jinja's file-keyed bytecode cache never
    hits) and compiles every path part, answer default and file again in each of an update's two or three
    renders; compiling was half of a render's time. The compiled code depends only on the source, the name,
    `defer_init` and the environment's code settings, which key the on-disk cache.
    """
    compile_source: Callable[..., Any] = environment.compile
    on_disk = _bytecode_cache()
    in_memory: dict[tuple[str, str | None, bool], CodeType] = {}

    def compile_cached(
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if raw or not isinstance(source, str):
            return compile_source(source, name, filename, raw, defer_init)
        key = (source, name, defer_init)
        if key not in in_memory:
            # The settings are read here, not when this extension loads: copier adds extensions after it.
            digest = hashlib.sha256(repr((code_settings(environment), *key)).encode()).hexdigest()
            bucket = Bucket(environment, digest, digest)
            if on_disk is not None:
                on_disk.load_bytecode(bucket)
            if bucket.code is None:
                bucket.code = compile_source(source, name, filename, raw, defer_init)
                if on_disk is not None:
                    on_disk.dump_bytecode(bucket)
            in_memory[key] = bucket.code
        return in_memory[key]

    environment.compile = compile_cached  # type: ignore[method-assign]


def ask_git_file_mode_once() -> None:
    """Have copier ask git for the destination's core.fileMode once per render, not once per file.

    After writing each file, copier 9.19's `Worker._sync_git_index_executable_bit` runs `git config --get
    core.fileMode` in the destination and does anything more only where the answer is "false": one git
    process per file, a quarter of a level-4 copy's CPU time. Nothing changes that setting while copier
    renders, so this keeps the first answer on the worker, per destination, and calls copier's method,
    which asks again and goes on as before, only where it was "false". What copier writes is the same.
    Left alone if copier's method is gone or no longer reads core.fileMode.
    """
    try:
        from copier._main import Worker
        from copier._vcs import get_git
        from plumbum import ProcessExecutionError
    except ImportError:  # outside copier (the tests import this module directly), or another copier
        return
    original = getattr(Worker, "_sync_git_index_executable_bit", None)
    code = getattr(original, "__code__", None)
    if code is None or "core.fileMode" not in code.co_consts or hasattr(original, "mlops_ladder"):
        return  # not the method this was written for, or patched by an earlier render in this process

    @functools.wraps(original)
    def sync_git_index_executable_bit(self: Any, dst_relpath: Any, src_mode: int) -> None:
        answers: dict[str, str | None] = self.__dict__.setdefault("_mlops_ladder_file_mode", {})
        root = str(self.subproject.local_abspath)
        if root not in answers:
            git = get_git(context_dir=root)
            try:
                answers[root] = git("config", "--type=bool", "--get", "core.fileMode").strip()
            except ProcessExecutionError:  # not a git repo, or the setting is unset: copier returns
                answers[root] = None
        if answers[root] == "false":
            original(self, dst_relpath, src_mode)

    sync_git_index_executable_bit.mlops_ladder = True  # type: ignore[attr-defined]
    Worker._sync_git_index_executable_bit = sync_git_index_executable_bit  # type: ignore[method-assign]


def plain(environment: Environment, string: str) -> bool:
    """Whether Jinja renders `string` as itself in this environment: no tag, expression, comment or line
    statement can start in it, and no newline that Jinja would normalise or strip."""
    markers = (
        environment.block_start_string,
        environment.variable_start_string,
        environment.comment_start_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        "\r",
    )
    if any(marker and marker in string for marker in markers):
        return False
    return environment.keep_trailing_newline or not string.endswith("\n")


def render_plain_strings_as_they_are() -> None:
    """Have copier return a path part or answers-file name with no Jinja in it as it is, without rendering.

    Copier 9.19 renders every part of every template path (`ops`, `monitoring`, `drift.py`) through
    `Worker._render_string`, which builds the whole render context each time, and compares each part with
    `Worker.answers_relpath`, which builds it twice more: about 1,400 parts and a third of a level-4 copy's
    own CPU time, nearly all of them plain text that renders as itself. For those, this returns the text;
    the `yield` tag's context is cleared as a render would clear it (a plain part has no `yield`). Anything
    with Jinja in it goes to copier's methods as before, so what copier writes is the same. Left alone if
    copier's methods are gone or have been patched by an earlier render in this process.
    """
    try:
        from copier._jinja_ext import get_yield_context
        from copier._main import Worker
    except ImportError:  # outside copier (the tests import this module directly), or another copier
        return
    render_string = getattr(Worker, "_render_string", None)
    answers_relpath = getattr(Worker, "answers_relpath", None)
    if (
        render_string is None
        or not isinstance(answers_relpath, property)
        or answers_relpath.fget is None
        or hasattr(render_string, "mlops_ladder")
    ):
        return
    relpath = answers_relpath.fget

    @functools.wraps(render_string)
    def render_plain_string(self: Any, string: str, extra_context: Any = None) -> str:
        if isinstance(string, str) and plain(self.jinja_env, string):
            yielded = get_yield_context(self.jinja_env)
            yielded.yield_name = yielded.yield_iterable = None
            return string
        return render_string(self, string, extra_context)

    @functools.wraps(relpath)
    def plain_answers_relpath(self: Any) -> Any:
        path = str(self.answers_file or self.template.answers_relpath)
        return Path(path) if plain(self.jinja_env, path) else relpath(self)

    render_plain_string.mlops_ladder = True  # type: ignore[attr-defined]
    Worker._render_string = render_plain_string  # type: ignore[method-assign]
    Worker.answers_relpath = property(plain_answers_relpath)  # type: ignore[method-assign,assignment]


class LadderExtension(Extension):
    """Jinja globals: `ladder_*` functions over the manifest and the answers being rendered."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        cache_compiled_templates(environment)
        ask_git_file_mode_once()
        render_plain_strings_as_they_are()
        manifest = load_manifest()

        @pass_context
        def ladder_exclude(context: Context) -> str:
            # Copier reads the exclusions before it writes the first file, with every answer known.
            check_destination(context, manifest)
            return "\n".join(manifest.excluded_paths(_answers(context)))

        @pass_context
        def ladder_has(context: Context, name: str) -> bool:
            """Whether the project being rendered contains the component `name` of components.yml (its level
            reached and its stack chosen); an unknown name fails the render, so a typo cannot hide a block."""
            return manifest.component(name).enabled(_answers(context))

        @pass_context
        def ladder_manifest_json(context: Context) -> str:
            return json.dumps(manifest.for_project(_answers(context)), indent=2)

        @pass_context
        def ladder_files(context: Context, owner: str | None = None) -> list[str]:
            """The project's files (of one owner: template, user or shared), sorted."""
            files = manifest.files(_answers(context))
            return sorted(path for path, found in files.items() if owner in (None, found))

        @pass_context
        def ladder_commands(context: Context) -> list[tuple[str, str]]:
            """(command, module) of the project's command line, sorted by command."""
            return sorted(manifest.commands(_answers(context)).items())

        def recorded(context: Context) -> dict[str, Any]:
            conf = context.get("_copier_conf") or {}
            return recorded_answers(conf.get("dst_path", "."), manifest)

        @pass_context
        def ladder_level_refusal(context: Context, requested: Any) -> str:
            """The validator of maturity_level: why this project cannot go there, or ""."""
            return level_refusal(int(requested), int(recorded(context).get("maturity_level", 0)), manifest)

        @pass_context
        def ladder_update_banner(context: Context) -> str:
            """`copier update`'s first line; refuses a step down before copier renders anything.

            Copier prints `_message_before_update` before its own validation, with only the `-d` data known:
            raising copier's UserMessageError here gives the CLI a plain message instead of the validator's
            traceback. (Quiet runs skip this message; the validator refuses them.)
            """
            conf = context.get("_copier_conf") or {}
            current = int(recorded(context).get("maturity_level", 0))
            try:
                requested = int((conf.get("data") or {}).get("maturity_level", current))
            except ValueError:  # not a level: copier's own validation of the answer says so
                return ""
            refusal = level_refusal(requested, current, manifest)
            if refusal:
                raise _refusal_error()(f"mlops-ladder refuses this update: {refusal}.")
            if requested == current:
                return f"mlops-ladder: keeping level {current} ({manifest.level_name(current)})."
            return (
                f"mlops-ladder: level {current} ({manifest.level_name(current)}) -> {requested} "
                f"({manifest.level_name(requested)}); the files you own are kept."
            )

        def ladder_action(name: str) -> str:
            """`owner/name@<commit> # <version>` (stacks/ci/actions.yml); an unpinned one fails the render."""
            actions = load_actions()
            if name not in actions:
                raise UnknownAction(f"{name!r} is not in {ACTIONS.relative_to(ROOT)}: pin it there first")
            return actions[name].uses()

        environment.filters.update(FILTERS)
        environment.globals.update(
            ladder_action=ladder_action,
            ladder_project_name_refusal=project_name_refusal,
            ladder_package_name_refusal=package_name_refusal,
            ladder_exclude=ladder_exclude,
            ladder_commands=ladder_commands,
            ladder_has=ladder_has,
            ladder_manifest_json=ladder_manifest_json,
            ladder_files=ladder_files,
            ladder_level_refusal=ladder_level_refusal,
            ladder_update_banner=ladder_update_banner,
            ladder_highest_level=manifest.highest_level,
            ladder_levels={level["level"]: level["name"] for level in manifest.levels},
            ladder_level_summaries={level["level"]: level["summary"] for level in manifest.levels},
        )
