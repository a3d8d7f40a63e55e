# Kept by the template: `copier update` rewrites this file.
"""Model cards: one per registered version, as Markdown for people and JSON for tools.

$ARTIFACTS_DIR/reports/model_cards/<model>-v<version>.md and .json hold the task it solves
(config/train.toml's [task]: binary, multiclass or regression, and the metric it is promoted on), what the
version was trained on (its data version and source), how it scored (held-out metrics), with what (params,
code version, environment), where it stands (registry aliases, every promotion decision about it from the
audit log), what it is for (intended use, out-of-scope use, limitations and owner from config/model_card.toml,
which is yours), how fair the promotion gate found it (the fairness result of the latest decision about it)
and a link to its feature-importance report (`explain`, reports/explanations/).

The pipeline's register step writes the card of each new version; the promotion gate refreshes the cards
its decisions touch; `make model-card-report` (re)writes the champion's card, or `--version N`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...data import TARGET
from ...model import evaluate
from ..config import REPORTS_DIR
from ..errors import OpsError
from ..lifecycle import held_out_rows, model_inputs
from ..serving import explanations
from ..settings import ModelCardSettings, model_card_toml, train_toml
from ..tracking import registry
from . import audit

CARDS_DIR = REPORTS_DIR / "model_cards"
DECISIONS = ("promotion", "refusal", "rollback")


def settings() -> ModelCardSettings:
    """config/model_card.toml, checked: owner, intended use, out-of-scope use, limitations."""
    return model_card_toml()


def card_path(name: str, number: str, suffix: str = ".json") -> Path:
    return CARDS_DIR / f"{name}-v{number}{suffix}"


def decisions(name: str, number: str) -> list[dict[str, Any]]:
    """The audit log's promotion decisions about a version: as candidate, restored or rolled back."""
    found = []
    for entry in audit.entries():
        fields = entry["fields"]
        about = number in (fields.get("version"), fields.get("rolled_back"))
        if entry["event"] in DECISIONS and fields.get("model_name") == name and about:
            found.append({"event": entry["event"], "at": entry["at"], "reason": fields.get("reason")})
    return found


def fairness(name: str, number: str) -> dict[str, Any] | None:
    """The fairness result of the latest promotion decision about a version as candidate (None: none yet)."""
    found = None
    for entry in audit.entries():
        fields = entry["fields"]
        about = fields.get("model_name") == name and fields.get("version") == number
        if entry["event"] in ("promotion", "refusal") and about and "fairness" in fields:
            found = fields["fairness"]
    return found


def held_out_metrics(version: registry.ModelVersion) -> tuple[dict[str, float], str]:
    """A version's metrics re-scored on the rows its training held out (for versions with no card yet)."""
    rows, data_version = held_out_rows(version.tags)
    model = registry.load_version(version.version)
    metrics = evaluate(model, model_inputs(rows.drop(columns=[TARGET]), model), rows[TARGET])
    return metrics, f"re-scored on the held-out rows of data version {data_version}"


