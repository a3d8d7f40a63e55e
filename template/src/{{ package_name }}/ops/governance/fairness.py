# Kept by the template: `copier update` rewrites this file.
"""Fairness: whether a model treats the groups of a sensitive attribute alike; the promotion gate asks.

config/fairness.toml (yours) names the attribute, an input column of config/catalog.yml whose values are the
groups ("" = none configured), and the largest differences the gate accepts:

- demographic parity difference: the largest gap between two groups' selection rates (the share of their
  rows predicted positive, the positive class being config/train.toml's task.positive_class);
- equalised odds difference: the larger of the largest gaps between two groups' true positive rates and
  their false positive rates.

Both are computed with fairlearn (`fairlearn.metrics`: 1.3 MB, nothing to install beyond what the project
already has) on the rows the candidate's training held out, the rows the gate scores it on. A difference
above its limit makes `check` fail, and the gate refuses the candidate with the metric named in the reason.
With no attribute configured, `check` passes and says so: "fairness: not configured".
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
from ..data import data_pipeline
from ..errors import OpsError
from ..lifecycle import model_inputs, positive_class
from ..settings import FairnessSettings, config_problem, fairness_toml

CONFIG_FILE = "config/fairness.toml"
NOT_CONFIGURED = "fairness: not configured (config/fairness.toml sensitive_attribute is empty)"
MAX_GROUPS = 20
LIMITS = {
    "demographic_parity_difference": "max_demographic_parity_difference",
    "equalized_odds_difference": "max_equalized_odds_difference",
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


def measure(actual: pd.Series, predicted: np.ndarray, groups: pd.Series) -> dict[str, Any]:
    """The two differences, and each group's rows, selection rate and true and false positive rates."""
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
            | {name: None if pd.isna(value) else round(float(value), 6) for name, value in values.items()}
            for group, values in by_group.iterrows()
        },
    }


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
    positive = positive_class(model)
    actual = (rows[TARGET] == positive).astype(int)
    predicted = (model.predict(model_inputs(rows.drop(columns=[TARGET]), model)) == positive).astype(int)
    measured = measure(actual, predicted, groups)
    limits = {metric: getattr(config, key) for metric, key in LIMITS.items()}
    violations = [
        f"{metric} {value:.4f} above {limits[metric]} ({CONFIG_FILE} {LIMITS[metric]})"
        for metric, value in measured["metrics"].items()
        if value > limits[metric]
    ]
    shown = ", ".join(f"{metric} {value:.4f}" for metric, value in measured["metrics"].items())
    summary = (
        f"fairness failed on {attribute!r}: {'; '.join(violations)}"
        if violations
        else f"fairness passed on {attribute!r}: {shown} within the limits"
    )
    return {
        "configured": True,
        "passed": not violations,
        "status": "failed" if violations else "passed",
        "summary": summary,
        "attribute": attribute,
        "rows": len(rows),
        "limits": limits,
        "violations": violations,
        **measured,
    }
