# Kept by the template: `copier update` rewrites this file.
"""Compliance report: one page per model version with everything an auditor asks for, as HTML and JSON.

`make compliance-report` (the champion, or `ARGS="--version N"`) writes
$ARTIFACTS_DIR/reports/compliance/<model>-v<version>.json and .html from what the project already records:

- the task the version solves (config/train.toml's [task]: binary, multiclass or regression, and the
  metric it is promoted on), as its model card states it;
- the version's model card (`model_card`: purpose, limits, owner, metrics, params, code version,
  environment, aliases), rebuilt now so its aliases and decisions are current;
- its data version and source, the data it was trained and judged on;
- every audit log entry about it (registration, promotions, refusals, rollbacks) and whether the log's
  hash chain verifies and the registry agrees with it (`audit.verify`): a broken chain is reported, with
  the line where it breaks, and so is each thing the registry shows that the log does not hold;
- the fairness result of the latest promotion decision about it (`fairness`, through the audit log);
- its feature-importance report (`explain`), the five most important features;
- the latest monitoring check (reports/monitoring/history.jsonl, `make monitor`), if any, and whether it
  was about this version.

The report states what it finds; `status` lists the findings that need a look (a broken chain, a failed or
unconfigured fairness check, a monitoring alert, no report yet), so an empty list reads "nothing open".
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import REPORTS_DIR
from ..monitoring import continuous as monitoring
from ..reports import html
from ..tracking import registry
from . import audit, explain, model_card

COMPLIANCE_DIR = REPORTS_DIR / "compliance"


def report_path(name: str, number: str, suffix: str = ".json") -> Path:
    return COMPLIANCE_DIR / f"{name}-v{number}{suffix}"


def audit_entries(name: str, number: str) -> list[dict[str, Any]]:
    """The audit log's entries about a version: as its subject, or as the version rolled back."""
    return [
        entry
        for entry in audit.entries()
        if entry["fields"].get("model_name") == name
        and number in (entry["fields"].get("version"), entry["fields"].get("rolled_back"))
    ]


def latest_monitoring(number: str) -> dict[str, Any] | None:
    """The latest monitoring check (None before the first), and whether it checked this version."""
    history = monitoring.read_history(monitoring.OUT_DIR)
    if not history:
        return None
    latest = history[-1]
    checked = (latest.get("model") or {}).get("version")
    return {
        "checked_at": latest.get("checked_at"),
        "about_this_version": checked == number,
        "model_version": checked,
        "alert": bool(latest.get("alert")),
        "reasons": list(latest.get("reasons", [])),
        "drift_summary": latest.get("drift_summary"),
        "performance": latest.get("performance"),
        "notes": list(latest.get("notes", [])),
    }


def open_findings(report: dict[str, Any]) -> list[str]:
    """What needs a look, one line each (empty: nothing open)."""
    findings = []
    chain = report["audit"]["chain"]
    if chain["first_broken"] is not None:
        findings.append(f"audit log chain broken at line {chain['first_broken']}: {chain['reason']}")
    findings.extend(f"audit log: {finding}" for finding in chain.get("findings", []))
    fair = report["fairness"]
    if fair is None:
        findings.append("fairness not evaluated yet: no promotion decision about this version")
    elif not fair["configured"] or not fair["passed"]:
        findings.append(fair["summary"])
    if report["explanation"] is None:
        findings.append('no feature-importance report: `make explain-report ARGS="--version N"`')
    checked = report["monitoring"]
    if checked is not None and checked["about_this_version"] and checked["alert"]:
        findings.append("latest monitoring check alerted: " + "; ".join(checked["reasons"]))
    return findings


def build(version: registry.ModelVersion) -> dict[str, Any]:
    """A version's compliance report."""
    card = model_card.build(version)
    importance = explain.read(version.name, version.version)
    report: dict[str, Any] = {
        "model_name": version.name,
        "version": version.version,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "aliases": card["aliases"],
        "task": card["task"],
        "data": {"version": card["data_version"], "source": card["data_source"]},
        "model_card": card,
        "audit": {"chain": audit.verify(), "entries": audit_entries(version.name, version.version)},
        "fairness": card["fairness"],
        "explanation": None
        if importance is None
        else {
            "report": card["explanation"],
            "method": importance["method"],
            "scoring": importance["scoring"],
            "top_features": importance["features"][:5],
        },
        "monitoring": latest_monitoring(version.version),
    }
    report["status"] = open_findings(report)
    return report


