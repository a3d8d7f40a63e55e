# Kept by the template: `copier update` rewrites this file.
"""Explanations: which features a registered version relies on, in its feature-importance report.

The pipeline's register step writes the report of every new version, and `make explain-report` (the
champion's, or `ARGS="--version N"`'s) rewrites it: <model>-v<version>.json and .html in
$ARTIFACTS_DIR/reports/explanations/, linked from the version's model card. It ranks the features by
permutation importance on the rows the version's training held out (the rows the promotion gate scores it
on): how much the metric of config/explain.toml `[report] scoring` drops when one feature's values are
shuffled, averaged over `repeats` shuffles, with its spread. The scoring fits the task of config/train.toml
(SCORINGS; without one, the task's first: roc_auc for binary, accuracy for multiclass, r2 for regression);
one that does not fit is an error naming the file, the key and the ones that do. The features are the
model's raw input columns, shuffled as they arrive (string columns too) and scored through the whole
pipeline, so a model that encodes its categories itself is ranked by its input columns. For a binary
linear model, as the template's scaled logistic regression, the report adds each feature's mean absolute
contribution to the log-odds (`serving.explanations.Explainer`, which also explains the service's single
predictions).

Why permutation importance rather than the `shap` package: measured in a generated level-4 project,
shap 0.51 brings numba and llvmlite, +213 MB in the environment (a 57 MB llvmlite wheel), `import shap`
takes longer than scikit-learn and pandas together, and numba's cap on the Python version keeps `uv lock`
from resolving a project whose `requires-python` has no upper bound. Permutation importance needs no
package the project does not have, works for whatever estimator model.py builds, and is measured on
held-out data.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.metrics import f1_score, make_scorer

from ...data import TARGET
from ..lifecycle import held_out_rows, model_inputs, positive_class
from ..reports import html
from ..serving.explanations import Explainer, read, report_path, settings, typical_row
from ..settings import ExplainSettings, ReportSettings, config_problem, train_toml
from ..tracking import registry
from . import model_card

SHOWN = 20  # features in the report's chart
# The scikit-learn scorings that fit each task, the default first (a higher score is better for all).
SCORINGS = {
    "binary": ("roc_auc", "accuracy", "balanced_accuracy", "f1"),
    "multiclass": ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted"),
    "regression": ("r2", "neg_mean_absolute_error", "neg_root_mean_squared_error"),
}


def scoring_name(config: ReportSettings) -> str:
    """config/explain.toml `[report] scoring`, or the task's default; one that does not fit the task of
    config/train.toml is an error naming the key and the scorings that fit."""
    kind = train_toml().task.type
    fitting = SCORINGS[kind]
    if config.scoring is None:
        return fitting[0]
    if config.scoring not in fitting:
        raise config_problem(
            ExplainSettings,
            "report.scoring",
            f"{config.scoring!r} does not fit a {kind} task (config/train.toml [task] type)",
            f"name one of {', '.join(fitting)}, or remove the key for {fitting[0]}",
        )
    return config.scoring


def scorer(name: str, model: Any) -> Any:
    """The scikit-learn scoring `name`; binary F1 counts the task's positive class (labels may be text)."""
    if name == "f1":
        return make_scorer(f1_score, pos_label=positive_class(model))
    return name


def importance(model: Any, rows: pd.DataFrame, config: ReportSettings, seed: int) -> list[dict[str, Any]]:
    """Each input feature's permutation importance (scikit-learn's) on labelled rows, most important first."""
    scoring, repeats = scoring_name(config), config.repeats
    inputs = model_inputs(rows.drop(columns=[TARGET]), model)
    found = permutation_importance(
        model, inputs, rows[TARGET], scoring=scorer(scoring, model), n_repeats=repeats, random_state=seed
    )
    ranked = [
        {"feature": str(name), "importance": round(float(mean), 6), "std": round(float(std), 6)}
        for name, mean, std in zip(inputs.columns, found.importances_mean, found.importances_std, strict=True)
    ]
    if train_toml().task.type != "binary":  # contributions to the log-odds are a binary model's
        return sorted(ranked, key=lambda entry: entry["importance"], reverse=True)
    explainer = Explainer.of(model, list(inputs.columns), reference=typical_row(inputs))
    if explainer.method == "linear":
        mean_abs = np.abs(explainer.contributions(inputs)[0]).mean(axis=0)
        for entry, value in zip(ranked, mean_abs, strict=True):
            entry["mean_abs_contribution"] = round(float(value), 6)
    return sorted(ranked, key=lambda entry: entry["importance"], reverse=True)


