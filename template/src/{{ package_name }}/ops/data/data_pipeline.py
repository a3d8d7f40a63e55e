# Kept by the template: `copier update` rewrites this file.
"""The data pipeline: extract -> validate -> transform, with the schema taken from config/catalog.yml.

Training reads its data only through `run()`, so data that breaks the catalog's schema stops a run
before it reaches the model, with every failing column and check listed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml
from pandera.errors import SchemaErrors

from ...data import load_dataset
from ..config import CONFIG_DIR

CATALOG_FILE = CONFIG_DIR / "catalog.yml"
SOURCE = "breast_cancer"


class DataValidationError(ValueError):
    """Data that does not match its catalog schema."""


def catalog_entry(source: str = SOURCE) -> dict[str, Any]:
    """A source's entry in config/catalog.yml."""
    sources = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))["sources"]
    if source not in sources:
        raise KeyError(f"{source!r} is not in {CATALOG_FILE}; add it to the catalog first")
    return sources[source]


def column_schema(spec: dict[str, Any]) -> pa.Column:
    """One column of the catalog as a pandera column with its checks."""
    checks = []
    if "min" in spec:
        checks.append(pa.Check.ge(spec["min"]))
    if "max" in spec:
        checks.append(pa.Check.le(spec["max"]))
    if "allowed" in spec:
        checks.append(pa.Check.isin(spec["allowed"]))
    return pa.Column(
        spec["dtype"],
        checks=checks,
        nullable=spec.get("nullable", False),
        unique=spec.get("unique", False),
        description=spec.get("description"),
    )


def schema(source: str = SOURCE) -> pa.DataFrameSchema:
    """The catalog's schema of a source: exactly these columns, these types, these checks."""
    columns = catalog_entry(source)["schema"]
    return pa.DataFrameSchema(
        {name: column_schema(spec) for name, spec in columns.items()}, strict=True, ordered=False
    )


def extract() -> pd.DataFrame:
    """Read the source as it is."""
    return load_dataset()


def validate(data: pd.DataFrame, source: str = SOURCE) -> pd.DataFrame:
    """Check data against its catalog schema, reporting every failure at once."""
    try:
        return schema(source).validate(data, lazy=True)
    except SchemaErrors as errors:
        failures = errors.failure_cases[["column", "check", "failure_case"]].drop_duplicates()
        raise DataValidationError(
            f"{source} does not match config/catalog.yml ({len(failures)} failures):\n"
            + failures.head(20).to_string(index=False)
        ) from errors


def transform(data: pd.DataFrame) -> pd.DataFrame:
    """Clean the validated data: drop duplicate measurements, order rows by id."""
    features = [column for column in data.columns if column != "id"]
    return data.drop_duplicates(subset=features).sort_values("id").reset_index(drop=True)


def run() -> pd.DataFrame:
    """The training data: extracted, validated and transformed."""
    return transform(validate(extract()))
