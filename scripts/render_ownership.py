"""Print the ownership table of docs/level-up.md from components.yml; `--write` puts it into the page.

Usage: python scripts/render_ownership.py [--write]
The table sits between the `<!-- ownership:start -->` and `<!-- ownership:end -->` lines of the page; the
test suite fails when they differ from this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "extensions"))

from ladder import OWNERS, load_manifest  # noqa: E402

PAGE = ROOT / "docs" / "level-up.md"
START, END = "<!-- ownership:start -->", "<!-- ownership:end -->"
OWNER_WORDS = {"template": "template", "user": "you"}
# A shared file's marker line splits it: the team's part is above it in one file, below it in another.
SHARED_WORDS = {
    "README.md": "you above the marker line, template below",
    "pyproject.toml": "template above the marker line, you below (the `team` dependency group)",
}


def render() -> str:
    """The Markdown table: every file a built level can emit, its owner, component, level and stack."""
    manifest = load_manifest()
    rows = [
        "| File | Owner | Component | From level | Stack |",
        "| --- | --- | --- | --- | --- |",
    ]
    components = sorted((c for c in manifest.components if not c.planned), key=lambda c: c.level)
    for component in components:
        stack = "; ".join(f"{question}: {', '.join(choices)}" for question, choices in component.when.items())
        for owner in OWNERS:
            for path in component.files.get(owner, []):
                file = path.format(package="<package>")
                rows.append(
                    f"| `{file}` | {SHARED_WORDS[path] if owner == 'shared' else OWNER_WORDS[owner]} | "
                    f"{component.title} | {component.level} | "
                    f"{stack or 'every'} |"
                )
    return "\n".join(rows)


def embedded(page: str) -> str:
    """The table currently between the markers of the page."""
    return page.split(START, 1)[1].split(END, 1)[0].strip("\n")


def main(argv: list[str]) -> None:
    table = render()
    if argv == ["--write"]:
        page = PAGE.read_text(encoding="utf-8")
        before, rest = page.split(START, 1)
        after = rest.split(END, 1)[1]
        PAGE.write_text(f"{before}{START}\n{table}\n{END}{after}", encoding="utf-8")
    else:
        print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
