"""Generated MLflow projects against a real tracking server (tracking_server.py: `mlflow server`, the
project's own MLflow version, on PostgreSQL, artifacts proxied through it), as a team runs them once
MLFLOW_TRACKING_URI names their server.

The self-hosted project of the highest level, in a fresh git repo: `make install`, then with
MLFLOW_TRACKING_URI set, `make pipeline`, `make promote`, `make serve` with `make smoke` against it,
`make canary-report`, the scenario of continuous.py (guarded retraining, the gate, a shadow) and `make audit`
pass; the server then holds every version the audit log says was registered, each the logged model of a
run (its source `models:/<model id>`, the id given), and the `champion` and `challenger` aliases; the
models were stored through the server; the project kept no local MLflow store.

A SageMaker project of the level that adds the training pipeline: its steps run as SageMaker runs them,
each a container of its own (the command and environment of `make pipeline-definition`'s definition, a
fresh ARTIFACTS_DIR, the previous step's output as input); the register step's version is on the server
with the `challenger` alias, its source the logged model and its model id set, and `models:/<name>@challenger`
loads it back in the project's Python.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import MANIFEST, Render, answers_id, full_answers
from continuous import audit_entries
from test_generated_projects import (
    CONTINUOUS,
    PIPELINE_FROM_LEVEL,
    SERVE_AND_SMOKE,
    make,
    make_env,
    run_targets,
    team_repo,
)
from tracking_server import get, mlflow_server, model_versions, tail

# The ids (level-N-...) sort them among the slow tests of their level (conftest.py).
SELF_HOSTED = {
    "maturity_level": MANIFEST.highest_level,
    "tracker": "mlflow",
    "ci": "github",
    "platform": "self-hosted",
}
SAGEMAKER = {
    "maturity_level": PIPELINE_FROM_LEVEL,
    "tracker": "mlflow",
    "ci": "github",
    "platform": "sagemaker",
}
# With the server up (`make install` runs before it: the server runs from the project's environment).
AGAINST_THE_SERVER = ["pipeline", "promote", SERVE_AND_SMOKE, "canary-report", CONTINUOUS, "audit"]
LOCAL_STORES = {"mlflow.db", "mlruns", "mlartifacts"}
# Loads a version through the registry, by alias, in the project's Python, and scores a few rows with it.
LOAD = """
import sys
import mlflow
import pandas as pd
from {package}.data import ID, TARGET

mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.sklearn.load_model(f"models:/{{sys.argv[2]}}@challenger")
rows = pd.read_csv(sys.argv[3]).drop(columns=[ID, TARGET]).head(5)
print(len(model.predict(rows)))
"""


def local_stores(*folders: Path) -> list[str]:
    """MLflow's local stores (a SQLite file, a file store, an artifact folder) anywhere below the folders,
    outside the virtual environment and git."""
    found = []
    for folder in folders:
        for parent, directories, files in os.walk(folder):
            directories[:] = [d for d in directories if d not in {".venv", ".git"}]
            found += [str(Path(parent, name)) for name in [*directories, *files] if name in LOCAL_STORES]
    return found


def model_name(project: Path) -> str:
    with (project / "config" / "pipeline.toml").open("rb") as handle:
        return str(tomllib.load(handle)["registry"]["model_name"])


def failed_step(steps: list[dict[str, Any]], server_log: Path) -> str | None:
    """The first failed step's output with the server's log, or None when every step passed."""
    failed = [step for step in steps if step["code"] != 0]
    if not failed:
        return None
    return (
        f"make {failed[0]['target']} failed:\n{failed[0]['output']}\n\n"
        f"mlflow server log (tail):\n{tail(server_log)}"
    )


def logged_model_source(url: str, version: dict[str, Any]) -> None:
    """A version registered from a run's logged model with its id (the server's check of MLflow 3): its source
    is `models:/<model id>`, that logged model came from the version's run, and the server linked the two
    (the logged model's mlflow.modelVersions tag, which it writes only when given the model id)."""
    assert version.get("status") == "READY", version
    model_id = str(version["source"]).removeprefix("models:/")
    assert model_id.startswith("m-"), f"not registered from a logged model: {version}"
    model = get(url, f"logged-models/{model_id}")["model"]["info"]
    assert model["source_run_id"] == version["run_id"], (model, version)
    tags = {tag["key"]: tag["value"] for tag in model.get("tags", [])}
    linked = [(str(v["name"]), str(v["version"])) for v in json.loads(tags.get("mlflow.modelVersions", "[]"))]
    assert (version["name"], version["version"]) in linked, (model_id, tags)


@pytest.mark.slow
@pytest.mark.parametrize("answers", [pytest.param(SELF_HOSTED, id=f"level-{answers_id(SELF_HOSTED)}")])
def test_highest_level_project_runs_against_a_tracking_server(
    render: Render, tmp_path: Path, answers: dict[str, Any], record_property: Any
) -> None:
    project = team_repo(render(answers), tmp_path / "project")
    server_dir, server_log = tmp_path / "server", tmp_path / "server" / "mlflow-server.log"
    steps, _ = run_targets(project, answers, ["install"])
    assert not (failure := failed_step(steps, server_log)), failure
    started = time.monotonic()
    with mlflow_server(project, server_dir, make_env()) as url:
        up = round(time.monotonic() - started, 1)
        env = make_env(MLFLOW_TRACKING_URI=url)
        more, untracked = run_targets(project, answers, AGAINST_THE_SERVER, env)
        steps += more
        timings = ", ".join(f"{step['target']} {step['seconds']}s" for step in steps)
        record_property("timings", f"server up in {up}s, {timings}")
        assert not (failure := failed_step(steps, server_log)), failure

        name = model_name(project)
        registered = get(url, "registered-models/get", name=name)["registered_model"]
        aliases = {alias["alias"]: alias["version"] for alias in registered.get("aliases", [])}
        versions = {version["version"]: version for version in model_versions(url, name)}
        assert {"champion", "challenger"} <= aliases.keys(), f"the server's aliases: {aliases}"
        assert set(aliases.values()) <= versions.keys(), (aliases, sorted(versions))
        audited = {e["fields"]["version"] for e in audit_entries(project) if e["event"] == "model_registered"}
        assert len(audited) >= 2, "the pipeline's and the retraining's versions"
        assert audited <= versions.keys(), (
            f"audited as registered {audited}, on the server {sorted(versions)}"
        )
        for version in versions.values():
            logged_model_source(url, version)
        experiment_name = full_answers(answers)["project_name"]
        experiment = get(url, "experiments/get-by-name", experiment_name=experiment_name)

    location = experiment["experiment"]["artifact_location"]
    assert location.startswith("mlflow-artifacts:"), f"artifacts not proxied through the server: {location}"
    stored = list((server_dir / "mlartifacts").rglob("MLmodel"))
    assert len(stored) >= len(versions), f"{len(stored)} models stored through the server"
    assert not local_stores(project), f"a local MLflow store beside the server: {local_stores(project)}"
    assert [line for line in untracked if line != "?? uv.lock"] == [], untracked


@pytest.mark.slow
@pytest.mark.parametrize("answers", [pytest.param(SAGEMAKER, id=f"level-{answers_id(SAGEMAKER)}")])
def test_sagemaker_pipeline_steps_register_on_a_tracking_server(
    render: Render, tmp_path: Path, answers: dict[str, Any], record_property: Any
) -> None:
    package = full_answers(answers)["package_name"]
    project = team_repo(render(answers), tmp_path / "project")
    server_dir, server_log = tmp_path / "server", tmp_path / "server" / "mlflow-server.log"
    steps, _ = run_targets(project, answers, ["install"])
    assert not (failure := failed_step(steps, server_log)), failure
    s3, containers = tmp_path / "s3", tmp_path / "containers"
    timings = [f"install {steps[0]['seconds']}s"]
    with mlflow_server(project, server_dir, make_env()) as url:
        # Submitting from CI: the tracking server is named in the submitting job's environment.
        built = make(project, "pipeline-definition", env=make_env(MLFLOW_TRACKING_URI=url))
        assert built.returncode == 0, built.stdout + built.stderr
        definition = json.loads((project / "build" / "pipeline.json").read_text(encoding="utf-8"))
        for step in definition["Steps"]:
            arguments, name = step["Arguments"], step["Name"]
            environment = arguments.get("Environment", {})
            assert environment.get("MLFLOW_TRACKING_URI") == url, f"{name}'s environment: {environment}"
            (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
            local = {output["S3Output"]["LocalPath"]: str(s3 / name)}
            for given in arguments.get("ProcessingInputs", []):
                previous = re.fullmatch(r"Steps\.(\w+)\..*", given["S3Input"]["S3Uri"]["Get"])
                assert previous, given
                local[given["S3Input"]["LocalPath"]] = str(s3 / previous[1])
            command = [local.get(word, word) for word in arguments["AppSpecification"]["ContainerEntrypoint"]]
            # The step image: the project's environment first on PATH, ARTIFACTS_DIR its own.
            container = {
                **make_env(),
                **environment,
                "PATH": f"{project / '.venv' / 'bin'}{os.pathsep}{make_env()['PATH']}",
                "ARTIFACTS_DIR": str(containers / name),
            }
            started = time.monotonic()
            ran = subprocess.run(
                command, cwd=project, env=container, capture_output=True, text=True, timeout=600, check=False
            )
            timings.append(f"{name} {round(time.monotonic() - started, 1)}s")
            assert ran.returncode == 0, (
                f"step {name}: {' '.join(command)}\n{ran.stdout}{ran.stderr}\n\n"
                f"mlflow server log (tail):\n{tail(server_log)}"
            )
        record_property("timings", ", ".join(timings))

        registration = json.loads((s3 / "register" / "registration.json").read_text(encoding="utf-8"))
        name = registration["model_name"]
        challenger = get(url, "registered-models/alias", name=name, alias="challenger")["model_version"]
        assert challenger["version"] == registration["version"], (challenger, registration)
        logged_model_source(url, challenger)
        loaded = subprocess.run(
            [
                str(project / ".venv" / "bin" / "python"),
                "-c",
                LOAD.format(package=package),
                url,
                name,
                str(s3 / "features" / "features.csv"),
            ],
            cwd=tmp_path,
            env=make_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert loaded.returncode == 0 and loaded.stdout.strip() == "5", loaded.stdout + loaded.stderr
    assert not local_stores(project, containers), f"a local MLflow store: {local_stores(project, containers)}"
