# Kept by the template: `copier update` rewrites this file.
"""Fairness: whether a model treats the groups of a sensitive attribute alike; the promotion gate asks.

config/fairness.toml (yours) names the attribute, an input column of config/catalog.yml whose values are the
groups ("" = none configured), and the largest differences the gate accepts. What is measured fits the task
of config/train.toml:

- binary: the demographic parity difference (the largest gap between two groups' selection rates: the share
  of their rows predicted positive, the positive class being task.positive_class) and the equalised odds
  difference (the larger of the largest gaps between two groups' true positive rates and their false
  positive rates), with fairlearn (`fairlearn.metrics`), and each group's rates;
- multiclass: the demographic parity difference over the classes (each class's selection rate is the share
  of a group's rows predicted that class; the largest gap between two groups, over all classes); equalised
  odds does not apply (it is defined for one positive class) and the report says so; each group's scores
  from model.py's `score` and its selection rate per class;
- regression: neither applies (there is no selection to compare) and the report says so; each group's mean
  absolute error and mean prediction, and the largest gap between two groups' mean absolute errors, are
  reported for the reader, not gated.

All are measured on the rows the candidate's training held out, the rows the gate scores it on. A
difference above its limit makes `check` fail, and the gate refuses the candidate with the metric named in
the reason. With no attribute configured, `check` passes and says so: "fairness: not configured".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from ...data import TARGET
from ...model import score
from ..data import data_pipeline
from ..errors import OpsError
from ..lifecycle import model_inputs, positive_class
from ..settings import FairnessSettings, config_problem, fairness_toml, train_toml

CONFIG_FILE = "config/fairness.toml"
NOT_CONFIGURED = "fairness: not configured (config/fairness.toml sensitive_attribute is empty)"
MAX_GROUPS = 20
LIMITS = {
    "demographic_parity_difference": "max_demographic_parity_difference",
    "equalized_odds_difference": "max_equalized_odds_difference",
}
NOT_APPLICABLE = {
    "multiclass": {
        "equalized_odds_difference": "does not apply to a multiclass task: true and false positive rates are "
        "defined for one positive class; each group's scores from model.py's score are reported instead",
    },
    "regression": {
        "demographic_parity_difference": "does not apply to a regression task: a selection rate needs a "
        "predicted class; each group's mean prediction is reported instead",
        "equalized_odds_difference": "does not apply to a regression task: true and false positive rates "
        "need classes; each group's mean absolute error is reported instead",
    },
}


def settings() -> FairnessSettings:
    """config/fairness.toml, checked: the attribute is an input column of the catalog, the limits numbers."""
    config = fairness_toml()
    attribute = config.sensitive_attribute
    columns = [name for name in data_pipeline.catalog_entry()["schema"] if name != TARGET]
    if attribute and attribute not in columns:
        raise config_problem(
            FairnessSettings,
            "sensitive_attribute",
            f'"{attribute}" is not an input column of config/catalog.yml',
            f'name one of {", ".join(columns)}, or "" for none',
        )
    return config


def rounded(value: Any) -> float | None:
    return None if pd.isna(value) else round(float(value), 6)


def measure(actual: pd.Series, predicted: np.ndarray, groups: pd.Series) -> dict[str, Any]:
    """Binary (0/1 for the positive class): the two differences, and each group's rows, selection rate and
    true and false positive rates."""
    by_group = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=actual,
        y_pred=predicted,
        sensitive_features=groups,
    ).by_group
    counts = groups.value_counts()
    return {
        "metrics": {
            "demographic_parity_difference": round(
                float(demographic_parity_difference(actual, predicted, sensitive_features=groups)), 6
            ),
            "equalized_odds_difference": round(
                float(equalized_odds_difference(actual, predicted, sensitive_features=groups)), 6
            ),
        },
        "groups": {
            str(group): {"rows": int(counts[group])}
            | {name: rounded(value) for name, value in values.items()}
            for group, values in by_group.iterrows()
        },
    }


def measure_multiclass(actual: pd.Series, predicted: pd.Series, groups: pd.Series) -> dict[str, Any]:
    """Multiclass: each group's scores (model.py's `score`) and selection rate per class, and the demographic
    parity difference over the classes (the largest gap between two groups' shares of any one class)."""
    classes = sorted(set(actual.astype(str)) | set(predicted.astype(str)))
    found: dict[str, dict[str, Any]] = {}
    for group, index in groups.groupby(groups).groups.items():
        chosen = predicted.loc[index].astype(str)
        found[str(group)] = (
            {"rows": len(index)}
            | {name: rounded(value) for name, value in score(actual.loc[index], predicted.loc[index]).items()}
            | {f"selection_rate {label}": rounded((chosen == label).mean()) for label in classes}
        )
    gaps = [
        max(entry[f"selection_rate {label}"] or 0.0 for entry in found.values())
        - min(entry[f"selection_rate {label}"] or 0.0 for entry in found.values())
        for label in classes
    ]
    return {"metrics": {"demographic_parity_difference": round(max(gaps), 6)}, "groups": found}


def measure_regression(actual: pd.Series, predicted: pd.Series, groups: pd.Series) -> dict[str, Any]:
    """Regression: each group's mean absolute error and mean prediction, and the largest gap between two
    groups' mean absolute errors (reported, not gated: no limit of config/fairness.toml applies)."""
    error = (actual.astype(float) - predicted.astype(float)).abs()
    found = {
        str(group): {
            "rows": len(index),
            "mean_absolute_error": rounded(error.loc[index].mean()),
            "mean_prediction": rounded(predicted.loc[index].astype(float).mean()),
            "mean_actual": rounded(actual.loc[index].astype(float).mean()),
        }
        for group, index in groups.groupby(groups).groups.items()
    }
    errors = [entry["mean_absolute_error"] or 0.0 for entry in found.values()]
    return {"metrics": {}, "groups": found, "mean_absolute_error_gap": round(max(errors) - min(errors), 6)}


def check(model: Any, rows: pd.DataFrame, config: FairnessSettings | None = None) -> dict[str, Any]:
    """The model's fairness on labelled rows: `configured`, `passed`, `summary`, and when configured the
    `attribute`, `metrics`, `limits`, `groups` and the `violations` (one per limit exceeded)."""
    config = config or settings()
    attribute = config.sensitive_attribute
    if not attribute:
        return {"configured": False, "passed": True, "status": "not configured", "summary": NOT_CONFIGURED}
    groups = rows[attribute].astype(str)
    if groups.nunique() > MAX_GROUPS:
        raise OpsError(
            f"{CONFIG_FILE}: sensitive_attribute {attribute!r} has {groups.nunique()} distinct values in the "
            f"held-out rows (at most {MAX_GROUPS}): name a column of groups, such as a band of values"
        )
    kind = train_toml().task.type
    # hard predictions only (the predicted class, or the value): any estimator with `predict` is checked
    predicted = pd.Series(model.predict(model_inputs(rows.drop(columns=[TARGET]), model)), index=rows.index)
    if kind == "binary":
        positive = positive_class(model)
        measured = measure(
            (rows[TARGET] == positive).astype(int), (predicted == positive).astype(int), groups
        )
    elif kind == "multiclass":
        measured = measure_multiclass(rows[TARGET], predicted, groups)
    else:
        measured = measure_regression(rows[TARGET], predicted, groups)
    not_applicable = NOT_APPLICABLE.get(kind, {})
    limits = {metric: getattr(config, key) for metric, key in LIMITS.items() if metric not in not_applicable}
    violations = [
        f"{metric} {value:.4f} above {limits[metric]} ({CONFIG_FILE} {LIMITS[metric]})"
        for metric, value in measured["metrics"].items()
        if value > limits[metric]
    ]
    shown = ", ".join(f"{metric} {value:.4f}" for metric, value in measured["metrics"].items())
    stated = "; ".join(f"{metric} {why}" for metric, why in not_applicable.items())
    if violations:
        summary = f"fairness failed on {attribute!r}: {'; '.join(violations)}"
    elif shown:
        summary = f"fairness passed on {attribute!r}: {shown} within the limits"
    else:
        summary = f"fairness passed on {attribute!r}: no limit applies to a {kind} task"
    if stated:
        summary += f" ({stated})"
    return {
        "configured": True,
        "passed": not violations,
        "status": "failed" if violations else "passed",
        "summary": summary,
        "attribute": attribute,
        "task": kind,
        "rows": len(rows),
        "not_applicable": not_applicable,
        "limits": limits,
        "violations": violations,
        **measured,
    }
