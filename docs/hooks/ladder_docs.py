"""Markdown rendered from components.yml: the level matrix, each level's components, the stack, the models.

Pure functions of the Manifest (extensions/ladder.py); docs/hooks/manifest.py puts their output into pages.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

from ladder import DEFAULTS, Component, Manifest

PRESENT, PLANNED = "●", "○"


def level_page(level: dict[str, Any]) -> str:
    """The docs path of a level's page, e.g. levels/1-repeatable.md."""
    return f"levels/{level['level']}-{level['name']}.md"


def link(target: str, page: str) -> str:
    """`target` (a docs path) relative to the page at docs path `page`."""
    return posixpath.relpath(target, posixpath.dirname(page) or ".")


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _table(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    return "\n".join([_row(header), _row("---" for _ in header), *(_row(row) for row in rows)])


def stack_condition(manifest: Manifest, component: Component) -> str:
    """'ci: GitHub Actions' for a component with `when`, 'every stack' without."""
    if not component.when:
        return "every stack"
    labels = manifest.stack
    return "; ".join(
        f"{question}: " + ", ".join(labels[question]["choices"][choice] for choice in choices)
        for question, choices in component.when.items()
    )


def _title(component: Component) -> str:
    return f"{component.title} *(planned)*" if component.planned else component.title


def matrix(manifest: Manifest, page: str) -> str:
    """Every component against every level: ● contained, ○ planned (not built yet)."""
    header = ["component", "what the project contains", "stack"] + [
        f"[{level['level']} {level['name']}]({link(level_page(level), page)})" for level in manifest.levels
    ]

    def mark(component: Component, level: dict[str, Any]) -> str:
        if component.level > level["level"]:
            return ""
        return PLANNED if component.planned else PRESENT

    rows = [
        [_title(c), c.purpose, stack_condition(manifest, c)] + [mark(c, level) for level in manifest.levels]
        for c in manifest.components
    ]
    legend = (
        f"{PRESENT} in every project of that level (and the stack named); {PLANNED} planned: not in this "
        f"template version yet. Levels are cumulative. Built levels: 0 to {manifest.highest_level}."
    )
    return _table(header, rows) + "\n\n" + legend


def _files(component: Component) -> str:
    paths = [f"`{path}` ({owner})" for path, owner in component.paths("<package>")]
    return "<br>".join(paths) if paths else "—"


def level_section(manifest: Manifest, number: int) -> str:
    """A level's summary, its place in the other models, its components and how to get it."""
    level = manifest.levels[number]
    added = [c for c in manifest.components if c.level == number]
    built = number <= manifest.highest_level
    lines = [
        f"**Level {number} ({level['name']})**: {level['summary']}.",
        "",
        f"Microsoft: *{level['microsoft']}* · Google: *{level['google']}* · five-level model: "
        f"*{level['five_level']}*.",
        "",
        _table(
            ["component", "what the project contains", "stack", "files (owner)"],
            ([_title(c), c.purpose, stack_condition(manifest, c), _files(c)] for c in added),
        ),
        "",
    ]
    if not built:
        lines.append(
            f'!!! note "Planned"\n    Level {number} is not in this template version yet: the validator '
            f"refuses `maturity_level={number}` and names the highest level available "
            f"({manifest.highest_level})."
        )
    elif number == 0:
        lines.append("Get it: `copier copy --trust <template> <project>` (level 0 is the default).")
    else:
        lines.append(
            f"Get it on a new project with `-d maturity_level={number}`, or step an existing one up "
            f"(commit first):\n\n```bash\ncopier update --trust --defaults -d maturity_level={number}\n```"
        )
    return "\n".join(lines)


def stack(manifest: Manifest) -> str:
    """The stack questions: choices, from which level they matter, the default and what depends on them."""
    rows = []
    for question, spec in manifest.stack.items():
        dependent = sorted(
            {c.title for c in manifest.components if question in c.when},
            key=[c.title for c in manifest.components].index,
        )
        rows.append(
            [
                f"`{question}`",
                "<br>".join(f"`{value}`: {label}" for value, label in spec["choices"].items()),
                spec["from_level"],
                f"`{DEFAULTS[question]}`",
                ", ".join(dependent) or _nothing_yet(manifest, spec["from_level"]),
            ]
        )
    return _table(["question", "choices", "used from level", "default", "components that follow it"], rows)


def _nothing_yet(manifest: Manifest, from_level: int) -> str:
    return f"level {from_level} is planned" if from_level > manifest.highest_level else "—"


def models(manifest: Manifest) -> str:
    """This template's levels against the Microsoft, Google and five-level models."""
    return _table(
        ["mlops-ladder", "Microsoft", "Google", "five-level", "what it means here"],
        (
            [f"{lv['level']} {lv['name']}", lv["microsoft"], lv["google"], lv["five_level"], lv["summary"]]
            for lv in manifest.levels
        ),
    )
