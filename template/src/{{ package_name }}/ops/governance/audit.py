# Kept by the template: `copier update` rewrites this file.
"""The audit log: every registration, promotion, refusal, rollback and retraining decision, append-only.

`record(event, **fields)` appends one JSON line to $ARTIFACTS_DIR/reports/audit/audit.jsonl with the time,
the event, its fields, the code version it was decided by, the SHA-256 of the line itself (`hash`) and the
previous line's hash (`prev`): a hash chain. Editing a line breaks its own hash, deleting or reordering one
breaks the next line's `prev`, and `verify()` names the first line where the chain breaks.

The chain is anchored outside its own file: after every entry the registry keeps the entry's number and hash
as a tag of the registered model (`audit.head`). A log that was emptied, deleted or cut at the end no longer
matches its anchor, and nothing is recorded onto such a log until it is restored (the scheduled jobs keep it
in durable storage). With AUDIT_HMAC_KEY set (CI fills it from its secret store), every entry is also signed
(`mac`, HMAC-SHA256 of its hash): a history rewritten with every hash recomputed then fails verification,
because the signatures cannot be recomputed without the key. The registry also keeps the number of the first
signed entry (`audit.signed_from`): from there on, an unsigned entry does not verify.

`verify()` also checks the registry against the log: every version has its registration entry (or was
listed when the trail started, for versions registered before the project reached level 4), every decision
the versions' tags show is in the log, the `champion` alias is where the log's last decision put it, and no
interrupted promotion waits to be completed (`make promote` completes it).

    <project> audit verify     # exit status 1 when the chain or the cross-check is broken
    <project> audit show [--event EVENT] [--last N]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import hmac
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import REPORTS_DIR
from ..lifecycle import code_version
from ..tracking import registry

AUDIT_FILE = REPORTS_DIR / "audit" / "audit.jsonl"
EVENTS = (
    "trail_started",
    "model_registered",
    "promotion",
    "refusal",
    "rollback",
    "retraining_decision",
    "retraining_outcome",
)
DECISIONS = ("promotion", "refusal", "rollback")
GENESIS = "0" * 64
ANCHOR_TAG = "audit.head"
SIGNED_FROM_TAG = "audit.signed_from"
# Set on a version when the pipeline creates it: its `model_registered` entry follows. A version with the
# tag and no entry was registered by a run that was interrupted (or ran where the log is not, as a
# platform pipeline's step): the next run that records anything records it (`record_pending_registrations`).
EXPECTED_TAG = "audit.expected"
KEY_ENV = "AUDIT_HMAC_KEY"


class AuditError(RuntimeError):
    """The audit log cannot be written: it does not match its anchor, or its last line is not JSON."""


def digest(entry: dict[str, Any]) -> str:
    """The SHA-256 of an entry without its own `hash` and `mac`, over its canonical JSON."""
    content = {key: value for key, value in entry.items() if key not in ("hash", "mac")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def signing_key() -> bytes | None:
    """AUDIT_HMAC_KEY, when set."""
    key = os.environ.get(KEY_ENV, "")
    return key.encode("utf-8") if key else None


def signature(key: bytes, entry_hash: str) -> str:
    return hmac.new(key, entry_hash.encode("ascii"), hashlib.sha256).hexdigest()


def anchor(tags: dict[str, str] | None = None) -> tuple[int, str] | None:
    """The number and hash of the last entry, as the registry keeps them (None before the first entry);
    from the model's `tags` when they were read already."""
    value = (registry.model_tags() if tags is None else tags).get(ANCHOR_TAG)
    if not value:
        return None
    seq, _, entry_hash = value.partition(":")
    return int(seq), entry_hash


def parse(path: Path, lines: list[str]) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError as error:
        raise AuditError(f"a line of {path} is not JSON: `make audit` shows where") from error


