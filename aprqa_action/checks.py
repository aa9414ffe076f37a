"""The registry of checks: what judges a run, and the oracles a playbook's `oracles:` can declare.

The contract, in the spirit of httpx's `BaseTransport.handle_request` and llm's `register_*` hooks:

- A **check** reads the run — the playbook, the scenarios and their observations, the model files — and
  returns evidence items (`records.EvidenceItem`: a gate id, a category the MQS counts it in, an outcome and
  a reason a person can act on). `judge.run.judge` concatenates every registered check's items, in order.
- An **oracle** is a check on one answer: given the prompt, the generated text and its config (a pydantic
  record, validated where the playbook declares it), it says pass, fail or not_judged — never a silent
  pass. The scenario check turns its judgements into items with the oracle's gate id (category QUAL).

Adding an oracle is one new file that calls `register_oracle` when it is imported::

    class NoShouting(Record):
        max_upper_ratio: float = Field(default=0.5, gt=0, le=1)

    def no_shouting(answer: Answer, config: NoShouting) -> Judgement:
        letters = [c for c in answer.text if c.isalpha()]
        upper = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
        verdict = "fail" if upper > config.max_upper_ratio else "pass"
        return Judgement("no_shouting", verdict, f"{upper:.0%} of the letters are capitals")

    register_oracle(Oracle("no_shouting", "F-QUAL-SHOUT", NoShouting, no_shouting))

after which a playbook may declare `oracles: [{type: no_shouting, config: {max_upper_ratio: 0.3}}]`: the
playbook schema (`aprqa schema`) is generated from the registered configs. A package makes its module known
through the entry point group `aprqa.checks` (engine profiles: `aprqa.engines`); the built-in checks are
registered exactly so, by aprqa's own pyproject.toml, and keep the order of `BUILTIN` whatever order the
entry points come in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

from aprqa_action.errors import InfrastructureError, InputError
from aprqa_action.records import EvidenceItem, Observation, Record, ResolvedModel, Scenario
from aprqa_action.records.axes import Format

if TYPE_CHECKING:
    from aprqa_action.playbook import Playbook
    from aprqa_action.playbook.prompts import PromptSpec

ENTRY_POINTS = "aprqa.checks"
# The built-in checks' modules, in the order their items appear in the evidence: the answer oracles (composite
# order: the first falsification is a scenario's verdict), then the run checks.
BUILTIN = (
    "aprqa_action.judge.oracles.garbage",
    "aprqa_action.judge.oracles.arithmetic",
    "aprqa_action.judge.oracles.code_syntax",
    "aprqa_action.judge.oracles.golden",
    "aprqa_action.judge.integrity",
    "aprqa_action.judge.scenarios",
    "aprqa_action.judge.performance",
    "aprqa_action.judge.parity",
    "aprqa_action.judge.edge",
    "aprqa_action.judge.engine_parity",
    "aprqa_action.judge.perplexity",
)

# external: judging needs a program (a checker), which evidence read from a file never starts: the judgement
# the run itself made is kept instead (see judge.scenarios).
Decision = Literal["pass", "fail", "not_judged", "external"]


@dataclass(frozen=True)
class Answer:
    """What an oracle judges: one answer to one prompt."""

    prompt: PromptSpec
    text: str
    truncated: bool = False  # the engine stopped at max_tokens: the answer may be cut off
    programs: bool = True  # False on evidence read from a file: nothing named in it may run


@dataclass(frozen=True)
class Judgement:
    oracle: str
    decision: Decision
    reason: str
    excerpt: str | None = None  # the part of the answer that decided it


@dataclass(frozen=True)
class Oracle:
    name: str  # the `type` a playbook declares it by
    gate_id: str  # its evidence items' gate, e.g. F-QUAL-ARITH
    config: type[Record]  # validated from the playbook's `config:`; every field has a default
    judge: Callable[[Answer, Any], Judgement]
    by_default: bool = False  # judges every answer when the playbook declares no oracles (garbage)
    always: bool = False  # judges every answer it applies to, declared or not (golden: a prompt's expectations)


@dataclass(frozen=True)
class Run:
    """What a check reads. `observed(s)` is the scenario's observation ("not run" when it has none)."""

    playbook: Playbook
    models: dict[Format, ResolvedModel]
    problems: dict[Format, str]  # formats whose file failed G0, with the reason
    scenarios: list[Scenario]
    observations: dict[str, Observation]
    per_file: list[EvidenceItem]  # judged before the run: the pull (G0-PULL) and the tensor contracts
    carried: dict[str, EvidenceItem] | None = None  # judging evidence read from files: the items it had

    def observed(self, s: Scenario) -> Observation:
        return self.observations.get(s.id) or Observation(scenario_id=s.id, status="not_run", reason="not run")


