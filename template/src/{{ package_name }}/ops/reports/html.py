# Kept by the template: `copier update` rewrites this file.
"""The HTML of every report: one style, one page frame, tables of any value, figures and their time axes.

The drift report, the monitoring report, the canary and shadow reports, the feature-importance report and
the compliance report all build their pages from here, so they look alike and escape alike:

- `page(title, body)`: a self-contained page (no link leaves it) with the one `STYLE`;
- `cell(value)`: any value of a report as HTML, never as JSON: None as a dash, numbers formatted
  (`number`), text escaped, a dict as a nested table of its keys and values (a dict of dicts as a table
  with a row per key and a column per inner key), a list of dicts as a table with a column per key, a
  list of short values on one line with commas, other lists as bullet lists;
- `table(rows, header)`, `pairs(mapping)`, `keyed(mapping)` and `records(items)`: tables whose every
  value goes through `cell`, and `escape(value)` for values in prose: every value is escaped, so a
  feature or model name holding `<script>` shows as text;
- `figure`, `png` and `image`: matplotlib figures without pyplot (no global state; Agg draws them),
  embedded as base64 PNG; `fit_time_axis` fits a time axis to the times plotted (a single check or an
  hour of them gets a window of hours around it, not matplotlib's span of years) and labels it with
  `matplotlib.dates`' AutoDateLocator and ConciseDateFormatter.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from html import escape as _escape
from numbers import Integral, Real
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 80em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td table { margin: 0; font-size: 0.95em; } td table th, td table td { border-color: #e4e4e4; }
td ul { margin: 0; padding-left: 1.2em; }
tr.drift, tr.alert { background: #fde2e1; }
figure { display: inline-block; margin: 0.3em; } img { max-width: 100%; }
"""
NONE = "&ndash;"  # how a missing value (None, NaN, an empty list or dict) shows
SHORT = 40  # a list of numbers and of strings this short shows on one line, commas between; else a list
DIGITS = 4  # decimals of a float without a format of its own
DPI = 80
MIN_PAD = timedelta(hours=1)  # the least room left on either side of the times of a time axis
PAD_SHARE = 0.05  # and otherwise this share of their span


class Html(str):
    """A string that is HTML already (built by this module): `cell` puts it in as it is."""


class Number(Html):
    """A formatted number: `table` aligns its cell to the right."""


def escape(value: Any) -> str:
    """Any value as text safe in HTML (quotes included, so it is safe in an attribute too)."""
    return _escape(str(value), quote=True)


def number(value: float | None, spec: str | None = None) -> Html:
    """A number as text: `spec` (a format spec such as ".3f") when given; else an integer as it is and a
    float with DIGITS decimals, in scientific notation when very small or very large; None and NaN as a
    dash."""
    if value is None or (isinstance(value, Real) and math.isnan(value)):
        return Html(NONE)
    if spec is not None:
        return Number(escape(format(value, spec)))
    if isinstance(value, Integral):
        return Number(str(int(value)))
    real = float(value)
    if math.isinf(real):
        return Number("&infin;" if real > 0 else "&minus;&infin;")
    if real != 0 and not 10 ** -(DIGITS - 1) <= abs(real) < 1e6:
        return Number(f"{real:.{DIGITS - 1}e}")
    return Number(f"{real:.{DIGITS}f}")


