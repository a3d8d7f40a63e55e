"""Baseline monitoring: predictions compared with the actual outcomes once their labels arrive.

Monitoring starts on the first day business decisions use the model, whatever the maturity level:
`make monitor` joins logged predictions with their labels, scores them, keeps the result under reports/
and exits non-zero when accuracy falls below `monitoring.min_accuracy` in config/train.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .config import REPORTS_DIR, load_config
from .data import ID, TARGET
from .model import score

REPORT_FILE = REPORTS_DIR / "monitoring.json"


def compare(predictions: pd.DataFrame, labels: pd.DataFrame, min_accuracy: float) -> dict[str, Any]:
    """Score the predictions whose labels have arrived, per model version and overall."""
    labelled = predictions.merge(labels[[ID, TARGET]], on=ID, how="inner")
    if labelled.empty:
        raise ValueError("no prediction has a label yet: nothing to compare")
    overall = score(labelled[TARGET], labelled["prediction"])
    return {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "predictions": len(predictions),
        "labelled": len(labelled),
        "metrics": overall,
        "by_model_version": {
            str(version): score(rows[TARGET], rows["prediction"])
            for version, rows in labelled.groupby("model_version")
        },
        "min_accuracy": min_accuracy,
        "breach": overall["accuracy"] < min_accuracy,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("predictions", type=Path, help="CSV written by the predict command")
    parser.add_argument("labels", type=Path, help="CSV of id and the actual target")
    args = parser.parse_args(argv)
    threshold = float(load_config("train")["monitoring"]["min_accuracy"])
    report = compare(pd.read_csv(args.predictions), pd.read_csv(args.labels), threshold)
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    accuracy = report["metrics"]["accuracy"]
    print(f"{report['labelled']} of {report['predictions']} predictions labelled; accuracy {accuracy:.4f}")
    if report["breach"]:
        print(f"ALERT: accuracy {accuracy:.4f} is below {threshold} (report: {REPORT_FILE})", file=sys.stderr)
        return 2
    print(f"within threshold {threshold}; report: {REPORT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
