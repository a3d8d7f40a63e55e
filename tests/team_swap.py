"""A team's own problem, swapped into a generated project as a team would: only the files the project says
are the team's (data.py, model.py, features.py, config/catalog.yml, config/train.toml, and
config/pipeline.toml's [evaluate]), none of the template's.

Three problems, one per task type, each making its own data in data.py (no download, about 600 rows) under its
own id and target names and its own catalog key:

- `binary-mixed`: customers who churned or stayed (string labels, positive class "churned"), with categorical
  string columns (their allowed values in the catalog), missing values in a numeric and a categorical column,
  and a name-based ColumnTransformer (SimpleImputer + OneHotEncoder, SimpleImputer + StandardScaler) into a
  HistGradientBoostingClassifier; promoted on ROC AUC, monitored on F1.
- `multiclass`: support tickets with the help desk's own ids ("T-00042") and a priority of "low", "medium" or
  "high"; a ColumnTransformer into a LogisticRegression; promoted on macro F1 (and gated on it by [evaluate]
  threshold), monitored on accuracy.
- `regression`: parcels' delivery hours (a float target), a categorical column with missing values and depot
  codes with leading zeros ("0420", text that looks like a number); a ColumnTransformer into Ridge; promoted
  on RMSE and monitored on MAE, both lower is better, and gated by an [evaluate] threshold on RMSE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """A team's files: data.py, model.py, features.py, config/catalog.yml and config/train.toml as the team
    writes them, and the [evaluate] threshold it sets in config/pipeline.toml (None: the baseline only)."""

    task: str
    data: str
    model: str
    features: str
    catalog: str
    train: str
    threshold: float | None = None


def features_module(subject: str, derived: str) -> str:
    """A team's features.py as the demo's is written: its one derived feature (`derived`, the entries of
    DERIVED) of `subject`; the three problems differ only in these."""
    return f'''"""One derived feature of the {subject}."""

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
{derived})


def names() -> list[str]:
    return [feature.name for feature in DERIVED]


def compute(rows: pd.DataFrame) -> pd.DataFrame:
    derived = pd.DataFrame({{f.name: f.compute(rows).astype("float64") for f in DERIVED}}, index=rows.index)
    return pd.concat([rows.drop(columns=names(), errors="ignore"), derived], axis=1)
'''


BINARY_MIXED = Problem(
    task="binary",
    data='''"""A synthetic customer table, made here so that it needs no download."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

TARGET = "outcome"
ID = "customer"


def load_dataset() -> pd.DataFrame:
    """600 customers: tenure, monthly spend (not always known), support calls, plan (not always known) and
    region; whether each churned."""
    rng = np.random.default_rng(3)
    rows = 600
    tenure = rng.integers(1, 72, rows)
    spend = rng.gamma(4.0, 20.0, rows).round(2)
    calls = rng.poisson(2.0, rows)
    plan = rng.choice(np.array(["basic", "plus", "pro"], dtype=object), rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(np.array(["north", "south", "east", "west"], dtype=object), rows)
    lean = pd.Series(plan).map({"basic": 0.8, "plus": 0.0, "pro": -0.8}).to_numpy()
    risk = -0.05 * tenure + 0.01 * spend + 0.6 * calls + lean - 1.0 + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(
        {
            ID: np.arange(1000, 1000 + rows),
            "tenure_months": tenure.astype("int64"),
            "monthly_spend": spend.astype("float64"),
            "support_calls": calls.astype("int64"),
            "plan": plan,
            "region": region,
            TARGET: np.where(risk > 0, "churned", "stayed"),
        }
    )
    frame.loc[rng.random(rows) < 0.08, "monthly_spend"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "plan"] = np.nan
    return frame


def split(data: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train / held-out split that is the same for the same seed."""
    train, test = train_test_split(data, test_size=test_size, random_state=seed, stratify=data[TARGET])
    return train, test
''',
    model='''"""Gradient-boosted trees over the customer table's numbers and categories, chosen by name."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

POSITIVE = "churned"
NUMBERS = ["tenure_months", "monthly_spend", "support_calls", "spend_per_tenure_month"]
CATEGORIES = ["plan", "region"]


def build_model(params: dict[str, Any], seed: int) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMBERS),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                CATEGORIES,
            ),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline(
        [("prepare", prepare), ("classify", HistGradientBoostingClassifier(random_state=seed, **params))]
    )


def score(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "f1": float(f1_score(actual, predicted, pos_label=POSITIVE, zero_division=0.0)),
    }


