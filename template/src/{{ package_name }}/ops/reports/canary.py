# Kept by the template: `copier update` rewrites this file.
"""`make canary-report`: the champion and the challenger compared from the service's prediction logs.

The service (`make serve`) writes one JSON line per request to $ARTIFACTS_DIR/predictions/*.jsonl, with the
registry version and alias that answered it. This report reads every line and, per version: the requests
and rows it answered, its observed share of the requests beside config/deploy.toml's
`canary.challenger_share` (0 while `[shadow] enabled`: the service turns the canary off then), the share of
rows it predicted positive and its mean probability. Once labels arrive (a CSV of `id` and the target, such
as the data/labels.csv of `make predict`), the predictions are joined with them on `id` and scored per
version: accuracy, F1 and ROC AUC, as `make monitor-batch` scores a batch. Written to reports/canary.json
and reports/canary.html.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import roc_auc_score

from ...data import ID, TARGET
from ...model import score
from ..config import DATA_DIR, REPORTS_DIR
from ..serving.predictions import PREDICTIONS_DIR, LogReader
from ..settings import deploy_toml
from ..tracking.registry import CHAMPION
from . import html

LABELS_FILE = DATA_DIR / "labels.csv"
REPORT_FILE = REPORTS_DIR / "canary.json"


def version_summary(rows: pd.DataFrame, requests: int, labels: pd.DataFrame | None) -> dict[str, Any]:
    """One version's traffic and predictions, and its scores on the rows whose labels have arrived."""
    answered = rows["request_id"].nunique()
    summary: dict[str, Any] = {
        "aliases": sorted(rows["alias"].unique().tolist()),
        "requests": int(answered),
        "rows": len(rows),
        "request_share": round(answered / requests, 6),
        "positive_rate": round(float((rows["probability"] > 0.5).mean()), 6),
        "mean_probability": round(float(rows["probability"].mean()), 6),
        "first": str(rows["timestamp"].min()),
        "last": str(rows["timestamp"].max()),
        "labelled": 0,
        "metrics": None,
    }
    if labels is not None:
        keyed = rows.dropna(subset=[ID])
        # ids of logs that also hold rows without one are read as floats (or objects): match the labels'
        keyed = keyed.astype({ID: labels[ID].dtype}) if len(keyed) else keyed
        labelled = keyed.merge(labels, on=ID, how="inner")
        summary["labelled"] = len(labelled)
        if not labelled.empty:
            metrics = score(labelled[TARGET], labelled["prediction"])
            both_classes = labelled[TARGET].nunique() == 2
            auc = roc_auc_score(labelled[TARGET], labelled["probability"]) if both_classes else None
            metrics["roc_auc"] = None if auc is None else float(auc)
            summary["metrics"] = {name: None if v is None else round(v, 6) for name, v in metrics.items()}
    return summary


def compare(rows: pd.DataFrame, labels: pd.DataFrame | None, configured_share: float) -> dict[str, Any]:
    """The canary report: per version (and per alias) what was answered, the split and the scores."""
    if rows.empty:
        raise ValueError(f"no prediction has been logged yet (below {PREDICTIONS_DIR}): run `make serve`")
    if labels is not None:
        labels = labels[[ID, TARGET]].drop_duplicates(subset=[ID], keep="last")
    requests = int(rows["request_id"].nunique())
    versions = {
        str(version): version_summary(group, requests, labels)
        for version, group in rows.groupby("model_version", sort=True)
    }
    challenger_requests = rows.loc[rows["alias"] != CHAMPION, "request_id"].nunique()
    return {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_name": str(rows["model_name"].iloc[0]),
        "requests": requests,
        "rows": len(rows),
        "configured_challenger_share": configured_share,
        "observed_challenger_share": round(challenger_requests / requests, 6),
        "labelled": sum(version["labelled"] for version in versions.values()),
        "versions": versions,
    }


def to_html(report: dict[str, Any]) -> str:
    """The report as a small HTML page: the split, then a table with a column per version."""
    versions = report["versions"]
    lines: list[tuple[str, list[Any]]] = [
        ("alias", [v["aliases"] for v in versions.values()]),
        ("requests", [v["requests"] for v in versions.values()]),
        ("share of requests", [v["request_share"] for v in versions.values()]),
        ("rows", [v["rows"] for v in versions.values()]),
        ("positive rate", [v["positive_rate"] for v in versions.values()]),
        ("mean probability", [v["mean_probability"] for v in versions.values()]),
        ("labelled rows", [v["labelled"] for v in versions.values()]),
    ]
    for metric in ("accuracy", "f1", "roc_auc"):
        lines.append((metric, [(v["metrics"] or {}).get(metric) for v in versions.values()]))
    lines.append(("first / last", [f"{v['first']} / {v['last']}" for v in versions.values()]))
    table = html.table(
        ([name, *values] for name, values in lines),
        header=["", *(f"version {number}" for number in versions)],
        heads=1,
    )
    body = f"""<p>{report["requests"]} requests ({report["rows"]} rows) logged; the challenger answered
{report["observed_challenger_share"]:.1%} of them (configured: {report["configured_challenger_share"]:.1%}).
{report["labelled"]} rows have labels. Checked at {html.escape(report["checked_at"])}.</p>
{table}"""
    return html.page(f"Canary report: {report['model_name']}", body)


def write_report(
    report: dict[str, Any], path: Path = REPORT_FILE, render: Callable[[dict[str, Any]], str] = to_html
) -> tuple[Path, Path]:
    """Write the report as JSON and, rendered as HTML, beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page = path.with_suffix(".html")
    page.write_text(render(report), encoding="utf-8")
    return path, page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare champion and challenger from the prediction logs.")
    parser.add_argument("--logs", type=Path, default=PREDICTIONS_DIR, help="folder of the *.jsonl logs")
    parser.add_argument("--model", help="the registered model to report on (default: the last one logged)")
    parser.add_argument(
        "--labels", type=Path, help=f"CSV of {ID} and {TARGET} (default {LABELS_FILE}, when it exists)"
    )
    args = parser.parse_args(argv)
    labels_file = args.labels or (LABELS_FILE if LABELS_FILE.is_file() else None)
    labels = None if labels_file is None else pd.read_csv(labels_file)
    deploy = deploy_toml()
    share, shadowing = deploy.canary.challenger_share, deploy.shadow.enabled
    if shadowing:  # the service turns the canary off while the challenger runs in the shadow
        share = 0.0
    log = LogReader(args.logs)
    rows = log.frame()
    if log.skipped:
        print(f"{log.skipped} unreadable lines of the log were skipped (cut short?)", file=sys.stderr)
    model = args.model or (rows["model_name"].iloc[-1] if len(rows) else None)
    try:
        report = compare(rows[rows["model_name"] == model], labels, share)
    except ValueError as empty:
        print(empty, file=sys.stderr)
        return 1
    json_file, html_file = write_report(report, REPORT_FILE)
    print(
        f"{model}: {report['requests']} requests; challenger share {report['observed_challenger_share']:.1%} "
        f"(configured {share:.1%}{', off while [shadow] is enabled' if shadowing else ''}); "
        f"{report['labelled']} rows labelled"
    )
    for number, version in report["versions"].items():
        metrics = version["metrics"] or {}
        scores = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if value is not None)
        print(
            f"  version {number} ({', '.join(version['aliases'])}): {version['requests']} requests, "
            f"{version['rows']} rows, positive rate {version['positive_rate']:.3f}"
            + (f"; {scores}" if scores else "")
        )
    print(f"report: {json_file} and {html_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
