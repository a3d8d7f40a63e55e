"""Feedback: labelled production rows that guarded retraining (`retraining.py`) adds to the training data.

$ARTIFACTS_DIR/data/feedback.csv holds the logged rows, inputs and label, that retrains were given; the
pipeline's ingest step adds them to the source (`training_extract`), so the data version a retrained model
records covers them, and the next retrain counts only rows that are not in it yet (`used_ids`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .config import DATA_DIR
from .data import ID

FEEDBACK_FILE = DATA_DIR / "feedback.csv"
# What the monitoring's read of the prediction logs adds to each row besides its inputs and label.
LOG_COLUMNS = ("timestamp", "request_id", "model_version", "prediction", "probability")


def used_ids() -> set[Any]:
    """The ids of the rows earlier retrains were given."""
    if not FEEDBACK_FILE.is_file():
        return set()
    return set(pd.read_csv(FEEDBACK_FILE, usecols=[ID])[ID])


def add(rows: pd.DataFrame) -> int:
    """Add labelled rows (inputs, id and target) to the feedback file; returns how many rows it holds."""
    columns = [column for column in rows.columns if column not in LOG_COLUMNS]
    kept = rows[columns]
    if FEEDBACK_FILE.is_file():
        kept = pd.concat([pd.read_csv(FEEDBACK_FILE, float_precision="round_trip"), kept], ignore_index=True)
    kept = kept.drop_duplicates(subset=[ID], keep="last").sort_values(ID)
    FEEDBACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    kept.to_csv(FEEDBACK_FILE, index=False)
    return len(kept)


def training_extract(source: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The source with the feedback rows added, and how many were added (a source id keeps its row)."""
    if not FEEDBACK_FILE.is_file():
        return source, 0
    rows = pd.read_csv(FEEDBACK_FILE, float_precision="round_trip")
    rows = rows.loc[~rows[ID].isin(source[ID]), list(source.columns)].astype(source.dtypes.to_dict())
    return pd.concat([source, rows], ignore_index=True), len(rows)
