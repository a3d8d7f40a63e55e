"""The level-4 scenario of issue #6, run on a generated self-hosted project as a team would run it.

The project has a champion (`make pipeline && make promote`). Then: `make serve`; a stream of rows the
champion has never seen, every numeric feature moved up by one standard deviation, is sent to it; its labels
arrive. `make retrain`, a day later (past the labels delay): monitoring flags the drift, the guards allow one
retrain, the pipeline registers a challenger, the gate promotes or refuses it, and the audit log and the new
version's model card record it. A second drifted stream an hour later is refused by the cooldown; once the
cooldown is over it is refused again, because none of its rows has a label. Then (issue #8) the version that
is not the champion is made the challenger and `[shadow] enabled = true`: served traffic is answered by the
champion alone while the shadow's predictions are logged, and `make shadow-report` pairs them row by row.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Make = Callable[..., subprocess.CompletedProcess[str]]

# Sent with the project's own interpreter and package: the source's rows with new ids, every numeric
# feature moved up by SHIFT of its standard deviation (whole numbers stay whole; categorical columns and
# missing values are kept, whatever the team's data holds), in requests of 25 rows; their labels written when
# a path is given.
SEND = """
import json, sys, urllib.request
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype
from {package}.ops.data import data_pipeline
from {package}.data import ID, TARGET

url, offset, shift, labels = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
data = data_pipeline.run()
data[ID] = data[ID] + offset if is_numeric_dtype(data[ID]) else data[ID].astype(str) + f"-{{offset}}"
inputs = data.drop(columns=[TARGET])


def moved_up(column):
    moved = column + shift * column.std()
    return moved.round().astype(column.dtype) if is_integer_dtype(column) else moved


