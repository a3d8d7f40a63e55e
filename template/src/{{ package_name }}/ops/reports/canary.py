# Kept by the template: `copier update` rewrites this file.
"""`make canary-report`: the champion and the challenger compared from the service's prediction logs.

The service (`make serve`) writes one JSON line per request to $ARTIFACTS_DIR/predictions/*.jsonl, with the
registry version and alias that answered it. This report reads every line and, per version: the requests
and rows it answered, its observed share of the requests beside config/deploy.toml's
`canary.challenger_share` (0 while `[shadow] enabled`: the service turns the canary off then), the share of
answers it gave, by the task of config/train.toml: for a binary task the share of rows predicted positive and
the mean probability of the positive class; for a multiclass one each class's share of the predictions and
the mean probability of the predicted class; for a regression the mean prediction. Once labels arrive (a CSV
of `id` and the target, such as the data/labels.csv of `make predict`), the predictions are joined with them
on `id` and scored per version as `make monitor-batch` scores a batch: model.py's `score`, and ROC AUC for a
binary task. Written to reports/canary.json and reports/canary.html.
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

from ...data import ID, TARGET
from ..config import DATA_DIR, REPORTS_DIR
from ..data.data_pipeline import read_table
from ..monitoring.baseline import labelled_metrics, positive_label
from ..serving.predictions import PREDICTIONS_DIR, LogReader
from ..settings import deploy_toml, train_toml
from ..tracking.registry import CHAMPION
from . import html

LABELS_FILE = DATA_DIR / "labels.csv"
REPORT_FILE = REPORTS_DIR / "canary.json"


def answered(rows: pd.DataFrame, labels: pd.DataFrame | None) -> dict[str, Any]:
    """What a version's answers say, by the task: binary, the share predicted positive and the positive
    class's mean probability; multiclass, each class's share and the predicted class's mean probability;
    regression, the mean prediction."""
    kind = train_toml().task.type
    chance = pd.to_numeric(rows["probability"], errors="coerce")
    if kind == "regression":
        predicted = pd.to_numeric(rows["prediction"], errors="coerce")
        return {"mean_prediction": round(float(predicted.mean()), 6)}
    if kind == "multiclass":
        shares = rows["prediction"].astype(str).value_counts(normalize=True)
        return {
            "class_shares": {str(k): round(float(v), 6) for k, v in shares.sort_index().items()},
            "mean_probability": round(float(chance.mean()), 6),
        }
    known = rows["prediction"] if labels is None else pd.concat([rows["prediction"], labels[TARGET]])
    positive = positive_label(known)
    return {
        "positive_rate": round(float((rows["prediction"] == positive).mean()), 6),
        "mean_probability": round(float(chance.mean()), 6),
    }


def version_summary(rows: pd.DataFrame, requests: int, labels: pd.DataFrame | None) -> dict[str, Any]:
    """One version's traffic and answers, and its scores on the rows whose labels have arrived."""
    count = rows["request_id"].nunique()
    summary: dict[str, Any] = {
        "aliases": sorted(rows["alias"].unique().tolist()),
        "requests": int(count),
        "rows": len(rows),
        "request_share": round(count / requests, 6),
        **answered(rows, labels),
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
            metrics = labelled_metrics(labelled[TARGET], labelled["prediction"], labelled["probability"])
            summary["metrics"] = {name: None if v is None else round(v, 6) for name, v in metrics.items()}
    return summary


def answer_lines(versions: dict[str, dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """The table's lines of what the versions answered, for the task the summaries describe."""
    values = list(versions.values())
    lines: list[tuple[str, list[Any]]] = []
    if any("positive_rate" in v for v in values):
        lines.append(("positive rate", [v.get("positive_rate") for v in values]))
    classes = sorted({name for v in values for name in v.get("class_shares", {})})
    for name in classes:
        lines.append((f"share predicted {name}", [v.get("class_shares", {}).get(name) for v in values]))
    if any("mean_probability" in v for v in values):
        named = "mean probability of the predicted class" if classes else "mean probability"
        lines.append((named, [v.get("mean_probability") for v in values]))
    if any("mean_prediction" in v for v in values):
        lines.append(("mean prediction", [v.get("mean_prediction") for v in values]))
    return lines


def metric_names(summaries: list[dict[str, Any]]) -> list[str]:
    """The metrics any of the summaries was scored with, in the order they were computed."""
    return list(dict.fromkeys(name for s in summaries for name in (s["metrics"] or {})))


def answer_text(version: dict[str, Any]) -> str:
    """A version's answers in a few words, for the command's output."""
    if "positive_rate" in version:
        return f"positive rate {version['positive_rate']:.3f}"
    if "class_shares" in version:
        return "class shares " + ", ".join(f"{k} {v:.3f}" for k, v in version["class_shares"].items())
    return f"mean prediction {version['mean_prediction']:.4g}"


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
        *answer_lines(versions),
        ("labelled rows", [v["labelled"] for v in versions.values()]),
    ]
    for metric in metric_names(list(versions.values())):
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
    labels = None if labels_file is None else read_table(labels_file)
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
            f"{version['rows']} rows, {answer_text(version)}" + (f"; {scores}" if scores else "")
        )
    print(f"report: {json_file} and {html_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
