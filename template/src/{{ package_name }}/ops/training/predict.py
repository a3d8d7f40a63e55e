# Kept by the template: `copier update` rewrites this file.
"""Batch prediction: `<project> predict INPUT.csv OUTPUT.csv`.

Every prediction is written with the version of the model that made it, so that monitoring can join it
with the label that arrives later and tell which model was right or wrong. What a row holds follows
config/train.toml [task] (`lifecycle.answers`): the predicted class and its `probability` (the positive
class's for a binary task, the predicted class's for a multiclass one), or the predicted value, with the
probability left empty, for regression.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ...data import ID, TARGET
from ..lifecycle import (
    MODEL_FILE,
    answers,
    held_out,
    load_model,
    model_inputs,
    model_version,
    recorded_held_out,
    source_data,
)


def predict(batch: pd.DataFrame, model_path: Path = MODEL_FILE) -> pd.DataFrame:
    """Predictions for every row of a batch: id, prediction, probability (NaN for regression) and
    model_version."""
    model = load_model(model_path)
    answered = answers(model, model_inputs(batch, model))
    probability = np.full(len(batch), np.nan) if answered.probability is None else answered.probability
    return pd.DataFrame(
        {
            ID: batch[ID].to_numpy(),
            "prediction": answered.prediction,
            "probability": np.round(probability, 6),
            "model_version": model_version(model_path),
        }
    )


def simulate_traffic(out_dir: Path) -> tuple[Path, Path]:
    """Write the held-out rows as an incoming batch (batch.csv) and their later labels (labels.csv).

    The rows are the ones the latest training run held out (as it recorded them), so the model has never
    seen them.
    """
    rows = held_out(source_data(), recorded_held_out())
    out_dir.mkdir(parents=True, exist_ok=True)
    batch, labels = out_dir / "batch.csv", out_dir / "labels.csv"
    rows.drop(columns=[TARGET]).to_csv(batch, index=False)
    rows[[ID, TARGET]].to_csv(labels, index=False)
    return batch, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input", type=Path, nargs="?", help="CSV of rows to score, with an id column")
    parser.add_argument("output", type=Path, nargs="?", help="where to write the predictions CSV")
    parser.add_argument("--simulate", type=Path, metavar="DIR", help="write a demo batch and labels to DIR")
    args = parser.parse_args(argv)
    if args.simulate:
        batch, labels = simulate_traffic(args.simulate)
        print(f"wrote {batch} and {labels}")
        return
    if args.input is None or args.output is None:
        parser.error("give INPUT and OUTPUT, or --simulate DIR")
    predictions = predict(pd.read_csv(args.input))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.output, index=False)
    print(f"wrote {len(predictions)} predictions to {args.output}")


if __name__ == "__main__":
    main()
