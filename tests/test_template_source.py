"""The template's own source: its conditions name components and stack choices, and what it renders names
only the stack a project chose.

- A block that belongs to a component asks `ladder_has("<component>")`, never `maturity_level >= N`: moving a
  component to another level, or adding one, then changes components.yml alone.
- A condition on the stack names every choice it stands for: no `{% else %}` (or inline `else`, `!=`,
  `not in`) means "the other tracker / CI system / platform", so a new choice renders nothing rather than
  silently the wrong stack's text.
- A generated project names no tracker, CI system or platform it did not choose (a few reasoned exceptions).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pytest
from conftest import (
    MANIFEST,
    ROOT,
    STACK_CHOICES,
    Render,
    all_answers,
    answers_id,
    full_answers,
    project_files,
)
from jinja2 import Environment, nodes
from ladder import LadderExtension, UnknownComponent

SOURCE_DIRS = ("template", "stacks")
STACK_QUESTIONS = frozenset(STACK_CHOICES)
COMPONENTS = {component.name: component for component in MANIFEST.components}
# A level threshold: maturity_level compared by order or equality (`-d maturity_level=N` in a text is no
# comparison; `maturity_level + 1 in ladder_levels`, whether the next level exists, is none either).
LEVEL_COMPARISON = re.compile(r"\bmaturity_level\s*(?:[<>]=?|==|!=)|(?:[<>]=?|==|!=)\s*maturity_level\b")
ORDER_OR_EQUALITY = {"eq", "ne", "lt", "lteq", "gt", "gteq"}
PARSER = Environment()


def source_files(suffix: str = "") -> list[Path]:
    return sorted(
        path
        for directory in SOURCE_DIRS
        for path in (ROOT / directory).rglob(f"*{suffix}")
        if path.is_file() and "__pycache__" not in path.parts
    )


def jinja_files() -> list[Any]:
    return [pytest.param(path, id=path.relative_to(ROOT).as_posix()) for path in source_files(".jinja")]


def parse(source: str) -> nodes.Template:
    return PARSER.parse(source)


# --- level conditions -------------------------------------------------------------------------------------


def level_comparisons(tree: nodes.Template) -> Iterator[nodes.Compare]:
    for compare in tree.find_all(nodes.Compare):
        read = {node.name for node in walk(compare) if isinstance(node, nodes.Name)}
        if "maturity_level" in read and any(op.op in ORDER_OR_EQUALITY for op in compare.ops):
            yield compare


def test_no_condition_compares_the_level() -> None:
    """Blocks name their component (`ladder_has`); the level is only displayed. copier.yml's validators,
    which check the answer itself, are not template files."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in source_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if LEVEL_COMPARISON.search(line)
    ]
    found += [
        f"{path.relative_to(ROOT)}:{compare.lineno}: a comparison of maturity_level"
        for path in source_files(".jinja")
        for compare in level_comparisons(parse(path.read_text(encoding="utf-8")))
    ]
    assert found == [], "use ladder_has(<component>) instead of a level threshold"


def walk(node: nodes.Node) -> Iterator[nodes.Node]:
    """The node and every node below it."""
    yield node
    yield from node.find_all(nodes.Node)


def ladder_has_names(tree: nodes.Node) -> Iterator[tuple[int, str | None]]:
    """(line, component name) of every ladder_has call; None when the name is not a literal string."""
    for call in walk(tree):
        if (
            isinstance(call, nodes.Call)
            and isinstance(call.node, nodes.Name)
            and call.node.name == "ladder_has"
        ):
            literal = len(call.args) == 1 and not call.kwargs and isinstance(call.args[0], nodes.Const)
            yield call.lineno, call.args[0].value if literal else None


def test_every_ladder_has_names_a_component() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: ladder_has({name!r})"
        for path in source_files(".jinja")
        for line, name in ladder_has_names(parse(path.read_text(encoding="utf-8")))
        if name not in COMPONENTS
    ]
    assert wrong == [], f"not a component of components.yml (None: not a literal name): {sorted(COMPONENTS)}"


@pytest.fixture(scope="module")
def ladder_env() -> Environment:
    return Environment(extensions=[LadderExtension])


@pytest.mark.parametrize(
    ("answers", "component", "expected"),
    [
        ({"maturity_level": 2}, "canary", False),
        ({"maturity_level": 3}, "canary", True),
        ({"maturity_level": 4, "platform": "self-hosted"}, "serving_sagemaker", False),
        ({"maturity_level": 3, "platform": "sagemaker"}, "serving_sagemaker", True),
        ({"maturity_level": 1, "ci": "gitlab"}, "ci_github", False),
    ],
)
def test_ladder_has_is_the_manifest_for_the_answers(
    ladder_env: Environment, answers: dict[str, Any], component: str, expected: bool
) -> None:
    rendered = ladder_env.from_string(f'{{{{ ladder_has("{component}") }}}}').render(**answers)
    assert rendered == str(expected)
    assert COMPONENTS[component].enabled(full_answers(answers)) is expected


