"""GitLab CI as GitLab reads it, for the tests: the root file merged with its local includes, `extends`
resolved, and `rules` evaluated for a pipeline's variables.

Only the part of GitLab's rules syntax the generated files use is understood (`$VAR`, quoted strings,
`==`, `!=`, `&&`, `||`, parentheses); anything else raises instead of being guessed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Top-level keys that are not jobs (GitLab's global keywords, the deprecated ones included).
GLOBAL_KEYS = frozenset(
    {
        "default",
        "include",
        "stages",
        "variables",
        "workflow",
        "spec",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    }
)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def local_includes(project: Path) -> list[Path]:
    """The files .gitlab-ci.yml includes, in include order (local includes only)."""
    files: list[Path] = []
    for entry in load(project / ".gitlab-ci.yml").get("include", []):
        local = entry if isinstance(entry, str) else entry.get("local")
        if not isinstance(local, str):
            raise NotImplementedError(f"include {entry!r}: only local includes are understood")
        files += sorted(project.glob(local.lstrip("/")))
    return files


def deep_merge(base: Any, override: Any) -> Any:
    """GitLab's merge of included files and `extends`: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def merged_config(project: Path) -> dict[str, Any]:
    """The whole configuration: included files first, then .gitlab-ci.yml over them, without `include`."""
    config: dict[str, Any] = {}
    for path in [*local_includes(project), project / ".gitlab-ci.yml"]:
        config = deep_merge(config, load(path))
    config.pop("include", None)
    return config


def resolve(config: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A job with its `extends` applied (parents first, in order)."""
    if name in seen:
        raise ValueError(f"extends loop: {' -> '.join((*seen, name))}")
    job = dict(config[name])
    parents = job.pop("extends", [])
    resolved: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        resolved = deep_merge(resolved, resolve(config, parent, (*seen, name)))
    return deep_merge(resolved, job)


def jobs(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The visible jobs, `extends` resolved."""
    return {
        name: resolve(config, name)
        for name, value in config.items()
        if name not in GLOBAL_KEYS and not name.startswith(".") and isinstance(value, dict)
    }


TOKEN = re.compile(r"""\s*(\$\{?\w+\}?|"[^"]*"|'[^']*'|==|!=|=~|!~|&&|\|\||\(|\)|null\b)""")


def tokens(expression: str) -> list[str]:
    found, position = [], 0
    expression = expression.strip()
    while position < len(expression):
        match = TOKEN.match(expression, position)
        if not match:
            raise NotImplementedError(f"rules:if {expression!r}: cannot read from {expression[position:]!r}")
        found.append(match.group(1))
        position = match.end()
    return found


def evaluate(expression: str, variables: Mapping[str, str]) -> bool:
    """Whether a `rules:if` expression holds for these CI/CD variables."""
    stream = tokens(expression)
    position = 0

    def peek() -> str | None:
        return stream[position] if position < len(stream) else None

    def take() -> str:
        nonlocal position
        position += 1
        return stream[position - 1]

    def operand(token: str) -> str | None:
        if token.startswith("$"):
            return variables.get(token.strip("${}"))
        if token == "null":
            return None
        if token[0] in "\"'":
            return token[1:-1]
        raise NotImplementedError(f"rules:if {expression!r}: unexpected {token!r}")

    def atom() -> bool:
        token = take()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError(f"rules:if {expression!r}: unbalanced parentheses")
            return value
        left = operand(token)
        if peek() in ("=~", "!~"):
            raise NotImplementedError(f"rules:if {expression!r}: regular expressions are not understood")
        if peek() in ("==", "!="):
            equal = take() == "=="
            return (left == operand(take())) is equal
        return bool(left)

    def conjunction() -> bool:
        value = atom()
        while peek() == "&&":
            take()
            value = atom() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "||":
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if peek() is not None:
        raise ValueError(f"rules:if {expression!r}: unexpected {peek()!r}")
    return result


def rules_admit(rules: list[dict[str, Any]] | None, variables: Mapping[str, str]) -> bool:
    """GitLab's reading of `rules`: the first rule that matches decides; none matching means no."""
    if rules is None:
        return True
    for rule in rules:
        unknown = set(rule) - {"if", "when", "variables", "allow_failure", "needs", "interruptible"}
        if unknown:
            raise NotImplementedError(f"rules with {sorted(unknown)} are not understood")
        if "if" not in rule or evaluate(rule["if"], variables):
            return rule.get("when", "on_success") != "never"
    return False


def runs(config: Mapping[str, Any], job: Mapping[str, Any], variables: Mapping[str, str]) -> bool:
    """Whether a pipeline with these variables exists and contains the job."""
    if "only" in job or "except" in job:
        raise NotImplementedError("only/except are not understood; use rules")
    workflow = config.get("workflow", {})
    return rules_admit(workflow.get("rules"), variables) and rules_admit(job.get("rules"), variables)
