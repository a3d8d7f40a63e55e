"""Reading a generated project's Dockerfiles and services statically (there is no Docker engine here).

Which Dockerfiles a project has comes from components.yml: every file named `Dockerfile`. Docker's own rule
picks the ignore file of a build whose context is the project root: `<Dockerfile>.dockerignore` when the
project has one, else the root `.dockerignore`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from conftest import MANIFEST, full_answers

CONTINUATION = re.compile(r"\\\n\s*")
ROUTE_METHODS = {"get", "post", "put", "route", "api_route", "head"}


def dockerfiles(answers: dict[str, Any]) -> list[str]:
    """The Dockerfiles the manifest gives a project with these answers."""
    return sorted(p for p in MANIFEST.files(full_answers(answers)) if PurePosixPath(p).name == "Dockerfile")


def ignore_file(answers: dict[str, Any], dockerfile: str) -> str:
    """The ignore file Docker reads for `docker build -f <dockerfile> .` in the project root."""
    specific = f"{dockerfile}.dockerignore"
    return specific if specific in MANIFEST.files(full_answers(answers)) else ".dockerignore"


def instructions(dockerfile: str) -> list[str]:
    """Every instruction, one logical line each (continuations joined, comments dropped)."""
    lines = CONTINUATION.sub(" ", dockerfile).splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def final_stage(dockerfile: str) -> list[str]:
    """The instructions of the last build stage."""
    lines = instructions(dockerfile)
    start = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[start:]


def instruction(stage: list[str], keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction of a stage."""
    return [line.split(None, 1)[1] for line in stage if line.split(None, 1)[0].upper() == keyword]


def exec_form(arguments: str) -> list[str]:
    """An ENTRYPOINT / CMD in exec form (a JSON array), as a list; shell form is refused."""
    value = json.loads(arguments)
    assert isinstance(value, list), f"not in exec form: {arguments}"
    return [str(item) for item in value]


def entry_module(stage: list[str], package: str, project: Path) -> str:
    """The package module (dotted, below the package) the image's ENTRYPOINT runs: the project's command line
    (`<project> <command> ...`, the `[project.scripts]` entry) and the module its COMMANDS table names."""
    (entrypoint,) = instruction(stage, "ENTRYPOINT")[-1:]
    command = exec_form(entrypoint)
    scripts = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts.get(command[0]) == f"{package}.ops.cli:main", (
        f"{command[0]} is not the project's command line"
    )
    commands = cli_commands(project, package)
    assert len(command) > 1 and command[1] in commands, (
        f"{command}: not one of the commands {sorted(commands)}"
    )
    return commands[command[1]]


def cli_commands(project: Path, package: str) -> dict[str, str]:
    """The COMMANDS table of the project's command line: {command: module below the package}."""
    tree = module_source(project, package, "ops.cli")
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "COMMANDS"
        ):
            assert node.value is not None
            return dict(ast.literal_eval(node.value))
    raise AssertionError("ops/cli.py has no COMMANDS table")


def image_env(stage: list[str]) -> dict[str, str]:
    """The ENV values of a stage (key=value form), variables left unexpanded."""
    values: dict[str, str] = {}
    for arguments in instruction(stage, "ENV"):
        for word in shlex.split(arguments):
            key, _, value = word.partition("=")
            values[key] = value
    return values


def healthcheck_url(stage: list[str]) -> str:
    """The URL the image's HEALTHCHECK asks, found by running its Python with urlopen recording the URL.

    The check is `python -c CODE`; CODE runs here with no AIP_* / PORT variables set, so it shows the
    defaults the container falls back to.
    """
    (check,) = instruction(stage, "HEALTHCHECK")[-1:]
    command = exec_form(check[check.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"], f"the health check is no `python -c` call: {command}"
    recorder = (
        "import sys, urllib.request\n"
        "urllib.request.urlopen = lambda url, *a, **k: print(url)\n"
        "exec(compile(sys.argv[1], 'HEALTHCHECK', 'exec'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIP_")}
    result = subprocess.run(
        [sys.executable, "-c", recorder, command[2]], capture_output=True, text=True, check=True, env=env
    )
    return result.stdout.strip()


def module_path(project: Path, package: str, module: str) -> Path:
    """The file of a package module given dotted, below the package (`ops.serving.service`)."""
    return project / "src" / package / f"{module.replace('.', '/')}.py"


def module_source(project: Path, package: str, module: str) -> ast.Module:
    return ast.parse(module_path(project, package, module).read_text(encoding="utf-8"))


def package_imports(tree: ast.Module, module: str) -> set[str]:
    """The modules of the same package that `module` (dotted, below the package) imports relatively
    (`from . import x`, `from ..x import y`), dotted below the package; a name imported from a package may
    be a module of it, so both are given."""
    found: set[str] = set()
    parents = module.split(".")[:-1]
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level):
            continue
        base = parents[: len(parents) - (node.level - 1)]
        source = [*base, *(node.module.split(".") if node.module else [])]
        if node.module:
            found.add(".".join(source))
        found |= {".".join([*source, alias.name]) for alias in node.names}
    return found


def declared_routes(tree: ast.Module) -> set[str]:
    """The paths a module declares as HTTP routes: `@app.get("/x")`, `app.add_api_route("/x", ...)`."""
    routes: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        first = node.args[0]
        method = node.func.attr
        constant = isinstance(first, ast.Constant) and str(first.value).startswith("/")
        if method in ROUTE_METHODS | {"add_api_route"} and constant:
            routes.add(str(first.value))
    return routes


def string_constants(tree: ast.Module) -> set[str]:
    return {str(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def served_routes(project: Path, package: str, module: str) -> set[str]:
    """The routes a module serves: those it declares, those of the package modules it imports (the
    container reuses the service's app), and, for routes it takes from the environment, the defaults it
    names (string constants starting with "/")."""
    tree = module_source(project, package, module)
    routes = declared_routes(tree) | {s for s in string_constants(tree) if re.fullmatch(r"/[\w/-]*", s)}
    for imported in package_imports(tree, module):
        if module_path(project, package, imported).is_file():
            routes |= declared_routes(module_source(project, package, imported))
    return routes