def test_ladder_has_refuses_an_unknown_component(ladder_env: Environment) -> None:
    with pytest.raises(UnknownComponent, match=r"no component 'canry'; it has: .*\bcanary\b"):
        ladder_env.from_string('{% if ladder_has("canry") %}x{% endif %}').render(maturity_level=4)


# --- stack conditions -------------------------------------------------------------------------------------


def stack_dependent(test: nodes.Node) -> bool:
    """Whether a condition depends on the stack: it reads tracker, ci or platform, or asks for a component
    that only some stacks have."""
    if any(isinstance(node, nodes.Name) and node.name in STACK_QUESTIONS for node in walk(test)):
        return True
    return any(name in COMPONENTS and bool(COMPONENTS[name].when) for _, name in ladder_has_names(test))


def stack_else_violations(source: str) -> list[str]:
    """Where a condition on the stack leaves a choice unnamed: an else branch of a chain whose tests depend on
    the stack, an inline `a if <stack test> else b`, and a `!=` / `not in` / `not` over a stack question."""
    found = []
    for node in parse(source).find_all((nodes.If, nodes.CondExpr, nodes.Compare, nodes.Not)):
        if isinstance(node, nodes.If) and node.else_:
            tests = [node.test, *(branch.test for branch in node.elif_)]
            if any(stack_dependent(test) for test in tests):
                found.append(f"{node.lineno}: {{% else %}} of a chain on the stack")
        elif isinstance(node, nodes.CondExpr) and node.expr2 is not None and stack_dependent(node.test):
            found.append(f"{node.lineno}: inline else of a test on the stack")
        elif isinstance(node, nodes.Compare) and stack_dependent(node):
            found += [f"{node.lineno}: `{op.op}` on the stack" for op in node.ops if op.op in ("ne", "notin")]
        elif isinstance(node, nodes.Not) and stack_dependent(node.node):
            found.append(f"{node.lineno}: `not` of a test on the stack")
    return found


@pytest.mark.parametrize(
    "source",
    [
        '{% if platform == "self-hosted" %}a{% else %}b{% endif %}',
        '{% if tracker == "mlflow" %}a{% elif tracker == "wandb" %}b{% else %}c{% endif %}',
        '{% if ladder_has("canary") %}a{% elif ci == "github" %}b{% else %}c{% endif %}',
        '{% if ladder_has("serving_sagemaker") %}a{% else %}b{% endif %}',
        '{{ "GitHub" if ci == "github" else "GitLab" }}',
        "{% if platform != 'self-hosted' %}a{% endif %}",
        "{% if platform not in ['sagemaker'] %}a{% endif %}",
        '{% if not tracker == "mlflow" %}a{% endif %}',
    ],
)
def test_the_stack_check_finds_an_unnamed_choice(source: str) -> None:
    assert stack_else_violations(source) != []


@pytest.mark.parametrize(
    "source",
    [
        '{% if platform == "self-hosted" %}a{% elif platform in ["sagemaker", "vertex"] %}b{% endif %}',
        '{{ {"github": "GitHub", "gitlab": "GitLab"}[ci] }}',
        '{% if ladder_has("canary") %}a{% else %}b{% endif %}',
        '{{ "production" if ladder_has("serving") else "experimental" }}',
        '{% if ladder_has("continuous_monitoring") and platform == "vertex" %}a{% endif %}',
    ],
)
def test_the_stack_check_accepts_named_choices(source: str) -> None:
    assert stack_else_violations(source) == []


@pytest.mark.parametrize("path", jinja_files())
def test_every_stack_choice_is_named(path: Path) -> None:
    assert stack_else_violations(path.read_text(encoding="utf-8")) == [], (
        "name the choice: {% elif platform == 'vertex' %}, or a lookup keyed by every choice"
    )


# --- what a generated project names -----------------------------------------------------------------------

# The words that name each choice in a generated project, case-insensitive. A platform's cloud is named by its
# products (SageMaker, boto3, ECR, Vertex AI, Kubeflow Pipelines, Google Cloud) and vendors; plain storage
# URIs (s3://, gs://) are not, as a self-hosted MLflow server may keep its artifacts there. Self-hosted is
# named by the Kubernetes and compose deployment only (a "self-hosted runner" of a CI system is no platform).
CHOICE_WORDS: dict[str, dict[str, str]] = {
    "tracker": {
        "mlflow": r"mlflow|mlruns|mlartifacts",
        "wandb": r"wandb|\bw&b\b|weights (?:&|and) biases",
    },
    "ci": {
        "github": r"github|\bgha-|pull request",
        "gitlab": r"gitlab|merge request",
    },
    "platform": {
        "self-hosted": r"kubectl|kubernetes|kubeconfig|kustomiz|\bk8s\b|compose\.yaml|docker compose",
        "sagemaker": r"sagemaker|boto3|botocore|\bmoto\b|\baws\b|amazon|\becr\b",
        "vertex": r"vertex|aiplatform|google[ -]cloud|\bgcp\b|gcloud",
    },
    # Kubeflow Pipelines (kfp) is named by Vertex AI projects too (see ALLOWED). The local engine is the
    # absence of one, with no word of its own.
    "pipeline_engine": {
        "local": r"(?!)",
        "kubeflow": r"\bkfp\b|kubeflow",
    },
}
WORDS = {
    choice: re.compile(words, re.IGNORECASE)
    for choices in CHOICE_WORDS.values()
    for choice, words in choices.items()
}


