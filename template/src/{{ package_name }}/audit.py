"""The audit log: every promotion, refusal, rollback, registration and retraining decision, append-only.

`record(event, **fields)` appends one JSON line to $ARTIFACTS_DIR/reports/audit/audit.jsonl with the time,
the event, its fields, the code version it was decided by, the SHA-256 of the line itself (`hash`) and the
previous line's hash (`prev`): a hash chain. Editing a line breaks its own hash, deleting or reordering one
breaks the next line's `prev`, and `verify()` names the first line where the chain breaks. Lines removed
from the end leave a shorter chain that still verifies: keep the last hash (`make audit` prints it)
somewhere else as well, a CI log for instance, to detect that too.

    python -m <package>.audit verify     # exit status 1 when the chain is broken
    python -m <package>.audit show [--event EVENT] [--last N]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import REPORTS_DIR
from .lifecycle import code_version

AUDIT_FILE = REPORTS_DIR / "audit" / "audit.jsonl"
EVENTS = ("promotion", "refusal", "rollback", "model_registered", "retraining_decision")
GENESIS = "0" * 64


def digest(entry: dict[str, Any]) -> str:
    """The SHA-256 of an entry without its own `hash`, over its canonical JSON."""
    content = {key: value for key, value in entry.items() if key != "hash"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(event: str, path: Path | None = None, **fields: Any) -> dict[str, Any]:
    """Append one entry to the audit log and return it; `fields` must be JSON-serialisable."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}: one of {', '.join(EVENTS)}")
    path = path or AUDIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as log:
        fcntl.flock(log, fcntl.LOCK_EX)  # two writers never chain onto the same line
        log.seek(0)
        lines = log.read().splitlines()
        try:
            previous = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError as error:
            raise RuntimeError(f"the last line of {path} is not JSON: `make audit` shows where") from error
        entry: dict[str, Any] = {
            "seq": previous["seq"] + 1 if previous else 1,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "event": event,
            "code_version": code_version(),
            "fields": fields,
            "prev": previous["hash"] if previous else GENESIS,
        }
        entry["hash"] = digest(entry)
        log.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        log.flush()
    return entry


def entries(path: Path | None = None) -> list[dict[str, Any]]:
    """Every entry of the log, oldest first (none when nothing was recorded yet)."""
    path = path or AUDIT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def verify(path: Path | None = None) -> dict[str, Any]:
    """Check the chain: `{"intact", "lines", "first_broken" (1-based line or None), "reason", "head"}`."""
    path = path or AUDIT_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    expected_prev, expected_seq = GENESIS, 1

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
        expected_prev, expected_seq = entry["hash"], expected_seq + 1
    return {"intact": True, "lines": len(lines), "first_broken": None, "reason": None, "head": expected_prev}


def describe(entry: dict[str, Any]) -> str:
    fields = entry["fields"]
    subject = f"{fields['model_name']} v{fields['version']}" if "version" in fields else ""
    reason = fields.get("reason", "")
    return f"{entry['seq']:>5}  {entry['at'][:19]}  {entry['event']:<20} {subject:<24} {reason}".rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify or show the audit log (reports/audit/audit.jsonl).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="check the hash chain (exit status 1 when broken)")
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
    if not result["intact"]:
        print(f"BROKEN at line {result['first_broken']} of {AUDIT_FILE}: {result['reason']}", file=sys.stderr)
        return 1
    if result["lines"] == 0:
        print(f"empty: nothing recorded in {AUDIT_FILE} yet")
        return 0
    print(f"intact: {result['lines']} lines in {AUDIT_FILE}; last hash {result['head']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