def evaluate(model: Any, features: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    metrics = score(actual, pd.Series(model.predict(features), index=actual.index))
    column = list(model.classes_).index(POSITIVE)
    metrics["roc_auc"] = float(roc_auc_score(actual == POSITIVE, model.predict_proba(features)[:, column]))
    return metrics
''',
    features=features_module(
        "customer table",
        """    Feature(
        "spend_per_tenure_month",
        "monthly spend over months of tenure (missing where the spend is)",
        lambda frame: frame["monthly_spend"] / frame["tenure_months"],
    ),
""",
    ),
    catalog="""sources:
  customers:
    description: synthetic customers, one row each, with whether they churned
    location: made in data.py
    format: pandas DataFrame
    owner: team@example.com
    refresh: static
    schema:
      customer: {dtype: int64, unique: true}
      tenure_months: {dtype: int64, min: 0}
      monthly_spend: {dtype: float64, min: 0, nullable: true}
      support_calls: {dtype: int64, min: 0}
      plan: {dtype: str, allowed: [basic, plus, pro], nullable: true}
      region: {dtype: str, allowed: [north, south, east, west]}
      outcome: {dtype: str, allowed: [churned, stayed]}
""",
    train="""seed = 42

[task]
type = "binary"
positive_class = "churned"
metric = "roc_auc"
higher_is_better = true

[data]
test_size = 0.2

[model]
max_iter = 50
learning_rate = 0.1
max_depth = 3

[monitoring]
metric = "f1"
threshold = 0.6
higher_is_better = true
""",
)

MULTICLASS = Problem(
    task="multiclass",
    data='''"""A synthetic table of support tickets, made here so that it needs no download."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

TARGET = "priority"
ID = "ticket"


def load_dataset() -> pd.DataFrame:
    """600 tickets: the channel, the minutes waited, the account's earlier tickets and age; the priority
    (low, medium or high) a person gave each."""
    rng = np.random.default_rng(5)
    rows = 600
    channel = rng.choice(np.array(["email", "phone", "chat"], dtype=object), rows)
    waited = rng.gamma(2.0, 15.0, rows).round(1)
    earlier = rng.poisson(3.0, rows)
    age = rng.integers(1, 2000, rows)
    lean = pd.Series(channel).map({"email": -0.5, "phone": 0.7, "chat": 0.0}).to_numpy()
    urgency = 0.04 * waited + 0.3 * earlier - 0.0005 * age + lean + rng.normal(0, 0.4, rows)
    priority = np.select([urgency < 1.0, urgency < 2.0], ["low", "medium"], default="high")
    return pd.DataFrame(
        {
            ID: [f"T-{number:05d}" for number in range(rows)],  # the help desk's own ticket ids
            "channel": channel,
            "minutes_waited": waited.astype("float64"),
            "earlier_tickets": earlier.astype("int64"),
            "account_age_days": age.astype("int64"),
            TARGET: priority,
        }
    )


def split(data: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train / held-out split that is the same for the same seed."""
    train, test = train_test_split(data, test_size=test_size, random_state=seed, stratify=data[TARGET])
    return train, test
''',
    model='''"""A multinomial logistic regression over the tickets' scaled numbers and one-hot channel."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMBERS = ["minutes_waited", "earlier_tickets", "account_age_days", "wait_per_earlier_ticket"]


def build_model(params: dict[str, Any], seed: int) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numbers", StandardScaler(), NUMBERS),
            ("channel", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
        ]
    )
    return Pipeline([("prepare", prepare), ("classify", LogisticRegression(random_state=seed, **params))])


def score(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(actual, predicted)),
        "f1_macro": float(f1_score(actual, predicted, average="macro", zero_division=0.0)),
    }


def evaluate(model: Any, features: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    metrics = score(actual, pd.Series(model.predict(features), index=actual.index))
    probabilities = model.predict_proba(features)
    metrics["roc_auc_ovr"] = float(
        roc_auc_score(actual, probabilities, multi_class="ovr", labels=list(model.classes_))
    )
    return metrics
''',
    features=features_module(
        "tickets",
        """    Feature(
        "wait_per_earlier_ticket",
        "minutes waited over the account's earlier tickets plus one",
        lambda frame: frame["minutes_waited"] / (frame["earlier_tickets"] + 1),
    ),
""",
    ),
    catalog="""sources:
  tickets:
    description: synthetic support tickets, one row each, with the priority given to it
    location: made in data.py
    format: pandas DataFrame
    owner: team@example.com
    refresh: static
    schema:
      ticket: {dtype: str, unique: true}
      channel: {dtype: str, allowed: [email, phone, chat]}
      minutes_waited: {dtype: float64, min: 0}
      earlier_tickets: {dtype: int64, min: 0}
      account_age_days: {dtype: int64, min: 0}
      priority: {dtype: str, allowed: [low, medium, high]}
""",
    train="""seed = 42

[task]
type = "multiclass"
metric = "f1_macro"
higher_is_better = true

[data]
test_size = 0.2

[model]
C = 1.0
max_iter = 1000

[monitoring]
metric = "accuracy"
threshold = 0.6
higher_is_better = true
""",
    threshold=0.5,
)

REGRESSION = Problem(
    task="regression",
    data='''"""A synthetic table of delivered parcels, made here so that it needs no download."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

TARGET = "delivery_hours"
ID = "parcel"


def load_dataset() -> pd.DataFrame:
    """600 parcels: distance, weight, items and service (not always recorded); the hours each took."""
    rng = np.random.default_rng(11)
    rows = 600
    distance = rng.gamma(3.0, 60.0, rows).round(1)
    weight = rng.gamma(2.0, 2.5, rows).round(2)
    items = rng.integers(1, 6, rows)
    service = rng.choice(np.array(["standard", "express"], dtype=object), rows, p=[0.7, 0.3])
    depot = rng.choice(np.array(["0101", "0420", "1000"], dtype=object), rows)  # codes, leading zeros kept
    faster = np.where(service == "express", 0.6, 1.0)
    hours = faster * (4.0 + 0.08 * distance + 0.5 * weight + 0.3 * items) + rng.normal(0, 1.5, rows)
    frame = pd.DataFrame(
        {
            ID: np.arange(5000, 5000 + rows),
            "distance_km": distance.astype("float64"),
            "weight_kg": weight.astype("float64"),
            "items": items.astype("int64"),
            "service": service,
            "depot": depot,
            TARGET: hours.round(2).astype("float64"),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "service"] = np.nan
    return frame


def split(data: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random train / held-out split that is the same for the same seed (a float target: no strata)."""
    train, test = train_test_split(data, test_size=test_size, random_state=seed)
    return train, test
''',
    model='''"""A ridge regression of the delivery hours on scaled numbers, the one-hot service and depot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMBERS = ["distance_km", "weight_kg", "items", "kg_per_item"]


def build_model(params: dict[str, Any], seed: int) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMBERS),
            (
                "service",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="unknown"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                ["service", "depot"],
            ),
        ]
    )
    return Pipeline([("prepare", prepare), ("regress", Ridge(random_state=seed, **params))])