class Allowed(NamedTuple):
    """Where a project may name a choice it did not make: `choice`'s words in files `where` accepts, on
    lines `line` matches (None: anywhere in the file), for `reason`."""

    choice: str
    where: Any  # (path, answers) -> bool
    line: re.Pattern[str] | None
    reason: str


def named(*names: str) -> Any:
    """Files by name, wherever the package's modules and tests live."""
    return lambda path, _answers: PurePosixPath(path).name in names


def component_files(component: str) -> Any:
    return lambda path, answers: (
        path in dict(COMPONENTS[component].paths(full_answers(answers)["package_name"]))
    )


ALLOWED = [
    Allowed(
        "kubeflow",
        named("README.md"),
        re.compile(r"-d pipeline_engine=kubeflow"),
        "a self-hosted project on this machine is told the command that moves its training to its cluster",
    ),
    Allowed(
        "github",
        named("README.md"),
        re.compile(r"github\.com/kubeflow/pipelines/manifests/kustomize/"),
        "Kubeflow Pipelines' own install manifests are on GitHub, whatever CI the project uses",
    ),
    Allowed(
        "kubeflow",
        lambda _path, answers: answers["platform"] == "vertex",
        None,
        "a Vertex AI pipeline is a Kubeflow Pipelines v2 one, built with kfp (the engine question is asked "
        "on self-hosted only)",
    ),
    Allowed(
        "mlflow",
        component_files("serving_benchmark"),
        None,
        "`make bench` measures the service beside `mlflow models serve`, MLflow's reference server, of the "
        "same model whatever the tracker (a W&B project adds MLflow for the run only)",
    ),
    Allowed(
        "mlflow",
        named("Makefile", "README.md"),
        re.compile(r"mlflow models serve|--with \"mlflow|MLflow added for the run"),
        "the bench target and its README entry (see serving_benchmark)",
    ),
    *(
        Allowed(
            choice,
            lambda path, _answers: path.startswith(".mlops-ladder/"),
            re.compile(r'^\s*"purpose": '),
            "`make maturity` shows each component's purpose as components.yml words it, for every stack; the "
            "components of other stacks are left out (Manifest.for_project)",
        )
        for choice in WORDS
    ),
    *(
        Allowed(
            choice,
            named(".gitignore"),
            re.compile(rf"^(?:{words})"),
            "FOLLOW-UP: .gitignore is a static file (not .jinja), the same for every stack: it ignores "
            "mlflow.db, mlruns/, mlartifacts/, wandb/ and GitHub's gha-creds-*.json everywhere",
        )
        for choice, words in (
            ("mlflow", r"mlflow\.db|mlruns/|mlartifacts/"),
            ("wandb", "wandb/"),
            ("github", "gha-"),
        )
    ),
]


def chosen(answers: dict[str, Any]) -> set[str]:
    return {str(full_answers(answers)[question]) for question in STACK_QUESTIONS}


def unchosen_names(project: Path, answers: dict[str, Any]) -> list[str]:
    """Every line (and path) of a project that names a choice it did not make, outside ALLOWED."""
    others = [choice for choice in WORDS if choice not in chosen(answers)]
    found = []
    for path in sorted(project_files(project)):
        try:
            text = (project / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:  # not text
            continue
        present = [choice for choice in others if WORDS[choice].search(f"{path}\n{text}")]
        if not present:  # most files: one scan of the whole text per choice, not one per line
            continue
        for number, line in enumerate([path, *text.splitlines()]):
            for choice in present:
                if not WORDS[choice].search(line):
                    continue
                allowed = [
                    rule
                    for rule in ALLOWED
                    if rule.choice == choice
                    and rule.where(path, answers)
                    and (rule.line is None or rule.line.search(line))
                ]
                if not allowed:
                    where = f"{path}:{number}" if number else f"{path} (its path)"
                    found.append(f"{choice}: {where}: {line.strip()[:140]}")
    return found


def test_every_choice_has_words() -> None:
    assert {q: sorted(c) for q, c in CHOICE_WORDS.items()} == {q: sorted(c) for q, c in STACK_CHOICES.items()}


def test_the_word_check_finds_another_stack(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("Runs are tracked in Weights & Biases.\n", encoding="utf-8")
    (tmp_path / "Makefile").write_text("bench:\n\tuv run mlflow models serve\n", encoding="utf-8")
    answers = {"maturity_level": 3, "tracker": "mlflow", "ci": "github", "platform": "self-hosted"}
    assert unchosen_names(tmp_path, answers) == ["wandb: README.md:1: Runs are tracked in Weights & Biases."]


@pytest.mark.parametrize("answers", [pytest.param(a, id=answers_id(a)) for a in all_answers()])
def test_a_project_names_only_its_own_stack(render: Render, answers: dict[str, Any]) -> None:
    assert unchosen_names(render(answers), answers) == []
