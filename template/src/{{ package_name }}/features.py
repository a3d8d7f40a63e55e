"""Feature definitions: every feature the model sees beyond the raw columns, declared once.

This file is yours. Training (`lifecycle.training_data`) and prediction (`lifecycle.model_inputs`, and the
service from level 3) both call `compute`, so the features a model is trained on and the features it is
given later cannot drift apart. Add a feature by adding a `Feature` to `DERIVED`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Feature:
    """One derived feature: its column name, what it means, and how it is computed from a row's raw values."""

    name: str
    description: str
    compute: Callable[[pd.DataFrame], pd.Series]


def ratio(numerator: str, denominator: str) -> Callable[[pd.DataFrame], pd.Series]:
    """numerator / denominator, row by row; 0 where the denominator is 0."""

    def compute(frame: pd.DataFrame) -> pd.Series:
        return (frame[numerator] / frame[denominator].where(frame[denominator] != 0)).fillna(0.0)

    return compute


DERIVED: tuple[Feature, ...] = (
    Feature(
        "radius_growth",
        "worst radius over mean radius: how far the largest nuclei exceed the typical one",
        ratio("worst_radius", "mean_radius"),
    ),
    Feature(
        "concavity_per_area",
        "mean concavity per unit of mean area: irregular outlines on small nuclei",
        ratio("mean_concavity", "mean_area"),
    ),
    Feature(
        "texture_spread",
        "worst texture over mean texture: how uneven the grey levels are across nuclei",
        ratio("worst_texture", "mean_texture"),
    ),
)


def names() -> list[str]:
    """The names of the derived features, in the order `compute` adds them."""
    return [feature.name for feature in DERIVED]


def compute(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with every derived feature added as a float column; the raw columns are kept as they are."""
    derived = pd.DataFrame({f.name: f.compute(rows).astype("float64") for f in DERIVED}, index=rows.index)
    return pd.concat([rows.drop(columns=names(), errors="ignore"), derived], axis=1)
