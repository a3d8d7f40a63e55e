# Kept by the template: `copier update` rewrites this file.
"""Per-prediction explanations: the features that pushed one prediction most, as the service gives them.

The service explains on request (`POST /predict?explain=true`, opt-in: config/explain.toml `[explanations]
enabled`) with `Explainer`; the feature-importance report (`governance/explain.py`, `make explain-report`)
uses it for each feature's mean contribution. This module is what both need and the service can import
without the report's plotting: config/explain.toml (`settings`), and where each version's report is kept
(`report_path`, `read`), since the service reads the reference row of a version's report.

What a contribution moves (`explained`) follows config/train.toml [task]: the log-odds of the positive
class for a binary task (task.positive_class), the probability of the class predicted for the row for a
multiclass one, the predicted value for regression.

`Explainer`:
- For a binary task, a pipeline of transformers that keep each input column as one column (the names they
  put out are the names they took in, as a scaler's), ending in a linear classifier (the template's model):
  each feature's exact contribution to the positive class's log-odds, its coefficient times its transformed
  value; with the intercept (`base`) they sum to the log-odds the model computes. The template's inputs are
  standardised (mean 0 on the training rows), so these are the values SHAP's LinearExplainer gives.
- Any other model or task, whatever the estimator (trees, ensembles, a regressor, a `ColumnTransformer` that
  one-hot encodes string columns): occlusion, a model-agnostic method. A row's contribution of a feature is
  the change of what is explained when that one input column is set to its reference value, the typical
  value over the rows the version's training held out (`reference` in the version's report: a numeric
  column's mean, any other column's most frequent value; run `make explain-report ARGS="--version N"`
  first). One model call per feature, on the raw input columns through the whole model, so string columns
  are explained as they arrive; `base` is what the reference row scores (for a multiclass task, its
  probability of the row's predicted class), and the contributions do not add up exactly (they leave out
  how features act together).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..config import REPORTS_DIR
from ..lifecycle import positive_class, task
from ..settings import ExplainSettings, explain_toml

EXPLANATIONS_DIR = REPORTS_DIR / "explanations"


class ExplanationUnavailableError(LookupError):
    """A per-prediction explanation needs what is not there (a report with the reference row)."""


def settings() -> ExplainSettings:
    """config/explain.toml, checked: [report] scoring and repeats, [explanations] enabled and top_features."""
    return explain_toml()


def report_path(name: str, number: str, suffix: str = ".json") -> Path:
    return EXPLANATIONS_DIR / f"{name}-v{number}{suffix}"


def linear_parts(model: Any) -> tuple[Any, np.ndarray, float] | None:
    """(the transforming steps or None, the coefficients, the intercept) of a linear classifier of a binary
    task, towards the positive class's log-odds, or None for any other model or task."""
    if task().type != "binary":
        return None
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    final = steps[-1][1]
    coefficients = getattr(final, "coef_", None)
    if coefficients is None or np.ndim(coefficients) != 2 or coefficients.shape[0] != 1:
        return None
    if len(getattr(final, "classes_", ())) != 2:
        return None
    prepare = Pipeline(steps[:-1]) if len(steps) > 1 else None
    # the coefficients point to the log-odds of the last class: towards the first, they change sign
    sign = 1.0 if positive_class(model) == final.classes_[-1] else -1.0
    intercept = sign * float(np.ravel(final.intercept_)[0])
    return prepare, sign * np.asarray(coefficients[0], dtype=float), intercept


def log_odds(model: Any, inputs: pd.DataFrame) -> np.ndarray:
    """The log-odds of the positive class (`lifecycle.positive_class`), row by row."""
    column = list(model.classes_).index(positive_class(model))
    probability = np.clip(np.asarray(model.predict_proba(inputs))[:, column], 1e-12, 1 - 1e-12)
    return np.log(probability / (1 - probability))


