# Kept by the template: `copier update` rewrites this file.
"""Data drift: how far a new batch of inputs has moved from the data the model was trained on.

Every feature the reference and the batch share (but the id and the target) is compared with the
training reference. A numeric feature gets two measures:

- PSI, the population stability index, over `bins` bins cut at the reference's quantiles (so each bin
  holds about the same share of the reference), plus one bin of the missing values: 0 means the same
  shape, 0.1 a small shift, 0.2 and more a shift worth acting on;
- the two-sample Kolmogorov-Smirnov test of the values present, whose p-value says how likely a
  difference this large is when both come from the same distribution.

A categorical feature (strings, booleans, categories) gets PSI over its categories, the missing values
being one category and a category the reference never had counted as such (its reference share is taken
as EPSILON, so a new category weighs heavily), and the chi-square test of the category frequencies
(`scipy.stats.chi2_contingency` of the two samples' counts). Its report gives the share of the rows each
of the commonest categories has on both sides, the categories new to the reference and the missing shares.

A non-numeric feature with more than TEXT_VALUES distinct values, more than half as many as it has values
(free text, an identifier, a timestamp as text), has no categories to compare: each batch brings values the
reference never had, so its PSI is large whatever happens, and a chi-square test of hundreds of one-row
categories tells nothing. The report lists it as `text` with its numbers of distinct values and tests none.

A feature drifts when its PSI reaches `psi_threshold` or a test's p-value falls below `ks_pvalue`
(config/pipeline.toml `[drift]`), with two corrections that keep a batch from the training distribution
from being flagged by chance, which without them happens to most batches of a hundred rows:

- Bonferroni: with T tests in all (per numeric feature a KS test and a chi-square test of its PSI bins, per
  categorical feature the chi-square test of its categories), each runs at `ks_pvalue / T`, so that a
  batch from the training distribution has ANY feature flagged with probability at most `ks_pvalue`;
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
from ..data.data_pipeline import read_table
from ..reports import html
from ..settings import pipeline_toml

EPSILON = 1e-4  # the share given to an empty bin (or a category new to the reference), so PSI stays finite
MISSING = "(missing)"  # the category of the missing values
SHOWN_CATEGORIES = 10  # the commonest categories of each side whose shares a report gives, the new ones it
# names, and the bars of a categorical plot
TEXT_VALUES = 20  # a non-numeric feature with more distinct values, and more than half as many as its rows,
# is free text or an identifier rather than categories (see the module's docstring)
MAX_PLOTS = 12  # the HTML plots the most drifted features only, to stay small and quick to write
EXIT_DRIFT = 3


def settings() -> dict[str, Any]:
    """The `[drift]` table of config/pipeline.toml as keyword arguments of `drift_report`."""
    return pipeline_toml().drift.model_dump()


def feature_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """The columns both frames share, in the reference's order, without the id and the target."""
    return [str(c) for c in reference.columns if c in current.columns and c not in (ID, TARGET)]


def is_numeric(reference: pd.Series) -> bool:
    """Whether a feature is compared as numbers (KS and binned PSI) rather than as categories."""
    return pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)


def distinct_values(values: pd.Series) -> int:
    """How many distinct values a feature has, as text, the missing ones left out."""
    return int(values.dropna().astype(str).nunique())


def is_text(reference: pd.Series) -> bool:
    """Whether a non-numeric feature is free text or an identifier rather than categories (TEXT_VALUES)."""
    if is_numeric(reference):
        return False
    distinct = distinct_values(reference)
    return distinct > TEXT_VALUES and distinct > 0.5 * reference.notna().sum()


def tests_of(reference: pd.DataFrame, columns: list[str]) -> int:
    """How many tests the features take: two per numeric feature, one per categorical one, none per text."""
    return sum(0 if is_text(reference[c]) else 2 if is_numeric(reference[c]) else 1 for c in columns)


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


def missing_share(values: pd.Series) -> float:
    return round(float(values.isna().mean()), 6) if len(values) else 0.0


