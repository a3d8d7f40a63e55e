# Kept by the template: `copier update` rewrites this file.
"""The prediction log: what the service answered, one JSON line per request, and how it is read back.

The service (`make serve`) appends one line per request to $ARTIFACTS_DIR/predictions/<UTC date>.jsonl
(`PredictionLog`); a file that reaches its size limit is continued in <UTC date>.<part>.jsonl (part
001, 002, ...), and old files are deleted by age and when all of them pass their total size (`LogLimits`,
from config/deploy.toml [service.log]). A line holds, in this order: `timestamp` (UTC, to the
millisecond), `request_id`, `model_name`, `model_version` and `alias` of the model that scored the request,
`"shadow": true` on a shadow's line only (the challenger's predictions on the same rows, logged beside the
champion's under the same request id and never returned), `request` (the rows as validated,
`{"rows": [...]}`: never the raw body) and `predictions` (row by row, as the service answered them,
`answered`: the id and `prediction`, and for a classifier `probability` and `probabilities`; a regression
model's answers carry no probability). Lines written before the service had a canary carry no alias: the
champion answered them.

The canary and shadow reports, continuous monitoring and guarded retraining read the log here alone
(`LogReader`, `read_logs`): by default the answers callers got, the shadow's lines left out. A line that
cannot be read is skipped and counted in `LogReader.skipped`, never fatal: a service killed while it wrote
a line leaves it cut short, and the next line written is appended to it, which is read on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...data import ID
from ..config import ARTIFACTS_DIR
from ..tracking.registry import CHAMPION

if TYPE_CHECKING:
    from ..lifecycle import Answers

PREDICTIONS_DIR = ARTIFACTS_DIR / "predictions"
# The alias a shadow's lines carry (with `"shadow": true`); a line without an alias was the champion's.
SHADOW = "shadow"
# How many decimals an answered probability keeps
DECIMALS = 6
# The columns of the read log: the request's part of each row, then the row's answer.
HEAD = ("timestamp", "request_id", "model_name", "model_version", "alias")
ANSWER = ("prediction", "probability")
COLUMNS = [*HEAD, ID, *ANSWER]
# What the read log adds to a row's inputs (`read_logs(inputs=True)`), besides its id.
LOG_COLUMNS = (*HEAD, *ANSWER)
# How every line starts: where a line appended to one cut short begins.
LINE_START = '{"timestamp": '
LOGGER = logging.getLogger(__name__)
MIB = 1024 * 1024


@dataclass(frozen=True)
class LogLimits:
    """How far the log may grow: bytes per file, bytes of all files together, days a file is kept."""

    max_file_bytes: int = 64 * MIB
    max_total_bytes: int = 512 * MIB
    keep_days: int = 30


def file_order(path: Path) -> tuple[str, int]:
    """A log file's (UTC date, part): <date>.jsonl is part 0 of its day, <date>.<part>.jsonl the next ones."""
    day, _, part = path.stem.partition(".")
    return day, int(part) if part.isdigit() else 0


def log_files(folder: Path) -> list[Path]:
    """The log's files, oldest first (by day, then part)."""
    return sorted(folder.glob("*.jsonl"), key=file_order)


def answered(ids: Sequence[Any], answers: Answers) -> list[dict[str, Any]]:
    """Each row's answer as the service gives it and the log keeps it: its id and `prediction` (the class,
    or the value for regression) and, for a classifier, `probability` (the positive class's for a binary
    task, the predicted class's for a multiclass one) and `probabilities` (each class's, by label)."""
    predictions = answers.prediction.tolist()
    if answers.probabilities is None or answers.probability is None:
        return [{ID: key, "prediction": value} for key, value in zip(ids, predictions, strict=True)]
    labels = list(answers.probabilities.columns)
    each = answers.probabilities.to_numpy().round(DECIMALS).tolist()
    reported = answers.probability.round(DECIMALS).tolist()
    return [
        {
            ID: key,
            "prediction": label,
            "probability": probability,
            "probabilities": dict(zip(labels, row, strict=True)),
        }
        for key, label, probability, row in zip(ids, predictions, reported, each, strict=True)
    ]


