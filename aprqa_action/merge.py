"""`aprqa merge`: the shard evidences of one playbook and model combined into one evidence, judged again.

Refused (exit 2, with the reason): evidences of different playbooks (sha256), models (sha256 per format),
plans or tool versions; a scenario in two evidences; scenarios of the plan in none (the missing shards
are named when the evidences are shards of one split).
"""

from __future__ import annotations

from pathlib import Path

from aprqa_action.assess import assess
from aprqa_action.errors import InputError
from aprqa_action.evidence import Evidence, read_evidence
from aprqa_action.playbook import Playbook
from aprqa_action.shard import Selection


def merge(paths: list[Path], policy: str | None = None) -> Evidence:
    if len(paths) < 2:
        raise InputError("merge needs at least two evidence files")
    parts = [read_evidence(p / "evidence.json" if p.is_dir() else p) for p in paths]
    first = parts[0]
    for path, part in zip(paths[1:], parts[1:], strict=True):
        _same(first, part, paths[0], path)
    seen: dict[str, Path] = {}
    for path, part in zip(paths, parts, strict=True):
        for scenario in part.scenarios:
            if scenario.id in seen:
                raise InputError(f"scenario {scenario.id} is in both {seen[scenario.id]} and {path}")
            seen[scenario.id] = path
    plan_ids = first.selection.plan_ids if first.selection else [s.id for s in first.scenarios]
    missing = [i for i in plan_ids if i not in seen]
    if missing:
        raise InputError(_missing(missing, [p.selection for p in parts]))

    order = {sid: i for i, sid in enumerate(plan_ids)}
    scenarios = sorted((s for p in parts for s in p.scenarios), key=lambda s: order[s.id])
    observations = sorted((o for p in parts for o in p.observations), key=lambda o: order.get(o.scenario_id, 0))
    states = {p.run.state for p in parts}
    state = (
        "complete" if states == {"complete"} else next(s for s in ("stopped", "cancelled", "running") if s in states)
    )
    run = first.run.model_copy(
        update={
            "started": min(p.run.started for p in parts),
            "ended": max((p.run.ended for p in parts if p.run.ended), default=None),
            "state": state,
        }
    )
    merged = first.model_copy(
        update={
            "run": run,
            "scenarios": scenarios,
            "observations": observations,
            "selection": Selection(plan_ids=plan_ids),
            "items": [],
            "verdict": None,
        }
    )
    # Every shard judged the same files: G0, G0-PULL and contract items are taken from the first.
    per_file = [i for i in first.items if i.gate_id == "G0-PULL" or i.gate_id.startswith("F-CONTRACT")]
    problems = {i.cell: i.reason for i in first.items if i.gate_id == "G0-INTEGRITY" and i.outcome == "Falsified"}
    playbook = Playbook.model_validate(first.playbook.spec)
    return assess(
        merged,
        playbook,
        problems=problems,  # type: ignore[arg-type]
        per_file=per_file,
        policy=policy or (first.verdict.policy if first.verdict else "gateway"),
        complete=state == "complete",
    )


def _same(a: Evidence, b: Evidence, pa: Path, pb: Path) -> None:
    def refuse(what: str, x: object, y: object) -> None:
        raise InputError(f"cannot merge {pb} into {pa}: different {what} ({x} vs {y})")

    if (a.playbook.name, a.playbook.sha256) != (b.playbook.name, b.playbook.sha256):
        refuse(
            "playbooks", f"{a.playbook.name} {a.playbook.sha256[:12]}", f"{b.playbook.name} {b.playbook.sha256[:12]}"
        )
    if not a.playbook.spec:
        raise InputError(f"{pa}: written by an aprqa that did not record the playbook; cannot judge a merge")
    if a.run.tool_version != b.run.tool_version:
        refuse("tool versions", a.run.tool_version, b.run.tool_version)
    digests = ({f: p.sha256 for f, p in a.provenance.items()}, {f: p.sha256 for f, p in b.provenance.items()})
    if digests[0] != digests[1]:
        refuse("models", _digests(digests[0]), _digests(digests[1]))
    plans = [e.selection.plan_ids if e.selection else None for e in (a, b)]
    if plans[0] != plans[1]:
        refuse("plans", f"{len(plans[0] or [])} scenarios", f"{len(plans[1] or [])} scenarios")


def _digests(digests: dict[str, str]) -> str:
    return ", ".join(f"{f} {d[:12]}" for f, d in sorted(digests.items())) or "none"


def _missing(missing: list[str], selections: list[Selection | None]) -> str:
    counts = {s.shard_count for s in selections if s is not None}
    filters = {str(sorted(s.only.items())) for s in selections if s is not None}
    if len(counts) == 1 and None not in counts and len(filters) == 1:
        n = counts.pop()
        have = {s.shard_index for s in selections if s is not None}
        absent = [f"{i}/{n}" for i in range(1, n + 1) if i not in have]  # type: ignore[operator]
        if absent:
            return f"missing shard(s) {', '.join(absent)}: {len(missing)} scenario(s) of the plan are in no evidence"
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return f"{len(missing)} scenario(s) of the plan are in no evidence: {shown}"
