# Kept by the template: `copier update` rewrites this file.
"""Continuous monitoring: `make monitor` checks the service's recent traffic against the champion.

A check reads the prediction logs the service writes ($ARTIFACTS_DIR/predictions/*.jsonl) of the last
`window.hours` (config/monitoring.toml) and measures, against the registry's `champion`:

- data drift: each feature of the logged inputs against the champion's training data (its recorded data
  version, restored from the data store), with drift.py's PSI and KS tests;
- prediction drift: the champion's answers against its answers on the rows its training held out: the
  positive class's probability (binary task), the distribution of the predicted classes (multiclass: PSI
  over the classes and the chi-square test) or the predicted values (regression: KS and PSI);
- performance, once labels arrive: the logged predictions joined on `id` with the labels file and scored
  as `make monitor-batch` scores a batch (model.py's `score`, ROC AUC for a binary task), against the alert
  of config/monitoring.toml [performance] (by default config/train.toml's [monitoring] alert).

Each threshold crossed adds a reason and makes the check an alert. The result is appended to
reports/monitoring/history.jsonl (one JSON line per check) and reports/monitoring/report.html shows the
history as plots over time; drift.html beside it plots the latest drift. `main` sends an alert to the
webhook of alerts.py; `--fail-on-alert` also makes it exit 2, for schedules that want a failed job. A
scheduled job that reads the logs elsewhere sets MONITORING_PREDICTIONS_DIR (and MONITORING_LABELS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ... import features
from ...data import ID, TARGET
from ..config import ARTIFACTS_DIR, REPORTS_DIR, config_file
from ..data import data_pipeline, data_versions
from ..lifecycle import answers, held_out_of, model_inputs
from ..reports import html
from ..serving.predictions import PREDICTIONS_DIR, LogReader
from ..settings import (
    DataDriftSettings,
    DriftSettings,
    MonitoringSettings,
    PerformanceSettings,
    Threshold,
    monitoring_toml,
    train_toml,
)
from ..tracking import registry
from ..tracking.registry import CHAMPION
from . import alerts, drift
from .baseline import judge, labelled_metrics

# Where a scheduled job finds the service's logs and the labels, when not where the service writes them.
PREDICTIONS_ENV, LABELS_ENV = "MONITORING_PREDICTIONS_DIR", "MONITORING_LABELS"
OUT_DIR = REPORTS_DIR / "monitoring"
HISTORY_NAME, REPORT_NAME = "history.jsonl", "report.html"
EXIT_ALERT = 2
MAX_TABLE_ROWS = 30


def settings() -> MonitoringSettings:
    """config/monitoring.toml, checked."""
    return monitoring_toml()


def predictions_path() -> Path:
    """Where the service's logs are read from: MONITORING_PREDICTIONS_DIR, else where the service writes."""
    return Path(os.environ.get(PREDICTIONS_ENV) or PREDICTIONS_DIR)


def labels_path() -> Path:
    """The labels that have arrived: MONITORING_LABELS, else config/monitoring.toml performance.labels."""
    return Path(os.environ.get(LABELS_ENV) or ARTIFACTS_DIR / settings().performance.labels)


def training_rows(data_version: str | None) -> tuple[pd.DataFrame, str, bool]:
    """The champion's training data (validated and cleaned), its data version and whether it was restored.

    When the version is not in this machine's data store (a fresh CI runner), the source as it is now is
    the reference instead, and the result says so.
    """
    try:
        if data_version is None:
            raise data_versions.UnknownDataVersionError("the champion has no recorded data version")
        extract, restored = data_versions.restore(data_version), True
    except data_versions.UnknownDataVersionError:
        extract, restored = data_pipeline.extract(), False
        data_version = data_versions.version_of(data_versions.canonical_csv(extract))
    return data_pipeline.transform(data_pipeline.validate(extract)), data_version, restored


def data_drift(reference: pd.DataFrame, current: pd.DataFrame, config: DataDriftSettings) -> dict[str, Any]:
    """drift.py's report of the traffic's declared features against the training data's."""
    return drift.drift_report(
        reference,
        current,
        psi_threshold=config.psi_threshold,
        ks_pvalue=config.ks_pvalue,
        bins=config.bins,
    )


def answered_values(answered: pd.DataFrame, kind: str) -> pd.Series:
    """What prediction drift compares of the logged answers: the positive class's probability (binary), the
    predicted class (multiclass, as text: a category) or the predicted value (regression)."""
    if kind == "binary":
        return pd.to_numeric(answered["probability"], errors="coerce").dropna().rename("probability")
    if kind == "multiclass":
        return answered["prediction"].dropna().astype(str).rename("prediction")
    return pd.to_numeric(answered["prediction"], errors="coerce").dropna().rename("prediction")


