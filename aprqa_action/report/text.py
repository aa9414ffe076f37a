"""The verdict as a few lines for a terminal or a CI log."""

from __future__ import annotations

from aprqa_action.oneline import one_line
from aprqa_action.records import Evidence


def format_verdict(evidence: Evidence) -> str:
    """Reasons quote engines and names come from files: each is folded onto its line (see oneline)."""
    v = evidence.verdict
    name = one_line(evidence.playbook.name)
    if v is None:
        return f"{name}: run {evidence.run.state}, not judged yet"
    lines = [
        f"{name}: {one_line(v.headline)} ({one_line(v.policy_reason)}) — "
        f"MQS {v.mqs}/1000, grade {v.grade}, status {v.status} ({one_line(v.status_reason)})"
    ]
    for gate in v.gateways:
        lines.append(f"  {gate.id} {gate.name:10} {'pass' if gate.passed else 'FAIL'}  {one_line(gate.reason)}")
    for c in v.categories:
        shown = f"{c.score:6.1f}/{c.max}  {c.passed}/{c.judged} passed" if c.judged else f"  0.0/{c.max}  not measured"
        lines.append(f"  {c.category:5} {shown}" + (f", {c.skipped} skipped" if c.skipped else ""))
    if v.penalty:
        lines.append(f"  penalty -{v.penalty} ({v.crashes} crash(es) × 20, {v.timeouts} timeout(s) × 10)")
    counted = ", ".join(f"{n} {status}" for status, n in v.counts.items() if n)
    lines.append(f"  scenarios: {counted}; run {evidence.run.state}")
    return "\n".join(lines)
