"""The model and how it is judged. Change the estimator here; config/train.toml sets its values."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
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


def score(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """Metrics that need only hard predictions, so monitoring can use them on logged predictions too."""
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "f1": float(f1_score(actual, predicted)),
    }


def evaluate(model: ClassifierMixin, features: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    """Score a fitted model on held-out data."""
    metrics = score(actual, pd.Series(model.predict(features), index=actual.index))
    metrics["roc_auc"] = float(roc_auc_score(actual, model.predict_proba(features)[:, 1]))
    return metrics
