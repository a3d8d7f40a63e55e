# Kept by the template: `copier update` rewrites this file.
"""`make shadow-report`: the champion and its shadow compared on the same requests, from the prediction logs.

With config/deploy.toml `[shadow] enabled = true`, the service (`make serve`) answers every request with the
`champion` and lets the `challenger` score the same rows unseen: both are logged to
$ARTIFACTS_DIR/predictions/*.jsonl under the same request id, the shadow's line with `"shadow": true`.
This report pairs them row by row and, per pair of versions (champion, shadow): how many requests and rows
both scored, the agreement rate of their predictions, each side's answers as `make canary-report` states
them for the task (positive rate, class shares, mean prediction) and the shadow's answer minus the
champion's (mean, mean absolute, largest absolute) where a difference means something: the positive
class's probability for a binary task, the predicted value for a regression (a multiclass task has the
agreement and the class shares). Once labels arrive (a CSV of `id` and the target, such as the
data/labels.csv of `make predict`), each version is scored on the labelled rows as `make canary-report`
scores them (model.py's `score`, ROC AUC for a binary task), with the shadow's metric minus the champion's.
Written to reports/shadow/report.json and reports/shadow/report.html.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ...data import ID, TARGET
from ..config import REPORTS_DIR
from ..data.data_pipeline import read_table
from ..serving.predictions import PREDICTIONS_DIR, LogReader
from ..settings import deploy_toml, train_toml
from . import canary, html
from .canary import LABELS_FILE, answer_lines, metric_names, version_summary

REPORT_FILE = REPORTS_DIR / "shadow" / "report.json"
PAIR = ["request_id", "row"]


def numbered(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with their position in their request (a shadow line lists the rows as its request did)."""
    return rows.assign(row=rows.groupby("request_id").cumcount())


def paired(answered: pd.DataFrame, shadow: pd.DataFrame) -> pd.DataFrame:
    """Each row a shadow scored beside the answer its caller got: one row per (request, position)."""
    columns = ["model_version", ID, "prediction", "probability", "timestamp", "alias"]
    both = numbered(answered)[[*PAIR, *columns]].merge(
        numbered(shadow)[[*PAIR, *columns]], on=PAIR, suffixes=("_champion", "_shadow"), how="inner"
    )
    return both.rename(columns={f"{ID}_champion": ID}).drop(columns=[f"{ID}_shadow"])