def anchor_problem(found: list[dict[str, Any]], anchored: tuple[int, str] | None, path: Path) -> str | None:
    """Why the log does not match the registry's anchor (None when it does).

    The log may hold one entry about the model past the anchor: a write whose anchoring was interrupted;
    the next entry anchors it. (Entries about another model, of an earlier model name, anchor there.)
    """
    if anchored is None:
        return None
    seq, entry_hash = anchored
    restore = "restore it (`make trail-pull`, or from a backup) before anything is recorded"
    if not found:
        state = "empty" if path.is_file() else "missing"
        return (
            f"{path} is {state}, but the registry's anchor says the trail holds {seq} entries (last hash "
            f"{entry_hash[:12]}…): it was emptied or deleted; {restore}"
        )
    last = found[-1]["seq"]
    if last < seq:
        return (
            f"{path} ends at entry {last}, but the registry's anchor says the trail holds {seq}: entries "
            f"{last + 1} to {seq} were cut from its end; {restore}"
        )
    at_anchor = next((entry for entry in found if entry.get("seq") == seq), None)
    if at_anchor is None or at_anchor.get("hash") != entry_hash:
        return f"entry {seq} of {path} is not the one the registry anchored: the log was rewritten; {restore}"
    name = registry.settings()["model_name"]
    past = [
        entry["seq"] for entry in found if entry["seq"] > seq and entry["fields"].get("model_name") == name
    ]
    if len(past) > 1:
        return (
            f"{path} holds entries {', '.join(map(str, past))} about {name} past the registry's anchor "
            f"(entry {seq}): they were not written by `record`"
        )
    return None


def started_fields() -> dict[str, Any]:
    """The `trail_started` entry's fields: the versions and aliases the registry held before the log."""
    known = [found for found in registry.versions() if EXPECTED_TAG not in found.tags]
    return {
        "model_name": registry.settings()["model_name"],
        "versions": [found.version for found in known],
        "aliases": {alias: found.version for found in known for alias in found.aliases},
        "reason": "the audit log starts: the versions and aliases the registry held before it",
    }


