"""The training pipeline: ingest -> validate -> features -> train -> evaluate -> register.

`make pipeline` runs every step on this machine, each in its own folder below
$ARTIFACTS_DIR/pipeline/<run>/, and stops at the first step that fails: a model that misses
config/pipeline.toml's `evaluate.min_accuracy` is never registered. A platform pipeline (SageMaker, Vertex AI)
runs the same steps one container each, with the command

    python -m <package>.pipeline step NAME --input PREVIOUS_STEP_OUTPUT --output THIS_STEP_OUTPUT

Every step copies forward what later steps need, so the steps are chained by their folders alone.
The seed (config/train.toml) fixes the split and the model, so the same data gives the same metrics.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from . import data_pipeline, data_versions, features, lifecycle, registry
from .config import ARTIFACTS_DIR, load_config
from .data import ID, TARGET, split
from .model import evaluate as score_model
from .train import train as fit

RUNS_DIR = ARTIFACTS_DIR / "pipeline"
STEPS = ("ingest", "validate", "features", "train", "evaluate", "register")


class PipelineStopped(RuntimeError):
    """A step refused to go on, with the reason."""


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


def carry_forward(source: Path, target: Path, *names: str) -> None:
    """Copy the named files of the previous step into this step's folder."""
    for name in names:
        shutil.copy2(source / name, target / name)


def ingest(_: Path | None, out: Path) -> None:
    """Extract the source and keep it under its data version."""
    extract = data_pipeline.extract()
    version = data_versions.snapshot(extract)
    shutil.copy2(version.path, out / "data.csv")
    write_json(
        out / "lineage.json",
        {"data_version": version.id, "data_source": data_pipeline.SOURCE, "rows": str(version.rows)},
    )


def validate(previous: Path, out: Path) -> None:
    """Check the extract against the catalog schema and clean it."""
    cleaned = data_pipeline.transform(data_pipeline.validate(read_csv(previous / "data.csv")))
    cleaned.to_csv(out / "data.csv", index=False)
    carry_forward(previous, out, "lineage.json")


def compute_features(previous: Path, out: Path) -> None:
    """Add the declared features (features.py)."""
    features.compute(read_csv(previous / "data.csv")).to_csv(out / "features.csv", index=False)
    carry_forward(previous, out, "lineage.json")


def train(previous: Path, out: Path) -> None:
    """Fit the model with train.py on the features, as `make train` does."""
    result = fit(read_csv(previous / "features.csv"), load_config("train"))
    joblib.dump(result.model, out / "model.joblib")
    write_json(out / "training.json", {"params": result.params, "metrics": result.metrics})
    carry_forward(previous, out, "lineage.json", "features.csv")


def evaluate(previous: Path, out: Path) -> None:
    """Score the model on the held-out rows; stop the run if it misses evaluate.min_accuracy."""
    config = load_config("train")
    rows = read_csv(previous / "features.csv")
    _, held_out = split(rows, float(config["data"]["test_size"]), int(config["seed"]))
    model = joblib.load(previous / "model.joblib")
    metrics = score_model(model, held_out.drop(columns=[ID, TARGET]), held_out[TARGET])
    threshold = float(load_config("pipeline")["evaluate"]["min_accuracy"])
    passed = metrics["accuracy"] >= threshold
    write_json(out / "evaluation.json", {"metrics": metrics, "min_accuracy": threshold, "passed": passed})
    if not passed:
        raise PipelineStopped(
            f"held-out accuracy {metrics['accuracy']:.4f} is below evaluate.min_accuracy {threshold} "
            "(config/pipeline.toml): the model is not registered"
        )
    carry_forward(previous, out, "lineage.json", "model.joblib", "training.json")


def register(previous: Path, out: Path) -> None:
    """Record the run with the tracker and register its model with the configured alias."""
    training = read_json(previous / "training.json")
    lineage = read_json(previous / "lineage.json")
    evaluation = read_json(previous / "evaluation.json")
    result = lifecycle.TrainingResult(
        model=joblib.load(previous / "model.joblib"),
        params=training["params"],
        metrics=evaluation["metrics"],
        tags={**lineage, "pipeline_step": "register"},
    )
    lifecycle.record_run(result)
    run = read_json(lifecycle.METADATA_FILE)["tracking"]
    registered = registry.register(run, tags=result.tags)
    write_json(
        out / "registration.json",
        {
            "model_name": registered.name,
            "version": registered.version,
            "aliases": list(registered.aliases),
            "model_version": lifecycle.model_version(),
            "metrics": result.metrics,
            "tags": result.tags,
        },
    )


STEP_FUNCTIONS: dict[str, Callable[[Path | None, Path], None]] = {
    "ingest": ingest,
    "validate": validate,
    "features": compute_features,
    "train": train,
    "evaluate": evaluate,
    "register": register,
}


def run_step(name: str, previous: Path | None, out: Path) -> None:
    """Run one step, reading the previous step's folder and writing its own."""
    if name not in STEP_FUNCTIONS:
        raise SystemExit(f"unknown step {name!r}: choose one of {', '.join(STEPS)}")
    if name != "ingest" and previous is None:
        raise SystemExit(f"step {name!r} needs --input: the previous step's output folder")
    out.mkdir(parents=True, exist_ok=True)
    STEP_FUNCTIONS[name](previous, out)


def run_all(runs_dir: Path = RUNS_DIR) -> dict[str, Any]:
    """Every step in order on this machine; returns the run's summary, also written as run.json."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir = runs_dir / run_id
    summary: dict[str, Any] = {"run_id": run_id, "steps": {}}
    previous: Path | None = None
    try:
        for name in STEPS:
            started = time.perf_counter()
            run_step(name, previous, run_dir / name)
            seconds = round(time.perf_counter() - started, 3)
            summary["steps"][name] = {"seconds": seconds, "output": str(run_dir / name)}
            print(f"  {name:<9} done in {seconds:.2f} s")
            previous = run_dir / name
    except PipelineStopped as stopped:
        summary.update(status="stopped", reason=str(stopped))
    else:
        summary.update(
            status="registered",
            evaluation=read_json(run_dir / "evaluate" / "evaluation.json"),
            registration=read_json(run_dir / "register" / "registration.json"),
        )
    write_json(run_dir / "run.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the training pipeline, or one of its steps.")
    commands = parser.add_subparsers(dest="command")
    one = commands.add_parser("step", help="run one step (what a platform pipeline's container runs)")
    one.add_argument("name", choices=STEPS)
    one.add_argument("--input", type=Path, help="the previous step's output folder")
    one.add_argument("--output", type=Path, required=True, help="this step's output folder")
    args = parser.parse_args(argv)
    if args.command == "step":
        try:
            run_step(args.name, args.input, args.output)
        except PipelineStopped as stopped:
            print(f"stopped: {stopped}", file=sys.stderr)
            return 1
        return 0
    print(f"pipeline: {' -> '.join(STEPS)}")
    summary = run_all()
    if summary["status"] != "registered":
        print(f"stopped: {summary['reason']}", file=sys.stderr)
        return 1
    registration = summary["registration"]
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(summary["evaluation"]["metrics"].items()))
    name, version, aliases = registration["model_name"], registration["version"], registration["aliases"]
    print(f"registered {name} version {version} as {', '.join(aliases)}")
    print(f"held-out {metrics}; data version {registration['tags']['data_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