@dataclass(frozen=True)
class Check:
    name: str
    judge: Callable[[Run], list[EvidenceItem]]


_oracles: dict[str, Oracle] = {}
_checks: dict[str, Check] = {}
_listeners: list[Callable[[], None]] = []
_loaded = False
_loading = False


def register_oracle(oracle: Oracle) -> None:
    if oracle.name in _oracles and _oracles[oracle.name] != oracle:
        raise ValueError(f"an oracle named {oracle.name!r} is registered already")
    _oracles[oracle.name] = oracle
    _changed()


def register_check(check: Check) -> None:
    if check.name in _checks and _checks[check.name] != check:
        raise ValueError(f"a check named {check.name!r} is registered already")
    _checks[check.name] = check


def unregister(name: str) -> None:
    """Remove an oracle or check (a test's own, when it is done)."""
    _checks.pop(name, None)
    if _oracles.pop(name, None) is not None:
        _changed()


def on_oracles_changed(listener: Callable[[], None]) -> None:
    """`listener` runs whenever the set of oracles changes (the playbook schema follows it)."""
    _listeners.append(listener)


def _changed() -> None:
    if _loading:  # load() tells the listeners once, at the end
        return
    for listener in _listeners:
        listener()


def load() -> None:
    """Import every module of the `aprqa.checks` entry points (the built-ins' among them), once."""
    global _loaded, _loading
    if _loaded:
        return
    _loaded = _loading = True
    try:
        points = entry_points(group=ENTRY_POINTS)
        missing = [m for m in BUILTIN if m not in {p.value for p in points}]
        if missing:
            raise InfrastructureError(
                f"aprqa's own checks are not registered ({', '.join(missing)}): install the package (pip install .)"
            )
        for point in points:
            try:
                point.load()
            except Exception as exc:  # a broken plug-in is its author's to fix: say which, not a traceback
                raise InputError(f"the {ENTRY_POINTS} entry point {point.name} ({point.value}): {exc}") from None
    finally:
        _loading = False
    _changed()


def _rank(function: Callable[..., object]) -> int:
    """Built-ins in BUILTIN's order whatever order Python imported them in, then the others."""
    module = getattr(function, "__module__", "")
    return BUILTIN.index(module) if module in BUILTIN else len(BUILTIN)


def oracles() -> dict[str, Oracle]:
    """The registered oracles in the order they judge an answer (the first falsification is the verdict)."""
    load()
    return {o.name: o for o in sorted(_oracles.values(), key=lambda o: _rank(o.judge))}


def judging(declared: set[str]) -> list[Oracle]:
    """The oracles that judge a playbook's answers when `declared` are its `oracles:` types: those, the ones
    that judge by default when none is declared (garbage), and those that always judge (golden)."""
    return [o for o in oracles().values() if o.name in declared or o.always or (o.by_default and not declared)]


def checks() -> list[Check]:
    """The registered checks in the order their items appear in the evidence."""
    load()
    return sorted(_checks.values(), key=lambda c: _rank(c.judge))
