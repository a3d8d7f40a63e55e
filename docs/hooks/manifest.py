"""MkDocs hook: renders components.yml into the pages, so no list of levels or components is typed twice.

A page asks for generated content with a placeholder comment; an unknown placeholder fails the build:
  <!-- ladder: matrix -->    every component against every level
  <!-- ladder: level N -->   level N: summary, its place in the other models, components, how to get it
  <!-- ladder: stack -->     the stack questions and what follows each answer
  <!-- ladder: models -->    the levels against the Microsoft / Google / five-level models
The staircase picture is written as assets/ladder.svg; every level must have its page levels/N-name.md.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extensions"))

import ladder_docs  # noqa: E402  (docs/hooks is on sys.path while MkDocs loads this hook)
from ladder import load_manifest  # noqa: E402
from ladder_svg import ladder_svg  # noqa: E402

PLACEHOLDER = re.compile(r"<!--\s*ladder:\s*(?P<name>[a-z-]+)(?:\s+(?P<arg>\d+))?\s*-->")
PICTURE = "assets/ladder.svg"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Snippets (`--8<--`) resolve from the repo root wherever mkdocs is run from."""
    snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [str(ROOT)]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    manifest = load_manifest()
    missing = [
        ladder_docs.level_page(level)
        for level in manifest.levels
        if files.get_file_from_path(ladder_docs.level_page(level)) is None
    ]
    if missing:
        raise PluginError(f"components.yml has levels without a docs page: {', '.join(missing)}")
    files.append(File.generated(config, PICTURE, content=ladder_svg(manifest)))
    return files


def _render(match: re.Match[str], page: str) -> str:
    manifest = load_manifest()
    name, arg = match["name"], match["arg"]
    if name == "matrix" and arg is None:
        return ladder_docs.matrix(manifest, page)
    if name == "level" and arg is not None and int(arg) < len(manifest.levels):
        return ladder_docs.level_section(manifest, int(arg))
    if name == "stack" and arg is None:
        return ladder_docs.stack(manifest)
    if name == "models" and arg is None:
        return ladder_docs.models(manifest)
    raise PluginError(f"{page}: unknown placeholder {match[0]!r}")


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return PLACEHOLDER.sub(lambda match: _render(match, page.file.src_uri), markdown)
