"""`make maturity`: this project's level, what it contains, what the next level adds, and how to step up.

Reads the answers copier recorded (.copier-answers.yml) and the template's component manifest as rendered
for them (.mlops-ladder/manifest.json). Standard library only, so it runs before `make install`.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def recorded_answers(path: Path) -> dict[str, str]:
    """The flat `key: value` answers copier writes (no YAML library needed for them)."""
    answers = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(("#", " ")):
            answers[key.strip()] = value.strip().strip("'\"")
    return answers


def main() -> None:
    answers = recorded_answers(ROOT / ".copier-answers.yml")
    manifest = json.loads((ROOT / ".mlops-ladder" / "manifest.json").read_text(encoding="utf-8"))
    names = {entry["level"]: entry["name"] for entry in manifest["levels"]}
    level = int(answers["maturity_level"])
    stack = ", ".join(f"{key} {answers[key]}" for key in ("tracker", "ci", "platform"))
    print(f"maturity level {level} ({names[level]}); stack: {stack}")
    print("\npresent:")
    for component in manifest["components"]:
        if component["present"]:
            print(f"  [{component['level']}] {component['title']}: {component['purpose']}")
    following = level + 1
    if following not in names:
        print("\nthis is the highest level.")
        return
    print(f"\nlevel {following} ({names[following]}) adds:")
    for component in manifest["components"]:
        if component["level"] == following and component["applies"]:
            print(f"  {component['title']}: {component['purpose']}")
    if following > manifest["highest_level"]:
        print(f"\nlevel {following} is not built in this template version yet; `copier check-update` tells")
        print("when a newer version is out.")
        return
    print("\nstep up (commit your work first; your own files are kept):")
    print(f"  copier update --trust --defaults -d maturity_level={following}")


if __name__ == "__main__":
    main()
