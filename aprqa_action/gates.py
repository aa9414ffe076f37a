"""Observations + oracle results → Evidence items with gate ids, and the gateways G0–G4 they decide.

Per executed matrix scenario: G1-LOAD (COMP) — the engine loaded the model; G2-INFERENCE (COMP) — it
produced non-empty output; G3-STABILITY (STAB) — no crash (a timeout is its own outcome, penalised, not a
crash); and the oracles' F-QUAL-* items (QUAL). A scenario that did not run is one Skipped item with the
reason. G0-INTEGRITY (COMP) is judged per model file.
"""

from __future__ import annotations

from collections.abc import Iterable

from aprqa_action.axes import Format
from aprqa_action.integrity import verified
from aprqa_action.oracles import OracleSet, composite, declared
from aprqa_action.parity import parity_items
from aprqa_action.performance import perf_items
from aprqa_action.playbook import Playbook, PromptSpec
from aprqa_action.records import EvidenceItem, Gateway, Observation, Outcome, Scenario, base_id
from aprqa_action.resolve import ResolvedModel

ORACLE_GATES = {
    "arithmetic": "F-QUAL-ARITH",
    "garbage": "F-QUAL-GARBAGE",
    "code_syntax": "F-QUAL-CODE",
    "golden": "F-QUAL-GOLDEN",
}
GATEWAY_NAMES = {"G0": "integrity", "G1": "load", "G2": "inference", "G3": "stability", "G4": "quality"}
EXCERPT = 300


def _cell(s: Scenario) -> str:
    return f"{s.format}/{s.backend}/{s.modality}"


def _item(gate: str, category: str, outcome: Outcome, reason: str, s: Scenario | None = None, **kw) -> EvidenceItem:  # type: ignore[no-untyped-def]
    ident = f"{gate}:{s.id}" if s is not None else f"{gate}:{kw.pop('subject')}"
    return EvidenceItem(
        id=ident,
        gate_id=gate,
        category=category,  # type: ignore[arg-type]
        outcome=outcome,
        reason=reason,
        scenario_id=s.id if s is not None else None,
        cell=_cell(s) if s is not None else kw.pop("cell", None),
        **kw,
    )


def integrity_items(models: dict[Format, ResolvedModel], problems: dict[Format, str]) -> list[EvidenceItem]:
    items = []
    for fmt, model in models.items():
        if model.path is None:
            items.append(_item("G0-INTEGRITY", "COMP", "Skipped", model.reason, subject=fmt, cell=str(fmt)))
        elif fmt in problems:
            items.append(_item("G0-INTEGRITY", "COMP", "Falsified", problems[fmt], subject=fmt, cell=str(fmt)))
        else:
            items.append(
                _item(
                    "G0-INTEGRITY",
                    "COMP",
                    "Corroborated",
                    f"{model.path}: {verified(fmt)}",
                    subject=fmt,
                    cell=str(fmt),
                )
            )
    return items


def scenario_items(
    playbook: Playbook,
    scenario: Scenario,
    seen: Observation,
    oracles: OracleSet,
    carried: dict[str, EvidenceItem] | None = None,
) -> list[EvidenceItem]:
    """The evidence one matrix scenario yields. `carried`: judging evidence read from files (a merge), whose
    recorded playbook may name programs; none runs, and an oracle that needs one keeps the item the run made
    (by id, from `carried`), or is Skipped."""
    s = scenario
    if seen.status in ("skipped", "not_run"):
        return [_item("G1-LOAD", "COMP", "Skipped", seen.reason, s)]
    items: list[EvidenceItem] = []
    if seen.loaded:
        items.append(_item("G1-LOAD", "COMP", "Corroborated", "the engine loaded the model", s))
    if seen.status == "crashed":
        return [*items, _item("G3-STABILITY", "STAB", "Crashed", seen.reason, s, excerpt=_tail(seen))]
    if seen.status == "timeout":
        return [*items, _item("G3-STABILITY", "STAB", "Timeout", seen.reason, s, excerpt=_tail(seen))]
    items.append(_item("G3-STABILITY", "STAB", "Corroborated", "no crash", s))
    if seen.status == "failed":
        gate = "G2-INFERENCE" if seen.loaded else "G1-LOAD"
        items.append(_item(gate, "COMP", "Falsified", seen.reason, s, excerpt=_tail(seen)))
        return items
    text = seen.text or ""
    if not text.strip():
        items.append(_item("G2-INFERENCE", "COMP", "Falsified", "the engine produced no output", s, excerpt=repr(text)))
        return items
    metrics = {k: v for k, v in (("tokens", seen.tokens), ("tok_per_sec", seen.tok_per_sec)) if v is not None}
    items.append(_item("G2-INFERENCE", "COMP", "Corroborated", "non-empty output", s, metrics=metrics))
    prompt = _prompt_spec(playbook, s)
    if prompt is None:
        reason = "the prompt is not in the playbook this evidence is judged with: no oracle judged the answer"
        return [*items, _item("F-QUAL-PROMPT", "QUAL", "Skipped", reason, s)]
    # an answer that used every allowed token may be cut off mid-code: code_syntax does not judge that
    truncated = seen.tokens is not None and seen.tokens >= s.max_tokens
    for judgement in composite(prompt, text, oracles, truncated=truncated, programs=carried is None):
        gate = ORACLE_GATES[judgement.oracle]
        if judgement.verdict == "external":
            assert carried is not None
            kept = carried.get(f"{gate}:{s.id}")
            why = f"{judgement.reason}, which is never started on evidence read from a file; the run judged nothing"
            items.append(kept if kept is not None else _item(gate, "QUAL", "Skipped", why, s))
            continue
        outcome: Outcome = "Corroborated" if judgement.verdict == "pass" else "Falsified"
        items.append(_item(gate, "QUAL", outcome, judgement.reason, s, excerpt=judgement.excerpt))
    return items