def chained(previous: dict[str, Any] | None, event: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new entry after `previous`, hashed (and signed when AUDIT_HMAC_KEY is set)."""
    entry: dict[str, Any] = {
        "seq": previous["seq"] + 1 if previous else 1,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "event": event,
        "code_version": code_version(),
        "fields": fields,
        "prev": previous["hash"] if previous else GENESIS,
    }
    entry["hash"] = digest(entry)
    key = signing_key()
    if key is not None:
        entry["mac"] = signature(key, entry["hash"])
    return entry


def record(event: str, path: Path | None = None, **fields: Any) -> dict[str, Any]:
    """Append one entry to the audit log, anchor it in the registry and return it.

    `fields` must be JSON-serialisable. The first entry about a model whose registry already holds versions
    is preceded by a `trail_started` entry listing them. Raises AuditError, writing nothing, when the log
    does not match the registry's anchor.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}: one of {', '.join(EVENTS)}")
    path = path or AUDIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as log:
        fcntl.flock(log, fcntl.LOCK_EX)  # two writers never chain onto the same line
        log.seek(0)
        found = parse(path, log.read().splitlines())
        tags = registry.model_tags()
        anchored = anchor(tags)
        problem = anchor_problem(found, anchored, path)
        if problem is not None:
            raise AuditError(problem)
        previous = found[-1] if found else None
        name = registry.settings()["model_name"]
        first = anchored is None and not any(e["fields"].get("model_name") == name for e in found)
        written = []
        if first and event != "trail_started":
            start = started_fields()
            if start["versions"]:
                written.append(chained(previous, "trail_started", start))
                previous = written[-1]
        written.append(chained(previous, event, fields))
        log.write("".join(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n" for entry in written))
        log.flush()
        os.fsync(log.fileno())
        registry.set_model_tag(ANCHOR_TAG, f"{written[-1]['seq']}:{written[-1]['hash']}")
        if "mac" in written[0] and SIGNED_FROM_TAG not in tags:
            registry.set_model_tag(SIGNED_FROM_TAG, str(written[0]["seq"]))
    return written[-1]


def entries(path: Path | None = None) -> list[dict[str, Any]]:
    """Every entry of the log, oldest first (none when nothing was recorded yet)."""
    path = path or AUDIT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def registered_versions(found: list[dict[str, Any]], name: str) -> set[str]:
    """The versions of `name` the log accounts for: registered, or listed when the trail started."""
    versions: set[str] = set()
    for entry in found:
        fields = entry["fields"]
        if fields.get("model_name") != name:
            continue
        if entry["event"] == "model_registered":
            versions.add(str(fields["version"]))
        elif entry["event"] == "trail_started":
            versions.update(str(number) for number in fields["versions"])
    return versions


def record_pending_registrations() -> list[dict[str, Any]]:
    """Record the versions the pipeline created that the log does not hold yet; returns their entries.

    They were registered by a run that was interrupted before it recorded them, or that ran where the log
    is not (a platform pipeline's register step): the entry says so.
    """
    name = str(registry.settings()["model_name"])
    known = registered_versions(entries(), name)
    recorded = []
    for found in registry.versions():
        if EXPECTED_TAG in found.tags and found.version not in known:
            aliases = ", ".join(found.aliases)
            recorded.append(
                record(
                    "model_registered",
                    model_name=name,
                    version=found.version,
                    reason=(f"registered as {aliases}" if aliases else "registered with no alias")
                    + "; recorded by a later run (the registering run was interrupted or ran without "
                    "the audit log)",
                    data_version=found.tags.get("data_version"),
                    recorded_later=True,
                )
            )
    return recorded


def unfinished_retrains(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields of the `retrain` decisions with no outcome: their run was killed before it completed."""
    outcomes = [entry for entry in found if entry["event"] == "retraining_outcome"]
    finished = {entry["fields"].get("retrain_id") for entry in outcomes}
    return [
        entry["fields"]
        for entry in found
        if entry["event"] == "retraining_decision"
        and entry["fields"].get("decision") == "retrain"
        and "retrain_id" in entry["fields"]  # decisions recorded before outcomes were had none
        and entry["fields"]["retrain_id"] not in finished
    ]


def verify_chain(path: Path, signed_from: int | None = None) -> dict[str, Any]:
    """The hash chain of the file; every entry from `signed_from` on must be signed, and with AUDIT_HMAC_KEY
    every signature must match it."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    expected_prev, expected_seq = GENESIS, 1
    key = signing_key()

    def broken(number: int, reason: str) -> dict[str, Any]:
        return {"intact": False, "lines": len(lines), "first_broken": number, "reason": reason, "head": None}

    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return broken(number, "not a JSON line")
        if not isinstance(entry, dict) or entry.get("hash") != digest(entry):
            return broken(number, "its content does not match its hash: the line was edited")
        if entry.get("prev") != expected_prev or entry.get("seq") != expected_seq:
            return broken(number, "it does not follow the line before: a line was deleted, inserted or moved")
        if "mac" not in entry and signed_from is not None and entry["seq"] >= signed_from:
            return broken(number, f"it is not signed, but entries are signed from {signed_from} on")
        mac = str(entry.get("mac", ""))
        if key is not None and mac and not hmac.compare_digest(mac, signature(key, entry["hash"])):
            return broken(number, f"its signature does not match {KEY_ENV}: the history was rewritten")
        expected_prev, expected_seq = entry["hash"], expected_seq + 1
    return {"intact": True, "lines": len(lines), "first_broken": None, "reason": None, "head": expected_prev}


def last_champion(found: list[dict[str, Any]], name: str) -> tuple[bool, str | None]:
    """Whether the log says anything about the champion, and the version its last decision left champion."""
    said, champion = False, None
    for entry in found:
        fields = entry["fields"]
        if fields.get("model_name") != name:
            continue
        if entry["event"] in ("promotion", "rollback"):
            said, champion = True, str(fields["version"])
        elif entry["event"] == "trail_started":
            said, champion = True, fields["aliases"].get(registry.CHAMPION)
    return said, champion


def decisions_missing(found: list[dict[str, Any]], versions: list[registry.ModelVersion]) -> list[str]:
    """The decisions the versions' tags show (made since the log started) that have no entry."""
    if not found:
        return []
    started = found[0]["at"]
    logged = {
        (entry["event"], str(entry["fields"].get("version")), entry["fields"].get("decided_at"))
        for entry in found
        if entry["event"] in ("promotion", "refusal")
    }
    rolled = {str(entry["fields"].get("rolled_back")) for entry in found if entry["event"] == "rollback"}
    missing = []
    for found_version in versions:
        tags, number = found_version.tags, found_version.version
        decided = tags.get("promotion.decided_at", "")
        event = {"promoted": "promotion", "refused": "refusal"}.get(tags.get("promotion.decision", ""))
        if event and decided >= started and (event, number, decided) not in logged:
            missing.append(
                f"version {number} was {tags['promotion.decision']} at {decided}: no {event} entry"
            )
        rolled_at = tags.get("promotion.rolled_back_at", "")
        if rolled_at >= started and rolled_at and number not in rolled:
            missing.append(f"version {number} was rolled back at {rolled_at}: no rollback entry")
    return missing


def cross_check(path: Path, tags: dict[str, str]) -> list[str]:
    """What the registry (and the model's `tags`) shows that the log does not account for, one line each."""
    found = entries(path)
    name = str(registry.settings()["model_name"])
    findings = []
    problem = anchor_problem(found, anchor(tags), path)
    if problem is not None:
        findings.append(problem)
    versions = registry.versions()
    if versions and not found and problem is None:
        state = "empty" if path.is_file() else "missing"
        findings.append(
            f"the registry holds {len(versions)} versions of {name}, but {path} is {state} and no anchor: "
            "in a project that has just reached level 4 the next `make pipeline` or `make promote` starts "
            "the trail with them; otherwise restore the log (`make trail-pull`, or from a backup)"
        )
    if not found:
        return findings
    known = registered_versions(found, name)
    for found_version in versions:
        if found_version.version in known:
            continue
        if EXPECTED_TAG in found_version.tags:
            findings.append(
                f"version {found_version.version} was registered by a run that did not record it "
                "(interrupted, or a platform pipeline's step): the next `make pipeline`, `make promote` or "
                "`make retrain` records it"
            )
        else:
            findings.append(f"version {found_version.version} is not in the audit log: registered by hand?")
    findings.extend(decisions_missing(found, versions))
    pending = tags.get(registry.PENDING_TAG)
    if pending:
        intent = json.loads(pending)["record"]
        findings.append(
            f"an interrupted {intent['action']} of version {intent['version']} (decided at "
            f"{intent['decided_at']}) is not complete: the next `make promote` completes it"
        )
    for decision in unfinished_retrains(found):
        findings.append(
            f"the retrain decided at {decision['decided_at']} has no outcome (its run was killed, or it is "
            "still running): the next `make retrain` records it as interrupted"
        )
    said, expected = last_champion(found, name)
    current = next((v.version for v in versions if registry.CHAMPION in v.aliases), None)
    if (said or current is not None) and current != expected:
        findings.append(
            f"`{registry.CHAMPION}` is version {current or 'none'} in the registry, but the audit log's last "
            f"decision left version {expected or 'none'} champion"
        )
    return findings


def verify(path: Path | None = None) -> dict[str, Any]:
    """The chain and the registry's account of it.

    `{"intact", "lines", "first_broken" (1-based line or None), "reason", "head", "findings"}`: `intact` only
    when the chain verifies and the cross-check with the registry finds nothing.
    """
    path = path or AUDIT_FILE
    tags = registry.model_tags()
    signed_from = tags.get(SIGNED_FROM_TAG)
    result = verify_chain(path, int(signed_from) if signed_from else None)
    result["findings"] = cross_check(path, tags) if result["intact"] else []
    if result["findings"]:
        result["intact"] = False
        result["reason"] = result["findings"][0]
    return result


def describe(entry: dict[str, Any]) -> str:
    fields = entry["fields"]
    subject = f"{fields['model_name']} v{fields['version']}" if "version" in fields else ""
    reason = fields.get("reason", "")
    return f"{entry['seq']:>5}  {entry['at'][:19]}  {entry['event']:<20} {subject:<24} {reason}".rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify or show the audit log (reports/audit/audit.jsonl).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="check the chain and the registry (exit status 1 when broken)")
    show = commands.add_parser("show", help="print the entries, oldest first")
    show.add_argument("--event", choices=EVENTS, help="only this event")
    show.add_argument("--last", type=int, default=20, metavar="N", help="the last N entries (default 20)")
    args = parser.parse_args(argv)
    if args.command == "show":
        shown = [e for e in entries() if args.event in (None, e["event"])]
        for entry in shown[-args.last :]:
            print(describe(entry))
        print(f"{len(shown)} entries in {AUDIT_FILE}" + (f" ({args.event})" if args.event else ""))
        return 0
    result = verify()
    if result["first_broken"] is not None:
        print(f"BROKEN at line {result['first_broken']} of {AUDIT_FILE}: {result['reason']}", file=sys.stderr)
        return 1
    if result["findings"]:
        for finding in result["findings"]:
            print(f"BROKEN: {finding}", file=sys.stderr)
        return 1
    if result["lines"] == 0:
        print(f"empty: nothing recorded in {AUDIT_FILE} yet, and the registry holds no version")
        return 0
    signed = "signed, " if signing_key() is not None else ""
    print(
        f"intact: {result['lines']} lines in {AUDIT_FILE}, {signed}anchored in the registry and matching it; "
        f"last hash {result['head']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
