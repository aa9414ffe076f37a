"""What to publish for a run: the PublishRequest built from evidence.json (or from its absence)."""

from __future__ import annotations

from pathlib import Path

from aprqa_action.github.publish import CommentMode, PublishRequest
from aprqa_action.records import Evidence
from aprqa_action.report import render_comment, render_summary
from aprqa_action.report.escape import inline


def request_from_evidence(
    evidence: Evidence,
    evidence_path: Path,
    *,
    run_url: str | None,
    comment_mode: CommentMode,
    post_status: bool,
    key: str | None = None,
    pr_number: int | None = None,
    comment_author: str | None = None,
    expect_head_sha: str | None = None,
    claim: bool = False,
    templates: Path | None = None,
) -> PublishRequest:
    verdict = evidence.verdict
    if verdict is None:
        raise ValueError(f"{evidence_path}: the run was not judged (state {evidence.run.state})")
    failed = tuple((f"{g.id} {g.name}", g.reason) for g in verdict.gateways if not g.passed)
    if not failed and not verdict.qualified:
        failed = (("policy", verdict.policy_reason),)
    directory = evidence_path.parent
    return PublishRequest(
        playbook=evidence.playbook.name,
        key=key,
        qualified=verdict.qualified,
        mqs=verdict.mqs,
        grade=verdict.grade,
        status=verdict.status,
        summary_markdown=render_summary(evidence, run_url=run_url, claim=claim, templates=templates),
        comment_markdown=render_comment(evidence, run_url=run_url, claim=claim, templates=templates),
        failed_gates=failed,
        evidence_path=str(evidence_path),
        junit_path=str(directory / "junit.xml"),
        summary_path=str(directory / "summary.md"),
        comment_mode=comment_mode,
        post_status=post_status,
        pr_number=pr_number,
        comment_author=comment_author,
        expect_head_sha=expect_head_sha,
        claim=claim,
    )


def request_without_evidence(
    playbook: str,
    problem: str,
    *,
    comment_mode: CommentMode,
    post_status: bool,
    key: str | None = None,
    pr_number: int | None = None,
    comment_author: str | None = None,
    expect_head_sha: str | None = None,
    claim: bool = False,
) -> PublishRequest:
    """The run failed before it could judge (exit 2/3): say so wherever the verdict would have gone. The name
    and the problem may come from an artifact: both are escaped."""
    text = (
        f"## aprqa: {inline(playbook)} — no verdict\n\n"
        f"The qualification run did not produce a verdict: {inline(problem, 2000)}.\n"
    )
    if claim:
        text += "\n> [!CAUTION]\n> **Unverified:** this run was made by code a fork controls.\n"
    return PublishRequest(
        playbook=playbook,
        key=key,
        qualified=False,
        mqs=0,
        grade="F",
        status="BLOCKED",
        summary_markdown=text,
        comment_markdown=text,
        failed_gates=(("run", problem),),
        comment_mode=comment_mode,
        post_status=post_status,
        pr_number=pr_number,
        comment_author=comment_author,
        expect_head_sha=expect_head_sha,
        claim=claim,
        error=problem,
    )
