"""Configuration: TOML files under config/, one per concern, read once per run."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "config"
# Everything a run writes goes below ARTIFACTS_DIR: the project root unless set (the tests set it).
ARTIFACTS_DIR = Path(os.environ.get("ARTIFACTS_DIR", PROJECT_ROOT)).resolve()
MODELS_DIR = ARTIFACTS_DIR / "models"
DATA_DIR = ARTIFACTS_DIR / "data"
REPORTS_DIR = ARTIFACTS_DIR / "reports"


def load_config(name: str = "train") -> dict[str, Any]:
    """Read config/<name>.toml."""
    with (CONFIG_DIR / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)
