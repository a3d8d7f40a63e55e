"""The promotion gate: `make promote` makes a candidate the `champion` only if it beats the champion.

Both models are scored on the same held-out rows: the rows the candidate's training run held out (its
recorded data version, split with the seed of config/train.toml, as the pipeline's evaluate step does),
fed through the declared features exactly as the service feeds them. The candidate (the `challenger` alias
unless `--candidate` names another) becomes `champion` when its score on config/deploy.toml's
`promotion.metric` exceeds the champion's by more than `promotion.margin`; with no champion yet, the first
candidate is promoted. Every decision, both scores included, is written as JSON to
$ARTIFACTS_DIR/reports/promotions/ and as `promotion.*` tags on the candidate's registry version.

`make promote ARGS=--rollback` moves `champion` back to the version it replaced (recorded the same way).
The service (`make serve`) loads whatever `champion` points at when it starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import data_pipeline, data_versions, registry
from .config import REPORTS_DIR, load_config
from .data import TARGET, split
from .lifecycle import code_version, model_inputs
from .model import evaluate

CHAMPION = "champion"
RECORDS_DIR = REPORTS_DIR / "promotions"
PREVIOUS_TAG = "promotion.previous_champion"


def settings() -> dict[str, Any]:
    """config/deploy.toml [promotion]: the metric the models are compared on and the margin to beat."""
    return dict(load_config("deploy")["promotion"])


def held_out_rows(data_version: str | None) -> tuple[pd.DataFrame, str]:
    """The rows training held out, and their data version.

    The candidate's own data version when it is in the local data store, else the source as it is now
    (kept as a new data version, so the decision stays reproducible).
    """
    try:
        if data_version is None:
            raise data_versions.UnknownDataVersionError("the candidate has no recorded data version")
        extract = data_versions.restore(data_version)
    except data_versions.UnknownDataVersionError:
        extract = data_pipeline.extract()
        data_version = data_versions.snapshot(extract).id
    rows = data_pipeline.transform(data_pipeline.validate(extract))
    config = load_config("train")
    _, held_out = split(rows, float(config["data"]["test_size"]), int(config["seed"]))
    return held_out, data_version


def score(number: str, rows: pd.DataFrame, metric: str) -> float:
    """A registered version's score on labelled rows, through the declared features."""
    model = registry.load_version(number)
    metrics = evaluate(model, model_inputs(rows.drop(columns=[TARGET]), model), rows[TARGET])
    if metric not in metrics:
        raise SystemExit(f"promotion.metric {metric!r} (config/deploy.toml) is not one of {sorted(metrics)}")
    return round(metrics[metric], 6)


def write_record(record: dict[str, Any]) -> Path:
    """Write a decision as JSON below RECORDS_DIR; the file name sorts by time."""
    RECORDS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(record["decided_at"]).strftime("%Y%m%dT%H%M%S%fZ")
    path = RECORDS_DIR / f"{stamp}-{record['action']}-{record['model_name']}-v{record['version']}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    record["record"] = str(path)
    return path


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def promote(candidate_alias: str | None = None) -> dict[str, Any]:
    """Compare the candidate with the champion on the same held-out rows; move `champion` if it wins.

    Returns the decision record (also written to RECORDS_DIR): `promoted`, `reason`, both versions and
    scores, the metric, the margin and the data version of the rows they were scored on.
    """
    alias = candidate_alias or str(registry.settings()["alias"])
    candidate = registry.find(alias)
    if candidate is None:
        raise SystemExit(f"no version has the alias {alias!r}: run `make pipeline` first")
    champion = registry.find(CHAMPION)
    config = settings()
    metric, margin = str(config["metric"]), float(config["margin"])
    rows, data_version = held_out_rows(candidate.tags.get("data_version"))

    candidate_score = score(candidate.version, rows, metric)
    champion_score = None
    if champion is None:
        promoted, reason = True, "no champion yet: the first candidate becomes champion"
    elif champion.version == candidate.version:
        promoted, reason = False, f"version {candidate.version} already is the champion"
        champion_score = candidate_score
    else:
        champion_score = score(champion.version, rows, metric)
        gain = round(candidate_score - champion_score, 6)
        promoted = gain > margin
        verdict = "beats" if promoted else "does not beat"
        reason = (
            f"{metric} {candidate_score:.4f} vs {champion_score:.4f}: a gain of {gain:+.4f} {verdict} "
            f"the margin {margin}"
        )

    record: dict[str, Any] = {
        "action": "promote" if promoted else "refuse",
        "promoted": promoted,
        "reason": reason,
        "model_name": candidate.name,
        "version": candidate.version,
        "candidate": {"alias": alias, "version": candidate.version, "score": candidate_score},
        "champion": None if champion is None else {"version": champion.version, "score": champion_score},
        "metric": metric,
        "margin": margin,
        "data_version": data_version,
        "held_out_rows": len(rows),
        "code_version": code_version(),
        "decided_at": now(),
    }
    if champion is None or champion.version != candidate.version:
        tags = {
            "promotion.decision": "promoted" if promoted else "refused",
            "promotion.decided_at": record["decided_at"],
            "promotion.metric": metric,
            "promotion.margin": str(margin),
            "promotion.candidate_score": str(candidate_score),
            "promotion.champion_score": str(champion_score),
            "promotion.champion_version": champion.version if champion else "none",
            "promotion.data_version": data_version,
        }
        if promoted:
            registry.set_alias(CHAMPION, candidate.version)
            if champion is not None:
                tags[PREVIOUS_TAG] = champion.version
        registry.set_tags(candidate.version, tags)
    write_record(record)
    return record


def rollback() -> dict[str, Any]:
    """Move `champion` back to the version the current champion replaced, and record it."""
    current = registry.find(CHAMPION)
    if current is None:
        raise SystemExit("no version is champion: nothing to roll back")
    previous = current.tags.get(PREVIOUS_TAG)
    if not previous:
        raise SystemExit(f"version {current.version} was the first champion: there is no earlier one")
    registry.set_alias(CHAMPION, previous)
    record: dict[str, Any] = {
        "action": "rollback",
        "promoted": False,
        "reason": f"champion rolled back from version {current.version} to version {previous}",
        "model_name": current.name,
        "version": previous,
        "rolled_back": current.version,
        "code_version": code_version(),
        "decided_at": now(),
    }
    registry.set_tags(
        current.version,
        {"promotion.decision": "rolled back", "promotion.rolled_back_at": record["decided_at"]},
    )
    write_record(record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Promote a candidate to champion if it beats it (exit status 1 when it does not), or "
        "roll back."
    )
    parser.add_argument(
        "--candidate", metavar="ALIAS", help="the alias of the candidate (default: challenger)"
    )
    parser.add_argument("--rollback", action="store_true", help="move champion back to the previous champion")
    args = parser.parse_args(argv)
    record = rollback() if args.rollback else promote(args.candidate)
    champion = registry.find(CHAMPION)
    print(f"{record['action']}: {record['reason']}")
    print(f"{CHAMPION}: {record['model_name']} version {champion.version if champion else 'none'}")
    print(f"recorded in {record['record']}")
    # A refused candidate fails the command, so a CD job stops before it deploys; a candidate that already
    # is the champion (a push that changed only code) is no refusal.
    return 1 if record["action"] == "refuse" and record["champion"]["version"] != record["version"] else 0


if __name__ == "__main__":
    sys.exit(main())
