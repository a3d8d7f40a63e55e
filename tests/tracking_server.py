"""A real MLflow tracking server for a generated project: `mlflow server` on a private PostgreSQL cluster.

`mlflow_server(project, workdir, env)` starts a PostgreSQL cluster of its own (initdb into a temporary
folder, 127.0.0.1 on a free port; as root, run as the `postgres` user, since PostgreSQL refuses root) with
a database `mlflow`, then the project's own MLflow as a server on 127.0.0.1 on a free port, its runs and
registry in that database and its artifacts proxied (`--artifacts-destination`: clients store and fetch
them as mlflow-artifacts:/ through the server's HTTP API, never from its disk). It yields the server's URL
once /health answers, and stops everything afterwards.

The server is `uv run --frozen --with 'psycopg[binary]' mlflow server` in the project, as its README tells
a team to run one: the MLflow version of the project's uv.lock, with the PostgreSQL driver that SQLAlchemy
2.1 picks for postgresql:// URIs (psycopg 3). PostgreSQL comes from the distribution's packages (.ci/run
installs them when missing). Whatever cannot start fails the test with its log: there is no fallback to a
file store, and nothing is skipped.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from continuous import free_port

PSYCOPG = "psycopg[binary]>=3.2,<4"
POSTGRES_USER = "postgres"  # the operating-system user of the distribution's packages
DATABASE = "mlflow"
SERVER_START_TIMEOUT = 300  # the first start downloads psycopg into uv's cache
LOG_TAIL = 6000


def tail(path: Path, characters: int = LOG_TAIL) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-characters:] if path.is_file() else ""


def postgres_bindir() -> Path:
    """The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/<major>/bin, else those on PATH."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda initdb: int(initdb.parent.parent.name) if initdb.parent.parent.name.isdigit() else 0,
    )
    if installed:
        return installed[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise AssertionError(
        "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH): "
        "`apt-get install postgresql`, as .ci/run does"
    )


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1 with an empty database; yields its postgresql:// URI."""
    bindir = postgres_bindir()
    # Not below pytest's tmp_path: that is private to root, and the cluster runs as the postgres user. Short,
    # too: the server's Unix socket lives here, and a socket's path is limited to 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            shutil.rmtree(root)
            raise AssertionError(
                f"running as root, and there is no {POSTGRES_USER!r} user to run PostgreSQL as"
            ) from None
        shutil.chown(root, POSTGRES_USER)
        as_user = ["runuser", "-u", POSTGRES_USER, "--"]
    data, log = root / "data", root / "postgres.log"
    port = free_port()

    def run(program: str, *args: str) -> None:
        done = subprocess.run(
            [*as_user, str(bindir / program), *args],
            cwd=root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (
            f"PostgreSQL: {program} {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout}{done.stderr}\n{tail(log)}"
        )

    try:
        run("initdb", "-D", str(data), "-U", DATABASE, "--auth=trust", "--locale=C", "-E", "UTF8", "-N")
        # fsync off: a test's database need not survive a power cut, and every commit is faster.
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        run("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", DATABASE, DATABASE)
        yield f"postgresql://{DATABASE}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if (data / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                stopped = subprocess.run(
                    [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "30", "stop"],
                    cwd=root,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=False,
                )
                if stopped.returncode == 0:
                    break
        shutil.rmtree(root, ignore_errors=True)


def stop(process: subprocess.Popen[Any], grace: float = 30) -> None:
    """Stop a process started in its own session, with everything it started: SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def mlflow_server(project: Path, workdir: Path, env: Mapping[str, str]) -> Iterator[str]:
    """The project's MLflow as a tracking server on PostgreSQL with proxied artifacts; yields its URL.

    `workdir` receives the server's log (mlflow-server.log) and its artifact store (mlartifacts/); `env` is
    the environment the project's make targets run in (uv on PATH).
    """
    artifacts, log = workdir / "mlartifacts", workdir / "mlflow-server.log"
    artifacts.mkdir(parents=True, exist_ok=True)
    with postgres_cluster() as database:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
        # The Host headers it answers (its DNS-rebinding protection), and no job runner: the project starts
        # no server-side jobs, and the runner's worker processes cost a CI machine's two cores for nothing.
        server_env.update(
            MLFLOW_SERVER_ALLOWED_HOSTS=f"127.0.0.1:{port},localhost:{port}",
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        )
        uv_run = ["uv", "run", "--frozen", "--with", PSYCOPG]
        listen = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        stores = ["--backend-store-uri", database, "--artifacts-destination", str(artifacts)]
        command = [*uv_run, "mlflow", "server", *listen, *stores]
        with log.open("w", encoding="utf-8") as output:
            server = subprocess.Popen(
                command,
                cwd=project,
                env=server_env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while True:
                if server.poll() is not None:
                    raise AssertionError(f"mlflow server stopped ({server.returncode}):\n{tail(log)}")
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"mlflow server did not answer /health in {SERVER_START_TIMEOUT} s:\n{tail(log)}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
            yield url
        finally:
            stop(server)


def get(url: str, endpoint: str, **params: str) -> dict[str, Any]:
    """GET one of the tracking server's REST endpoints (/api/2.0/mlflow/...); its JSON answer."""
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{endpoint}?{query}", timeout=30) as answer:
        return dict(json.loads(answer.read()))


def model_versions(url: str, name: str) -> list[dict[str, Any]]:
    """Every version of a registered model, as the server describes them (paged)."""
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"filter": f"name = '{name}'", "max_results": "200"}
        page = get(url, "model-versions/search", **params, **({"page_token": token} if token else {}))
        found.extend(page.get("model_versions", []))
        token = page.get("next_page_token", "")
        if not token:
            return found
