# Kept by the template: `copier update` rewrites this file.
"""The data pipeline: extract -> validate -> transform, with the schema taken from config/catalog.yml.

Training reads its data only through `run()`, so data that breaks the catalog's schema stops a run
before it reaches the model, with every failing column and check listed.

The training data is the catalog's first source, under whatever key the team gives it. A column's `dtype`
is pandas' name of its type: `int64`, `float64`, `bool`, `str` (free text; with `allowed: [...]`, a
categorical column), `category`, `Int64` (whole numbers with missing values); `nullable: true` allows
missing values, `min`/`max` bound numbers, `allowed` lists the only values, `unique: true` refuses repeats.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import pandas as pd
import pandera.pandas as pa
import yaml
from pandera.errors import SchemaErrors

from ...data import ID, TARGET, load_dataset
from ..config import CONFIG_DIR

CATALOG_FILE = CONFIG_DIR / "catalog.yml"


class DataValidationError(ValueError):
    """Data that does not match its catalog schema."""


def sources() -> dict[str, Any]:
    """config/catalog.yml's sources, by key."""
    catalog = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    found = catalog.get("sources") if isinstance(catalog, dict) else None
    if not isinstance(found, dict) or not found:
        raise KeyError(f"{CATALOG_FILE} has no `sources:` mapping; add your data source under `sources:`")
    return found


def training_source() -> str:
    """The key of the training data in config/catalog.yml: its first source."""
    return next(iter(sources()))


def catalog_entry(source: str | None = None) -> dict[str, Any]:
    """A source's entry in config/catalog.yml (the training data's without a key)."""
    known = sources()
    source = source or next(iter(known))
    if source not in known:
        raise KeyError(f"{source!r} is not in {CATALOG_FILE}; add it to the catalog first")
    return known[source]


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


def schema(source: str | None = None) -> pa.DataFrameSchema:
    """The catalog's schema of a source: exactly these columns, these types, these checks."""
    columns = catalog_entry(source)["schema"]
    return pa.DataFrameSchema(
        {name: column_schema(spec) for name, spec in columns.items()}, strict=True, ordered=False
    )


# Types a CSV file cannot carry: read back by type inference, a code of digits ("0420") would become the
# number 420, and whole numbers with gaps floats. These are read as the catalog declares them.
DECLARED_ON_READ = {"str", "string", "object", "category", "Int64", "boolean"}


def read_table(file: Path | IO[bytes] | IO[str], source: str | None = None) -> pd.DataFrame:
    """A CSV of a source's rows (the training data's without a key), as the project writes them with
    `to_csv`: the catalog's text, categorical, nullable-integer and boolean columns keep their declared types,
    and so does a `prediction` column (a predicted class is a label of the target's type); numbers keep every
    digit. Other columns the catalog does not list (derived features, probabilities) are inferred."""
    declared = {
        name: spec["dtype"]
        for name, spec in catalog_entry(source)["schema"].items()
        if spec.get("dtype") in DECLARED_ON_READ
    }
    if TARGET in declared:
        declared["prediction"] = declared[TARGET]
    return pd.read_csv(file, dtype=declared, float_precision="round_trip")


def extract() -> pd.DataFrame:
    """Read the source as it is."""
    return load_dataset()


def validate(data: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Check data against its catalog schema, reporting every failure at once."""
    try:
        return schema(source).validate(data, lazy=True)
    except SchemaErrors as errors:
        failures = errors.failure_cases[["column", "check", "failure_case"]].drop_duplicates()
        raise DataValidationError(
            f"{source or training_source()} does not match config/catalog.yml ({len(failures)} failures):\n"
            + failures.head(20).to_string(index=False)
        ) from errors


def transform(data: pd.DataFrame) -> pd.DataFrame:
    """Clean the validated data: drop duplicate rows (whatever their id), order rows by id."""
    features = [column for column in data.columns if column != ID]
    return data.drop_duplicates(subset=features).sort_values(ID).reset_index(drop=True)


def run() -> pd.DataFrame:
    """The training data: extracted, validated and transformed."""
    return transform(validate(extract()))
