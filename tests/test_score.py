"""MQS, grade, status and policy on hand-built evidence sets; every expected number computed by hand."""

from __future__ import annotations

import pytest

from aprqa_action.errors import InputError
from aprqa_action.records import EvidenceItem, Gateway, Observation
from aprqa_action.score import grade, parse_fail_on, verdict

PASSING = [Gateway(id=f"G{i}", name="g", passed=True, reason="ok") for i in range(5)]


def items(**spec: str) -> list[EvidenceItem]:
    """items(QUAL="CCF") → three QUAL items: two Corroborated, one Falsified (S Skipped, T Timeout, X Crashed)."""
    names = {"C": "Corroborated", "F": "Falsified", "S": "Skipped", "T": "Timeout", "X": "Crashed"}
    return [
        EvidenceItem(id=f"{cat}{i}", gate_id="X", category=cat, outcome=names[o], reason="r")  # type: ignore[arg-type]
        for cat, outcomes in spec.items()
        for i, o in enumerate(outcomes)
    ]


def observations(**counts: int) -> list[Observation]:
    return [
        Observation(scenario_id=f"{status}{i}", status=status)  # type: ignore[arg-type]
        for status, n in counts.items()
        for i in range(n)
    ]


def test_all_pass_in_four_measured_categories() -> None:
    # 200 + 150 + 200 + 150 = 700; EDGE and REGR not measured earn 0
    v = verdict(
        items(QUAL="CCCC", PERF="CC", STAB="CCC", COMP="CCCCCC"), observations(ok=3), PASSING, all_cells_executed=True
    )
    assert (v.raw_score, v.mqs, v.grade, v.status) == (700.0, 700, "C-", "PROVISIONAL")
    assert v.qualified
    edge = next(c for c in v.categories if c.category == "EDGE")
    assert (edge.score, edge.judged, edge.measured) == (0.0, 0, False)


def test_every_category_full_is_certified_only_when_every_cell_ran() -> None:
    full = items(QUAL="C", PERF="C", STAB="C", COMP="C", EDGE="C", REGR="C")
    v = verdict(full, observations(ok=1), PASSING, all_cells_executed=True)
    assert (v.mqs, v.grade, v.status) == (1000, "A+", "CERTIFIED")
    v = verdict(full, observations(ok=1), PASSING, all_cells_executed=False)
    assert (v.mqs, v.status) == (1000, "PROVISIONAL")


def test_one_skipped_cell_is_not_a_pass_and_not_judged() -> None:
    # COMP 150·3/3 = 150 (2 skipped ignored), STAB 200·3/3 = 200, QUAL 200·3/4 = 150 → 500
    v = verdict(
        items(COMP="CCCSS", STAB="CCC", QUAL="CCCF"), observations(ok=3, skipped=2), PASSING, all_cells_executed=False
    )
    assert (v.raw_score, v.mqs, v.grade, v.status) == (500.0, 500, "F", "BLOCKED")
    comp = next(c for c in v.categories if c.category == "COMP")
    assert (comp.passed, comp.judged, comp.skipped) == (3, 3, 2)


def test_a_failed_gateway_zeroes_everything() -> None:
    gates = [*PASSING[:2], Gateway(id="G2", name="inference", passed=False, reason="no output"), *PASSING[3:]]
    v = verdict(items(QUAL="CC", STAB="CC", COMP="CF"), observations(ok=2), gates, all_cells_executed=True)
    assert (v.mqs, v.grade, v.status, v.qualified) == (0, "F", "BLOCKED", False)
    assert v.policy_reason == "gateway G2 failed"


def test_crash_and_timeout_penalties() -> None:
    # STAB 200·2/4 = 100 (a timeout and a crash are judged, not passed), QUAL 200, COMP 150 → 450;
    # penalties 20·1 + 10·1 = 30 → 420
    v = verdict(
        items(STAB="CCTX", QUAL="CC", COMP="CCCC"),
        observations(ok=2, timeout=1, crashed=1),
        PASSING,
        all_cells_executed=True,
    )
    assert (v.raw_score, v.crashes, v.timeouts, v.penalty, v.mqs) == (450.0, 1, 1, 30, 420)


def test_penalties_floor_at_zero() -> None:
    v = verdict(items(QUAL="F"), observations(timeout=3), PASSING, all_cells_executed=True)
    assert (v.raw_score, v.penalty, v.mqs) == (0.0, 30, 0)


def test_fractional_scores_round_half_up() -> None:
    # PERF 150·1/2 = 75, REGR 150·1/4 = 37.5 → 112.5 → 113
    v = verdict(items(PERF="CF", REGR="CFFF"), observations(ok=1), PASSING, all_cells_executed=True)
    assert (v.raw_score, v.mqs) == (112.5, 113)
    # QUAL 200·2/3 = 133.33…, STAB 200·1/3 = 66.66… → 200
    v = verdict(items(QUAL="CCF", STAB="CFF"), observations(ok=1), PASSING, all_cells_executed=True)
    assert v.mqs == 200


@pytest.mark.parametrize(
    ("mqs", "letter"),
    [
        (1000, "A+"),
        (970, "A+"),
        (969, "A"),
        (930, "A"),
        (900, "A-"),
        (870, "B+"),
        (830, "B"),
        (800, "B-"),
        (770, "C+"),
        (730, "C"),
        (700, "C-"),
        (699, "D"),
        (600, "D"),
        (599, "F"),
        (0, "F"),
    ],
)
def test_grade_ladder(mqs: int, letter: str) -> None:
    assert grade(mqs) == letter