def build(model: Any, rows: pd.DataFrame, model_name: str, version: str, data_version: str) -> dict[str, Any]:
    """A version's report on its held-out rows: the ranked features and the reference row."""
    config = settings().report
    inputs = model_inputs(rows.drop(columns=[TARGET]), model)
    return {
        "model_name": model_name,
        "version": version,
        "data_version": data_version,
        "method": "permutation importance",
        "task": train_toml().task.type,
        "scoring": scoring_name(config),
        "repeats": config.repeats,
        "rows": len(rows),
        "features": importance(model, rows, config, train_toml().seed),
        "reference": typical_row(inputs),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def chart(features: list[dict[str, Any]]) -> Figure:
    """The most important features as horizontal bars with their spread."""
    shown = features[:SHOWN][::-1]
    figure = html.figure(7, 0.28 * len(shown) + 1.2)
    figure.subplots_adjust(left=0.35, right=0.97, bottom=0.5 / (0.28 * len(shown) + 1.2) + 0.05, top=0.97)
    axes = figure.subplots()
    axes.barh(
        [html.label(f["feature"]) for f in shown],
        [f["importance"] for f in shown],
        xerr=[f["std"] for f in shown],
    )
    axes.set_xlabel("drop of the score when the feature is shuffled")
    return figure


def render_html(report: dict[str, Any]) -> str:
    linear = "mean_abs_contribution" in report["features"][0]
    header = ["feature", "importance", "spread (std)"]
    header += ["mean |contribution| to the log-odds"] if linear else []
    table = html.table(
        (
            [
                f["feature"],
                *(html.number(f[key], ".4f") for key in ("importance", "std")),
                *([html.number(f["mean_abs_contribution"], ".4f")] if linear else []),
            ]
            for f in report["features"]
        ),
        header=header,
    )
    body = f"""<p>{html.escape(report["method"])}: the drop of {html.escape(report["scoring"])} when one
feature is shuffled, over {report["repeats"]} shuffles of the {report["rows"]} rows the version's training
held out (data version <code>{html.escape(report["data_version"])}</code>).
Written {html.escape(report["written_at"])}.</p>
{html.image(chart(report["features"]), "feature importance")}
{table}"""
    return html.page(f"Feature importance: {report['model_name']} version {report['version']}", body)


def write(report: dict[str, Any]) -> Path:
    """Write a report as .json and .html; returns the HTML file."""
    name, number = report["model_name"], report["version"]
    report_path(name, number).parent.mkdir(parents=True, exist_ok=True)
    report_path(name, number).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page = report_path(name, number, ".html")
    page.write_text(render_html(report), encoding="utf-8")
    return page


def for_version(version: registry.ModelVersion, model: Any = None) -> Path:
    """Write a registered version's report (`model`: the version's model, when already loaded)."""
    rows, data_version = held_out_rows(version.tags)
    model = model if model is not None else registry.load_version(version.version)
    return write(build(model, rows, version.name, version.version, data_version))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the feature-importance report of a registered version."
    )
    parser.add_argument("--version", metavar="N", help="a registered version (default: the champion)")
    args = parser.parse_args(argv)
    version = model_card.version_or_champion(args.version)
    page = for_version(version)
    model_card.write(version)  # the card links the report
    report = read(version.name, version.version) or {}
    top = ", ".join(f"{f['feature']} {f['importance']:.4f}" for f in report.get("features", [])[:5])
    print(f"most important ({report.get('scoring')}): {top}")
    print(f"explanation written to {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
