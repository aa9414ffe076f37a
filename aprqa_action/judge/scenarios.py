"""The matrix scenarios, each judged by its observation: G1-LOAD (COMP) — the engine loaded the model;
G2-INFERENCE (COMP) — it produced non-empty output; G3-STABILITY (STAB) — no crash (a timeout is its own
outcome, penalised, not a crash); and the oracles' F-QUAL-* items (QUAL). A scenario that did not run is one
Skipped item with the reason.
"""

from __future__ import annotations

from aprqa_action.checks import Check, Run, register_check
from aprqa_action.judge.items import of_scenario, tail
from aprqa_action.judge.oracles import Configured, composite, configured
from aprqa_action.playbook import Playbook
from aprqa_action.playbook.prompts import PromptSpec
from aprqa_action.records import EvidenceItem, Observation, Outcome, Scenario


def scenario_items(
    playbook: Playbook,
    scenario: Scenario,
    seen: Observation,
    oracles: Configured,
    carried: dict[str, EvidenceItem] | None = None,
) -> list[EvidenceItem]:
    """The evidence one matrix scenario yields. `carried`: judging evidence read from files (a merge), whose
    recorded playbook may name programs; none runs, and an oracle that needs one keeps the item the run made
    (by id, from `carried`), or is Skipped."""
    s = scenario
    if seen.status in ("skipped", "not_run"):
        return [of_scenario("G1-LOAD", "COMP", "Skipped", seen.reason, s)]
    items: list[EvidenceItem] = []
    if seen.loaded:
        items.append(of_scenario("G1-LOAD", "COMP", "Corroborated", "the engine loaded the model", s))
    if seen.status == "crashed":
        return [*items, of_scenario("G3-STABILITY", "STAB", "Crashed", seen.reason, s, excerpt=tail(seen))]
    if seen.status == "timeout":
        return [*items, of_scenario("G3-STABILITY", "STAB", "Timeout", seen.reason, s, excerpt=tail(seen))]
    items.append(of_scenario("G3-STABILITY", "STAB", "Corroborated", "no crash", s))
    if seen.status == "failed":
        gate = "G2-INFERENCE" if seen.loaded else "G1-LOAD"
        items.append(of_scenario(gate, "COMP", "Falsified", seen.reason, s, excerpt=tail(seen)))
        return items
    text = seen.text or ""
    if not text.strip():
        items.append(
            of_scenario("G2-INFERENCE", "COMP", "Falsified", "the engine produced no output", s, excerpt=repr(text))
        )
        return items
    metrics = {k: v for k, v in (("tokens", seen.tokens), ("tok_per_sec", seen.tok_per_sec)) if v is not None}
    items.append(of_scenario("G2-INFERENCE", "COMP", "Corroborated", "non-empty output", s, metrics=metrics))
    prompt = _prompt_spec(playbook, s)
    if prompt is None:
        reason = "the prompt is not in the playbook this evidence is judged with: no oracle judged the answer"
        return [*items, of_scenario("F-QUAL-PROMPT", "QUAL", "Skipped", reason, s)]
    # an answer that used every allowed token may be cut off mid-code: code_syntax does not judge that
    truncated = seen.tokens is not None and seen.tokens >= s.max_tokens
    gates = {oracle.name: oracle.gate_id for oracle, _ in oracles}
    for judgement in composite(prompt, text, oracles, truncated=truncated, programs=carried is None):
        gate = gates[judgement.oracle]
        if judgement.decision == "external":
            assert carried is not None
            kept = carried.get(f"{gate}:{s.id}")
            why = f"{judgement.reason}, which is never started on evidence read from a file; the run judged nothing"
            items.append(kept if kept is not None else of_scenario(gate, "QUAL", "Skipped", why, s))
            continue
        outcome: Outcome = "Corroborated" if judgement.decision == "pass" else "Falsified"
        items.append(of_scenario(gate, "QUAL", outcome, judgement.reason, s, excerpt=judgement.excerpt))
    return items


def _prompt_spec(playbook: Playbook, s: Scenario) -> PromptSpec | None:
    """The playbook's entry for the scenario's prompt: by index, or (judging with another version of the
    playbook, e.g. the base branch's) by the prompt's text; None when the playbook does not have it."""
    specs = playbook.test_matrix.prompt_specs
    if s.prompt_index < len(specs) and specs[s.prompt_index].prompt == s.prompt:
        return specs[s.prompt_index]
    return next((spec for spec in specs if spec.prompt == s.prompt), None)


def scenarios_check(run: Run) -> list[EvidenceItem]:
    oracles = configured(run.playbook)
    return [
        entry
        for s in run.scenarios
        if s.purpose == "matrix"
        for entry in scenario_items(run.playbook, s, run.observed(s), oracles, run.carried)
    ]


register_check(Check("scenarios", scenarios_check))
