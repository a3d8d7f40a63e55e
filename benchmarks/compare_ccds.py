"""A level-4 `copier copy` of this template beside cookiecutter-data-science's default generation.

Both run as the CLI commands a user types, each in a subprocess, so both times include the Python start-up
and the tool's own imports:

    copier copy --trust --defaults --quiet -d maturity_level=4 <template repo> <destination>
    ccds git+file://<ccds repo> --checkout v2.3.0 --no-input --output-dir <destination>

Like for like: each tool clones its template from a local git repository, as it clones a remote one for a
user (copier checks out the template's latest tag, ccds its own version's tag, v2.3.0, as plain `ccds`
does from GitHub). The package on PyPI does not ship its template, and plain `ccds` fetches it from GitHub,
which this machine may not reach; so the ccds repository is built from a local clone of ccds's own
repository (CCDS_SOURCE: a git repository, bare or not, holding the tag v2.3.0; by default the mirror at
{DEFAULT_SOURCE}). Its whole tree at that tag is taken (`git archive`), docs and tests included, as the
template under benchmark is this whole working tree: each tool clones and checks out its entire repository,
which on a machine whose file creation is slow is a good part of either's time. Nothing of ccds is kept in
this repository: without a clone, the comparison says so and is skipped.

Both run with Python's bytecode cache warm (PYTHONPYCACHEPREFIX in the work folder, filled by one untimed
run of each), as an installed tool runs from its second start on; the environment's PYTHONDONTWRITEBYTECODE
is dropped for them. The runs alternate (copier, ccds, then ccds, copier, ...) so that a change of the
machine's load falls on both; each time is the median of the runs.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from shared import Timing, commit_all, git, project_size, timed

CCDS_VERSION = "2.3.0"
DEFAULT_SOURCE = "/work/.mirror/drivendataorg+cookiecutter-data-science/repo"
LEVEL = 4


@dataclass(frozen=True)
class Comparison:
    """Times of the alternating runs of each command, and the files each generated."""

    copier: list[Timing]
    ccds: list[Timing]
    copier_files: int
    ccds_files: int

    def median(self, tool: str, judge: str) -> float:
        return statistics.median(t.value(judge) for t in getattr(self, tool))

    def ratio(self, judge: str) -> float:
        return self.median("copier", judge) / self.median("ccds", judge)


def git_dir(source: Path) -> Path:
    """The git directory of a clone, bare or not."""
    return source if (source / "HEAD").is_file() else source / ".git"


def ccds_source() -> Path | None:
    """The local clone of ccds's repository the comparison builds from, or None when there is none."""
    source = Path(os.environ.get("CCDS_SOURCE", DEFAULT_SOURCE))
    found = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir(source)}",
            "rev-parse",
            "--verify",
            "--quiet",
            f"v{CCDS_VERSION}^{{commit}}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return source if found.returncode == 0 else None


def ccds_repo(work: Path, source: Path) -> Path:
    """The ccds template as its default source is: a git repository with the tag v2.3.0."""
    archive = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir(source)}",
            "archive",
            "--prefix=cookiecutter-data-science/",
            f"v{CCDS_VERSION}",
        ],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as files:
        files.extractall(work, filter="data")
    repo = work / "cookiecutter-data-science"
    git(repo, "init", "-q", "-b", "master")
    git(repo, "add", "-A", "--force")  # the template's own .gitignore would leave out .env and data/
    commit_all(repo, f"cookiecutter-data-science {CCDS_VERSION} template")
    git(repo, "tag", f"v{CCDS_VERSION}")
    git(repo, "repack", "-a", "-d", "-q")  # packed, as the template copy (shared.template_copy) is
    return repo


def compare(template: Path, work: Path, runs: int, source: Path) -> Comparison:
    """`runs` alternating runs of each command after one untimed run of each."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    ccds_source = ccds_repo(work, source)
    # ccds clones into cookiecutters_dir and records a replay: both in the work folder, not in ~.
    config = work / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {work / 'cookiecutters'}\nreplay_dir: {work / 'replay'}\n")
    copier_out, ccds_out = work / "versus-copier", work / "versus-ccds"
    commands = {
        "copier": [
            str(bin_dir / "copier"),
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "-d",
            f"maturity_level={LEVEL}",
            str(template),
            str(copier_out),
        ],
        "ccds": [
            str(bin_dir / "ccds"),
            f"git+file://{ccds_source}",
            "--checkout",  # plain ccds checks out its own version's tag; this keeps the archive's
            f"v{CCDS_VERSION}",
            "--no-input",
            "--output-dir",
            str(ccds_out),
            "--config-file",
            str(config),
        ],
    }
    outputs = {"copier": copier_out, "ccds": ccds_out}

    def run(tool: str) -> Timing:
        shutil.rmtree(outputs[tool], ignore_errors=True)
        if tool == "ccds":
            ccds_out.mkdir()
        command = commands[tool]
        return timed(lambda: subprocess.run(command, cwd=work, env=env, check=True, capture_output=True))[0]

    times: dict[str, list[Timing]] = {"copier": [], "ccds": []}
    run("copier"), run("ccds")  # fill the bytecode cache
    for index in range(runs):
        order = ("copier", "ccds") if index % 2 == 0 else ("ccds", "copier")
        for tool in order:
            times[tool].append(run(tool))
    return Comparison(
        copier=times["copier"],
        ccds=times["ccds"],
        copier_files=project_size(copier_out)[0],
        ccds_files=project_size(ccds_out / "project_name")[0],
    )
