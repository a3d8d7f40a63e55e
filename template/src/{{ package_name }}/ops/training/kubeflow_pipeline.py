# Kept by the template: `copier update` rewrites this file.
"""The training pipeline on your Kubeflow Pipelines: `make pipeline-definition`, `make pipeline-submit`.

The same six steps as `make pipeline`, as the Kubeflow Pipelines v2 pipeline of kfp_pipeline.py: each step
is a container of the step image (from ./Dockerfile) running `<project> pipeline step NAME --input DIR
--output DIR`; Kubeflow Pipelines hands each step's output artifact to the next step as its input, so the
steps run in order. `make pipeline-local-kfp` runs the same DAG on this machine.

    <project> cloud-pipeline compile [--out build/pipeline.yaml]   # offline, no cluster
    <project> cloud-pipeline submit  [--out build/pipeline.yaml]   # compiles, then starts a run

Settings (host = the KFP API endpoint, experiment, pipeline_root, image) come from config/pipeline.toml
[platform]; PIPELINE_<KEY> environment variables override them (see `config.platform_settings`). The API
token comes from the environment only: KFP_TOKEN (unset: no token, as a port-forward to a standalone
install needs none).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import kfp
from kfp_server_api.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..config import platform_settings, step_environment
from ..errors import OpsError
from . import kfp_pipeline, pipeline
from .kfp_pipeline import DEFAULT_OUT, PIPELINE_NAME

TOKEN_VARIABLE = "KFP_TOKEN"


@dataclass(frozen=True)
class Submitted:
    """A run started on Kubeflow Pipelines."""

    run_id: str
    run_name: str
    experiment: str
    url: str


def compile_pipeline(
    path: Path = DEFAULT_OUT,
    settings: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
) -> Path:
    """Compile the pipeline to YAML at `path` for the configured step image; offline, no cluster.

    Every step gets `environment` (config/pipeline.toml [step_environment] unless given).
    """
    settings = settings or platform_settings()
    environment = step_environment() if environment is None else environment
    return kfp_pipeline.compile_pipeline(path, settings["image"], environment)


def submit(compiled: Path, settings: dict[str, str], run_name: str | None = None) -> Submitted:
    """Start a run of a compiled pipeline on the Kubeflow Pipelines at [platform] host, in its experiment
    (created if missing), its artifacts under pipeline_root; the token is KFP_TOKEN's, if set."""
    host = settings["host"].rstrip("/")
    run_name = run_name or f"{PIPELINE_NAME} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    token = os.environ.get(TOKEN_VARIABLE) or None
    try:
        with warnings.catch_warnings():
            # kfp.Client warns on every use that it needs a v2 backend: this pipeline is v2 anyway.
            warnings.filterwarnings("ignore", "This client only works with Kubeflow", FutureWarning)
            client = kfp.Client(host=host, existing_token=token)
            result = client.create_run_from_pipeline_package(
                str(compiled),
                arguments={},
                run_name=run_name,
                experiment_name=settings["experiment"],
                pipeline_root=settings["pipeline_root"],
            )
    except ApiException as refused:
        hint = f"set {TOKEN_VARIABLE} to a token it accepts" if refused.status in (401, 403) else "see above"
        raise OpsError(
            f"Kubeflow Pipelines at {host} refused the run: HTTP {refused.status} {refused.reason}; {hint} "
            "(config/pipeline.toml [platform] host, PIPELINE_HOST)"
        ) from None
    except HTTPError as unreachable:
        raise OpsError(
            f"Kubeflow Pipelines at {host} is not reachable ({type(unreachable).__name__}): check "
            "config/pipeline.toml [platform] host (or PIPELINE_HOST), or start the port-forward it names"
        ) from None
    return Submitted(
        run_id=result.run_id,
        run_name=run_name,
        experiment=settings["experiment"],
        url=f"{host}/#/runs/details/{result.run_id}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["compile", "submit"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="compiled pipeline YAML")
    args = parser.parse_args(argv)
    settings = platform_settings()
    compiled = compile_pipeline(args.out, settings)
    print(f"compiled {PIPELINE_NAME} ({len(pipeline.STEPS)} steps, image {settings['image']}) to {compiled}")
    if args.command == "submit":
        submitted = submit(compiled, settings)
        print(f"started {submitted.run_name!r} in experiment {submitted.experiment!r}: {submitted.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