class MalformedLineError(ValueError):
    """A log line that is no complete record: cut short, or not written by the service."""


@dataclass(frozen=True)
class LoggedRequest:
    """One line of the log: a request's rows and what one model answered to them."""

    timestamp: str
    request_id: str
    model_name: str
    model_version: str
    alias: str
    rows: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    shadow: bool = False

    @property
    def at(self) -> datetime:
        """When the line was written (UTC)."""
        return datetime.fromisoformat(self.timestamp)

    def head(self) -> dict[str, str]:
        """The request's part of each of its rows in the read log (HEAD)."""
        return {
            "timestamp": self.timestamp,
            "request_id": self.request_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "alias": self.alias,
        }

    @classmethod
    def parse(cls, line: str) -> LoggedRequest:
        """A line as the service wrote it; MalformedLineError when it is not one."""
        try:
            entry = json.loads(line)
            rows, answered, timestamp = entry["request"]["rows"], entry["predictions"], entry["timestamp"]
            datetime.fromisoformat(timestamp)  # a time that does not parse is no line of the service's
            logged = cls(
                timestamp=timestamp,
                request_id=str(entry["request_id"]),
                model_name=str(entry["model_name"]),
                model_version=str(entry["model_version"]),
                alias=str(entry.get("alias", CHAMPION)),
                rows=list(rows),
                predictions=list(answered),
                shadow=bool(entry.get("shadow", False)),
            )
        except (ValueError, KeyError, TypeError) as unreadable:
            raise MalformedLineError(f"not a prediction log line: {unreadable}") from None
        if len(logged.rows) != len(logged.predictions):
            raise MalformedLineError(
                f"request {logged.request_id} has {len(logged.rows)} rows and {len(logged.predictions)} "
                "predictions"
            )
        if not all(isinstance(item, dict) for item in [*logged.rows, *logged.predictions]):
            raise MalformedLineError(f"request {logged.request_id} has a row or prediction that is no object")
        return logged


class PredictionLog:
    """Appends one JSON line per request to <folder>/<UTC date>.jsonl, the service's writer, within `limits`.

    The request is written as the service serialised its validated rows and the predictions as it serialised
    them for the answer, so logging costs no second serialisation. The sizes are kept in memory (a file is
    looked at when the day changes or a part fills), so a write costs one append.
    """

    def __init__(self, folder: Path = PREDICTIONS_DIR, limits: LogLimits | None = None) -> None:
        self.folder = folder
        self.limits = limits or LogLimits()
        folder.mkdir(parents=True, exist_ok=True)
        self.day = ""
        self.path = folder / "unset.jsonl"
        self.size = 0
        self.total = 0

    def prune(self, now: datetime) -> None:
        """Delete the files older than keep_days, then the oldest while all of them pass max_total_bytes
        (never the file being written)."""
        oldest_kept = (now - timedelta(days=self.limits.keep_days)).date().isoformat()
        files = log_files(self.folder)
        for path in [path for path in files if file_order(path)[0] < oldest_kept and path != self.path]:
            path.unlink(missing_ok=True)
            files.remove(path)
        sizes = {path: path.stat().st_size for path in files if path.exists()}
        self.total = sum(sizes.values())
        for path in files:
            if self.total <= self.limits.max_total_bytes or path == self.path:
                break
            path.unlink(missing_ok=True)
            self.total -= sizes.get(path, 0)

    def target(self, now: datetime, adding: int) -> Path:
        """The file a line of `adding` bytes goes to: today's last part, or a new part when it is full."""
        day = now.date().isoformat()
        if day != self.day:
            self.day = day
            parts = [path for path in log_files(self.folder) if file_order(path)[0] == day]
            self.path = parts[-1] if parts else self.folder / f"{day}.jsonl"
            self.size = self.path.stat().st_size if self.path.exists() else 0
            self.prune(now)
        if self.size and self.size + adding > self.limits.max_file_bytes:
            self.path = self.folder / f"{day}.{file_order(self.path)[1] + 1:03d}.jsonl"
            self.size = 0
            self.prune(now)
        elif self.total + adding > self.limits.max_total_bytes:
            self.prune(now)
        self.size += adding
        self.total += adding
        return self.path

    def write(
        self,
        request_id: str,
        model_name: str,
        model_version: str,
        alias: str,
        body: str | bytes,
        predictions: str,
        shadow: bool = False,
    ) -> None:
        """Append a request's line: `body` the validated request as JSON (`{"rows": [...]}`), `predictions`
        the answer's JSON list."""
        now = datetime.now(UTC)
        head: dict[str, Any] = {
            "timestamp": now.isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "model_name": model_name,
            "model_version": model_version,
            "alias": alias,
        }
        if shadow:
            head["shadow"] = True
        # JSON allows no raw line break inside a string, so replacing them keeps the body valid on one line
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        request = text.replace("\n", " ").replace("\r", " ")
        line = f'{json.dumps(head)[:-1]}, "request": {request}, "predictions": {predictions}}}\n'
        encoded = line.encode("utf-8")
        with self.target(now, len(encoded)).open("ab") as handle:
            handle.write(encoded)