numbers = [c for c in inputs.columns if is_numeric_dtype(inputs[c]) and not is_bool_dtype(inputs[c])]
moved = inputs.assign(**{{c: moved_up(inputs[c]) for c in numbers if c != ID}})
for start in range(0, len(moved), 25):
    rows = json.loads(moved.iloc[start : start + 25].to_json(orient="records"))
    request = urllib.request.Request(
        url + "/predict", json.dumps({{"rows": rows}}).encode(), {{"Content-Type": "application/json"}}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200, answer.status
if labels != "-":
    data[[ID, TARGET]].to_csv(labels, index=False)
print(len(moved))
"""
# Points a registry alias at a version, as a team member would from the project's Python.
SET_ALIAS = """
import sys
from {package}.ops.tracking import registry

registry.set_alias(sys.argv[1], sys.argv[2])
"""
LABELS = "data/traffic-labels.csv"
AUDIT_LOG = Path("reports", "audit", "audit.jsonl")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def audit_entries(project: Path) -> list[dict[str, Any]]:
    path = project / AUDIT_LOG
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def retrain(make: Make, project: Path, at: datetime) -> subprocess.CompletedProcess[str]:
    result = make(project, "retrain", f"ARGS=--labels {LABELS} --at {at.isoformat(timespec='seconds')}")
    assert result.returncode == 0, f"make retrain:\n{result.stdout}\n{result.stderr}"
    return result


def decision_line(result: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith("decision: "))


@contextmanager
def served(project: Path, env: Mapping[str, str]) -> Iterator[str]:
    """`make serve` on a free port in the background, as a team member runs it; yields its URL once /health
    answers and stops it afterwards."""
    port = free_port()
    server = subprocess.Popen(
        ["make", "serve", f"PORT={port}"],
        cwd=project,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise AssertionError(f"make serve stopped:\n{server.stdout.read() if server.stdout else ''}")
            assert time.monotonic() < deadline, "make serve did not answer /health in 2 minutes"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def run_scenario(project: Path, package: str, make: Make, env: Mapping[str, str]) -> dict[str, Any]:
    """The loop of issue #6 end to end; returns what it observed (for the test's record)."""

    def python(script: str, *args: str) -> str:
        ran = subprocess.run(
            [str(project / ".venv" / "bin" / "python"), "-c", script.format(package=package), *args],
            cwd=project,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        return ran.stdout

    def send(url: str, offset: int, shift: float, labels: str) -> int:
        """Sends the shifted rows; returns how many."""
        return int(python(SEND, url, str(offset), str(shift), labels))

    # What the audit log held before (earlier make targets may have recorded decisions and registrations).
    before = len(audit_entries(project)) if (project / AUDIT_LOG).is_file() else 0
    with served(project, env) as url:
        started = datetime.now(UTC)
        send(url, 100_000, 1.0, LABELS)

        too_soon = retrain(make, project, started + timedelta(hours=1))
        assert decision_line(too_soon).startswith("decision: refused: labels_delay"), too_soon.stdout

        first = retrain(make, project, started + timedelta(hours=25))
        assert decision_line(first).startswith("decision: retrain: data drift"), first.stdout
        assert "drifted " in first.stdout  # the root cause, feature by feature
        gate = next(line for line in first.stdout.splitlines() if line.startswith("gate: "))
        assert gate.startswith(("gate: promote", "gate: refuse")), first.stdout

        send(url, 200_000, 2.0, "-")  # a second drift; no label arrives for it
        cooling = retrain(make, project, started + timedelta(hours=26))
        assert decision_line(cooling).startswith("decision: refused"), cooling.stdout
        assert "cooldown: last retrain 1.0 h ago" in decision_line(cooling), cooling.stdout

        unlabelled = retrain(make, project, started + timedelta(hours=25 + 73))
        line = decision_line(unlabelled)
        assert line.startswith("decision: refused: min_labelled_rows: 0 new labelled rows"), line
        assert "cooldown" not in line, line

    everything = audit_entries(project)
    entries = everything[before:]
    decisions = [e["fields"]["decision"] for e in entries if e["event"] == "retraining_decision"]
    assert decisions == ["refused", "retrain", "refused", "refused"], decisions
    registered = [e["fields"] for e in entries if e["event"] == "model_registered"]
    assert len(registered) == 1, registered  # the one retrain registered one version
    retrained = registered[0]
    earlier = [e["fields"] for e in everything[:before] if e["event"] == "model_registered"]
    gated = [e for e in entries if e["event"] in ("promotion", "refusal")]
    assert [e["fields"]["version"] for e in gated] == [retrained["version"]], gated
    assert gated[0]["event"] == ("promotion" if gate.startswith("gate: promote") else "refusal"), gated

    card = json.loads(Path(retrained["model_card"]).with_suffix(".json").read_text(encoding="utf-8"))
    assert card["data_version"] == retrained["data_version"], card
    assert all(retrained["data_version"] != e["data_version"] for e in earlier), earlier  # feedback added
    assert card["decisions"][-1]["event"] == gated[0]["event"], card["decisions"]
    verified = make(project, "audit")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr

    # Shadow: the version the gate did not make champion scores a copy of the traffic, unseen.
    promoted = gated[0]["event"] == "promotion"
    champion = retrained["version"] if promoted else earlier[-1]["version"]
    challenger = earlier[-1]["version"] if promoted else retrained["version"]
    python(SET_ALIAS, "challenger", challenger)
    deploy = project / "config" / "deploy.toml"
    config = deploy.read_text(encoding="utf-8")
    head, shadow_table = config.split("[shadow]", 1)
    deploy.write_text(head + "[shadow]" + shadow_table.replace("enabled = false", "enabled = true", 1))
    try:
        with served(project, env) as url:
            rows = send(url, 300_000, 0.0, LABELS)
    finally:
        deploy.write_text(config, encoding="utf-8")
    shadowed = make(project, "shadow-report", f"ARGS=--labels {LABELS}")
    assert shadowed.returncode == 0, shadowed.stdout + shadowed.stderr
    report = json.loads((project / "reports" / "shadow" / "report.json").read_text(encoding="utf-8"))
    assert (report["rows"], report["unpaired_shadow_rows"]) == (rows, 0), report
    (pair,) = report["comparisons"]
    assert (pair["champion_version"], pair["shadow_version"]) == (champion, challenger), pair
    assert pair["labelled"] == rows and pair["metric_deltas"], pair
    logged = [
        json.loads(line)
        for log in sorted((project / "predictions").glob("*.jsonl"))
        for line in log.read_text(encoding="utf-8").splitlines()
    ]
    shadowed_requests = {line["request_id"] for line in logged if line.get("shadow")}
    answered = [line for line in logged if line["request_id"] in shadowed_requests and not line.get("shadow")]
    assert {line["alias"] for line in answered} == {"champion"}, "only the champion answers callers"
    return {
        "gate": gate,
        "decisions": decisions,
        "retrained_version": retrained["version"],
        "shadow_agreement": pair["agreement_rate"],
    }
