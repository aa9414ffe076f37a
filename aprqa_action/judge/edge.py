"""The EDGE category (playbook `edge:`), per (format, backend) cell where the modality applies:

- **F-EDGE-<CASE>** (boundary prompts: EMPTY, WHITESPACE, OVER-CONTEXT, IN-CONTEXT, UNICODE, SPECIAL-TOKENS,
  MAX-TOKENS-1, MAX-TOKENS-HUGE): passes on an answer or a clean refusal — a non-zero exit with a message, an
  HTTP 4xx with a JSON error body. Fails on an empty 200 (serve), an exit 0 with no answer (run and chat, except
  to an empty or whitespace prompt), invalid UTF-8 (U+FFFD), an unreadable answer or a 5xx; a crash is Crashed
  (and a crash for G3), a hang a Timeout.
- **F-EDGE-LEAK**: no answer of the cell (matrix and edge) holds a raw special token — the common chat markers
  (`<|im_end|>`, `<|eot_id|>`, `</s>` without an `<s>`, `<|endoftext|>`, `[INST]`, …) and the model's own
  control tokens from its tokenizer — nor BPE artefacts (two or more of `Ġ`/`Ċ` before a letter, runs of `▁`)
  or byte tokens (`<0x0A>`). Text the prompt itself contained is not a leak (an echo).
- **F-DET-REPEAT** (run, chat: a second process or session) / **F-DET-ISOLATION** (serve: A → B → A on one
  server): the first prompt asked again with the same seed gives the same text as the matrix's first scenario.
- **F-HTTP-*** (serve): the protocol probes' facts, judged by judge/protocol.py.
"""

from __future__ import annotations

import re

from aprqa_action.checks import Check, Run, register_check
from aprqa_action.judge.items import excerpt, item, of_scenario, tail
from aprqa_action.judge.protocol import GATES, judge_probe
from aprqa_action.records import EvidenceItem, Observation, Outcome, Scenario

COMMON_SPECIAL = (
    "<|im_end|>",
    "<|im_start|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|end|>",
    "<|user|>",
    "<|assistant|>",
    "<start_of_turn>",
    "<end_of_turn>",
    "[INST]",
    "[/INST]",
    "</s>",
)
_ARTEFACT = re.compile(r"[ĠĊ][A-Za-z]|▁{2,}|▁[A-Za-z]")
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
EMPTY_OK = ("empty", "whitespace")  # nothing asked: a run or chat may answer nothing


def _gate(probe: str) -> str:
    return "F-EDGE-" + probe.upper()


def _unanswered(gate: str, s: Scenario, seen: Observation) -> EvidenceItem | None:
    """The item of an edge scenario that did not run, crashed or hung; None when it has something to judge."""
    if seen.status in ("skipped", "not_run"):
        return of_scenario(gate, "EDGE", "Skipped", seen.reason, s)
    if seen.status in ("crashed", "timeout"):
        outcome: Outcome = "Crashed" if seen.status == "crashed" else "Timeout"
        return of_scenario(gate, "EDGE", outcome, seen.reason, s, excerpt=tail(seen))
    return None


def boundary_item(s: Scenario, seen: Observation) -> EvidenceItem:
    gate = _gate(s.probe or "")
    text = seen.text or ""
    if (done := _unanswered(gate, s, seen)) is not None:
        return done
    if seen.status == "failed":
        status = seen.facts.get("http_status")
        if isinstance(status, int) and not isinstance(status, bool):
            if 400 <= status < 500 and seen.facts.get("json_body") is True:
                return of_scenario(gate, "EDGE", "Corroborated", f"refused cleanly: HTTP {status} with a JSON error", s)
            why = "a 5xx" if status >= 500 else "not a 4xx with a JSON error body"
            return of_scenario(gate, "EDGE", "Falsified", f"{seen.reason} ({why})", s, excerpt=tail(seen))
        said = tail(seen)
        if seen.exit_code not in (None, 0) and said:
            return of_scenario(gate, "EDGE", "Corroborated", f"refused cleanly: {seen.reason}", s, excerpt=said)
        return of_scenario(gate, "EDGE", "Falsified", seen.reason or "failed without a message", s, excerpt=said)
    if "\ufffd" in text:
        at = text.index("\ufffd")
        reason = f"invalid UTF-8 (U+FFFD) at offset {at}"
        return of_scenario(gate, "EDGE", "Falsified", reason, s, excerpt=excerpt(text, at))
    if not text.strip():
        if s.modality != "serve" and s.probe in EMPTY_OK:
            return of_scenario(gate, "EDGE", "Corroborated", "no answer to an empty prompt, and no error", s)
        where = "an empty 200" if s.modality == "serve" else "exit 0 with no answer"
        if seen.facts.get("sse_done") is False:
            where += " (the event stream ended without data: [DONE] and without an error)"
        return of_scenario(gate, "EDGE", "Falsified", where, s, excerpt=repr(text))
    reason = f"answered ({seen.tokens or '?'} tokens)"
    return of_scenario(gate, "EDGE", "Corroborated", reason, s, excerpt=excerpt(text))


