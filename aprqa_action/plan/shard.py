"""Selecting part of a plan: `--only key=value,…` filters and `--shard i/n`, so GitHub Actions' own job matrix
can spread a playbook over runners (cpu cells on cpu runners, gpu cells on gpu runners, n jobs each).

Sharding is deterministic and balanced by expected cost: a scenario weighs 2, a serve scenario 3 (a server to
start), twice that on the gpu backend. Weights come from the declared axes only, never from whether this host
skips a scenario (no GPU here, a missing file): shard 1/2 on a cpu runner and shard 2/2 on a gpu runner must
deal the same plan the same way, or their parts would overlap and miss scenarios. A profile_ci group (the
warmup and measure runs of one format and backend) stays together in one shard. Units are dealt heaviest
first, each to the least-loaded shard (ties: the lowest shard), which keeps every shard within one heaviest
unit of every other; every scenario lands in exactly one shard for any n.

`--only` values must name an axis value of the plan (a typo is an error, exit 2, not an empty run), and the
filter must select at least one scenario. A shard of a non-empty selection may itself be empty (more shards
than units to deal): it runs nothing and passes; `aprqa merge` judges the whole.
"""

from __future__ import annotations

import difflib
import re
from itertools import groupby

from aprqa_action.errors import InputError
from aprqa_action.records import Scenario, Selection

KEYS = ("format", "backend", "modality")


def parse_shard(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not found or not 1 <= int(found.group(1)) <= int(found.group(2)) <= 1000:
        raise InputError(f"--shard {text!r}: use i/n with 1 ≤ i ≤ n ≤ 1000, e.g. 2/3")
    return int(found.group(1)), int(found.group(2))


def parse_only(text: str) -> dict[str, list[str]]:
    """`format=gguf,backend=cpu` (a key may repeat: `format=gguf,format=apr`)."""
    only: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key not in KEYS or not value:
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.5) if value else []
            hint = f" (did you mean {close[0]}={value}?)" if close else ""
            raise InputError(f"--only {text!r}{hint}: use key=value pairs with key one of {', '.join(KEYS)}")
        only.setdefault(key, []).append(value)
    return only


def weight(scenario: Scenario) -> int:
    return (3 if scenario.modality == "serve" else 2) * (2 if scenario.backend == "gpu" else 1)


def units(scenarios: list[Scenario]) -> list[list[Scenario]]:
    """What sharding deals out: one matrix scenario, or a whole group: a cell's edge scenarios (one server in
    serve), a profile_ci group, a cell's answers from engine_parity's engine, a format's perplexity."""
    dealt: list[list[Scenario]] = []
    for whole, group in groupby(scenarios, key=lambda s: s.purpose != "matrix" and s.group):
        members = list(group)
        dealt += [members] if whole else [[s] for s in members]
    return dealt


def deal(scenarios: list[Scenario], count: int) -> list[list[Scenario]]:
    """The n shards' scenarios, each in plan order."""
    loads = [0] * count
    owner: dict[str, int] = {}
    for unit in sorted(units(scenarios), key=lambda u: (-sum(map(weight, u)), u[0].id)):
        target = min(range(count), key=lambda i: (loads[i], i))
        loads[target] += sum(map(weight, unit))
        owner.update((s.id, target) for s in unit)
    return [[s for s in scenarios if owner[s.id] == i] for i in range(count)]


def select(
    scenarios: list[Scenario], shard: tuple[int, int] | None = None, only: dict[str, list[str]] | None = None
) -> tuple[list[Scenario], Selection]:
    only = only or {}
    _check_only(scenarios, only)
    chosen = [s for s in scenarios if all(str(getattr(s, key)) in values for key, values in only.items())]
    if only and not chosen:
        raise InputError(f"--only {_text(only)}: selects no scenario of the plan (no cell has all of these)")
    if shard is not None:
        chosen = deal(chosen, shard[1])[shard[0] - 1]
    selection = Selection(
        shard_index=shard[0] if shard else None,
        shard_count=shard[1] if shard else None,
        only=only,
        plan_ids=[s.id for s in scenarios],
    )
    return chosen, selection


def _text(only: dict[str, list[str]]) -> str:
    return ",".join(f"{key}={value}" for key, values in only.items() for value in values)


def _check_only(scenarios: list[Scenario], only: dict[str, list[str]]) -> None:
    """Every filter value must be one of the plan's values on that axis: `backend=cpux` is a typo, not a
    request to run nothing."""
    for key, values in only.items():
        known = sorted({str(getattr(s, key)) for s in scenarios})
        for value in values:
            if value not in known:
                close = difflib.get_close_matches(value, known, n=1)
                hint = f"; did you mean {key}={close[0]}?" if close else ""
                raise InputError(
                    f"--only {key}={value}: the plan has no {key} {value!r} (its {key}s: {', '.join(known) or 'none'})"
                    + hint
                )
