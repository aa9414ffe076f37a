"""`aprqa merge`: the shard evidences of one playbook and model combined into one evidence, judged again.

Refused (exit 2, with the reason): evidences of different playbooks (sha256), models (sha256 per format),
plans or tool versions; a scenario in two evidences; scenarios of the plan in none (the missing shards are
named per `--only` filter, e.g. "missing shard 2/2 of backend=cpu"). One evidence is merged too: a complete
one is judged again as it is, a lone part of the plan is refused.

What the merged evidence says about the machines: a backend is available if any part had it (its probe is
the first such part's); `run.host` is the first part's host, and `selection.parts` names every part with its
host and GPU. A comparison a part carried (its own `--baseline`) is dropped: it compared a part; give
`aprqa merge --baseline EVIDENCE` to compare the whole. A lone whole evidence keeps its comparison.

Evidence is data, never instructions: the parts may come from a fork's artifact, so nothing they record is
started. Without `--playbook`, the merge judges with the spec the parts recorded, but an oracle that needs a
program (a code_syntax checker) keeps the item the part's own run made. With `--playbook FILE` (the base
branch's checkout), that file's name and checks are the ones used: parts of another playbook are refused, and a
different sha256 than the parts recorded is said in the reports.
"""

from __future__ import annotations

from pathlib import Path

from aprqa_action.errors import InputError
from aprqa_action.judge.compare import apply_policy, with_baseline
from aprqa_action.playbook import LoadedPlaybook, Playbook, load_playbook
from aprqa_action.records import BackendProbe, Evidence, FailPolicy, Selection, TrustedPlaybook
from aprqa_action.records.axes import Backend, Format
from aprqa_action.score import parse_fail_on
from aprqa_action.score.assess import assess
from aprqa_action.store.evidence import read_evidence


def merge(
    paths: list[Path], policy: FailPolicy | None = None, baseline: Path | None = None, playbook: Path | None = None
) -> Evidence:
    """`policy`: --fail-on; by default the policy the parts ran with."""
    if not paths:
        raise InputError("merge needs at least one evidence file")
    trusted = load_playbook(playbook) if playbook is not None else None
    parts = [read_evidence(p / "evidence.json" if p.is_dir() else p) for p in paths]
    first = parts[0]
    if trusted is not None and first.playbook.name != trusted.playbook.name:
        raise InputError(
            f"{paths[0]} is evidence for playbook {first.playbook.name!r}, not {trusted.playbook.name!r} "
            f"({playbook}): refused"
        )
    if not first.playbook.spec and trusted is None:
        raise InputError(f"{paths[0]}: written by an aprqa that did not record the playbook; give --playbook FILE")
    for path, part in zip(paths[1:], parts[1:], strict=True):
        _same(first, part, paths[0], path)
    if policy is None:
        policy = parse_fail_on(first.verdict.policy) if first.verdict else FailPolicy()
    # One whole evidence (the fork-safe publish merges it too) keeps the comparison it made of the whole.
    whole = len(parts) == 1 and not (first.selection is not None and first.selection.is_part)
    carried = first.comparison if whole and baseline is None else None
    if policy.kind == "regression" and baseline is None and carried is None:
        raise InputError(f"--fail-on {policy} compares with a baseline: give --baseline EVIDENCE")
    base = read_evidence(baseline) if baseline is not None else None
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
            "backends": _backends(parts),
            "scenarios": scenarios,
            "observations": observations,
            "selection": Selection(plan_ids=plan_ids, parts=[_describe(p) for p in parts] if len(parts) > 1 else []),
            "items": [],
            "verdict": None,
            "comparison": None,  # a part's comparison covered that part only
            "trusted_playbook": _trusted(trusted, first),
        }
    )
    # Every shard judged the same files: G0, G0-PULL, contract and metadata items are taken from the first.
    per_file = [i for i in first.items if i.gate_id == "G0-PULL" or i.gate_id.startswith(("F-CONTRACT", "F-META-"))]
    problems = {i.cell: i.reason for i in first.items if i.gate_id == "G0-INTEGRITY" and i.outcome == "Falsified"}
    # The recorded spec is the parts' word: it is judged with, but no program it names is started.
    own_items = None if trusted is not None else {i.id: i for p in parts for i in p.items}
    judged = assess(
        merged,
        trusted.playbook if trusted is not None else Playbook.model_validate(first.playbook.spec),
        problems=problems,  # type: ignore[arg-type]
        per_file=per_file,
        policy=policy,
        complete=state == "complete",
        carried=own_items,
    )
    if base is not None:
        return with_baseline(judged, base, str(baseline), policy)
    if carried is not None and judged.verdict is not None:
        verdict = apply_policy(judged.verdict, carried, policy)
        return judged.model_copy(update={"comparison": carried, "verdict": verdict})
    return judged