def leak_in(text: str, prompt: str, special: list[str]) -> tuple[str, int] | None:
    """The first leaked token and where, or None. Tokens the prompt contains are an echo, not a leak."""
    for token in dict.fromkeys([*COMMON_SPECIAL, *special]):
        at = text.find(token)
        if at < 0 or token in prompt:
            continue
        if token == "</s>" and "<s>" in text[:at]:  # HTML strikethrough
            continue
        return token, at
    artefacts = list(_ARTEFACT.finditer(text))
    if len(artefacts) >= 2:
        return f"BPE artefact {artefacts[0].group(0)[0]!r}", artefacts[0].start()
    byte = _BYTE_TOKEN.search(text)
    if byte is not None and byte.group(0) not in prompt:
        return f"byte token {byte.group(0)}", byte.start()
    return None


def leak_items(run: Run) -> list[EvidenceItem]:
    cells: dict[str, list[Scenario]] = {}
    for s in run.scenarios:
        if s.purpose in ("matrix", "edge") and not (s.probe or "").startswith("http:"):
            cells.setdefault(s.cell_name, []).append(s)
    items = []
    for cell, scenarios in cells.items():
        answered = [(s, run.observed(s)) for s in scenarios]
        answered = [(s, seen) for s, seen in answered if seen.status == "ok" and seen.text]
        if not answered:
            reason = "no answer in this cell to judge"
            items.append(item("F-EDGE-LEAK", "EDGE", "Skipped", reason, subject=cell, cell=cell))
            continue
        model = run.models.get(scenarios[0].format)
        special = model.special_tokens if model is not None else []
        for s, seen in answered:
            found = leak_in(seen.text or "", s.prompt, special)
            if found is not None:
                token, at = found
                reason = f"{token} in the answer of {s.id} at offset {at}"
                items.append(
                    item(
                        "F-EDGE-LEAK",
                        "EDGE",
                        "Falsified",
                        reason,
                        subject=cell,
                        cell=cell,
                        scenario_id=s.id,
                        excerpt=excerpt(seen.text or "", at),
                    )
                )
                break
        else:
            reason = f"no special token or decoding artefact in {len(answered)} answer(s)"
            items.append(item("F-EDGE-LEAK", "EDGE", "Corroborated", reason, subject=cell, cell=cell))
    return items


def determinism_item(run: Run, s: Scenario, seen: Observation) -> EvidenceItem:
    gate = "F-DET-ISOLATION" if s.modality == "serve" else "F-DET-REPEAT"
    if (done := _unanswered(gate, s, seen)) is not None:
        return done
    if seen.status != "ok":
        return of_scenario(gate, "EDGE", "Falsified", seen.reason, s, excerpt=tail(seen))
    first = next(
        (m for m in run.scenarios if m.purpose == "matrix" and m.cell == s.cell and m.index == 0 and m.attempt == 0),
        None,
    )
    if first is None or run.observed(first).status != "ok":
        why = "the matrix's first scenario of this cell did not answer: nothing to compare with"
        return of_scenario(gate, "EDGE", "Skipped", why, s)
    again, was = seen.text or "", run.observed(first).text or ""
    how = "after the cell's other requests, on the same server" if s.modality == "serve" else "in a new process"
    if again == was:
        return of_scenario(gate, "EDGE", "Corroborated", f"the same text again ({how}, seed {s.seed})", s)
    at = next((i for i, (a, b) in enumerate(zip(again, was, strict=False)) if a != b), min(len(again), len(was)))
    reason = (
        f"asked again ({how}, seed {s.seed}, temperature {s.temperature:g}) the answer differs from {first.id} "
        f"at character {at}: {was[at : at + 40]!r} then {again[at : at + 40]!r}"
    )
    return of_scenario(gate, "EDGE", "Falsified", reason, s, excerpt=excerpt(again, at))


def http_item(run: Run, s: Scenario, seen: Observation) -> EvidenceItem:
    name = (s.probe or "").removeprefix("http:")
    gate = GATES.get(name, "F-HTTP-" + name.upper())
    if (done := _unanswered(gate, s, seen)) is not None:
        return done
    batch = run.playbook.edge.batch_invariance if run.playbook.edge is not None else False
    outcome, reason = judge_probe(name, seen.facts, batch_gate=batch)
    return of_scenario(gate, "EDGE", outcome, reason, s)


def edge(run: Run) -> list[EvidenceItem]:
    items: list[EvidenceItem] = []
    for s in run.scenarios:
        if s.purpose != "edge" or s.probe is None:
            continue
        seen = run.observed(s)
        if s.probe == "determinism":
            items.append(determinism_item(run, s, seen))
        elif s.probe.startswith("http:"):
            items.append(http_item(run, s, seen))
        else:
            items.append(boundary_item(s, seen))
        if seen.status == "crashed":  # a crash on an edge case is a crash of the engine: G3, with its penalty
            items.append(of_scenario("G3-STABILITY", "STAB", "Crashed", seen.reason, s, excerpt=tail(seen)))
    if run.playbook.edge is not None and run.playbook.edge.leakage:
        items += leak_items(run)
    return items


register_check(Check("edge", edge))
