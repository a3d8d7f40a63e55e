"""The ladder as an SVG staircase, drawn from components.yml: one step per level, its components on it."""

from __future__ import annotations

import textwrap
from html import escape

from ladder import Manifest

STEP_WIDTH, RISE, LINE, MARGIN, WRAP = 176, 34, 16, 16, 20
BUILT = {"fill": "#3f51b5", "stroke": "#283593", "text": "#ffffff", "dash": ""}
PLANNED = {"fill": "#eceff1", "stroke": "#90a4ae", "text": "#37474f", "dash": ' stroke-dasharray="6 4"'}


def _titles(manifest: Manifest, level: int) -> list[tuple[str, bool]]:
    """The distinct component titles a level adds, wrapped to the step's width: (line, continues a title)."""
    seen: list[str] = []
    for component in manifest.components:
        if component.level == level and component.title not in seen:
            seen.append(component.title)
    return [
        (("• " if row == 0 else "") + line, row > 0)
        for title in seen
        for row, line in enumerate(textwrap.wrap(title, WRAP, break_on_hyphens=False))
    ]


def ladder_svg(manifest: Manifest) -> str:
    """The staircase: built levels filled, planned ones dashed; higher steps stand on the lower ones."""
    levels = manifest.levels
    lines = {level["level"]: _titles(manifest, level["level"]) for level in levels}
    content = 64 + LINE * max(len(titles) for titles in lines.values())
    width = 2 * MARGIN + STEP_WIDTH * len(levels)
    base = MARGIN + 24 + content + RISE * (len(levels) - 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {base + MARGIN + 18}" '
        f'width="{width}" height="{base + MARGIN + 18}" role="img" aria-labelledby="ladder-title" '
        'font-family="Roboto, Helvetica, Arial, sans-serif">',
        '<title id="ladder-title">The mlops-ladder maturity levels and the components each adds</title>',
        f'<text x="{MARGIN}" y="{MARGIN + 6}" font-size="13" fill="#37474f">each step up is one '
        '<tspan font-family="monospace">copier update</tspan>; a level keeps everything below it</text>',
    ]
    for index, level in enumerate(levels):
        number = level["level"]
        style = BUILT if number <= manifest.highest_level else PLANNED
        x = MARGIN + index * STEP_WIDTH
        top = base - content - RISE * index
        status = "built" if style is BUILT else "planned"
        parts += [
            f'<rect x="{x}" y="{top}" width="{STEP_WIDTH - 4}" height="{base - top}" rx="4" '
            f'fill="{style["fill"]}" stroke="{style["stroke"]}"{style["dash"]}/>',
            f'<text x="{x + 10}" y="{top + 22}" font-size="15" font-weight="bold" fill="{style["text"]}">'
            f"{number} {escape(level['name'])}</text>",
            f'<text x="{x + 10}" y="{top + 38}" font-size="11" font-style="italic" '
            f'fill="{style["text"]}">{status}</text>',
        ]
        for row, (text, continued) in enumerate(lines[number]):
            parts.append(
                f'<text x="{x + (20 if continued else 10)}" y="{top + 58 + row * LINE}" font-size="12" '
                f'fill="{style["text"]}">{escape(text)}</text>'
            )
    parts.append(
        f'<text x="{MARGIN}" y="{base + MARGIN + 8}" font-size="12" fill="#37474f">generated from '
        f"components.yml; levels 0-{manifest.highest_level} are built, dashed steps are planned</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