def explained(
    model: Any, inputs: pd.DataFrame, chosen: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """What the contributions of a row's features move, row by row, for the task: the log-odds of the
    positive class (binary), the probability of a class (multiclass: of `chosen`, each row's class column,
    else of the class predicted for the row), the predicted value (regression); and the class columns it
    was taken from (multiclass; else None)."""
    kind = task().type
    if kind == "regression":
        return np.asarray(model.predict(inputs), dtype=float), None
    if kind == "binary":
        return log_odds(model, inputs), None
    probabilities = np.asarray(model.predict_proba(inputs), dtype=float)
    columns = probabilities.argmax(axis=1) if chosen is None else chosen
    return probabilities[np.arange(len(probabilities)), columns], columns


@dataclass(frozen=True)
class Explainer:
    """Per-row feature contributions to what one model answers (`explained`)."""

    model: Any
    features: list[str]
    method: str
    reference: np.ndarray | None = None

    @classmethod
    def of(cls, model: Any, features: list[str], reference: dict[str, Any] | None = None) -> Explainer:
        """Exact linear contributions when the model and task allow, else occlusion against `reference`."""
        if keeps_columns(model, features):
            return cls(model, features, "linear")
        if reference is None:
            raise ExplanationUnavailableError(
                "this model is not a binary linear classifier on its inputs: its explanations need the "
                'reference row of its report; run `make explain-report ARGS="--version N"` and restart the '
                "service"
            )
        typical = np.array([reference[name] for name in features], dtype=object)
        return cls(model, features, "occlusion", typical)

    def frame(self, inputs: np.ndarray | pd.DataFrame) -> pd.DataFrame:
        """Model inputs as a frame with the feature names the model was fitted with (an array is taken to
        hold them in that order)."""
        if isinstance(inputs, pd.DataFrame):
            return inputs[self.features]
        return pd.DataFrame(np.asarray(inputs), columns=self.features).infer_objects()

    def contributions(self, inputs: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(contributions, one row per input row and a column per feature; the base of each row)."""
        rows = self.frame(inputs)
        if self.method == "linear":
            prepare, coefficients, intercept = linear_parts(self.model)  # type: ignore[misc]
            transformed = prepare.transform(rows) if prepare is not None else rows.to_numpy(dtype=float)
            return np.asarray(transformed, dtype=float) * coefficients, np.full(len(rows), intercept)
        assert self.reference is not None
        scored, chosen = explained(self.model, rows)
        found = np.empty((len(rows), len(self.features)), dtype=float)
        for column, name in enumerate(self.features):
            occluded = rows.copy()
            occluded[name] = pd.Series([self.reference[column]] * len(rows), index=rows.index).astype(
                rows[name].dtype
            )
            found[:, column] = scored - explained(self.model, occluded, chosen)[0]
        typical = rows.copy()
        for column, name in enumerate(self.features):
            typical[name] = pd.Series([self.reference[column]] * len(rows), index=rows.index).astype(
                rows[name].dtype
            )
        return found, explained(self.model, typical, chosen)[0]

    def explain(self, inputs: np.ndarray | pd.DataFrame, top: int) -> list[dict[str, Any]]:
        """Per row: the `top` largest contributions (with the feature's value), the rest summed, the base."""
        rows = self.frame(inputs)
        values, bases = self.contributions(rows)
        explained = []
        for row, contributions, base in zip(rows.itertuples(index=False), values, bases, strict=True):
            order = np.argsort(-np.abs(contributions), kind="stable")
            shown = order[:top]
            explained.append(
                {
                    "method": self.method,
                    "base": round(float(base), 6),
                    "contributions": [
                        {
                            "feature": self.features[i],
                            "value": plain(row[i]),
                            "contribution": round(float(contributions[i]), 6),
                        }
                        for i in shown
                    ],
                    "other": round(float(contributions[order[top:]].sum()), 6),
                }
            )
        return explained


def keeps_columns(model: Any, features: list[str]) -> bool:
    """Whether the model is a linear classifier of a binary task on its input columns themselves: its
    transforming steps put out one column per input column, under the same name (a scaler, an imputer), so
    that each coefficient belongs to one feature."""
    parts = linear_parts(model)
    if parts is None or len(parts[1]) != len(features):
        return False
    prepare = parts[0]
    if prepare is None:
        return True
    try:
        return [str(name) for name in prepare.get_feature_names_out(features)] == list(features)
    except (AttributeError, TypeError, ValueError):  # a step naming no output may mix columns
        return False


def plain(value: Any) -> Any:
    """A feature's value as JSON has it: a number, a string, a boolean, or None when missing."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def typical_row(rows: pd.DataFrame) -> dict[str, Any]:
    """The reference row of occlusion: each numeric column's mean, any other column's most frequent value
    (None where a column has no value at all)."""
    typical: dict[str, Any] = {}
    for name in rows.columns:
        column = rows[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            mean = column.mean()
            typical[str(name)] = None if pd.isna(mean) else round(float(mean), 9)
        else:
            counts = column.dropna().value_counts()
            typical[str(name)] = plain(counts.index[0]) if len(counts) else None
    return typical


def read(name: str, number: str) -> dict[str, Any] | None:
    """A version's report, if it was written."""
    path = report_path(name, number)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
