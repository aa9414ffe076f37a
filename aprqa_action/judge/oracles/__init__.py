"""Oracles: decide from the *generated text only* whether an answer is right, garbage, valid code or golden.

Each oracle returns pass, fail or not_judged (it does not apply to this prompt — never a silent pass).
The composite runs the oracles that apply in the registry's order (garbage, arithmetic, code_syntax, golden,
then any other): the first falsification is the verdict, and every reason is kept.

Each oracle is a module here that registers itself (the contract: checks.py); its definition is
that module's docstring (docs/gates.md repeats them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aprqa_action.checks import Answer, Judgement, Oracle, judging
from aprqa_action.records import Record

if TYPE_CHECKING:
    from aprqa_action.playbook import Playbook
    from aprqa_action.playbook.prompts import PromptSpec

Configured = list[tuple[Oracle, Record]]


def select(configs: Mapping[str, Record]) -> Configured:
    """The oracles that judge (checks.judging), in the registry's order, each with its config from `configs`
    (name → config) or its defaults."""
    return [(oracle, configs.get(oracle.name) or oracle.config()) for oracle in judging(set(configs))]


def configured(playbook: Playbook) -> Configured:
    """The playbook's `oracles:` with their configs (see select)."""
    return select({entry.type: entry.config for entry in playbook.oracles})


def composite(
    prompt: PromptSpec, text: str, chosen: Configured, *, truncated: bool = False, programs: bool = True
) -> list[Judgement]:
    """Every applicable oracle's judgement, in order; the caller takes the first "fail" as the verdict. A
    prompt's `oracles:` selects among the declared ones; one that always judges (golden: the prompt's
    expected_prefix, must_contain, must_not_contain) is not deselected by it.
    `truncated`: the engine stopped at max_tokens, `programs`: checkers may run (see code_syntax)."""
    wanted = set(prompt.oracles) if prompt.oracles is not None else None
    answer = Answer(prompt, text, truncated=truncated, programs=programs)
    judgements = [
        oracle.judge(answer, config)
        for oracle, config in chosen
        if wanted is None or oracle.name in wanted or oracle.always
    ]
    return [j for j in judgements if j.decision != "not_judged"]
