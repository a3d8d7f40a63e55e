# Kept by the template: `copier update` rewrites this file.
"""`make maturity`: this project's level, what it contains, what the next level adds, how to step up, and who
owns which file.

Reads the answers copier recorded (.copier-answers.yml) and the template's component manifest, which the
template renders for this project's answers into manifest.json beside this file. Standard library only, so
it runs before `make install`.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().with_name("manifest.json")
# What each owner of components.yml means for the team, in the order they are printed.
OWNERS = {
    "user": "yours (copier update never touches them)",
    "shared": "yours on one side of their `mlops-ladder:` marker line, the template's on the other",
    "template": "the template's (copier update rewrites them, merging your edits or marking a conflict)",
}


def recorded_answers(path: Path) -> dict[str, str]:
    """The flat `key: value` answers copier writes (no YAML library needed for them)."""
    answers = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(("#", " ")):
            answers[key.strip()] = value.strip().strip("'\"")
    return answers


def print_owners(files: dict[str, str]) -> None:
    """The project's files by owner, those deleted here left out (an update leaves them deleted)."""
    for owner, meaning in OWNERS.items():
        present = sorted(path for path, found in files.items() if found == owner and (ROOT / path).is_file())
        if present:
            print(f"\n{meaning}:")
            for path in present:
                print(f"  {path}")


def main() -> None:
    answers = recorded_answers(ROOT / ".copier-answers.yml")
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    names = {entry["level"]: entry["name"] for entry in manifest["levels"]}
    level = int(answers["maturity_level"])
    stack = ", ".join(f"{key} {answers[key]}" for key in ("tracker", "ci", "platform"))
    print(f"maturity level {level} ({names[level]}); stack: {stack}")
    print("\npresent:")
    for component in manifest["components"]:
        if component["present"]:
            print(f"  [{component['level']}] {component['title']}: {component['purpose']}")
    print_owners(manifest["files"])
    following = level + 1
    if following not in names:
        print("\nthis is the highest level.")
        return
    print(f"\nlevel {following} ({names[following]}) adds:")
    for component in manifest["components"]:
        if component["level"] == following and component.get("applies", True):
            print(f"  {component['title']}: {component['purpose']}")
    if following > manifest["highest_level"]:
        print(f"\nlevel {following} is not built in this template version yet; `copier check-update` tells")
        print("when a newer version is out.")
        return
    print("\nstep up (commit your work first; your own files are kept):")
    print(f"  copier update --trust --defaults -d maturity_level={following}")


if __name__ == "__main__":
    main()