def compare_feature(
    reference: pd.Series, current: pd.Series, *, psi_threshold: float, per_test: float, bins: int
) -> dict[str, Any]:
    """Drift measures of one feature: numeric (KS and binned PSI) or categorical (chi-square and PSI over
    the categories), with the missing values counted in the PSI and the chi-square test of both."""
    if len(reference) == 0 or len(current) == 0 or reference.isna().all():
        raise ValueError(f"feature {reference.name!r} has no values in the reference or the current batch")
    if not is_numeric(reference):
        return compare_categories(reference, current, psi_threshold=psi_threshold, per_test=per_test)
    ref = reference.dropna().to_numpy(dtype=float)
    cur = pd.to_numeric(current, errors="coerce").dropna().to_numpy(dtype=float)
    ref_counts, cur_counts = bin_counts(ref, cur, bins)
    # the missing values as one more bin: a batch whose values go missing moves the PSI too
    ref_counts = np.append(ref_counts, len(reference) - len(ref))
    cur_counts = np.append(cur_counts, len(current) - len(cur))
    value = psi(ref_counts, cur_counts)
    psi_p = bins_pvalue(ref_counts, cur_counts)
    ks = stats.ks_2samp(ref, cur) if len(cur) else None
    ks_p = 1.0 if ks is None else float(ks.pvalue)
    # PSI counts only when its bins also differ beyond sampling noise (see the module's docstring).
    psi_drift = value >= psi_threshold and psi_p < per_test
    reasons = [name for name, hit in (("psi", psi_drift), ("ks", ks_p < per_test)) if hit]
    return {
        "kind": "numeric",
        "psi": round(value, 6),
        "psi_pvalue": psi_p,
        "ks_statistic": None if ks is None else round(float(ks.statistic), 6),
        "ks_pvalue": ks_p,
        "pvalue": min(psi_p, ks_p),
        "drifted": bool(reasons),
        "reasons": reasons,
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()) if len(cur) else None,
        "reference_missing": missing_share(reference),
        "current_missing": missing_share(current),
    }


def categories(values: pd.Series) -> pd.Series:
    """A categorical feature's values as text, the missing ones as the MISSING category."""
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def shares(counts: pd.Series, shown: list[str]) -> dict[str, float]:
    """The share of the rows each of the `shown` categories has (0 where it has none)."""
    return {name: round(float(counts.get(name, 0) / counts.sum()), 6) for name in shown}


def compare_categories(
    reference: pd.Series, current: pd.Series, *, psi_threshold: float, per_test: float
) -> dict[str, Any]:
    """Drift measures of a categorical feature: PSI over its categories (missing values and categories new to
    the reference each counted as one) and the chi-square test of the category frequencies."""
    ref_counts, cur_counts = categories(reference).value_counts(), categories(current).value_counts()
    seen = list(ref_counts.index) + [name for name in cur_counts.index if name not in ref_counts.index]
    ref_aligned = ref_counts.reindex(seen, fill_value=0).to_numpy()
    cur_aligned = cur_counts.reindex(seen, fill_value=0).to_numpy()
    value = psi(ref_aligned, cur_aligned)
    chi2_p = bins_pvalue(ref_aligned, cur_aligned)
    psi_drift = value >= psi_threshold and chi2_p < per_test
    reasons = [name for name, hit in (("psi", psi_drift), ("chi2", chi2_p < per_test)) if hit]
    unseen = [str(name) for name in cur_counts.index if name not in ref_counts.index]
    shown = list(dict.fromkeys([*ref_counts.index[:SHOWN_CATEGORIES], *cur_counts.index[:SHOWN_CATEGORIES]]))
    return {
        "kind": "categorical",
        "psi": round(value, 6),
        "psi_pvalue": chi2_p,
        "ks_statistic": None,
        "ks_pvalue": None,
        "pvalue": chi2_p,
        "drifted": bool(reasons),
        "reasons": reasons,
        "reference_mean": None,
        "current_mean": None,
        "reference_top": str(ref_counts.index[0]),
        "current_top": str(cur_counts.index[0]),
        "reference_shares": shares(ref_counts, shown),
        "current_shares": shares(cur_counts, shown),
        "categories": len(seen),
        "unseen_categories": unseen[:SHOWN_CATEGORIES],
        "unseen_share": round(float(cur_counts.reindex(unseen).sum() / len(current)), 6),
        "reference_missing": missing_share(reference),
        "current_missing": missing_share(current),
    }