def _prompt_spec(playbook: Playbook, s: Scenario) -> PromptSpec | None:
    """The playbook's entry for the scenario's prompt: by index, or (judging with another version of the
    playbook, e.g. the base branch's) by the prompt's text; None when the playbook does not have it."""
    specs = playbook.test_matrix.prompt_specs
    if s.prompt_index < len(specs) and specs[s.prompt_index].prompt == s.prompt:
        return specs[s.prompt_index]
    return next((spec for spec in specs if spec.prompt == s.prompt), None)


def _tail(seen: Observation) -> str | None:
    tail = (seen.stderr_tail or seen.stdout_tail).strip()
    return tail[-EXCERPT:] if tail else None


def _first(items: Iterable[EvidenceItem], limit: int = 3) -> str:
    listed = list(items)
    shown = "; ".join(f"{i.scenario_id or i.cell}: {i.reason}" for i in listed[:limit])
    more = f" (and {len(listed) - limit} more)" if len(listed) > limit else ""
    return shown + more


def gateways(
    items: list[EvidenceItem],
    observations: list[Observation],
    max_failure_fraction: float,
    *,
    min_pass: int = 1,
    part: bool = False,
) -> list[Gateway]:
    """G0–G4 from the items. With `test_matrix.repeat`, G1, G2 and G4 judge a scenario by its attempts: it
    fails when fewer than `min_pass` of them pass; a crash in any attempt still fails G3.
    `part`: this evidence holds part of a plan (--shard, --only): running nothing here (an empty shard, or
    only gpu cells on a machine without a GPU) is not a G1 failure — the merged evidence decides."""

    result = []
    g0_bad = [i for i in items if i.gate_id.startswith("G0") and i.outcome == "Falsified"]
    g0_ok = [i for i in items if i.gate_id == "G0-INTEGRITY" and i.outcome == "Corroborated"]
    if g0_bad:
        result.append(Gateway(id="G0", name="integrity", passed=False, reason=_first(g0_bad)))
    elif not g0_ok:
        result.append(Gateway(id="G0", name="integrity", passed=False, reason="no model file resolved for any format"))
    else:
        result.append(Gateway(id="G0", name="integrity", passed=True, reason=f"{len(g0_ok)} model file(s) parse"))

    loaded = [i for i in items if i.gate_id == "G1-LOAD" and i.outcome == "Corroborated"]
    g1_bad = _failing(items, "G1-LOAD", min_pass)
    if g1_bad:
        result.append(Gateway(id="G1", name="load", passed=False, reason=_first(g1_bad)))
    elif part and not loaded:
        result.append(Gateway(id="G1", name="load", passed=True, reason="nothing executed in this part of the plan"))
    elif not loaded:
        result.append(Gateway(id="G1", name="load", passed=False, reason=_nothing_loaded(items)))
    else:
        result.append(
            Gateway(id="G1", name="load", passed=True, reason=f"the model loaded in {len(loaded)} scenario(s)")
        )

    g2_bad = _failing(items, "G2-INFERENCE", min_pass)
    g2_ok = len({base_id(i.scenario_id) for i in items if i.gate_id == "G2-INFERENCE" and i.scenario_id}) - len(g2_bad)
    result.append(
        Gateway(id="G2", name="inference", passed=False, reason=_first(g2_bad))
        if g2_bad
        else Gateway(id="G2", name="inference", passed=True, reason=f"{g2_ok} scenario(s) produced output")
    )

    # every crashed scenario, matrix or profile_ci (warmup included), has its G3-STABILITY item; the F-PERF
    # item of a crashed measure run says the same again and is not listed twice
    crashed = [i for i in items if i.gate_id == "G3-STABILITY" and i.outcome == "Crashed"]
    timeouts = sum(o.status == "timeout" for o in observations)
    note = f"; {timeouts} timeout(s), penalised" if timeouts else ""
    result.append(
        Gateway(id="G3", name="stability", passed=False, reason=_first(crashed))
        if crashed
        else Gateway(id="G3", name="stability", passed=True, reason="no crash" + note)
    )
    result.append(_quality(items, max_failure_fraction, min_pass))
    return result