def test_policies() -> None:
    base = dict(all_cells_executed=True)
    seven_hundred = items(QUAL="C", PERF="C", STAB="C", COMP="C")  # 700, C-
    assert verdict(seven_hundred, observations(ok=1), PASSING, policy=parse_fail_on("mqs:700"), **base).qualified
    v = verdict(seven_hundred, observations(ok=1), PASSING, policy=parse_fail_on("mqs:701"), **base)
    assert not v.qualified and v.policy_reason == "MQS 700 is below the required 701"
    v = verdict(seven_hundred, observations(ok=1), PASSING, policy=parse_fail_on("grade:B"), **base)
    assert not v.qualified and v.policy_reason == "grade C- is below the required B"
    assert verdict(seven_hundred, observations(ok=1), PASSING, policy=parse_fail_on("grade:C-"), **base).qualified
    v = verdict(seven_hundred, observations(ok=1), PASSING, complete=False, **base)
    assert not v.qualified and "did not complete" in v.policy_reason


def test_the_status_policy_fails_a_blocked_model_that_passed_every_gateway() -> None:
    base = dict(all_cells_executed=True)
    four_hundred = items(QUAL="C", STAB="C")  # 200 + 200: every gateway passes, status BLOCKED
    assert verdict(four_hundred, observations(ok=1), PASSING, **base).qualified  # the gateway policy: passes
    v = verdict(four_hundred, observations(ok=1), PASSING, policy=parse_fail_on("status"), **base)
    assert (v.status, v.qualified) == ("BLOCKED", False)
    assert v.policy_reason == "status BLOCKED (MQS 400 < 700), and the status policy needs at least PROVISIONAL"
    seven_hundred = items(QUAL="C", PERF="C", STAB="C", COMP="C")  # 700: PROVISIONAL
    assert verdict(seven_hundred, observations(ok=1), PASSING, policy=parse_fail_on("status"), **base).qualified
    v = verdict(seven_hundred, observations(ok=1), PASSING, policy=parse_fail_on("status:CERTIFIED"), **base)
    assert not v.qualified
    assert v.policy_reason == "status PROVISIONAL (MQS ≥ 700, < 900), and the status:CERTIFIED policy needs CERTIFIED"
    thousand = items(QUAL="C", PERF="C", STAB="C", COMP="C", EDGE="C", REGR="C")  # 1000: CERTIFIED
    v = verdict(thousand, observations(ok=1), PASSING, policy=parse_fail_on("status:CERTIFIED"), **base)
    assert (v.status, v.qualified, v.policy_reason) == (
        "CERTIFIED",
        True,
        "every gateway passed and the status:CERTIFIED policy held",
    )


def test_the_executed_policy_fails_a_run_with_unexecuted_cells() -> None:
    scored = items(QUAL="C", PERF="C", STAB="C", COMP="C")  # 700, PROVISIONAL either way
    policy = parse_fail_on("executed")
    v = verdict(scored, observations(ok=1, skipped=1), PASSING, all_cells_executed=False, policy=policy)
    assert (v.mqs, v.qualified, v.headline) == (700, False, "NOT QUALIFIED")
    assert v.policy_reason == "not every declared cell was executed, and the executed policy needs them all"
    v = verdict(scored, observations(ok=1), PASSING, all_cells_executed=True, policy=policy)
    assert (v.qualified, v.policy_reason) == (True, "every gateway passed and the executed policy held")


@pytest.mark.parametrize(
    "policy",
    [
        "executed:1",
        "status:BLOCKED",
        "status:PROVISIONAL",
        "status:",
        "grade:Z",
        "mqs:abc",
        "mqs:1001",
        "always",
        "",
        "regression:0",
        "regression:x",
    ],
)
def test_bad_policies_are_input_errors(policy: str) -> None:
    with pytest.raises(InputError):
        parse_fail_on(policy)


@pytest.mark.parametrize(
    "text",
    ["gateway", "grade:B+", "mqs:800", "status", "status:CERTIFIED", "executed", "regression:12.5", "regression:10"],
)
def test_a_policy_reads_back_as_it_was_written(text: str) -> None:
    """The verdict records the policy as text; merge and report parse it again from there."""
    assert str(parse_fail_on(text)) == text


def test_a_lenient_policy_never_says_qualified_beside_blocked() -> None:
    # QUAL 200·2/4 = 100, STAB 200, COMP 150·2/2 = 150 → 450: every gateway passed, status BLOCKED (< 700).
    scored = items(QUAL="CCFF", STAB="C", COMP="CC")
    v = verdict(scored, observations(ok=4), PASSING, all_cells_executed=True)
    assert (v.mqs, v.status, v.qualified) == (450, "BLOCKED", True)
    assert v.headline == "PASSES fail-on: gateway, BLOCKED"
    assert v.policy_reason == "every gateway passed; fail-on: status would fail it"
    v = verdict(scored, observations(ok=4), PASSING, all_cells_executed=True, policy=parse_fail_on("status"))
    assert (v.qualified, v.headline) == (False, "NOT QUALIFIED")
    v = verdict(items(QUAL="C", STAB="C", COMP="C", PERF="C"), observations(ok=4), PASSING, all_cells_executed=True)
    assert (v.mqs, v.status, v.headline) == (700, "PROVISIONAL", "QUALIFIED")
