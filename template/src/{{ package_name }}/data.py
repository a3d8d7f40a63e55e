"""Where the training data comes from. Replace `load_dataset` with your own source."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

TARGET = "target"
ID = "id"


def load_dataset() -> pd.DataFrame:
    """The breast cancer data set that ships with scikit-learn: 569 rows, 30 features, a binary target.

    Column names are made identifiers (`mean radius` -> `mean_radius`) and every row gets a stable `id`,
    so that predictions can later be joined with the labels that arrive for them.
    """
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(column).replace(" ", "_") for column in frame.columns]
    frame.insert(0, ID, range(len(frame)))
    return frame


def split(data: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train / held-out split that is the same for the same seed."""
    train, test = train_test_split(data, test_size=test_size, random_state=seed, stratify=data[TARGET])
    return train, test
