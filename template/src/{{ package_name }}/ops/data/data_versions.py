# Kept by the template: `copier update` rewrites this file.
"""Data versioning: the exact data of every run, kept under its content hash and restorable.

A version is the first 16 hex digits of the SHA-256 of the data written as canonical CSV (columns in
order, no index, `\\n` line ends, floats written so they read back exactly). The same data always gets the
same version, wherever it is computed. Versions are kept as `<version>.csv` below
$ARTIFACTS_DIR/data/versions; the tracker keeps a copy with each run, so a version outlives this machine.

    <project> data-versions list
    <project> data-versions restore VERSION OUT.csv
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import DATA_DIR
from . import data_pipeline

STORE = DATA_DIR / "versions"


class UnknownDataVersionError(LookupError):
    """A data version that is not in the store, or whose file no longer matches its hash."""


@dataclass(frozen=True)
class DataVersion:
    """A stored version of a data set."""

    id: str
    path: Path
    rows: int
    columns: int


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """The data as the bytes its version is the hash of."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n", float_format=None)
    return buffer.getvalue().encode("utf-8")


def version_of(content: bytes) -> str:
    """The version of canonical CSV bytes."""
    return hashlib.sha256(content).hexdigest()[:16]


def store_content(content: bytes, store: Path = STORE) -> Path:
    """Keep canonical CSV bytes under their version (once: the same data is stored once); the file."""
    path = store / f"{version_of(content)}.csv"
    if not path.is_file():
        store.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(content)
        partial.replace(path)
    return path


def snapshot(frame: pd.DataFrame, store: Path = STORE) -> DataVersion:
    """Keep the data under its version (once: the same data is stored once) and return the version."""
    path = store_content(canonical_csv(frame), store)
    return DataVersion(id=path.stem, path=path, rows=len(frame), columns=frame.shape[1])


def keep(file: Path, store: Path = STORE) -> DataVersion:
    """Keep a version's file from another store (a copy another machine made) in this one; its version."""
    content = file.read_bytes()
    path = store_content(content, store)
    header, *rows = content.decode("utf-8").splitlines()
    return DataVersion(id=path.stem, path=path, rows=len(rows), columns=header.count(",") + 1)


def restore(version: str, store: Path = STORE) -> pd.DataFrame:
    """The data of a version, checked against its hash before it is returned."""
    path = store / f"{version}.csv"
    if not path.is_file():
        known = ", ".join(v.id for v in versions(store)) or "none"
        raise UnknownDataVersionError(f"data version {version!r} is not in {store} (known: {known})")
    content = path.read_bytes()
    if version_of(content) != version:
        raise UnknownDataVersionError(f"{path} no longer matches its version {version}: it was edited")
    return data_pipeline.read_table(io.BytesIO(content))


def versions(store: Path = STORE) -> list[DataVersion]:
    """Every stored version, newest first."""
    paths = sorted(store.glob("*.csv"), key=lambda path: path.stat().st_mtime, reverse=True)
    described = []
    for path in paths:
        with path.open(encoding="utf-8") as stored:
            header = stored.readline()
            rows = sum(1 for _ in stored)
        described.append(DataVersion(id=path.stem, path=path, rows=rows, columns=header.count(",") + 1))
    return described


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="List or restore the data versions of past runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every stored data version, newest first")
    restore_parser = commands.add_parser("restore", help="write a version's data to a CSV file")
    restore_parser.add_argument("version", help="a version, as recorded with a run (data_version)")
    restore_parser.add_argument("output", type=Path, help="the CSV file to write")
    args = parser.parse_args(argv)
    if args.command == "list":
        for version in versions():
            print(f"{version.id}  {version.rows:>8} rows  {version.columns:>4} columns  {version.path}")
        return 0
    try:
        frame = restore(args.version)
    except UnknownDataVersionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(canonical_csv(frame))
    print(f"restored data version {args.version} ({len(frame)} rows) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