def _nothing_loaded(items: list[EvidenceItem]) -> str:
    """Why G1 has no load to show: every scenario was skipped, or the ones that ran timed out or crashed
    before the engine loaded the model."""
    ended = [i for i in items if i.gate_id == "G3-STABILITY" and i.outcome in ("Timeout", "Crashed")]
    if not ended:
        skipped = [i for i in items if i.gate_id == "G1-LOAD" and i.outcome == "Skipped"]
        return "no scenario was executed" + (f": all skipped ({_first(skipped, 1)})" if skipped else "")
    timeouts = sum(i.outcome == "Timeout" for i in ended)
    counts = [f"{n} {what}" for n, what in ((timeouts, "timed out"), (len(ended) - timeouts, "crashed")) if n]
    return f"no scenario loaded the model: {' and '.join(counts)} before loading it ({_first(ended)})"


def _failing(items: list[EvidenceItem], gate: str, min_pass: int) -> list[EvidenceItem]:
    """One falsified item per scenario that fails `gate`: fewer than min_pass of its judged attempts passed
    (with no repeat, any falsification)."""
    tries: dict[str, list[EvidenceItem]] = {}
    for item in items:
        if item.gate_id == gate and item.outcome in ("Corroborated", "Falsified"):
            tries.setdefault(base_id(item.scenario_id or item.id), []).append(item)
    return [
        next(i for i in attempts if i.outcome == "Falsified")
        for attempts in tries.values()
        if sum(i.outcome == "Corroborated" for i in attempts) < min(min_pass, len(attempts))
    ]


def _quality(items: list[EvidenceItem], max_failure_fraction: float, min_pass: int) -> Gateway:
    attempts: dict[str, bool] = {}  # attempt → passed every oracle
    first: dict[str, EvidenceItem] = {}  # per attempt, its first falsification is the verdict
    for item in items:
        # a Skipped oracle (e.g. a check that needs a program, on evidence read from a file) judged nothing
        if item.category == "QUAL" and item.scenario_id is not None and item.outcome != "Skipped":
            attempts[item.scenario_id] = attempts.get(item.scenario_id, True) and item.outcome == "Corroborated"
            if item.outcome == "Falsified":
                first.setdefault(item.scenario_id, item)
    scenarios: dict[str, list[bool]] = {}
    for attempt, ok in attempts.items():
        scenarios.setdefault(base_id(attempt), []).append(ok)
    failures = [base for base, oks in scenarios.items() if sum(oks) < min(min_pass, len(oks))]
    if not scenarios:
        return Gateway(id="G4", name="quality", passed=True, reason="no answer was judged by an oracle")
    fraction = len(failures) / len(scenarios)
    reason = (
        f"{len(failures)} of {len(scenarios)} judged scenario(s) falsified (allowed fraction {max_failure_fraction:g})"
    )
    if failures:
        shown = [i for attempt, i in first.items() if base_id(attempt) in failures]
        reason += ": " + _first(shown)
    return Gateway(id="G4", name="quality", passed=fraction <= max_failure_fraction, reason=reason)


def judge(
    playbook: Playbook,
    models: dict[Format, ResolvedModel],
    problems: dict[Format, str],
    scenarios: list[Scenario],
    observations: list[Observation],
    contracts: list[EvidenceItem] | None = None,
    carried: dict[str, EvidenceItem] | None = None,
) -> list[EvidenceItem]:
    """Every evidence item of a run: G0 and the contract invariants per model file, G1–G4 and the oracles
    per matrix scenario, the performance gates per (format, backend), format parity per scenario index.
    `carried`: judging again from evidence files (see scenario_items)."""
    observed = {o.scenario_id: o for o in observations}

    def seen(s: Scenario) -> Observation:
        return observed.get(s.id) or Observation(scenario_id=s.id, status="not_run", reason="not run")

    oracles = declared(playbook.oracles)
    items = integrity_items(models, problems) + list(contracts or [])
    for scenario in scenarios:
        if scenario.purpose == "matrix":
            items += scenario_items(playbook, scenario, seen(scenario), oracles, carried)
    if playbook.profile_ci is not None and playbook.profile_ci.enabled:
        profile_runs = {s.id: seen(s) for s in scenarios if s.purpose == "measure"}
        items += perf_items(playbook.profile_ci, scenarios, profile_runs)
    for scenario in scenarios:
        # profile_ci runs answer no oracle, but a crash in one (a warmup too) is a crash of the engine: G3
        run = seen(scenario)
        if scenario.purpose != "matrix" and run.status == "crashed":
            items.append(_item("G3-STABILITY", "STAB", "Crashed", run.reason, scenario, excerpt=_tail(run)))
    items += parity_items(playbook, scenarios, observations)
    return items
