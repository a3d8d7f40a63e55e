# Kept by the template: `copier update` rewrites this file.
"""Data drift: how far a new batch of inputs has moved from the data the model was trained on.

For every numeric feature the report gives two measures of the batch against the training reference:

- PSI, the population stability index, over `bins` bins cut at the reference's quantiles (so each bin
  holds about the same share of the reference): 0 means the same shape, 0.1 a small shift, 0.2 and more
  a shift worth acting on;
- the two-sample Kolmogorov-Smirnov test, whose p-value says how likely a difference this large is when
  both come from the same distribution.

A feature drifts when its PSI reaches `psi_threshold` or its KS p-value falls below `ks_pvalue`
(config/pipeline.toml `[drift]`), with two corrections that keep a batch from the training distribution
from being flagged by chance, which without them happens to most batches of a hundred rows:

- Bonferroni: with F features, each of the 2F tests (a KS test and a chi-square test of the PSI bins per
  feature) runs at `ks_pvalue / (2F)`, so that a batch from the training distribution has ANY feature
  flagged with probability at most `ks_pvalue`;
- PSI counts only when it is not sampling noise: small batches reach PSI 0.2 by chance (about one feature
  in twenty at 114 rows against 455), so a PSI at or above the threshold flags a feature only when the
  chi-square test of the same bin counts is significant at that level too. For batches of a thousand
  rows and more that test passes whenever PSI reaches 0.2, and the rule is the plain PSI threshold.

`<project> drift REFERENCE.csv CURRENT.csv` writes reports/drift.json and reports/drift.html.
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
from scipy import stats

from ...data import ID, TARGET
from ..config import REPORTS_DIR
from ..reports import html
from ..settings import pipeline_toml

EPSILON = 1e-4  # the share given to an empty bin, so that PSI stays finite
MAX_PLOTS = 12  # the HTML plots the most drifted features only, to stay small and quick to write
EXIT_DRIFT = 3


def settings() -> dict[str, Any]:
    """The `[drift]` table of config/pipeline.toml as keyword arguments of `drift_report`."""
    return pipeline_toml().drift.model_dump()


def feature_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """The numeric columns both frames share, in the reference's order, without the id and the target."""
    numeric = reference.select_dtypes("number").columns
    return [str(c) for c in numeric if c in current.columns and c not in (ID, TARGET)]


def bin_counts(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples in the bins cut at the reference's quantiles (ties merge bins)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    size = len(edges) + 1
    ref_counts = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=size)
    cur_counts = np.bincount(np.searchsorted(edges, current, side="left"), minlength=size)
    return ref_counts, cur_counts


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two histograms over the same bins."""
    expected = np.clip(ref_counts / ref_counts.sum(), EPSILON, None)
    actual = np.clip(cur_counts / cur_counts.sum(), EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def bins_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """P-value of the chi-square test that both histograms come from one distribution."""
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def compare_feature(
    reference: pd.Series, current: pd.Series, *, psi_threshold: float, per_test: float, bins: int
) -> dict[str, Any]:
    """Drift measures of one feature; missing values are left out of both samples."""
    ref = reference.dropna().to_numpy(dtype=float)
    cur = current.dropna().to_numpy(dtype=float)
    if len(ref) == 0 or len(cur) == 0:
        raise ValueError(f"feature {reference.name!r} has no values in the reference or the current batch")
    ref_counts, cur_counts = bin_counts(ref, cur, bins)
    value = psi(ref_counts, cur_counts)
    psi_p = bins_pvalue(ref_counts, cur_counts)
    ks = stats.ks_2samp(ref, cur)
    ks_p = float(ks.pvalue)
    # PSI counts only when its bins also differ beyond sampling noise (see the module's docstring).
    psi_drift = value >= psi_threshold and psi_p < per_test
    reasons = [name for name, hit in (("psi", psi_drift), ("ks", ks_p < per_test)) if hit]
    return {
        "psi": round(value, 6),
        "psi_pvalue": psi_p,
        "ks_statistic": round(float(ks.statistic), 6),
        "ks_pvalue": ks_p,
        "drifted": bool(reasons),
        "reasons": reasons,
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()),
    }


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    psi_threshold: float,
    ks_pvalue: float,
    bins: int = 10,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Per-feature drift of `current` against `reference`, as a JSON-serialisable dict.

    `features` maps each feature to its measures, most drifted first (by PSI); `summary` holds the drifted
    features, their share, `drift` (any feature drifted), the row counts and the thresholds used.
    """
    columns = feature_columns(reference, current) if columns is None else list(columns)
    if not columns:
        raise ValueError("no numeric feature shared by the reference and the current batch")
    if reference.empty or current.empty:
        raise ValueError("the reference and the current batch both need rows")
    per_test = ks_pvalue / (2 * len(columns))
    measures = {
        column: compare_feature(
            reference[column], current[column], psi_threshold=psi_threshold, per_test=per_test, bins=bins
        )
        for column in columns
    }
    ordered = sorted(measures, key=lambda c: (not measures[c]["drifted"], -measures[c]["psi"]))
    drifted = [column for column in ordered if measures[column]["drifted"]]
    return {
        "summary": {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "drift": bool(drifted),
            "drifted_features": drifted,
            "share_drifted": round(len(drifted) / len(columns), 4),
            "features": len(columns),
            "reference_rows": len(reference),
            "current_rows": len(current),
            "psi_threshold": psi_threshold,
            "ks_pvalue": ks_pvalue,
            "per_test_pvalue": per_test,
            "bins": bins,
        },
        "features": {column: measures[column] for column in ordered},
    }