def build(
    version: registry.ModelVersion,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card's content: the given metrics and params, else those of its earlier card, else re-scored."""
    earlier_path = card_path(version.name, version.version)
    earlier = json.loads(earlier_path.read_text(encoding="utf-8")) if earlier_path.is_file() else {}
    if metrics is not None:
        metrics_source = "held-out evaluation at registration"
    elif "metrics" in earlier:
        metrics, metrics_source = earlier["metrics"], earlier["metrics_source"]
    else:
        metrics, metrics_source = held_out_metrics(version)
    if params is None:
        params = earlier.get("params")
    written_at = datetime.now(UTC).isoformat(timespec="seconds")
    explained = explanations.report_path(version.name, version.version, ".html")
    tags = version.tags
    user = settings()
    return {
        "model_name": version.name,
        "version": version.version,
        "registered_at": earlier.get("registered_at", written_at),
        "written_at": written_at,
        "aliases": sorted(version.aliases),
        "task": train_toml().task.model_dump(),
        "data_version": tags.get("data_version"),
        "data_source": tags.get("data_source"),
        "metrics": metrics,
        "metrics_source": metrics_source,
        "params": params,
        "code_version": tags.get("code_version"),
        "environment": {
            key.removeprefix("env."): value for key, value in tags.items() if key.startswith("env.")
        },
        "owner": user.owner,
        "intended_use": user.intended_use,
        "out_of_scope": user.out_of_scope,
        "limitations": list(user.limitations),
        "decisions": decisions(version.name, version.version),
        "fairness": fairness(version.name, version.version),
        "explanation": str(explained) if explained.is_file() else None,
    }


def explanation_link(path: str | None) -> str:
    """A link to the version's feature-importance report, relative to the card when they share reports/."""
    if not path:
        return 'no report yet (`make explain-report ARGS="--version N"`)'
    report = Path(path)
    shown = f"../{report.parent.name}/{report.name}" if report.parent.parent == CARDS_DIR.parent else path
    return f"[{report.name}]({shown})"


def table(values: dict[str, Any] | None, header: str, digits: int | None = None) -> list[str]:
    """A two-column Markdown table; floats rounded to `digits` when given."""
    if not values:
        return ["not recorded"]
    rows = [
        f"| {key} | {value:.{digits}f} |"
        if digits is not None and isinstance(value, float)
        else f"| {key} | {value} |"
        for key, value in sorted(values.items())
    ]
    return [f"| {header} | value |", "| --- | --- |", *rows]


def fairness_lines(result: dict[str, Any] | None) -> list[str]:
    """The Fairness section: not evaluated yet, not configured, or the metrics, limits and groups."""
    if result is None:
        return ["not evaluated yet: the promotion gate evaluates it (`make promote`)"]
    if not result["configured"] or "metrics" not in result:  # no details: not configured, or not kept
        return [result["summary"]]
    metrics = [
        f"| {metric} | {value:.4f} | {result['limits'][metric]} |"
        for metric, value in result["metrics"].items()
    ]
    stated = [
        f"| {metric} | does not apply | {why} |" for metric, why in result.get("not_applicable", {}).items()
    ]
    columns = list(dict.fromkeys(key for values in result["groups"].values() for key in values))
    groups = [
        "| " + " | ".join([group, *(str(values.get(column)) for column in columns)]) + " |"
        for group, values in result["groups"].items()
    ]
    return [
        f"**{result['status']}** on `{result['attribute']}` ({result['rows']} held-out rows): "
        + result["summary"],
        "",
        "| metric | value | limit |",
        "| --- | --- | --- |",
        *metrics,
        *stated,
        "",
        "| group | " + " | ".join(column.replace("_", " ") for column in columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
        *groups,
    ]


def task_line(task: dict[str, Any] | None) -> str:
    """The task in a line: its type, the positive class of a binary one, the metric it is promoted on."""
    if not task:
        return "not recorded"
    positive = task.get("positive_class")
    kind = task["type"]
    if kind == "binary" and positive is not None:
        kind += f" (positive class `{positive}`)"
    better = "higher" if task["higher_is_better"] else "lower"
    return f"{kind}; promoted on {task['metric']}, {better} is better"


def render(card: dict[str, Any]) -> str:
    """The card as Markdown."""
    decided = [f"- {d['at'][:19]} **{d['event']}**: {d['reason']}" for d in card["decisions"]]
    lines = [
        f"# Model card: {card['model_name']} version {card['version']}",
        "",
        f"- Task: {task_line(card.get('task'))}",
        f"- Registry aliases: {', '.join(card['aliases']) or 'none'}",
        f"- Data version: `{card['data_version']}` ({card['data_source']})",
        f"- Code version: `{card['code_version']}`",
        f"- Owner: {card['owner']}",
        f"- Registered: {card['registered_at']}; card written {card['written_at']}",
        f"- Feature importance: {explanation_link(card.get('explanation'))}",
        "",
        "## Intended use",
        "",
        card["intended_use"].strip(),
        "",
        "## Out of scope",
        "",
        card["out_of_scope"].strip(),
        "",
        "## Limitations",
        "",
        *[f"- {limitation}" for limitation in card["limitations"]],
        "",
        f"## Metrics ({card['metrics_source']})",
        "",
        *table(card["metrics"], "metric", digits=4),
        "",
        "## Parameters",
        "",
        *table(card["params"], "parameter"),
        "",
        "## Environment",
        "",
        *table(card["environment"], "component"),
        "",
        "## Fairness",
        "",
        *fairness_lines(card.get("fairness")),
        "",
        "## Promotion decisions",
        "",
        *(decided or ["none yet"]),
        "",
    ]
    return "\n".join(lines)


def write(
    version: registry.ModelVersion,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
) -> Path:
    """Write (or rewrite) a version's card, .json and .md; returns the Markdown file."""
    card = build(version, metrics, params)
    CARDS_DIR.mkdir(parents=True, exist_ok=True)
    card_path(version.name, version.version).write_text(
        json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    markdown = card_path(version.name, version.version, ".md")
    markdown.write_text(render(card), encoding="utf-8")
    return markdown


def refresh(*numbers: str) -> list[Path]:
    """Rewrite the cards of these versions (their aliases and decisions changed)."""
    return [write(registry.get(number)) for number in dict.fromkeys(numbers)]


def version_or_champion(number: str | None) -> registry.ModelVersion:
    """The registered version `number`, or the champion when None (the `--version N` of the reports)."""
    if number is not None:
        return registry.get(number)
    champion = registry.find(registry.CHAMPION)
    if champion is None:
        raise OpsError("no version is champion yet: run `make promote`, or pass --version N")
    return champion


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="(Re)write the model card of the champion or of a version.")
    parser.add_argument("--version", metavar="N", help="a registered version (default: the champion)")
    args = parser.parse_args(argv)
    print(f"model card written to {write(version_or_champion(args.version))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