def score(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    return {
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
    }


def evaluate(model: Any, features: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    predicted = pd.Series(model.predict(features), index=actual.index)
    return {**score(actual, predicted), "r2": float(r2_score(actual, predicted))}
''',
    features=features_module(
        "parcels",
        """    Feature("kg_per_item", "weight over items", lambda frame: frame["weight_kg"] / frame["items"]),
""",
    ),
    catalog="""sources:
  parcels:
    description: synthetic delivered parcels, one row each, with the hours the delivery took
    location: made in data.py
    format: pandas DataFrame
    owner: team@example.com
    refresh: static
    schema:
      parcel: {dtype: int64, unique: true}
      distance_km: {dtype: float64, min: 0}
      weight_kg: {dtype: float64, min: 0}
      items: {dtype: int64, min: 1}
      service: {dtype: str, allowed: [standard, express], nullable: true}
      depot: {dtype: str, allowed: ["0101", "0420", "1000"]}
      delivery_hours: {dtype: float64}
""",
    train="""seed = 42

[task]
type = "regression"
metric = "rmse"
higher_is_better = false

[data]
test_size = 0.2

[model]
alpha = 1.0

[monitoring]
metric = "mae"
threshold = 3.0
higher_is_better = false
""",
    threshold=4.0,
)

PROBLEMS = {"binary-mixed": BINARY_MIXED, "multiclass": MULTICLASS, "regression": REGRESSION}


def swap(project: Path, package: str, problem: str) -> None:
    """Put the team's data, model, features, catalog and train.toml of `problem` (a key of PROBLEMS) in place
    of the demo's, and its [evaluate] threshold in config/pipeline.toml."""
    chosen = PROBLEMS[problem]
    source = project / "src" / package
    (source / "data.py").write_text(chosen.data, encoding="utf-8")
    (source / "model.py").write_text(chosen.model, encoding="utf-8")
    if (source / "features.py").is_file():
        (source / "features.py").write_text(chosen.features, encoding="utf-8")
    if (project / "config" / "catalog.yml").is_file():
        (project / "config" / "catalog.yml").write_text(chosen.catalog, encoding="utf-8")
    (project / "config" / "train.toml").write_text(chosen.train, encoding="utf-8")
    pipeline = project / "config" / "pipeline.toml"
    if pipeline.is_file() and chosen.threshold is not None:
        text = pipeline.read_text(encoding="utf-8")
        text, found = re.subn(r"(?m)^# threshold = .*$", f"threshold = {chosen.threshold}", text)
        assert found == 1, "config/pipeline.toml's [evaluate] has no `# threshold = ...` line to set"
        pipeline.write_text(text, encoding="utf-8")
