# Kept by the template: `copier update` rewrites this file.
"""The training pipeline on Vertex AI Pipelines: `make pipeline-definition`, `make pipeline-submit`.

The same six steps as `make pipeline`, as the Kubeflow Pipelines v2 pipeline of kfp_pipeline.py: each step
is a container of the step image (from ./Dockerfile) running `<project> pipeline step NAME --input DIR
--output DIR`; Vertex AI hands each step's output artifact to the next step as its input, so the steps run
in order. `make pipeline-local-kfp` runs the same DAG on this machine.

    <project> cloud-pipeline compile [--out build/pipeline.yaml]   # offline, no credentials
    <project> cloud-pipeline submit  [--out build/pipeline.yaml]   # compiles, then submits

Settings (project, region, bucket, role = service account, image) come from config/pipeline.toml [platform];
PIPELINE_<KEY> environment variables override them (see `config.platform_settings`).
"""

import argparse
from pathlib import Path
from typing import Any

from ..config import platform_settings, step_environment
from . import kfp_pipeline, pipeline
from .kfp_pipeline import DEFAULT_OUT, PIPELINE_NAME


def compile_pipeline(
    path: Path = DEFAULT_OUT,
    settings: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
) -> Path:
    """Compile the pipeline to YAML at `path` for the configured step image; offline, no credentials.

    Every step gets `environment` (config/pipeline.toml [step_environment] unless given).
    """
    settings = settings or platform_settings()
    environment = step_environment() if environment is None else environment
    return kfp_pipeline.compile_pipeline(path, settings["image"], environment)


def submit(compiled: Path, settings: dict[str, str], client: Any = None) -> Any:
    """Submit a compiled pipeline to Vertex AI Pipelines and return the PipelineJob (it runs remotely).

    `client` is the `google.cloud.aiplatform` module unless given (the tests pass a stub).
    """
    if client is None:
        from google.cloud import aiplatform as client
    bucket = f"gs://{settings['bucket']}"
    client.init(project=settings["project"], location=settings["region"], staging_bucket=bucket)
    job = client.PipelineJob(
        display_name=PIPELINE_NAME,
        template_path=str(compiled),
        pipeline_root=f"{bucket}/pipeline-root",
        project=settings["project"],
        location=settings["region"],
    )
    job.submit(service_account=settings["role"])
    return job


def main(argv: list[str] | None = None) -> None:
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
        job = submit(compiled, settings)
        where = f"{settings['project']}/{settings['region']}"
        print(f"submitted {job.resource_name} to Vertex AI Pipelines in {where}")


if __name__ == "__main__":
    main()