def expected_values(model: Any, inputs: pd.DataFrame, kind: str) -> pd.Series:
    """The same measure of the champion's answers on its held-out rows (`answered_values`'s reference)."""
    found = answers(model, inputs)
    if kind == "binary" and found.probability is not None:
        return pd.Series(found.probability, name="probability")
    if kind == "multiclass":
        return pd.Series(found.prediction, name="prediction").astype(str)
    return pd.Series(found.prediction, name="prediction", dtype=float)


def prediction_drift(reference: pd.Series, current: pd.Series, config: DriftSettings) -> dict[str, Any]:
    """The answers on the traffic against the champion's on its held-out rows, with drift.py's tests: PSI and
    KS of numbers (a probability, a predicted value), PSI and chi-square of the predicted classes."""
    measures = drift.compare_feature(
        reference,
        current,
        psi_threshold=config.psi_threshold,
        per_test=config.ks_pvalue / 2,
        bins=config.bins,
    )
    result = {
        **measures,
        "measure": str(reference.name),
        "reference_rows": len(reference),
        "current_rows": len(current),
    }
    if reference.name == "probability":
        result["reference_positive_rate"] = round(float((reference > 0.5).mean()), 6)
        result["current_positive_rate"] = round(float((current > 0.5).mean()), 6)
    return result


def describe_drift(moved: dict[str, Any]) -> str:
    """The reason a prediction drift alerts with: what moved, and the tests' verdicts."""
    if moved["kind"] == "categorical":
        what = f"predicted class shares {moved['reference_shares']} -> {moved['current_shares']}"
        tests = f"PSI {moved['psi']:.3f}, chi-square p-value {moved['pvalue']:.1e}"
    else:
        name = "probability" if moved["measure"] == "probability" else "prediction"
        what = f"mean {name} {moved['reference_mean']:.3f} -> {moved['current_mean']:.3f}"
        tests = f"PSI {moved['psi']:.3f}, KS p-value {moved['ks_pvalue']:.1e}"
    return f"prediction drift: {what} ({tests})"


def performance(
    traffic: pd.DataFrame, labels: pd.DataFrame, config: PerformanceSettings
) -> dict[str, Any] | None:
    """Scores of the logged predictions whose labels have arrived, against the alert; None when none has."""
    if traffic.empty or ID not in traffic.columns:
        return None
    keyed = traffic.dropna(subset=[ID])
    keyed = keyed.astype({ID: labels[ID].dtype}) if len(keyed) else keyed
    labels = labels[[ID, TARGET]].drop_duplicates(subset=[ID], keep="last")
    labelled = keyed.merge(labels, on=ID, how="inner")
    if labelled.empty:
        return None
    alert: Threshold = config.alert(train_toml().monitoring.alert)
    source = (
        f"{config_file(MonitoringSettings.NAME)} [performance]"
        if config.metric is not None
        else "config/train.toml [monitoring]"
    )
    enough = len(labelled) >= config.min_labelled
    metrics = labelled_metrics(labelled[TARGET], labelled["prediction"], labelled["probability"])
    value = judge(alert, metrics, source)
    return {
        "labelled": len(labelled),
        "metric": alert.metric,
        "value": value,
        "threshold": alert.value,
        "higher_is_better": alert.higher_is_better,
        "min_labelled": config.min_labelled,
        "judged": enough,
        "breach": bool(enough and value is not None and alert.missed(value)),
        "metrics": metrics,
        "by_model_version": {
            str(version): {
                **labelled_metrics(rows[TARGET], rows["prediction"], rows["probability"]),
                "labelled": len(rows),
            }
            for version, rows in labelled.groupby("model_version")
        },
    }


