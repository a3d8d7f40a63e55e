"""The docs site: `mkdocs build --strict` passes, and its generated pages say what components.yml says."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from conftest import MANIFEST

ROOT = Path(__file__).resolve().parent.parent


class Cells(HTMLParser):
    """The text of every table row of a page: [[cell, ...], ...]."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(page: Path) -> list[list[str]]:
    parser = Cells()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.rows


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(destination),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(destination)},
    )
    assert result.returncode == 0, result.stderr
    print(f"mkdocs build --strict: {time.perf_counter() - started:.1f} s")
    return destination


def test_matrix_lists_every_component_at_its_levels(site: Path) -> None:
    rows = table_rows(site / "matrix" / "index.html")
    header, body = rows[0], rows[1:]
    assert header[3:] == [f"{lv['level']} {lv['name']}" for lv in MANIFEST.levels]
    assert len(body) == len(MANIFEST.components)
    for row, component in zip(body, MANIFEST.components, strict=True):
        assert row[0].removesuffix(" (planned)") == component.title
        assert row[0].endswith("(planned)") == component.planned
        marks = row[3:]
        assert [bool(mark) for mark in marks] == [component.level <= lv["level"] for lv in MANIFEST.levels]


def test_each_level_page_lists_its_components(site: Path) -> None:
    for level in MANIFEST.levels:
        page = site / "levels" / f"{level['level']}-{level['name']}" / "index.html"
        titles = [row[0].removesuffix(" (planned)") for row in table_rows(page)[1:]]
        assert titles == [c.title for c in MANIFEST.components if c.level == level["level"]]
        assert level["microsoft"] in unescape(page.read_text(encoding="utf-8"))


def test_models_page_maps_every_level(site: Path) -> None:
    rows = table_rows(site / "models" / "index.html")[1:]
    assert [row[:4] for row in rows] == [
        [f"{lv['level']} {lv['name']}", lv["microsoft"], lv["google"], lv["five_level"]]
        for lv in MANIFEST.levels
    ]


def test_ladder_picture_has_a_step_per_level(site: Path) -> None:
    svg = ET.parse(site / "assets" / "ladder.svg").getroot()
    texts = ["".join(node.itertext()) for node in svg.iter("{http://www.w3.org/2000/svg}text")]
    for level in MANIFEST.levels:
        assert f"{level['level']} {level['name']}" in texts
    assert len(list(svg.iter("{http://www.w3.org/2000/svg}rect"))) == len(MANIFEST.levels)


def test_no_placeholder_or_snippet_marker_is_left(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<!--\s*ladder:", text), page
        assert "--8&lt;--" not in text and "--8<--" not in text, page


def test_site_reads_offline_without_google_fonts(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in index


def load_hook() -> ModuleType:
    path = ROOT / "docs" / "hooks" / "manifest.py"
    spec = importlib.util.spec_from_file_location("ladder_docs_hook", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.mark.parametrize(
    "placeholder", ["<!-- ladder: nonsense -->", "<!-- ladder: level 9 -->", "<!-- ladder: matrix 1 -->"]
)
def test_unknown_placeholder_fails_the_build(placeholder: str) -> None:
    from mkdocs.exceptions import PluginError

    hook = load_hook()
    page = SimpleNamespace(file=SimpleNamespace(src_uri="levels/x.md"))
    with pytest.raises(PluginError, match="unknown placeholder"):
        hook.on_page_markdown(f"# x\n\n{placeholder}\n", page=page, config=None, files=None)
