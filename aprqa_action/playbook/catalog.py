"""The shipped playbooks, by model and tier: `aprqa list`, and `--model M --tier T` instead of a path.

Model playbooks are named `{model}-{tier}.playbook.yaml` (e.g. qwen2.5-coder-7b-mvp), tiers from the cheapest:
smoke, quick, mvp, standard, full. They are looked for in ./playbooks, among those installed with aprqa
(`aprqa_action.playbooks`, the repository's playbooks/), and in the action's own directory
($GITHUB_ACTION_PATH) when aprqa runs inside the GitHub Action.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from aprqa_action.errors import InputError

TIERS = ("smoke", "quick", "mvp", "standard", "full")
_NAME = re.compile(rf"^(?P<model>.+)-(?P<tier>{'|'.join(TIERS)})\.playbook\.yaml$")


@dataclass(frozen=True)
class Entry:
    model: str
    tier: str
    path: Path


def playbook_dirs() -> list[Path]:
    candidates = [Path.cwd() / "playbooks", Path(str(files("aprqa_action.playbooks")))]
    if os.environ.get("GITHUB_ACTION_PATH"):
        candidates.append(Path(os.environ["GITHUB_ACTION_PATH"]) / "playbooks")
    found: list[Path] = []
    for directory in candidates:
        if directory.is_dir() and directory.resolve() not in [d.resolve() for d in found]:
            found.append(directory)
    return found


def entries() -> list[Entry]:
    """Every model playbook, the first directory winning for a name, sorted by model then tier."""
    seen: dict[tuple[str, str], Entry] = {}
    for directory in playbook_dirs():
        for path in sorted((directory / "models").glob("*.playbook.yaml")):
            found = _NAME.match(path.name)
            if found:
                seen.setdefault((found["model"], found["tier"]), Entry(found["model"], found["tier"], path))
    return sorted(seen.values(), key=lambda e: (_natural(e.model), TIERS.index(e.tier)))


def _natural(name: str) -> list[tuple[int, float | str]]:
    """qwen2.5-coder-3b before qwen2.5-coder-14b: numbers compare as numbers."""
    return [(0, float(part)) if i % 2 else (1, part) for i, part in enumerate(re.split(r"(\d+(?:\.\d+)?)", name))]


def find(model: str, tier: str) -> Path:
    if tier not in TIERS:
        raise InputError(f"--tier {tier!r}: one of {', '.join(TIERS)}")
    known = entries()
    for entry in known:
        if (entry.model, entry.tier) == (model, tier):
            return entry.path
    models = sorted({e.model for e in known})
    if model not in models:
        raise InputError(f"--model {model!r}: no playbooks for it; known models: {', '.join(models) or 'none'}")
    tiers = [e.tier for e in known if e.model == model]
    raise InputError(f"{model} has no {tier} playbook; its tiers: {', '.join(tiers)}")