def side(both: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """One side of the pairs in the columns of `LogReader.frame`, for `canary.version_summary`."""
    picked = ["model_version", "prediction", "probability", "timestamp", "alias"]
    frame = both[["request_id", ID, *(f"{name}_{suffix}" for name in picked)]]
    return frame.rename(columns={f"{name}_{suffix}": name for name in picked})


def comparison(both: pd.DataFrame, labels: pd.DataFrame | None) -> dict[str, Any]:
    """One pair of versions: agreement, probability deltas and, with labels, each side's metrics."""
    requests = int(both["request_id"].nunique())
    kind = train_toml().task.type
    compared = {"binary": "probability", "regression": "prediction"}.get(kind)
    champion = version_summary(side(both, "champion"), requests, labels)
    shadow = version_summary(side(both, "shadow"), requests, labels)
    metric_deltas = None
    if champion["metrics"] is not None and shadow["metrics"] is not None:
        metric_deltas = {
            name: None
            if value is None or champion["metrics"][name] is None
            else round(value - champion["metrics"][name], 6)
            for name, value in shadow["metrics"].items()
        }
    return {
        "champion_version": str(both["model_version_champion"].iloc[0]),
        "shadow_version": str(both["model_version_shadow"].iloc[0]),
        "requests": requests,
        "rows": len(both),
        "agreement_rate": round(float((both["prediction_champion"] == both["prediction_shadow"]).mean()), 6),
        "disagreements": int((both["prediction_champion"] != both["prediction_shadow"]).sum()),
        "delta_of": compared,
        **deltas(both, compared),
        "labelled": champion["labelled"],
        "champion": champion,
        "shadow": shadow,
        "metric_deltas": metric_deltas,
    }


def deltas(both: pd.DataFrame, compared: str | None) -> dict[str, float | None]:
    """The shadow's answer minus the champion's, per row, summed up: the `compared` column (None: no
    difference that means something, as between two predicted classes)."""
    if compared is None:
        return {"mean_delta": None, "mean_abs_delta": None, "max_abs_delta": None}
    delta = pd.to_numeric(both[f"{compared}_shadow"], errors="coerce") - pd.to_numeric(
        both[f"{compared}_champion"], errors="coerce"
    )
    return {
        "mean_delta": round(float(delta.mean()), 6),
        "mean_abs_delta": round(float(delta.abs().mean()), 6),
        "max_abs_delta": round(float(delta.abs().max()), 6),
    }


def compare(answered: pd.DataFrame, shadow: pd.DataFrame, labels: pd.DataFrame | None) -> dict[str, Any]:
    """The shadow report from the answered rows and the shadow's rows (both as `LogReader.frame` reads)."""
    if shadow.empty:
        raise ValueError(
            f"no shadow prediction has been logged yet (below {PREDICTIONS_DIR}): set config/deploy.toml "
            "[shadow] enabled = true, register a challenger other than the champion and run `make serve`"
        )
    if labels is not None:
        labels = labels[[ID, TARGET]].drop_duplicates(subset=[ID], keep="last")
    both = paired(answered, shadow)
    if both.empty:
        raise ValueError("no shadow line has the request id of an answered request: are the logs complete?")
    pairs = both.groupby(["model_version_champion", "model_version_shadow"], sort=True)
    return {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_name": str(shadow["model_name"].iloc[0]),
        "requests": int(both["request_id"].nunique()),
        "rows": len(both),
        "unpaired_shadow_rows": len(shadow) - len(both),
        "comparisons": [comparison(group, labels) for _, group in pairs],
    }


def to_html(report: dict[str, Any]) -> str:
    """The report as a small HTML page: a column per pair of versions."""
    pairs = report["comparisons"]
    compared = next((p["delta_of"] for p in pairs if p["delta_of"]), None)
    lines: list[tuple[str, list[Any]]] = [
        ("requests", [p["requests"] for p in pairs]),
        ("rows", [p["rows"] for p in pairs]),
        ("agreement rate", [p["agreement_rate"] for p in pairs]),
        ("disagreements", [p["disagreements"] for p in pairs]),
    ]
    for who in ("champion", "shadow"):
        sides = {str(number): p[who] for number, p in enumerate(pairs)}
        lines += [(f"{name} ({who})", values) for name, values in answer_lines(sides)]
    if compared is not None:
        lines += [
            (f"mean {compared} delta", [p["mean_delta"] for p in pairs]),
            (f"mean |{compared} delta|", [p["mean_abs_delta"] for p in pairs]),
            (f"max |{compared} delta|", [p["max_abs_delta"] for p in pairs]),
        ]
    lines.append(("labelled rows", [p["labelled"] for p in pairs]))
    for metric in metric_names([p[who] for p in pairs for who in ("champion", "shadow")]):
        for who in ("champion", "shadow"):
            lines.append((f"{metric} ({who})", [(p[who]["metrics"] or {}).get(metric) for p in pairs]))
        lines.append((f"{metric} delta", [(p["metric_deltas"] or {}).get(metric) for p in pairs]))
    table = html.table(
        ([name, *values] for name, values in lines),
        header=["", *(f"champion v{p['champion_version']} / shadow v{p['shadow_version']}" for p in pairs)],
        heads=1,
    )
    body = f"""<p>{report["requests"]} requests ({report["rows"]} rows) scored by the champion and, unseen,
by its shadow. Deltas are the shadow's value minus the champion's.
Checked at {html.escape(report["checked_at"])}.</p>
{table}"""
    return html.page(f"Shadow report: {report['model_name']}", body)


def write_report(report: dict[str, Any], path: Path = REPORT_FILE) -> tuple[Path, Path]:
    """Write the report as JSON and as HTML beside it."""
    return canary.write_report(report, path, to_html)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare the champion with its shadow from the prediction logs."
    )
    parser.add_argument("--logs", type=Path, default=PREDICTIONS_DIR, help="folder of the *.jsonl logs")
    parser.add_argument("--model", help="the registered model to report on (default: the last one shadowed)")
    parser.add_argument(
        "--labels", type=Path, help=f"CSV of {ID} and {TARGET} (default {LABELS_FILE}, when it exists)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPORT_FILE, help=f"the JSON report (default {REPORT_FILE})"
    )
    args = parser.parse_args(argv)
    labels_file = args.labels or (LABELS_FILE if LABELS_FILE.is_file() else None)
    labels = None if labels_file is None else read_table(labels_file)
    log = LogReader(args.logs)
    answered = log.frame()
    if log.skipped:
        print(f"{log.skipped} unreadable lines of the log were skipped (cut short?)", file=sys.stderr)
    shadow = log.frame(shadow=True)
    model = args.model or (shadow["model_name"].iloc[-1] if len(shadow) else None)
    try:
        report = compare(
            answered[answered["model_name"] == model], shadow[shadow["model_name"] == model], labels
        )
    except ValueError as empty:
        print(empty, file=sys.stderr)
        return 1
    json_file, html_file = write_report(report, args.out)
    enabled = deploy_toml().shadow.enabled
    print(f"{model}: {report['requests']} requests shadowed ([shadow] enabled = {str(enabled).lower()} now)")
    for pair in report["comparisons"]:
        deltas = pair["metric_deltas"] or {}
        scores = ", ".join(f"{name} {value:+.4f}" for name, value in deltas.items() if value is not None)
        print(
            f"  champion v{pair['champion_version']} / shadow v{pair['shadow_version']}: "
            f"{pair['rows']} rows, agreement {pair['agreement_rate']:.1%}"
            + (f", max |{pair['delta_of']} delta| {pair['max_abs_delta']:.4f}" if pair["delta_of"] else "")
            + f"; {pair['labelled']} labelled"
            + (f"; shadow - champion: {scores}" if scores else "")
        )
    print(f"report: {json_file} and {html_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