def _trusted(trusted: LoadedPlaybook | None, first: Evidence) -> TrustedPlaybook | None:
    if trusted is None:
        return None
    return TrustedPlaybook(path=str(trusted.path), sha256=trusted.sha256, recorded_sha256=first.playbook.sha256)


def _backends(parts: list[Evidence]) -> dict[Backend, BackendProbe]:
    """Per backend, the first part that had it available, else the first part's probe (why it had not)."""
    merged: dict[Backend, BackendProbe] = {}
    for part in parts:
        for backend, probe in part.backends.items():
            if backend not in merged or (probe.available and not merged[backend].available):
                merged[backend] = probe
    return merged


def _describe(part: Evidence) -> str:
    """One part of a merge, for the report: what it ran and where."""
    label = part.selection.label if part.selection is not None else "everything"
    host = part.run.host
    gpu = part.backends.get(Backend.GPU)
    if gpu is None:
        gpus = "not probed"
    elif gpu.available:
        gpus = ", ".join(gpu.devices) or gpu.reason
    else:
        gpus = "none"
    cores = f" × {host.cpu_count}" if host.cpu_count else ""
    return f"{label}: {host.hostname} ({host.cpu}{cores}, {host.memory_gb:g} GB RAM, GPU: {gpus})"


def _same(a: Evidence, b: Evidence, pa: Path, pb: Path) -> None:
    def refuse(what: str, x: object, y: object) -> None:
        raise InputError(f"cannot merge {pb} into {pa}: different {what} ({x} vs {y})")

    if (a.playbook.name, a.playbook.sha256) != (b.playbook.name, b.playbook.sha256):
        refuse(
            "playbooks", f"{a.playbook.name} {a.playbook.sha256[:12]}", f"{b.playbook.name} {b.playbook.sha256[:12]}"
        )
    if a.run.tool_version != b.run.tool_version:
        refuse("tool versions", a.run.tool_version, b.run.tool_version)
    digests = ({f: p.sha256 for f, p in a.provenance.items()}, {f: p.sha256 for f, p in b.provenance.items()})
    if digests[0] != digests[1]:
        refuse("models", _digests(digests[0]), _digests(digests[1]))
    plans = [e.selection.plan_ids if e.selection else None for e in (a, b)]
    if plans[0] != plans[1]:
        refuse("plans", f"{len(plans[0] or [])} scenarios", f"{len(plans[1] or [])} scenarios")


def _digests(digests: dict[Format, str]) -> str:
    return ", ".join(f"{f} {d[:12]}" for f, d in sorted(digests.items())) or "none"


def _cell(scenario_id: str) -> dict[str, str] | None:
    """The axes in a plan id (`name:modality:backend:format:index`, profile runs `name:profile:backend:format:…`,
    which run the run modality); None when the id has another shape."""
    found = scenario_id.rsplit(":", 4)
    if len(found) != 5:
        return None
    _, modality, backend, fmt, _ = found
    return {"modality": "run" if modality == "profile" else modality, "backend": backend, "format": fmt}


def _missing(missing: list[str], selections: list[Selection | None]) -> str:
    """Why scenarios are in no evidence: the absent shards i/n of each `--only` filter the parts used (parts
    of one filter must agree on n to name them), the cells no part's filter covers, else the first ids."""
    groups: dict[str, list[Selection]] = {}
    for s in selections:
        if s is not None and s.shard_count is not None:
            key = ",".join(f"{k}={'|'.join(v)}" for k, v in sorted(s.only.items()))
            groups.setdefault(key, []).append(s)
    reasons = []
    for key, members in groups.items():
        counts = {m.shard_count for m in members}
        if len(counts) != 1:
            continue
        n = counts.pop()
        assert n is not None
        have = {m.shard_index for m in members}
        absent = [f"{i}/{n}" + (f" of {key}" if key else "") for i in range(1, n + 1) if i not in have]
        if absent:
            reasons.append(f"missing shard {', '.join(absent)}")
    filters = [s.only for s in selections if s is not None]
    if filters and all(filters):  # every part was filtered: name what no filter selects
        uncovered = []
        for sid in missing:
            cell = _cell(sid)
            covered = cell is not None and any(all(cell[k] in v for k, v in f.items()) for f in filters)
            name = "/".join((cell["format"], cell["backend"], cell["modality"])) if cell else sid
            if not covered and name not in uncovered:
                uncovered.append(name)
        if uncovered:
            reasons.append(f"no part's --only covers {', '.join(uncovered)}")
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    lead = "; ".join(reasons) + ": " if reasons else ""
    lone = " (a lone part of the plan cannot be merged into a whole)" if len(selections) == 1 else ""
    return f"{lead}{len(missing)} scenario(s) of the plan are in no evidence{lone}: {shown}"
