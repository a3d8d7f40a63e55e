"""How a model is judged: the metrics every run reports."""

from __future__ import annotations

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


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