def histogram(name: str, reference: pd.Series, current: pd.Series) -> Figure:
    """Overlaid density histograms of one feature."""
    ref = reference.dropna().to_numpy(dtype=float)
    cur = current.dropna().to_numpy(dtype=float)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=30)
    # Fixed margins and filled steps instead of a layout engine and bars keep a plot near 0.1 s.
    figure = html.figure(4.2, 2.6)
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.88)
    axes = figure.subplots()
    for values, label, color in ((ref, "reference", "tab:blue"), (cur, "current", "tab:orange")):
        axes.hist(
            values,
            bins=edges,
            density=True,
            histtype="stepfilled",
            alpha=0.5,
            color=color,
            label=f"{label} ({len(values)} rows)",
        )
    axes.set_title(html.label(name), fontsize=10)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7, loc="upper right")
    return figure


def render_html(report: dict[str, Any], reference: pd.DataFrame, current: pd.DataFrame) -> str:
    """A self-contained HTML page: the verdict, a table of every feature and plots of the most drifted."""
    summary, features = report["summary"], report["features"]
    verdict = (
        f"{len(summary['drifted_features'])} of {summary['features']} features drifted"
        if summary["drift"]
        else f"no drift in {summary['features']} features"
    )
    table = html.table(
        (
            [
                name,
                html.number(m["psi"], ".3f"),
                html.number(m["psi_pvalue"], ".2e"),
                html.number(m["ks_statistic"], ".3f"),
                html.number(m["ks_pvalue"], ".2e"),
                html.number(m["reference_mean"], ".4g"),
                html.number(m["current_mean"], ".4g"),
                ", ".join(m["reasons"]).upper() or "-",
            ]
            for name, m in features.items()
        ),
        header=[
            "feature",
            "PSI",
            "bins p-value",
            "KS statistic",
            "KS p-value",
            "reference mean",
            "current mean",
            "drift",
        ],
        classes=("drift" if m["drifted"] else None for m in features.values()),
    )
    plotted = list(features)[:MAX_PLOTS]
    plots = "\n".join(
        f"<figure>{html.image(histogram(name, reference[name], current[name]), name)}</figure>"
        for name in plotted
    )
    note = (
        f"<p>Plots of the {len(plotted)} most drifted of {len(features)} features; the table lists all.</p>"
        if len(plotted) < len(features)
        else ""
    )
    per_test = html.number(summary["per_test_pvalue"], ".2e")
    body = f"""<p>{summary["current_rows"]} current rows against {summary["reference_rows"]} reference rows,
{html.escape(summary["created_at"])}.
A feature drifts when its PSI reaches {summary["psi_threshold"]} and the chi-square test of its
{summary["bins"]} bins agrees (bins p-value below {per_test}), or when its KS test's
p-value falls below {per_test}: {summary["ks_pvalue"]} shared by the two tests of
every feature, so that a batch like the reference is flagged by chance at most that often.</p>
{table}
<h2>Distributions</h2>
{note}
{plots}"""
    return html.page(f"Drift report: {verdict}", body)


def write_report(
    report: dict[str, Any], reference: pd.DataFrame, current: pd.DataFrame, out_dir: Path
) -> tuple[Path, Path]:
    """Write drift.json and drift.html into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "drift.json", out_dir / "drift.html"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report, reference, current), encoding="utf-8")
    return json_path, html_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drift of a batch of inputs against the training data.")
    parser.add_argument("reference", type=Path, help="CSV the model was trained on")
    parser.add_argument("current", type=Path, help="CSV of the new batch")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="where drift.json and drift.html go")
    parser.add_argument("--fail-on-drift", action="store_true", help=f"exit {EXIT_DRIFT} on drift")
    args = parser.parse_args(argv)
    reference, current = pd.read_csv(args.reference), pd.read_csv(args.current)
    report = drift_report(reference, current, **settings())
    json_path, html_path = write_report(report, reference, current, args.out)
    summary = report["summary"]
    for name in summary["drifted_features"]:
        m = report["features"][name]
        print(
            f"DRIFT {name}: PSI {m['psi']:.3f}, KS p-value {m['ks_pvalue']:.2e}, "
            f"mean {m['reference_mean']:.4g} -> {m['current_mean']:.4g}"
        )
    drifted = len(summary["drifted_features"])
    print(f"{drifted} of {summary['features']} features drifted; reports: {json_path}, {html_path}")
    return EXIT_DRIFT if summary["drift"] and args.fail_on_drift else 0


if __name__ == "__main__":
    sys.exit(main())
