# Kept by the template: `copier update` rewrites this file.
"""Configuration: TOML files under config/, one per concern, read once per run."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[3]
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


def platform_settings() -> dict[str, str]:
    """The cloud pipeline settings: config/pipeline.toml [platform], each key overridden by PIPELINE_<KEY>.

    For example PIPELINE_IMAGE=<registry>/<image>:<tag> points the pipeline at a freshly built step image
    without editing the file. Keys: region, bucket, role, image (and project on Vertex AI).
    """
    table = load_config("pipeline").get("platform", {})
    return {key: os.environ.get(f"PIPELINE_{key.upper()}", str(value)) for key, value in table.items()}


def step_environment() -> dict[str, str]:
    """Environment variables of the cloud pipeline's step containers: [step_environment] of pipeline.toml.

    A variable set in this process (as in the CI job that submits the pipeline) wins over the file; empty
    values are left out.
    """
    table = load_config("pipeline").get("step_environment", {})
    values = {name: os.environ.get(name, str(value)) for name, value in table.items()}
    return {name: value for name, value in values.items() if value}
