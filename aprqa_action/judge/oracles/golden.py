"""The golden oracle: does the answer meet the prompt's own expectations?

golden: the prompt's expected_prefix (after leading whitespace), must_contain, must_not_contain (case-
sensitive substrings) — whenever the prompt declares any, whatever its `oracles:` list says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aprqa_action.checks import Judgement, Oracle, register_oracle
from aprqa_action.judge.items import excerpt
from aprqa_action.records import Record

if TYPE_CHECKING:
    from aprqa_action.playbook.prompts import PromptSpec


class GoldenOracle(Record):
    """Nothing to configure: the expectations are the prompt's own."""


def golden(prompt: PromptSpec, text: str) -> Judgement:
    if prompt.expected_prefix is None and not prompt.must_contain and not prompt.must_not_contain:
        return Judgement("golden", "not_judged", "the prompt has no golden expectations")
    if prompt.expected_prefix is not None and not text.lstrip().startswith(prompt.expected_prefix):
        return Judgement("golden", "fail", f"does not start with {prompt.expected_prefix!r}", excerpt(text))
    for needle in prompt.must_contain:
        if needle not in text:
            return Judgement("golden", "fail", f"does not contain {needle!r}", excerpt(text))
    for needle in prompt.must_not_contain:
        if needle in text:
            return Judgement("golden", "fail", f"contains {needle!r}", excerpt(text, text.index(needle)))
    return Judgement("golden", "pass", "matches the golden expectations")


register_oracle(
    Oracle(
        "golden", "F-QUAL-GOLDEN", GoldenOracle, lambda answer, config: golden(answer.prompt, answer.text), always=True
    )
)
