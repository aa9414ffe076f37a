"""Gateways, MQS, grade, certification status and the --fail-on policy — pure functions.

MQS (0–1000): each category earns max × passed / judged, where judged counts Corroborated, Falsified,
Timeout and Crashed items and passed counts Corroborated; Skipped is never a pass and is not judged; a
category with nothing judged earns 0 ("not measured"). Category maxima: QUAL 200, PERF 150, STAB 200,
COMP 150, EDGE 150, REGR 150. Penalties: 20 per crashed and 10 per timed-out scenario. MQS =
max(0, round_half_up(Σ categories − penalties)); any failed gateway makes it 0.
Grade on MQS/10: A+ ≥ 97, A ≥ 93, A- ≥ 90, B+ ≥ 87, B ≥ 83, B- ≥ 80, C+ ≥ 77, C ≥ 73, C- ≥ 70, D ≥ 60, F.
Status: BLOCKED when a gateway fails; CERTIFIED at MQS ≥ 900 with every declared cell executed;
PROVISIONAL at MQS ≥ 700; BLOCKED below.
"""

from __future__ import annotations

import math
import re

from aprqa_action.errors import InputError
from aprqa_action.records import CATEGORY_MAX, CategoryScore, EvidenceItem, FailPolicy, Gateway, Observation, Verdict

GRADES = [
    (97, "A+"),
    (93, "A"),
    (90, "A-"),
    (87, "B+"),
    (83, "B"),
    (80, "B-"),
    (77, "C+"),
    (73, "C"),
    (70, "C-"),
    (60, "D"),
    (0, "F"),
]
GRADE_ORDER = [g for _, g in GRADES]
CRASH_PENALTY = 20
GATEWAY = FailPolicy()  # the default --fail-on: the gateways alone decide
TIMEOUT_PENALTY = 10


def grade(mqs: int) -> str:
    return next(g for floor, g in GRADES if mqs / 10 >= floor)


def category_scores(items: list[EvidenceItem]) -> list[CategoryScore]:
    scores = []
    for category, maximum in CATEGORY_MAX.items():
        mine = [i for i in items if i.category == category]
        judged = [i for i in mine if i.outcome != "Skipped"]
        passed = sum(i.outcome == "Corroborated" for i in judged)
        scores.append(
            CategoryScore(
                category=category,  # type: ignore[arg-type]
                max=maximum,
                score=maximum * passed / len(judged) if judged else 0.0,
                passed=passed,
                judged=len(judged),
                skipped=len(mine) - len(judged),
            )
        )
    return scores


def parse_fail_on(policy: str) -> FailPolicy:
    """`gateway`, `grade:<G>`, `mqs:<N>`, `status[:CERTIFIED]`, `executed` or `regression:<pct>` (the last is
    applied with a baseline)."""
    if policy in ("gateway", "executed"):
        return FailPolicy(kind=policy)
    if policy in ("status", "status:CERTIFIED"):  # one spelling each: publish compares the policy as text
        return FailPolicy(kind="status", status="CERTIFIED" if policy.endswith("CERTIFIED") else "PROVISIONAL")
    found = re.fullmatch(r"(grade|mqs):(.+)", policy)
    if found and found.group(1) == "grade" and found.group(2) in GRADE_ORDER:
        return FailPolicy(kind="grade", grade=found.group(2))
    if found and found.group(1) == "mqs" and found.group(2).isdigit() and int(found.group(2)) <= 1000:
        return FailPolicy(kind="mqs", mqs=int(found.group(2)))
    pct = re.fullmatch(r"regression:(\d+(?:\.\d+)?)", policy)
    if pct and 0 < float(pct.group(1)) <= 1000:
        return FailPolicy(kind="regression", regression_pct=float(pct.group(1)))
    raise InputError(
        f"--fail-on {policy!r}: use gateway, grade:<{'|'.join(GRADE_ORDER)}>, mqs:<0..1000>, status, "
        "status:CERTIFIED, executed or regression:<percent>"
    )


def verdict(
    items: list[EvidenceItem],
    observations: list[Observation],
    gates: list[Gateway],
    *,
    all_cells_executed: bool,
    policy: FailPolicy = GATEWAY,
    complete: bool = True,
) -> Verdict:
    categories = category_scores(items)
    raw = sum(c.score for c in categories)
    crashes = sum(o.status == "crashed" for o in observations)
    timeouts = sum(o.status == "timeout" for o in observations)
    penalty = CRASH_PENALTY * crashes + TIMEOUT_PENALTY * timeouts
    gateways_ok = all(g.passed for g in gates)
    mqs = max(0, math.floor(raw - penalty + 0.5)) if gateways_ok else 0
    letter = grade(mqs) if gateways_ok else "F"
    if not gateways_ok:
        status, status_reason = "BLOCKED", "a gateway failed"
    elif mqs >= 900 and all_cells_executed:
        status, status_reason = "CERTIFIED", "MQS ≥ 900 with every declared cell executed"
    elif mqs >= 700:
        status = "PROVISIONAL"
        status_reason = (
            "MQS ≥ 700"
            + ("" if mqs >= 900 else ", < 900")
            + ("" if all_cells_executed else "; not every declared cell was executed")
        )
    else:
        status, status_reason = "BLOCKED", f"MQS {mqs} < 700"

    failed = [g.id for g in gates if not g.passed]
    if failed:
        qualified, why = False, f"gateway {', '.join(failed)} failed"
    elif not complete:
        qualified, why = False, "the run did not complete: not every scenario ran"
    elif policy.grade is not None and GRADE_ORDER.index(letter) > GRADE_ORDER.index(policy.grade):
        qualified, why = False, f"grade {letter} is below the required {policy.grade}"
    elif policy.mqs is not None and mqs < policy.mqs:
        qualified, why = False, f"MQS {mqs} is below the required {policy.mqs}"
    elif policy.status == "CERTIFIED" and status != "CERTIFIED":
        qualified, why = False, f"status {status} ({status_reason}), and the {policy} policy needs CERTIFIED"
    elif policy.kind == "executed" and not all_cells_executed:
        qualified, why = False, "not every declared cell was executed, and the executed policy needs them all"
    elif policy.status is not None and status == "BLOCKED":
        qualified, why = False, f"status BLOCKED ({status_reason}), and the {policy} policy needs at least PROVISIONAL"
    else:
        held = "every gateway passed" + (f" and the {policy} policy held" if policy.kind != "gateway" else "")
        # A lenient policy passes a BLOCKED model: say which policy would not.
        qualified, why = True, held + ("; fail-on: status would fail it" if status == "BLOCKED" else "")
    counts = {
        status: sum(o.status == status for o in observations)
        for status in ("ok", "failed", "crashed", "timeout", "skipped", "not_run")
    }
    return Verdict(
        gateways=gates,
        categories=categories,
        raw_score=round(raw, 3),
        crashes=crashes,
        timeouts=timeouts,
        penalty=penalty,
        mqs=mqs,
        grade=letter,
        status=status,  # type: ignore[arg-type]
        status_reason=status_reason,
        all_cells_executed=all_cells_executed,
        qualified=qualified,
        policy=str(policy),
        policy_reason=why,
        counts=counts,
    )