def check(
    predictions_dir: Path = PREDICTIONS_DIR,
    labels_file: Path | None = None,
    out_dir: Path = OUT_DIR,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One monitoring check of the recent traffic; appended to the history and the report rewritten.

    Returns `alert`, `reasons` (one per threshold crossed), `drift` (per feature), `drift_summary`,
    `prediction_drift`, `performance` (None before labels arrive), `window`, `model`, `notes`, `checked_at`.
    """
    config = settings()
    now = now or datetime.now(UTC)
    hours = config.window.hours
    # The rows answered in the window, with their inputs: a shadow's lines are left out, so each row counts
    # once, with the answer its caller got.
    log = LogReader(predictions_dir)
    traffic = log.frame(since=now - timedelta(hours=hours), inputs=True)
    result: dict[str, Any] = {
        "checked_at": now.isoformat(timespec="seconds"),
        "alert": False,
        "reasons": [],
        "window": {"hours": hours, "rows": len(traffic), "requests": 0},
        "thresholds": {
            "max_share_drifted": config.data_drift.max_share_drifted,
            "prediction_psi": config.prediction_drift.psi_threshold,
            "performance": config.performance.alert(train_toml().monitoring.alert).value,
        },
        "model": None,
        "drift": {},
        "drift_summary": None,
        "prediction_drift": {},
        "performance": None,
        "notes": [],
    }
    reasons, notes = result["reasons"], result["notes"]
    if log.skipped:
        notes.append(f"{log.skipped} unreadable lines of the prediction log were skipped (cut short?)")
    if len(traffic):
        result["window"]["requests"] = int(traffic["request_id"].nunique())
    champion = registry.find(CHAMPION)
    if champion is None:
        notes.append("no champion in the registry: run `make pipeline && make promote`")
        return record(result, out_dir)
    rows, data_version, restored = training_rows(champion.tags.get("data_version"))
    result["model"] = {
        "name": champion.name,
        "version": champion.version,
        "data_version": data_version,
        "reference": "restored training data" if restored else "the source as it is now (version not stored)",
    }
    min_rows = config.window.min_rows
    if len(traffic) < min_rows:
        notes.append(
            f"{len(traffic)} rows logged in the last {hours:g} h, fewer than {min_rows}: no drift verdict"
        )
    else:
        inputs = rows.drop(columns=[TARGET])
        reference = features.compute(inputs)
        current = features.compute(traffic[[c for c in inputs.columns if c in traffic.columns]])
        report = data_drift(reference, current, config.data_drift)
        result["drift"], result["drift_summary"] = report["features"], report["summary"]
        drift.write_report(report, reference, current, out_dir)
        share, limit = report["summary"]["share_drifted"], config.data_drift.max_share_drifted
        if share > limit:
            names = ", ".join(report["summary"]["drifted_features"][:5])
            reasons.append(f"data drift: {share:.0%} of features drifted (limit {limit:.0%}): {names}")
        kind = train_toml().task.type
        answered = answered_values(traffic[traffic["model_version"] == str(champion.version)], kind)
        if len(answered) >= min_rows:
            model = registry.load_version(champion.version)
            held_out = held_out_of(rows, champion.tags)
            expected = expected_values(model, model_inputs(held_out.drop(columns=[TARGET]), model), kind)
            moved = prediction_drift(expected, answered, config.prediction_drift)
            result["prediction_drift"] = moved
            if moved["drifted"]:
                reasons.append(describe_drift(moved))
        else:
            notes.append(f"{len(answered)} rows answered by the champion: no prediction drift verdict")
    labels = labels_file or labels_path()
    if labels.is_file():
        result["performance"] = performance(traffic, data_pipeline.read_table(labels), config.performance)
    found = result["performance"]
    if found is None:
        notes.append(f"no logged prediction has a label yet ({labels})")
    elif found["breach"]:
        worse = "below" if found["higher_is_better"] else "above"
        reasons.append(
            f"performance: {found['metric']} {found['value']:.4f} {worse} {found['threshold']:g} "
            f"on {found['labelled']} labelled rows"
        )
    result["alert"] = bool(reasons)
    return record(result, out_dir)


def record(result: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Append the result to out_dir/history.jsonl and rewrite out_dir/report.html from the whole history."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / HISTORY_NAME).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    (out_dir / REPORT_NAME).write_text(render_html(read_history(out_dir)), encoding="utf-8")
    return result


def read_history(out_dir: Path = OUT_DIR) -> list[dict[str, Any]]:
    """Every check recorded in out_dir/history.jsonl, oldest first."""
    path = out_dir / HISTORY_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def series(history: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per check: its time and the measures the report plots (NaN where a check had no verdict)."""

    def get(entry: dict[str, Any], *keys: str) -> float:
        value: Any = entry
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return float("nan") if value is None else float(value)

    return pd.DataFrame(
        {
            "time": [datetime.fromisoformat(entry["checked_at"]) for entry in history],
            "rows": [get(entry, "window", "rows") for entry in history],
            "share_drifted": [get(entry, "drift_summary", "share_drifted") for entry in history],
            "prediction_psi": [get(entry, "prediction_drift", "psi") for entry in history],
            "performance": [get(entry, "performance", "value") for entry in history],
            "alert": [bool(entry["alert"]) for entry in history],
        }
    )


def plot(frame: pd.DataFrame, thresholds: dict[str, float]) -> Figure:
    """The measures over time, one panel each, alerts in red, the latest thresholds dashed."""
    figure = html.figure(8, 7.5)
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.08, top=0.95, hspace=0.45)
    panels = figure.subplots(4, 1, sharex=True)
    titles = {
        "share_drifted": "share of features drifted",
        "prediction_psi": "prediction drift (PSI of the answers)",
        "performance": "performance on labelled predictions",
        "rows": "rows in the window",
    }
    named = {
        "share_drifted": "max_share_drifted",
        "prediction_psi": "prediction_psi",
        "performance": "performance",
    }
    limits = {column: float(thresholds[key]) for column, key in named.items() if key in thresholds}
    for axes, (column, title) in zip(panels, titles.items(), strict=True):
        axes.plot(frame["time"], frame[column], marker="o", markersize=3, color="tab:blue")
        alerts_at = frame[frame["alert"]]
        axes.scatter(alerts_at["time"], alerts_at[column], color="tab:red", zorder=3, s=18)
        if column in limits:
            axes.axhline(limits[column], color="tab:red", linestyle="--", linewidth=1)
        if frame[column].isna().all():
            axes.text(0.5, 0.5, "no value yet", transform=axes.transAxes, ha="center", color="grey")
            axes.set_yticks([])
        axes.set_title(title, fontsize=9)
        axes.tick_params(labelsize=7)
        html.fit_time_axis(axes, frame["time"])
    panels[-1].set_xlabel("UTC", fontsize=7)
    return figure