def appended(line: str) -> LoggedRequest | None:
    """The complete line written after a line that was cut short, on the same line, if there is one."""
    start = line.find(LINE_START, 1)
    while start != -1:
        try:
            return LoggedRequest.parse(line[start:])
        except MalformedLineError:
            start = line.find(LINE_START, start + 1)
    return None


class LogReader:
    """Reads the log of a folder; `skipped` counts the lines it could not read (and left out)."""

    def __init__(self, folder: Path = PREDICTIONS_DIR) -> None:
        self.folder = folder
        self.skipped = 0

    def requests(self, since: datetime | None = None, shadow: bool | None = False) -> Iterator[LoggedRequest]:
        """The logged requests, oldest file first, written at or after `since` when given.

        `shadow` False (the default): the answers callers got, a shadow's lines left out; True: a shadow's
        lines alone; None: every line.
        """
        for path in log_files(self.folder):
            if since is not None and file_order(path)[0] < since.date().isoformat():  # named by UTC date
                continue
            # a multi-byte character cut in two is replaced, so it spoils its line and not the whole file
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    if not line.strip():
                        continue
                    try:
                        logged = LoggedRequest.parse(line)
                    except MalformedLineError:
                        self.skipped += 1
                        found = appended(line)
                        if found is None:
                            continue
                        logged = found
                    if shadow is not None and logged.shadow != shadow:
                        continue
                    if since is not None and logged.at < since:
                        continue
                    yield logged

    def frame(
        self, since: datetime | None = None, shadow: bool | None = False, inputs: bool = False
    ) -> pd.DataFrame:
        """One row per scored row: its request's HEAD, its id, prediction and probability (COLUMNS); with
        `inputs`, the row's input columns as it was sent come first. `since` and `shadow` as `requests`.
        The probability is a number, NaN where the answer had none (a regression model's)."""
        records: list[dict[str, Any]] = []
        for logged in self.requests(since, shadow):
            head = logged.head()
            for row, answer in zip(logged.rows, logged.predictions, strict=True):
                scored = {
                    ID: answer.get(ID),
                    "prediction": answer.get("prediction"),
                    "probability": answer.get("probability"),
                }
                records.append({**row, **head, **scored} if inputs else {**head, **scored})
        found = (
            pd.DataFrame.from_records(records)
            if inputs and records
            else pd.DataFrame.from_records(records, columns=COLUMNS)
        )
        found["probability"] = pd.to_numeric(found["probability"], errors="coerce").astype("float64")
        return found


def read_logs(
    folder: Path = PREDICTIONS_DIR,
    shadow: bool | None = False,
    since: datetime | None = None,
    inputs: bool = False,
) -> pd.DataFrame:
    """`LogReader(folder).frame(since, shadow, inputs)`; lines it could not read are logged as a warning."""
    reader = LogReader(folder)
    found = reader.frame(since, shadow, inputs)
    if reader.skipped:
        LOGGER.warning(
            "%d unreadable lines of the prediction log below %s were skipped", reader.skipped, folder
        )
    return found
