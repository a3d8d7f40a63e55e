# Kept by the template: `copier update` rewrites this file.
"""`make maturity`: this project's level, what it contains, what the next level adds, how to step up, and who
owns which file.

Reads the answers copier recorded (.copier-answers.yml) and the template's component manifest, which the
template renders for this project's answers into manifest.json beside this file. Standard library only, so
it runs before `make install`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().with_name("manifest.json")
# What each owner of components.yml means for the team, in the order they are printed.
OWNERS = {
    "user": "yours (copier update never touches them)",
    "shared": "yours on one side of their `mlops-ladder:` marker line, the template's on the other",
    "template": "the template's (copier update rewrites them, merging your edits or marking a conflict)",
}


ANSWERS = ".copier-answers.yml"
RESTORE = f"restore it with `git checkout -- {ANSWERS}` (`git log -p {ANSWERS}` shows its history)"
STACK = ("tracker", "ci", "platform")
# A value copier writes: quoted whole, or a plain scalar that no YAML indicator starts.
SCALAR = re.compile(r"""'[^']*'|"[^"]*"|[^\s'"\[\]{}&*!|>%@`#,][^#]*""")


class AnswersError(Exception):
    """The answers file cannot be read as copier wrote it; the message names the file and the fix."""


def recorded_answers(path: Path) -> dict[str, str]:
    """The flat `key: value` answers copier writes (no YAML library needed for them).

    Anything else (a missing file, a line copier does not write, a value that is not a scalar) raises
    AnswersError: `copier update` cannot read such a file either.
    """
    if not path.is_file():
        raise AnswersError(f"{ANSWERS} is missing: copier records the answers there; {RESTORE}")
    answers = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or line.startswith(" ") or not SCALAR.fullmatch(value.strip() or "''"):
            raise AnswersError(
                f"{ANSWERS} line {number} is not the `key: value` copier writes: {line!r}; {RESTORE}"
            )
        answers[key.strip()] = value.strip().strip("'\"")
    return answers


def recorded_level(answers: dict[str, str], levels: dict[int, str]) -> int:
    """The recorded maturity level, checked against the manifest's levels and the stack answers."""
    level = answers.get("maturity_level", "")
    if not level.isdigit() or int(level) not in levels:
        raise AnswersError(
            f"{ANSWERS}: maturity_level {level!r} is not a level from {min(levels)} to {max(levels)}; "
            + RESTORE
        )
    if missing := [key for key in STACK if key not in answers]:
        raise AnswersError(f"{ANSWERS} records no {', '.join(missing)}; {RESTORE}")
    return int(level)


def print_owners(files: dict[str, str]) -> None:
    """The project's files by owner, those deleted here left out (an update leaves them deleted)."""
    for owner, meaning in OWNERS.items():
        present = sorted(path for path, found in files.items() if found == owner and (ROOT / path).is_file())
        if present:
            print(f"\n{meaning}:")
            for path in present:
                print(f"  {path}")


def main() -> int:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    names = {entry["level"]: entry["name"] for entry in manifest["levels"]}
    try:
        answers = recorded_answers(ROOT / ANSWERS)
        level = recorded_level(answers, names)
    except AnswersError as error:
        print(error, file=sys.stderr)
        return 2
    stack = ", ".join(f"{key} {answers[key]}" for key in STACK)
    print(f"maturity level {level} ({names[level]}); stack: {stack}")
    print("\npresent:")
    for component in manifest["components"]:
        if component["present"]:
            print(f"  [{component['level']}] {component['title']}: {component['purpose']}")
    print_owners(manifest["files"])
    following = level + 1
    if following not in names:
        print("\nthis is the highest level.")
        return 0
    print(f"\nlevel {following} ({names[following]}) adds:")
    for component in manifest["components"]:
        if component["level"] == following and component.get("applies", True):
            print(f"  {component['title']}: {component['purpose']}")
    if following > manifest["highest_level"]:
        print(f"\nlevel {following} is not built in this template version yet; `copier check-update` tells")
        print("when a newer version is out.")
        return 0
    print("\nstep up (commit your work first; your own files are kept):")
    print(f"  copier update --trust --defaults -d maturity_level={following}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
