# Kept by the template: `copier update` rewrites this file.
"""The training pipeline as a Kubeflow Pipelines v2 definition; `make pipeline-local-kfp` runs it here.

The same six steps as `make pipeline`, in order, each step's output artifact the next step's input. One
definition, two forms of its steps:

- on a platform, each step is a container of the step image (./Dockerfile) running
  `python -m <package> pipeline step NAME --input DIR --output DIR`; `compile_pipeline` writes it as
  portable YAML (offline, no credentials) and the platform's module submits it;
- on this machine, each step is a lightweight component running the same command with this environment's
  Python, executed by kfp's local runner (`kfp.local`, no cluster, no Docker): `run_local`.

    <project> kfp-local [--root DIR]   # the DAG through kfp.local; registers a new version at the end
"""

# No `from __future__ import annotations` here: KFP reads the component signatures' annotations at runtime.

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import compiler, dsl, local

from ..config import ARTIFACTS_DIR, PROJECT_ROOT
from . import pipeline

# The package: its `python -m` runs the project's command line (__main__.py) in every step.
PACKAGE = pipeline.__name__.split(".")[0]
PIPELINE_NAME = PACKAGE.replace("_", "-") + "-training"
DEFAULT_OUT = PROJECT_ROOT / "build" / "pipeline.yaml"
# Where `run_local` keeps each run's step artifacts: <root>/<pipeline name>-<time>/<step>/output, beside
# the runs of `make pipeline`
LOCAL_ROOT = ARTIFACTS_DIR / "pipeline" / "kfp-local"


def step_command(step: str) -> list[str]:
    """The container command of one step; the --input/--output paths are added by the component."""
    return ["python", "-m", PACKAGE, "pipeline", "step", step]


def container_step(step: str, image: str, first: bool) -> Callable[..., Any]:
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


# The two lightweight components. KFP runs each function's source on its own (the local runner in a
# subprocess of this environment's Python), so they import what they use and read no global of this module.
def first_local_step(package: str, step: str, output: dsl.Output[dsl.Artifact]) -> None:
    """Run the first step with this environment's Python."""
    import subprocess
    import sys

    command = [sys.executable, "-m", package, "pipeline", "step", step, "--output", output.path]
    subprocess.run(command, check=True)


def next_local_step(
    package: str, step: str, previous: dsl.Input[dsl.Artifact], output: dsl.Output[dsl.Artifact]
) -> None:
    """Run a later step on the previous step's output with this environment's Python."""
    import subprocess
    import sys

    command = [sys.executable, "-m", package, "pipeline", "step", step]
    subprocess.run([*command, "--input", previous.path, "--output", output.path], check=True)


def local_step(step: str, first: bool) -> Callable[..., Any]:
    """A lightweight component running one step here, in this environment (kfp is installed already)."""
    component = dsl.component(
        first_local_step if first else next_local_step,
        base_image=f"python:{sys.version_info.major}.{sys.version_info.minor}",  # this Python, named
        install_kfp_package=False,
    )
    component.component_spec.name = step  # the task's name, as in the container form
    return component


def build_pipeline(
    image: str,
    environment: dict[str, str],
    local_steps: bool = False,
    configure: Callable[[Any], None] | None = None,
) -> Callable[..., Any]:
    """The pipeline: every step of `pipeline.STEPS` in order, each fed the previous step's output and
    given the `environment` variables; the register step's output is the pipeline's.

    The steps are containers of `image`, or with `local_steps` lightweight components for `kfp.local`;
    `configure`, if given, is called with every step's task (a platform's own settings, such as secrets).
    """

    @dsl.pipeline(name=PIPELINE_NAME, description=" -> ".join(pipeline.STEPS))
    def training_pipeline() -> dsl.Artifact:
        task = None
        for step in pipeline.STEPS:
            first = task is None
            if local_steps:
                component, arguments = local_step(step, first), {"package": PACKAGE, "step": step}
            else:
                component, arguments = container_step(step, image, first), {}
            if task is not None:
                arguments["previous"] = task.outputs["output"]
            task = component(**arguments)
            # Every run reads fresh data, so no step may be skipped as "already computed".
            task.set_caching_options(False)
            for name, value in environment.items():
                task.set_env_variable(name, value)
            if configure is not None:
                configure(task)
        assert task is not None  # STEPS is not empty
        return task.outputs["output"]

    return training_pipeline


def compile_pipeline(
    path: Path, image: str, environment: dict[str, str], configure: Callable[[Any], None] | None = None
) -> Path:
    """Compile the container form to YAML at `path`; offline, no credentials."""
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(image, environment, configure=configure), str(path))
    return path


def run_local(root: Path = LOCAL_ROOT) -> Path:
    """Run the pipeline's DAG here through `kfp.local` and return the register step's output folder.

    Each step runs `python -m <package> pipeline step` in this environment, inheriting its variables (the
    tracker's among them). A step that fails stops the run: RuntimeError, after kfp has printed its log.
    """
    root.mkdir(parents=True, exist_ok=True)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(root),
        workspace_root=str(root / ".workspace"),
    )
    run = build_pipeline(image="", environment={}, local_steps=True)()
    return Path(run.output.uri)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=LOCAL_ROOT, help="where the runs' artifacts are kept")
    args = parser.parse_args(argv)
    print(f"{PIPELINE_NAME} through kfp.local: {' -> '.join(pipeline.STEPS)}")
    started = time.perf_counter()
    try:
        registered = run_local(args.root)
    except RuntimeError as failed:
        print(f"stopped: {failed} (the failing step's log is above)", file=sys.stderr)
        return 1
    registration = pipeline.read_json(registered / "registration.json")
    print(
        f"registered {registration['model_name']} version {registration['version']} as "
        f"{', '.join(registration['aliases'])} in {time.perf_counter() - started:.1f} s; "
        f"the steps' outputs are in {registered.parent.parent}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
