"""The verdict as a few lines for a terminal or a CI log."""

from __future__ import annotations

from aprqa_action.evidence import Evidence


def format_verdict(evidence: Evidence) -> str:
    v = evidence.verdict
    if v is None:
        return f"{evidence.playbook.name}: run {evidence.run.state}, not judged yet"
    lines = [
        f"{evidence.playbook.name}: {'QUALIFIED' if v.qualified else 'NOT QUALIFIED'} ({v.policy_reason}) — "
        f"MQS {v.mqs}/1000, grade {v.grade}, status {v.status} ({v.status_reason})"
    ]
    for gate in v.gateways:
        lines.append(f"  {gate.id} {gate.name:10} {'pass' if gate.passed else 'FAIL'}  {gate.reason}")
    for c in v.categories:
        shown = f"{c.score:6.1f}/{c.max}  {c.passed}/{c.judged} passed" if c.judged else f"  0.0/{c.max}  not measured"
        lines.append(f"  {c.category:5} {shown}" + (f", {c.skipped} skipped" if c.skipped else ""))
    if v.penalty:
        lines.append(f"  penalty -{v.penalty} ({v.crashes} crash(es) × 20, {v.timeouts} timeout(s) × 10)")
    counted = ", ".join(f"{n} {status}" for status, n in v.counts.items() if n)
    lines.append(f"  scenarios: {counted}; run {evidence.run.state}")
    return "\n".join(lines)