def compare_text(reference: pd.Series, current: pd.Series) -> dict[str, Any]:
    """A free-text feature (`is_text`): its distinct values and missing shares, not compared."""
    return {
        "kind": "text",
        "psi": None,
        "psi_pvalue": None,
        "ks_statistic": None,
        "ks_pvalue": None,
        "pvalue": None,
        "drifted": False,
        "reasons": [],
        "reference_mean": None,
        "current_mean": None,
        "reference_distinct": distinct_values(reference),
        "current_distinct": distinct_values(current),
        "reference_missing": missing_share(reference),
        "current_missing": missing_share(current),
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

    `features` maps each feature to its measures, most drifted first (by PSI), text features last; `summary`
    holds the drifted features, their share of the features compared (text ones are not), `drift` (any
    feature drifted), the row counts and the thresholds used.
    """
    columns = feature_columns(reference, current) if columns is None else list(columns)
    if not columns:
        raise ValueError("no feature shared by the reference and the current batch")
    if reference.empty or current.empty:
        raise ValueError("the reference and the current batch both need rows")
    tests = tests_of(reference, columns)
    per_test = ks_pvalue / max(tests, 1)
    measures = {
        column: compare_text(reference[column], current[column])
        if is_text(reference[column])
        else compare_feature(
            reference[column], current[column], psi_threshold=psi_threshold, per_test=per_test, bins=bins
        )
        for column in columns
    }
    text = [column for column in columns if measures[column]["kind"] == "text"]
    ordered = sorted(
        measures, key=lambda c: (not measures[c]["drifted"], c in text, -(measures[c]["psi"] or 0.0))
    )
    drifted = [column for column in ordered if measures[column]["drifted"]]
    return {
        "summary": {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "drift": bool(drifted),
            "drifted_features": drifted,
            "share_drifted": round(len(drifted) / max(len(columns) - len(text), 1), 4),
            "features": len(columns),
            "categorical_features": [c for c in columns if measures[c]["kind"] == "categorical"],
            "text_features": text,
            "tests": tests,
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
    """Overlaid density histograms of one feature (side-by-side category shares of a categorical one)."""
    if not is_numeric(reference):
        return category_bars(name, reference, current)
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


def category_bars(name: str, reference: pd.Series, current: pd.Series) -> Figure:
    """The shares of a categorical feature's commonest categories (missing values as one), side by side."""
    ref = categories(reference).value_counts(normalize=True)
    cur = categories(current).value_counts(normalize=True)
    shown = list(dict.fromkeys([*ref.index, *cur.index]))[:SHOWN_CATEGORIES]
    figure = html.figure(4.2, 2.6)
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.25, top=0.88)
    axes = figure.subplots()
    places = np.arange(len(shown))
    for offset, shares, label, color, rows in (
        (-0.2, ref, "reference", "tab:blue", len(reference)),
        (0.2, cur, "current", "tab:orange", len(current)),
    ):
        heights = shares.reindex(shown, fill_value=0.0).to_numpy()
        axes.bar(places + offset, heights, width=0.4, alpha=0.7, color=color, label=f"{label} ({rows} rows)")
    axes.set_ylabel("share of rows", fontsize=8)
    axes.set_xticks(places, [html.label(str(category)) for category in shown], rotation=30, fontsize=7)
    axes.set_title(html.label(name), fontsize=10)
    axes.tick_params(axis="y", labelsize=8)
    axes.legend(fontsize=7, loc="upper right")
    return figure


def typical(measures: dict[str, Any], side: str) -> str:
    """A feature's mean (numeric), most frequent category and its share (categorical) or number of distinct
    values (text) on one side, as report text."""
    if measures["kind"] == "text":
        return f"{measures[f'{side}_distinct']} distinct values"
    if measures["kind"] == "categorical":
        top = measures[f"{side}_top"]
        return f"{top} ({measures[f'{side}_shares'][top]:.0%})"
    return str(html.number(measures[f"{side}_mean"], ".4g"))


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
                typical(m, "reference"),
                typical(m, "current"),
                f"{m['reference_missing']:.1%} -> {m['current_missing']:.1%}",
                ", ".join(m["reasons"]).upper() or ("not compared" if m["kind"] == "text" else "-"),
            ]
            for name, m in features.items()
        ),
        header=[
            "feature",
            "PSI",
            "bins / categories p-value",
            "KS statistic",
            "KS p-value",
            "reference mean, top category (share) or distinct values",
            "current mean, top category (share) or distinct values",
            "missing",
            "drift",
        ],
        classes=("drift" if m["drifted"] else None for m in features.values()),
    )
    plotted = [name for name, m in features.items() if m["kind"] != "text"][:MAX_PLOTS]
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
A non-numeric feature with more than TEXT_VALUES distinct values, more than half as many as it has values
(free text, an identifier, a timestamp as text), has no categories to compare: each batch brings values the
reference never had, so its PSI is large whatever happens, and a chi-square test of hundreds of one-row
categories tells nothing. The report lists it as `text` with its numbers of distinct values and tests none.

A feature drifts when its PSI reaches {summary["psi_threshold"]} and the chi-square test of its
{summary["bins"]} bins (numeric, plus a bin of missing values) or of its categories (categorical) agrees
(p-value below {per_test}), or when that test or a numeric feature's KS test has a p-value below
{per_test}: {summary["ks_pvalue"]} shared by the {summary["tests"]} tests, so that a batch like the
reference is flagged by chance at most that often.</p>
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
    reference, current = read_table(args.reference), read_table(args.current)
    report = drift_report(reference, current, **settings())
    json_path, html_path = write_report(report, reference, current, args.out)
    summary = report["summary"]
    for name in summary["drifted_features"]:
        m = report["features"][name]
        print(
            f"DRIFT {name}: PSI {m['psi']:.3f}, p-value {m['pvalue']:.2e}, "
            f"{typical(m, 'reference')} -> {typical(m, 'current')}"
        )
    drifted = len(summary["drifted_features"])
    print(f"{drifted} of {summary['features']} features drifted; reports: {json_path}, {html_path}")
    return EXIT_DRIFT if summary["drift"] and args.fail_on_drift else 0


if __name__ == "__main__":
    sys.exit(main())
