"""A team's own problem, swapped into a generated project as a team would: only the files the project says
are the team's (data.py, model.py, features.py, config/), none of the template's.

The data is a synthetic churn table made in data.py (no download): a binary target with string labels
(`churned` / `stayed`, positive class `churned`), integer and float columns, its own id column and its own
catalog key; the model is a Gaussian naive Bayes pipeline, not the demo's logistic regression.
"""

from __future__ import annotations

import re
from pathlib import Path

DATA = '''"""A synthetic customer table, made here so that it needs no download."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

TARGET = "outcome"
ID = "customer"


def load_dataset() -> pd.DataFrame:
    """600 customers: tenure, monthly spend, support calls; whether each churned."""
    rng = np.random.default_rng(3)
    rows = 600
    tenure = rng.integers(1, 72, rows)
    spend = rng.gamma(4.0, 20.0, rows).round(2)
    calls = rng.poisson(2.0, rows)
    risk = -0.05 * tenure + 0.01 * spend + 0.6 * calls - 1.0 + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            ID: np.arange(1000, 1000 + rows),
            "tenure_months": tenure.astype("int64"),
            "monthly_spend": spend.astype("float64"),
            "support_calls": calls.astype("int64"),
            TARGET: np.where(risk > 0, "churned", "stayed"),
        }
    )


def split(data: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train / held-out split that is the same for the same seed."""
    train, test = train_test_split(data, test_size=test_size, random_state=seed, stratify=data[TARGET])
    return train, test
'''

MODEL = '''"""A Gaussian naive Bayes classifier on scaled columns."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

POSITIVE = "churned"


def build_model(params: dict[str, Any], seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("classify", GaussianNB(**params))])


def score(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "f1": float(f1_score(actual, predicted, pos_label=POSITIVE)),
    }


def evaluate(model: Any, features: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    metrics = score(actual, pd.Series(model.predict(features), index=actual.index))
    column = list(model.classes_).index(POSITIVE)
    metrics["roc_auc"] = float(roc_auc_score(actual == POSITIVE, model.predict_proba(features)[:, column]))
    return metrics
'''

FEATURES = '''"""One derived feature of the customer table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    compute: Callable[[pd.DataFrame], pd.Series]


DERIVED: tuple[Feature, ...] = (
    Feature(
        "spend_per_tenure_month",
        "monthly spend over months of tenure",
        lambda frame: frame["monthly_spend"] / frame["tenure_months"],
    ),
)


def names() -> list[str]:
    return [feature.name for feature in DERIVED]


def compute(rows: pd.DataFrame) -> pd.DataFrame:
    derived = pd.DataFrame({f.name: f.compute(rows).astype("float64") for f in DERIVED}, index=rows.index)
    return pd.concat([rows.drop(columns=names(), errors="ignore"), derived], axis=1)
'''

CATALOG = """sources:
  customers:
    description: synthetic customers, one row each, with whether they churned
    location: made in data.py
    format: pandas DataFrame
    owner: team@example.com
    refresh: static
    schema:
      customer: {dtype: int64, unique: true}
      tenure_months: {dtype: int64, min: 0}
      monthly_spend: {dtype: float64, min: 0}
      support_calls: {dtype: int64, min: 0}
      outcome: {dtype: str, allowed: [churned, stayed]}
"""


def swap(project: Path, package: str) -> None:
    """Put the team's data, model, features and catalog in place of the demo's; set [task] and [model]."""
    source = project / "src" / package
    (source / "data.py").write_text(DATA, encoding="utf-8")
    (source / "model.py").write_text(MODEL, encoding="utf-8")
    if (source / "features.py").is_file():
        (source / "features.py").write_text(FEATURES, encoding="utf-8")
    if (project / "config" / "catalog.yml").is_file():
        (project / "config" / "catalog.yml").write_text(CATALOG, encoding="utf-8")
    train = project / "config" / "train.toml"
    text = train.read_text(encoding="utf-8").replace("positive_class = 1", 'positive_class = "churned"')
    text = re.sub(r"\[model\]\n(?:[^\[\n].*\n|\n)*", "[model]\nvar_smoothing = 1e-9\n\n", text)
    # The accuracy this data allows (about 0.84 held out), as a team sets its thresholds
    text = text.replace("min_accuracy = 0.9", "min_accuracy = 0.7")
    train.write_text(text, encoding="utf-8")
    pipeline = project / "config" / "pipeline.toml"
    if pipeline.is_file():
        pipeline.write_text(
            pipeline.read_text(encoding="utf-8").replace("min_accuracy = 0.9", "min_accuracy = 0.7"),
            encoding="utf-8",
        )
