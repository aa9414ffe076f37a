"""Observations + oracle results → Evidence items with gate ids, and the gateways G0–G4 they decide.

Per executed matrix scenario: G1-LOAD (COMP) — the engine loaded the model; G2-INFERENCE (COMP) — it
produced non-empty output; G3-STABILITY (STAB) — no crash (a timeout is its own outcome, penalised, not a
crash); and the oracles' F-QUAL-* items (QUAL). A scenario that did not run is one Skipped item with the
reason. G0-INTEGRITY (COMP) is judged per model file.
"""

from __future__ import annotations

from aprqa_action.judge.integrity import verified
from aprqa_action.judge.oracles import OracleSet, composite, declared
from aprqa_action.judge.parity import parity_items
from aprqa_action.judge.performance import perf_items
from aprqa_action.playbook import Playbook, PromptSpec
from aprqa_action.records import EvidenceItem, Observation, Outcome, ResolvedModel, Scenario
from aprqa_action.records.axes import Format

ORACLE_GATES = {
    "arithmetic": "F-QUAL-ARITH",
    "garbage": "F-QUAL-GARBAGE",
    "code_syntax": "F-QUAL-CODE",
    "golden": "F-QUAL-GOLDEN",
}
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