def render_html(history: list[dict[str, Any]]) -> str:
    """The monitoring report: the latest verdict, the measures over time and a table of recent checks."""
    latest = history[-1]
    verdict = "ALERT: " + "; ".join(latest["reasons"]) if latest["alert"] else "no threshold crossed"
    frame = series(history)
    recent = list(zip(history, frame.to_dict("records"), strict=True))[::-1][:MAX_TABLE_ROWS]
    table = html.table(
        (
            [
                entry["checked_at"],
                html.number(point["rows"], ".0f"),
                html.number(point["share_drifted"], ".2f"),
                html.number(point["prediction_psi"], ".3f"),
                html.number(point["performance"], ".4f"),
                "; ".join(entry["reasons"] or entry["notes"]) or "-",
            ]
            for entry, point in recent
        ),
        header=["checked at", "rows", "share drifted", "prediction PSI", "performance", "reasons or notes"],
        classes=("alert" if entry["alert"] else None for entry, _ in recent),
    )
    drifted = (latest.get("drift_summary") or {}).get("drifted_features", [])
    chart = html.image(plot(frame, latest.get("thresholds", {})), "measures over time")
    body = f"""<p>Latest check {html.escape(latest["checked_at"])}: {latest["window"]["rows"]} rows of the
last {latest["window"]["hours"]:g} hours; drifted features: {html.escape(", ".join(drifted) or "none")}
(<a href="drift.html">latest drift report</a>). {len(history)} checks recorded in {HISTORY_NAME}.</p>
{chart}
<h2>Recent checks</h2>
{table}"""
    return html.page(f"Monitoring: {verdict}", body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the service's recent traffic against the champion.")
    parser.add_argument(
        "--predictions",
        type=Path,
        default=predictions_path(),
        help=f"the service's log folder (or {PREDICTIONS_ENV})",
    )
    parser.add_argument(
        "--labels", type=Path, default=None, help=f"CSV of id and target (or {LABELS_ENV}, else the config's)"
    )
    parser.add_argument("--fail-on-alert", action="store_true", help=f"exit {EXIT_ALERT} on an alert")
    args = parser.parse_args(argv)
    result = check(args.predictions, args.labels)
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"history: {OUT_DIR / HISTORY_NAME}; report: {OUT_DIR / REPORT_NAME}")
    if not result["alert"]:
        print(f"no threshold crossed ({result['window']['rows']} rows checked)")
        return 0
    for reason in result["reasons"]:
        print(f"ALERT {reason}", file=sys.stderr)
    print(alerts.notify(result)["message"])
    return EXIT_ALERT if args.fail_on_alert else 0


if __name__ == "__main__":
    sys.exit(main())
