"""Print the level matrix of components.yml as Markdown (the README carries it between two markers).

python scripts/render_matrix.py            # print it
python scripts/render_matrix.py --update   # rewrite the block in README.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "extensions"))

from ladder import Component, Manifest, load_manifest  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"


def table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["---"] * len(header)
    return [f"| {' | '.join(cells)} |" for cells in (header, align, *rows)]


def component_name(component: Component, manifest: Manifest) -> str:
    """The title, with the stack choices it needs, e.g. `CI (GitHub Actions)`."""
    labels = {q: manifest.stack[q]["choices"] for q in component.when}
    needs = [labels[q][choice] for q, choices in component.when.items() for choice in choices]
    return f"{component.title} ({', '.join(needs)})" if needs else component.title


def matrix(manifest: Manifest) -> str:
    levels = [level["level"] for level in manifest.levels]
    built = manifest.highest_level
    lines = [
        f"This version of the template builds levels 0 to {built}"
        + (
            "."
            if built == levels[-1]
            else f"; level {levels[-1]} is planned."
            if built + 1 == levels[-1]
            else f"; levels {built + 1} to {levels[-1]} are planned."
        ),
        "",
        *table(
            ["level", "name", "in one line", "Microsoft", "Google", "five-level"],
            [
                [str(lv["level"]), lv["name"], lv["summary"], lv["microsoft"], lv["google"], lv["five_level"]]
                for lv in manifest.levels
            ],
        ),
        "",
        "Components, cumulative: ✓ from the level that adds it on; *planned*: not built in this version yet.",
        "",
        *table(
            ["component", *(f"{lv} {manifest.level_name(lv)}" for lv in levels), "what the project contains"],
            [
                [
                    component_name(c, manifest),
                    *("" if lv < c.level else "*planned*" if c.planned else "✓" for lv in levels),
                    c.purpose,
                ]
                for c in manifest.components
            ],
            ["---", *(":-:" for _ in levels), "---"],
        ),
        "",
        "The stack, asked once at creation and recorded even where the level does not use it yet:",
        "",
        *table(
            ["question", "choices (answer value)", "used from level"],
            [
                [
                    f"`{question}`",
                    ", ".join(f"{label} (`{value}`)" for value, label in spec["choices"].items()),
                    str(spec["from_level"])
                    + "".join(
                        f", on {' or '.join(manifest.stack[q]['choices'][c] for c in choices)}"
                        for q, choices in spec.get("when", {}).items()
                    ),
                ]
                for question, spec in manifest.stack.items()
            ],
        ),
    ]
    return "\n".join(lines) + "\n"


def block_bounds(text: str) -> tuple[int, int]:
    """Where the matrix block of a README starts and ends (the markers excluded)."""
    start, end = text.find(START + "\n"), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md needs a block between the lines {START} and {END}")
    return start + len(START) + 1, end


def replace_block(text: str, block: str) -> str:
    start, end = block_bounds(text)
    return text[:start] + block + text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the block in README.md")
    block = matrix(load_manifest())
    if parser.parse_args().update:
        README.write_text(replace_block(README.read_text(encoding="utf-8"), block), encoding="utf-8")
    else:
        sys.stdout.write(block)


if __name__ == "__main__":
    main()
