"""Train the model: `make train`.

This file is yours. What happens around it at the project's maturity level (where the data comes from,
where the model and its metrics go) lives in `lifecycle.py`, which the template keeps up to date.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .data import ID, TARGET, split
from .model import build_model, evaluate
from .ops import lifecycle


def train(data: pd.DataFrame, config: dict[str, Any]) -> lifecycle.TrainingResult:
    """Fit the model on a training split and evaluate it on the held-out rest."""
    seed = int(config["seed"])
    train_rows, test_rows = split(data, test_size=float(config["data"]["test_size"]), seed=seed)
    model = build_model(config["model"], seed=seed)
    model.fit(train_rows.drop(columns=[ID, TARGET]), train_rows[TARGET])
    metrics = evaluate(model, test_rows.drop(columns=[ID, TARGET]), test_rows[TARGET])
    params = {"seed": seed, **config["data"], **config["model"]}
    # The held-out rows are recorded with the run: what judges the model later scores it on these rows.
    return lifecycle.TrainingResult(
        model=model, params=params, metrics=metrics, held_out=test_rows[ID].tolist()
    )


def main() -> None:
    config = lifecycle.train_config()
    result = train(lifecycle.training_data(), config)
    saved = lifecycle.record_run(result)
    for name, value in sorted(result.metrics.items()):
        print(f"{name:>10}: {value:.4f}")
    print(f"model saved to {saved}")


if __name__ == "__main__":
    main()