def cell(value: Any) -> Html:
    """One value of a report as HTML, never as JSON: see the module's docstring."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html(NONE)
    if isinstance(value, bool):
        return Html("yes" if value else "no")
    if isinstance(value, Real):
        return number(value)
    if isinstance(value, str):
        return Html(escape(value))
    if isinstance(value, Mapping):
        if not value:
            return Html(NONE)
        if all(isinstance(inner, Mapping) and inner for inner in value.values()):
            return keyed(value)
        return pairs(value)
    if isinstance(value, Sequence | set | frozenset):
        items = list(value)
        if not items:
            return Html(NONE)
        if all(isinstance(item, Mapping) for item in items):
            return records(items)
        if all(isinstance(item, Real) or (isinstance(item, str) and len(item) <= SHORT) for item in items):
            return Html(", ".join(cell(item) for item in items))
        return Html("<ul>" + "".join(f"<li>{cell(item)}</li>" for item in items) + "</ul>")
    return Html(escape(value))


def row(values: Iterable[Any], *, header: bool = False, css: str | None = None, heads: int = 0) -> Html:
    """One table row: every value a header cell with `header`, else the first `heads` of them."""
    cells = []
    for index, value in enumerate(values):
        content = cell(value)
        if header or index < heads:
            cells.append(f"<th>{content}</th>")
        elif isinstance(content, Number):
            cells.append(f'<td class="num">{content}</td>')
        else:
            cells.append(f"<td>{content}</td>")
    return Html((f'<tr class="{escape(css)}">' if css else "<tr>") + "".join(cells) + "</tr>")


def table(
    rows: Iterable[Sequence[Any]],
    header: Sequence[Any] | None = None,
    *,
    classes: Iterable[str | None] | None = None,
    heads: int = 0,
) -> Html:
    """A table: `header` as its first row, then one row per sequence of values, the first `heads` of each
    as header cells; `classes` gives each row a CSS class (None for none), such as "drift" or "alert"."""
    rows = list(rows)
    styles = list(classes) if classes is not None else [None] * len(rows)
    lines = [row(header, header=True)] if header is not None else []
    lines.extend(row(values, css=css, heads=heads) for values, css in zip(rows, styles, strict=True))
    return Html("<table>" + "\n".join(lines) + "</table>")


def pairs(mapping: Mapping[Any, Any]) -> Html:
    """A two-column table: each key as a header cell, its value (through `cell`) beside it."""
    return table(([key, value] for key, value in mapping.items()), heads=1)


def keyed(mapping: Mapping[Any, Mapping[Any, Any]]) -> Html:
    """A table of a dict of dicts (such as metrics per group): a row per key, a column per inner key."""
    columns = list(dict.fromkeys(key for inner in mapping.values() for key in inner))
    rows = ([key, *(inner.get(column) for column in columns)] for key, inner in mapping.items())
    return table(rows, header=["", *columns], heads=1)


def records(items: Sequence[Mapping[Any, Any]]) -> Html:
    """A table of dicts: a column per key (in the order they first appear), a row per dict."""
    columns = list(dict.fromkeys(key for item in items for key in item))
    return table(([item.get(key) for key in columns] for item in items), header=columns)


def page(title: str, body: str) -> str:
    """A self-contained HTML page with the shared STYLE: `title` (text, escaped) as its title and first
    heading, then `body` (HTML)."""
    shown = escape(title)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{shown}</title>
<style>{STYLE}</style></head>
<body><h1>{shown}</h1>
{body}
</body></html>
"""


def figure(width: float, height: float) -> Figure:
    """A matplotlib figure of `width` x `height` inches, drawn by Agg without pyplot."""
    return Figure(figsize=(width, height), dpi=DPI)


def label(text: Any) -> str:
    """Text for a matplotlib title or tick label, with `$` kept from starting mathtext."""
    return str(text).replace("$", r"\$")


def png(drawn: Figure) -> str:
    """The figure as a base64 PNG."""
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image(drawn: Figure, alt: str) -> Html:
    """The figure as an <img> embedding its PNG, so the page stays self-contained."""
    return Html(f'<img alt="{escape(alt)}" src="data:image/png;base64,{png(drawn)}">')


def time_window(times: Iterable[Any]) -> tuple[datetime, datetime]:
    """The limits of a time axis around `times`: their span and, on either side, PAD_SHARE of it but at
    least MIN_PAD, so that a single time or an hour of them gets hours of axis rather than years."""
    stamps = pd.to_datetime(pd.Series(list(times)), utc=True).dropna()
    if stamps.empty:
        raise ValueError("a time axis needs at least one time")
    first, last = stamps.min().to_pydatetime(), stamps.max().to_pydatetime()
    pad = max((last - first) * PAD_SHARE, MIN_PAD)
    return first - pad, last + pad


def fit_time_axis(axes: Axes, times: Iterable[Any]) -> None:
    """Fit the x axis of `axes` (after plotting) to `times` (`time_window`) and label it with dates
    that read at its scale (AutoDateLocator and ConciseDateFormatter, in UTC)."""
    start, end = time_window(times)
    locator = AutoDateLocator(minticks=3, maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_xlim(start, end)