def where(chain: dict[str, Any]) -> str:
    """Where the chain breaks (" at line N"), or nothing when the registry's cross-check found the fault."""
    return "" if chain["first_broken"] is None else f" at line {chain['first_broken']}"


def render_html(report: dict[str, Any]) -> str:
    card, chain, fair = report["model_card"], report["audit"]["chain"], report["fairness"]
    findings = (
        "".join(f"<li>{html.escape(line)}</li>" for line in report["status"]) or "<li>nothing open</li>"
    )
    entries = html.table(
        (
            [
                e["seq"],
                e["at"][:19],
                e["event"],
                e["fields"].get("reason") or "",
                html.Html(f"<code>{html.escape(e['hash'][:16])}</code>"),
            ]
            for e in report["audit"]["entries"]
        ),
        header=["seq", "at", "event", "reason", "hash"],
    )
    chain_text = (
        f"intact: {chain['lines']} lines, last hash <code>{html.escape(chain['head'])}</code>, "
        "anchored in the registry"
        if chain["intact"]
        else f"BROKEN{where(chain)}: {html.escape(chain['reason'])}"
    )
    if fair is None:
        fairness = "<p>not evaluated yet</p>"
    elif not fair["configured"]:
        fairness = f"<p>{html.escape(fair['summary'])}</p>"
    else:
        measured = {**fair["metrics"], **{m: "does not apply" for m in fair.get("not_applicable", {})}}
        fairness = f"<p>{html.escape(fair['summary'])}</p>{html.pairs(measured)}"
        fairness += html.cell(fair["groups"])
    explanation = report["explanation"]
    explained = (
        "<p>no feature-importance report</p>"
        if explanation is None
        else f"<p>{html.escape(explanation['method'])} ({html.escape(explanation['scoring'])}), "
        f"<code>{html.escape(explanation['report'])}</code></p>"
        + html.pairs({f["feature"]: f["importance"] for f in explanation["top_features"]})
    )
    checked = report["monitoring"]
    monitored = "<p>no monitoring check yet</p>" if checked is None else html.pairs(checked)
    described = ("owner", "intended_use", "out_of_scope", "limitations")
    recorded = ("metrics", "metrics_source", "params", "code_version", "environment")
    data = {"data version": report["data"]["version"], "source": report["data"]["source"]}
    body = f"""<p>Generated {html.escape(report["generated_at"])}.
Task: {html.escape(model_card.task_line(report.get("task")))}.
Aliases: {html.escape(", ".join(report["aliases"]) or "none")}.</p>
<h2>Open findings</h2><ul>{findings}</ul>
<h2>Model card</h2>
{html.pairs({key: card[key] for key in (*described, *recorded)})}
<h2>Data</h2>{html.pairs(data)}
<h2>Audit trail</h2><p>Hash chain: {chain_text}</p>
{entries}
<h2>Fairness</h2>{fairness}
<h2>Explainability</h2>{explained}
<h2>Latest monitoring</h2>{monitored}"""
    return html.page(f"Compliance report: {report['model_name']} version {report['version']}", body)


def write(report: dict[str, Any]) -> Path:
    """Write a report as .json and .html; returns the HTML file."""
    COMPLIANCE_DIR.mkdir(parents=True, exist_ok=True)
    name, number = report["model_name"], report["version"]
    report_path(name, number).write_text(
        json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    page = report_path(name, number, ".html")
    page.write_text(render_html(report), encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the compliance report of a model version.")
    parser.add_argument("--version", metavar="N", help="a registered version (default: the champion)")
    args = parser.parse_args(argv)
    report = build(model_card.version_or_champion(args.version))
    page = write(report)
    chain = report["audit"]["chain"]
    print(
        f"{report['model_name']} version {report['version']} ({model_card.task_line(report['task'])}), "
        f"data version {report['data']['version']}"
    )
    print(f"audit chain: {'intact' if chain['intact'] else 'BROKEN' + where(chain)}")
    for finding in report["status"] or ["nothing open"]:
        print(f"  - {finding}")
    print(f"compliance report written to {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
