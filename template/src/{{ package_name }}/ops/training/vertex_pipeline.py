# Kept by the template: `copier update` rewrites this file.
"""The training pipeline on Vertex AI Pipelines: `make pipeline-definition`, `make pipeline-submit`.

The same six steps as `make pipeline`, as a Kubeflow Pipelines v2 pipeline. Each step is a container of the
step image (from ./Dockerfile) running `<project> pipeline step NAME --input DIR --output DIR`;
Vertex AI hands each step's output artifact to the next step as its input, so the steps run in order.

    <project> cloud-pipeline compile [--out build/pipeline.yaml]   # offline, no credentials
    <project> cloud-pipeline submit  [--out build/pipeline.yaml]   # compiles, then submits

Settings (project, region, bucket, role = service account, image) come from config/pipeline.toml [platform];
PIPELINE_<KEY> environment variables override them (see `config.platform_settings`).
"""

# No `from __future__ import annotations` here: KFP reads the component signatures' annotations at runtime.

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import compiler, dsl

from ..config import PROJECT_ROOT, platform_settings, step_environment
from . import pipeline

# The package: its `python -m` runs the project's command line (__main__.py) in the step containers.
PACKAGE = pipeline.__name__.split(".")[0]
PIPELINE_NAME = PACKAGE.replace("_", "-") + "-training"
DEFAULT_OUT = PROJECT_ROOT / "build" / "pipeline.yaml"


def step_command(step: str) -> list[str]:
    """The container command of one step; the --input/--output paths are added by the component."""
    return ["python", "-m", PACKAGE, "pipeline", "step", step]


def step_component(step: str, image: str, first: bool) -> Callable[..., Any]:
    """A container component running one step; every step but the first reads the previous step's output."""
    if first:

        def component(output: dsl.Output[dsl.Artifact]) -> dsl.ContainerSpec:
            return dsl.ContainerSpec(image=image, command=step_command(step), args=["--output", output.path])

    else:

        def component(
            previous: dsl.Input[dsl.Artifact], output: dsl.Output[dsl.Artifact]
        ) -> dsl.ContainerSpec:
            return dsl.ContainerSpec(
                image=image,
                command=step_command(step),
                args=["--input", previous.path, "--output", output.path],
            )

    component.__name__ = step  # the component's and the task's name in the compiled pipeline
    return dsl.container_component(component)


def build_pipeline(image: str, environment: dict[str, str]) -> Callable[..., Any]:
    """The pipeline: every step of `pipeline.STEPS` in order, each fed the previous step's output and
    given the `environment` variables."""

    @dsl.pipeline(name=PIPELINE_NAME, description=" -> ".join(pipeline.STEPS))
    def training_pipeline() -> None:
        task = None
        for step in pipeline.STEPS:
            if task is None:
                task = step_component(step, image, first=True)()
            else:
                task = step_component(step, image, first=False)(previous=task.outputs["output"])
            # Every run reads fresh data, so no step may be skipped as "already computed".
            task.set_caching_options(False)
            for name, value in environment.items():
                task.set_env_variable(name, value)

    return training_pipeline


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
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(settings["image"], environment), str(path))
    return path


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
