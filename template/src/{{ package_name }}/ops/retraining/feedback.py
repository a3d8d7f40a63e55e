# Kept by the template: `copier update` rewrites this file.
"""Feedback: labelled production rows that guarded retraining (`retraining.py`) adds to the training data.

$ARTIFACTS_DIR/data/feedback.csv holds the logged rows, inputs and label, that completed retrains were given;
the pipeline's ingest step adds them to the source (`training_extract`), so the data version a retrained
model records covers them, and the next retrain counts only rows that are not in it yet (`used_ids`).

A retrain stages its new rows in data/feedback-pending/<retrain id>.csv (`stage`), which the ingest step
reads as well, and they join feedback.csv only once the retrain has completed (`commit`): a retrain that is
killed leaves its rows new for the next one (`discard` drops its staged file).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ...data import ID
from ..config import DATA_DIR
from ..data.data_pipeline import read_table
from ..serving.predictions import LOG_COLUMNS

FEEDBACK_FILE = DATA_DIR / "feedback.csv"
PENDING_DIR = DATA_DIR / "feedback-pending"


def used_ids() -> set[Any]:
    """The ids of the rows earlier retrains were given."""
    if not FEEDBACK_FILE.is_file():
        return set()
    return set(read(FEEDBACK_FILE)[ID])


def write(rows: pd.DataFrame, path: Path) -> None:
    """Write a CSV whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    rows.to_csv(partial, index=False)
    partial.replace(path)


def read(path: Path) -> pd.DataFrame:
    """Feedback rows, with the catalog's types (a code of digits stays text: `read_table`)."""
    return read_table(path)


def add(rows: pd.DataFrame) -> int:
    """Add labelled rows (inputs, id and target) to the feedback file; returns how many rows it holds."""
    columns = [column for column in rows.columns if column not in LOG_COLUMNS]
    kept = rows[columns]
    if FEEDBACK_FILE.is_file():
        kept = pd.concat([read(FEEDBACK_FILE), kept], ignore_index=True)
    kept = kept.drop_duplicates(subset=[ID], keep="last").sort_values(ID)
    write(kept, FEEDBACK_FILE)
    return len(kept)


def stage(rows: pd.DataFrame, retrain_id: str) -> int:
    """Keep the rows a retrain is about to train on, apart from the used ones; returns how many."""
    columns = [column for column in rows.columns if column not in LOG_COLUMNS]
    write(rows[columns].drop_duplicates(subset=[ID], keep="last"), PENDING_DIR / f"{retrain_id}.csv")
    return len(rows)


def staged() -> list[str]:
    """The retrains whose rows are staged: their ids."""
    return sorted(path.stem for path in PENDING_DIR.glob("*.csv"))


def commit(retrain_id: str) -> int:
    """A retrain's staged rows become used (it completed); returns how many rows the feedback file holds.
    Committing again changes nothing."""
    path = PENDING_DIR / f"{retrain_id}.csv"
    if not path.is_file():
        return len(read(FEEDBACK_FILE)) if FEEDBACK_FILE.is_file() else 0
    held = add(read(path))
    path.unlink()
    return held


def discard(retrain_id: str) -> None:
    """Drop a retrain's staged rows: it did not complete, so they stay new."""
    (PENDING_DIR / f"{retrain_id}.csv").unlink(missing_ok=True)


def cap(source_rows: int, max_share: float) -> int:
    """The most feedback rows that keep their share of source + feedback at or below `max_share`."""
    return int(max_share * source_rows / (1 - max_share))


def training_extract(source: pd.DataFrame, max_share: float = 0.2) -> tuple[pd.DataFrame, int]:
    """The source with the feedback rows added (used and staged), at most `max_share` of the result (the
    newest kept), and how many were added (a source id keeps its row)."""
    found = []
    for path in [FEEDBACK_FILE, *sorted(PENDING_DIR.glob("*.csv"))]:
        if not path.is_file():
            continue
        rows = read(path)
        if missing := [column for column in source.columns if column not in rows.columns]:
            warnings.warn(
                f"{path}: its rows lack {', '.join(missing)} of the data as it is now (kept before the data "
                "changed?), so none of them is trained on; move the file away once it is no longer wanted",
                stacklevel=2,
            )
            continue
        found.append(rows)
    if not found:
        return source, 0
    rows = pd.concat(found, ignore_index=True).drop_duplicates(subset=[ID], keep="last")
    rows = rows.loc[~rows[ID].isin(source[ID]), list(source.columns)].astype(source.dtypes.to_dict())
    rows = rows.tail(cap(len(source), max_share))
    return pd.concat([source, rows], ignore_index=True), len(rows)
