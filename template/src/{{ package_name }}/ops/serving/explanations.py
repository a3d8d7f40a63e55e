# Kept by the template: `copier update` rewrites this file.
"""Per-prediction explanations: the features that pushed one prediction most, as the service gives them.

The service explains on request (`POST /predict?explain=true`, opt-in: config/explain.toml `[explanations]
enabled`) with `Explainer`; the feature-importance report (`governance/explain.py`, `make explain-report`)
uses it for each feature's mean contribution. This module is what both need and the service can import
without the report's plotting: config/explain.toml (`settings`), and where each version's report is kept
(`report_path`, `read`), since the service reads the reference row of a version's report.

`Explainer`:
- A pipeline of transformers ending in a binary linear classifier (the template's model): each feature's
  exact contribution to the positive class's log-odds, its coefficient times its transformed value; with
  the intercept (`base`) they sum to the log-odds the model computes. The template's inputs are
  standardised (mean 0 on the training rows), so these are the values SHAP's LinearExplainer gives.
- Any other model: occlusion, the change of the log-odds when one feature is set to its mean over the
  held-out rows (`reference` in the version's report: run `make explain-report ARGS="--version N"` first), one
  model call per feature; `base` is the log-odds of the reference row, and the contributions do not
  add up exactly.
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
    """(the transforming steps or None, the coefficients, the intercept) of a binary linear classifier."""
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    final = steps[-1][1]
    coefficients = getattr(final, "coef_", None)
    if coefficients is None or np.ndim(coefficients) != 2 or coefficients.shape[0] != 1:
        return None
    prepare = Pipeline(steps[:-1]) if len(steps) > 1 else None
    return prepare, np.asarray(coefficients[0], dtype=float), float(np.ravel(final.intercept_)[0])


def log_odds(model: Any, inputs: pd.DataFrame) -> np.ndarray:
    """The log-odds of the positive class (the model's last class), row by row."""
    probability = np.clip(model.predict_proba(inputs)[:, -1], 1e-12, 1 - 1e-12)
    return np.log(probability / (1 - probability))


@dataclass(frozen=True)
class Explainer:
    """Per-row feature contributions to the positive class's log-odds of one model."""

    model: Any
    features: list[str]
    method: str
    reference: np.ndarray | None = None

    @classmethod
    def of(cls, model: Any, features: list[str], reference: dict[str, float] | None = None) -> Explainer:
        """Exact linear contributions when the model allows, else occlusion against `reference`."""
        parts = linear_parts(model)
        if parts is not None and len(parts[1]) == len(features):
            return cls(model, features, "linear")
        if reference is None:
            raise ExplanationUnavailableError(
                "this model is not a linear classifier on its inputs: its explanations need the reference "
                'row of its report; run `make explain-report ARGS="--version N"` and restart the service'
            )
        return cls(model, features, "occlusion", np.array([reference[name] for name in features]))

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """Model inputs as a frame with the feature names the model was fitted with."""
        return pd.DataFrame(values, columns=self.features)

    def contributions(self, inputs: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(contributions, one row per input row and a column per feature; the base of each row)."""
        values = np.asarray(inputs, dtype=float)
        if self.method == "linear":
            prepare, coefficients, intercept = linear_parts(self.model)  # type: ignore[misc]
            transformed = prepare.transform(self.frame(values)) if prepare is not None else values
            return np.asarray(transformed, dtype=float) * coefficients, np.full(len(values), intercept)
        assert self.reference is not None
        scored = log_odds(self.model, self.frame(values))
        found = np.empty(values.shape, dtype=float)
        for column in range(values.shape[1]):
            occluded = values.copy()
            occluded[:, column] = self.reference[column]
            found[:, column] = scored - log_odds(self.model, self.frame(occluded))
        base = log_odds(self.model, self.frame(self.reference[np.newaxis, :]))[0]
        return found, np.full(len(values), base)

    def explain(self, inputs: np.ndarray, top: int) -> list[dict[str, Any]]:
        """Per row: the `top` largest contributions (with the feature's value), the rest summed, the base."""
        values, bases = self.contributions(inputs)
        explained = []
        for row, contributions, base in zip(np.asarray(inputs, dtype=float), values, bases, strict=True):
            order = np.argsort(-np.abs(contributions), kind="stable")
            shown = order[:top]
            explained.append(
                {
                    "method": self.method,
                    "base": round(float(base), 6),
                    "contributions": [
                        {
                            "feature": self.features[i],
                            "value": float(row[i]),
                            "contribution": round(float(contributions[i]), 6),
                        }
                        for i in shown
                    ],
                    "other": round(float(contributions[order[top:]].sum()), 6),
                }
            )
        return explained


def read(name: str, number: str) -> dict[str, Any] | None:
    """A version's report, if it was written."""
    path = report_path(name, number)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
