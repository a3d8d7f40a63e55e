"""The model. Change the estimator or its parameters here; config/train.toml sets the values."""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build_model(params: dict[str, Any], seed: int) -> Pipeline:
    """Scaled features into a logistic regression."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(random_state=seed, **params)),
        ]
    )
