# Kept by the template: `copier update` rewrites this file.
"""The training pipeline on SageMaker Pipelines: `make pipeline-definition`, `make pipeline-submit`.

The same six steps as `make pipeline`, as a SageMaker Pipelines definition (the pipeline definition JSON
schema, version 2020-12-01). Each step is a processing job of the step image (from ./Dockerfile) running
`<project> pipeline step NAME --input DIR --output DIR`; its output directory is uploaded to
s3://<bucket>/pipeline-root/<execution id>/<step>/ and downloaded as the next step's input, so the steps
run in order.

    <project> cloud-pipeline definition [--out build/pipeline.json]   # offline, no credentials
    <project> cloud-pipeline submit                                  # create/update, then start

Settings (region, bucket, role = the IAM role ARN the steps run as, image) come from config/pipeline.toml
[platform]; PIPELINE_<KEY> environment variables override them (see `config.platform_settings`). An optional
`instance_type` key there picks the processing instance (default ml.m5.large).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ..config import PROJECT_ROOT, platform_settings, step_environment
from . import pipeline

# The package: its `python -m` runs the project's command line (__main__.py) in the step containers.
PACKAGE = pipeline.__name__.split(".")[0]
PIPELINE_NAME = PACKAGE.replace("_", "-") + "-training"
DEFAULT_OUT = PROJECT_ROOT / "build" / "pipeline.json"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
# SageMaker mounts processing inputs and outputs below /opt/ml/processing/.
INPUT_DIR = "/opt/ml/processing/input"
OUTPUT_DIR = "/opt/ml/processing/output"


def step_command(step: str, first: bool) -> list[str]:
    """The container command of one step: it reads the previous step's output unless it is the first."""
    reads = [] if first else ["--input", INPUT_DIR]
    return ["python", "-m", PACKAGE, "pipeline", "step", step, *reads, "--output", OUTPUT_DIR]


def processing_step(
    step: str, previous: str | None, settings: dict[str, str], environment: dict[str, str]
) -> dict[str, Any]:
    """One processing step of the definition; `previous` names the step whose output is its input."""
    output_uri = {
        "Std:Join": {
            "On": "/",
            "Values": [
                f"s3://{settings['bucket']}/pipeline-root",
                {"Get": "Execution.PipelineExecutionId"},
                step,
            ],
        }
    }
    arguments: dict[str, Any] = {
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": settings.get("instance_type", DEFAULT_INSTANCE_TYPE),
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
            }
        },
        "AppSpecification": {
            "ImageUri": settings["image"],
            "ContainerEntrypoint": step_command(step, first=previous is None),
        },
        "RoleArn": settings["role"],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "output",
                    "AppManaged": False,
                    "S3Output": {"S3Uri": output_uri, "LocalPath": OUTPUT_DIR, "S3UploadMode": "EndOfJob"},
                }
            ]
        },
    }
    if environment:
        arguments["Environment"] = environment
    if previous is not None:
        previous_output = f"Steps.{previous}.ProcessingOutputConfig.Outputs['output'].S3Output.S3Uri"
        arguments["ProcessingInputs"] = [
            {
                "InputName": "input",
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": {"Get": previous_output},
                    "LocalPath": INPUT_DIR,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None",
                },
            }
        ]
    return {"Name": step, "Type": "Processing", "Arguments": arguments}


def definition(
    settings: dict[str, str] | None = None, environment: dict[str, str] | None = None
) -> dict[str, Any]:
    """The pipeline definition: every step of `pipeline.STEPS` in order; needs no credentials.

    Every step gets `environment` (config/pipeline.toml [step_environment] unless given).
    """
    settings = settings or platform_settings()
    environment = step_environment() if environment is None else environment
    previous_steps: list[str | None] = [None, *pipeline.STEPS[:-1]]
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [],
        "Steps": [
            processing_step(step, previous, settings, environment)
            for step, previous in zip(pipeline.STEPS, previous_steps, strict=True)
        ],
    }


def write_definition(path: Path = DEFAULT_OUT, settings: dict[str, str] | None = None) -> Path:
    """Write the definition JSON to `path` (what `submit` sends, for review or for infrastructure code)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition(settings), indent=2) + "\n")
    return path


def submit(settings: dict[str, str], client: Any = None) -> str:
    """Create or update the pipeline on SageMaker, start a run of it and return the execution's ARN.

    `client` is a boto3 SageMaker client for the configured region unless given (the tests pass a mocked one).
    """
    if client is None:
        import boto3

        client = boto3.client("sagemaker", region_name=settings["region"])
    body = json.dumps(definition(settings))
    fields = {
        "PipelineName": PIPELINE_NAME,
        "PipelineDefinition": body,
        "PipelineDescription": " -> ".join(pipeline.STEPS),
        "RoleArn": settings["role"],
    }
    try:
        client.create_pipeline(**fields)
    except ClientError as error:
        already_exists = "already exists" in error.response["Error"].get("Message", "")
        if error.response["Error"]["Code"] != "ValidationException" or not already_exists:
            raise
        client.update_pipeline(**fields)
    return client.start_pipeline_execution(PipelineName=PIPELINE_NAME)["PipelineExecutionArn"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["definition", "submit"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="definition JSON")
    args = parser.parse_args(argv)
    settings = platform_settings()
    path = write_definition(args.out, settings)
    print(f"wrote {PIPELINE_NAME} ({len(pipeline.STEPS)} steps, image {settings['image']}) to {path}")
    if args.command == "submit":
        execution = submit(settings)
        print(f"started {execution} on SageMaker Pipelines in {settings['region']}")


if __name__ == "__main__":
    main()
