"""Publish a verdict where developers look: job summary, step outputs, annotations, PR comment, status.

Publishing is best effort: every HTTP or file problem becomes a `degraded` step in the report and a
`::warning`, never an exception, so it can never change the qualification verdict or the exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Literal, TextIO

from pydantic import Field

from aprqa_action.github.annotations import emit_gate_errors
from aprqa_action.github.client import GitHubClient
from aprqa_action.github.commands import WorkflowCommands
from aprqa_action.github.comment import comment_body, marker, upsert_comment
from aprqa_action.github.context import GitHubContext
from aprqa_action.github.errors import AuthError, GitHubError
from aprqa_action.github.outputs import write_outputs
from aprqa_action.github.redact import Redactor
from aprqa_action.github.retry import ClientOptions
from aprqa_action.github.status import commit_state, post_status, status_context, status_description
from aprqa_action.github.summary import append_summary
from aprqa_action.records import Record

CommentMode = Literal["always", "on-failure", "off"]
StepOutcome = Literal["done", "skipped", "degraded"]
WARNING_TITLE = "aprqa publish"


class PublishRequest(Record):
    """What to publish: the verdict's headline and the ready-rendered (already escaped) Markdown."""

    playbook: str = Field(min_length=1)
    key: str | None = None  # a second identity, e.g. a shard-merge id: one comment/status per (playbook, key)
    qualified: bool
    mqs: int = Field(ge=0, le=1000)
    grade: str
    status: str  # CERTIFIED | PROVISIONAL | BLOCKED
    summary_markdown: str
    comment_markdown: str
    failed_gates: tuple[tuple[str, str], ...] = ()  # (gate id, reason)
    evidence_path: str = ""
    junit_path: str = ""
    summary_path: str = ""
    comment_mode: CommentMode = "always"
    post_status: bool = True
    pr_number: int | None = Field(default=None, ge=1)  # overrides the event (workflow_run for fork PRs)
    error: str | None = None  # the run could not judge (infrastructure): commit status `error`
    comment_author: str | None = None  # a login whose comments are ours too (a GitHub App's `name[bot]`)
    # The qualified commit: publish nothing unless PR `pr_number`'s head is this commit (a PR number read
    # from a fork's artifact is the fork's claim, not a fact). Under workflow_run: the event's head_sha.
    expect_head_sha: str | None = None
    # Made by code a fork controls (GitHubContext.claim): the status goes to `aprqa/<playbook> (fork)` and
    # says "unverified"; the Markdown says so too (rendered with claim=True).
    claim: bool = False


class StepResult(Record):
    outcome: StepOutcome
    detail: str = ""


class CommentResult(StepResult):
    action: Literal["created", "updated", "none"] = "none"
    comment_id: int | None = None
    url: str | None = None
    truncated: bool = False


class PublishReport(Record):
    summary: StepResult
    summary_truncated: bool = False
    outputs: StepResult
    annotations: int = 0
    comment: CommentResult
    status: StepResult
    notes: tuple[str, ...] = ()  # context problems, retries, duplicate clean-up

    @property
    def degraded(self) -> list[tuple[str, str]]:
        steps: dict[str, StepResult] = {
            "summary": self.summary,
            "outputs": self.outputs,
            "comment": self.comment,
            "status": self.status,
        }
        return [(name, step.detail) for name, step in steps.items() if step.outcome == "degraded"]

    def lines(self) -> list[str]:
        """One human-readable line per step, for the CLI."""
        return [
            f"summary: {self.summary.outcome} {self.summary.detail}"
            + (" (truncated)" if self.summary_truncated else ""),
            f"outputs: {self.outputs.outcome} {self.outputs.detail}",
            f"annotations: {self.annotations}",
            f"comment: {self.comment.outcome} {self.comment.detail}",
            f"status: {self.status.outcome} {self.status.detail}",
            *self.notes,
        ]


def _done(detail: str = "") -> StepResult:
    return StepResult(outcome="done", detail=detail)


def _skipped(detail: str) -> StepResult:
    return StepResult(outcome="skipped", detail=detail)


def _degraded(detail: str) -> StepResult:
    return StepResult(outcome="degraded", detail=detail)


def _describe(error: GitHubError) -> str:
    if isinstance(error, AuthError) and error.status == 403:
        return (
            f"the token may not write here ({error}); a fork PR gets a read-only token: publish from a "
            "workflow_run workflow, or grant `pull-requests: write` / `statuses: write`"
        )
    return str(error)


def publish(
    request: PublishRequest,
    env: Mapping[str, str] | None = None,
    token: str | None = None,
    *,
    options: ClientOptions | None = None,
    stream: TextIO | None = None,
) -> PublishReport:
    """Publish `request`; `token` overrides GITHUB_TOKEN, `stream` receives workflow commands (stdout)."""
    env = os.environ if env is None else env
    out = sys.stdout if stream is None else stream
    secret = (token if token is not None else env.get("GITHUB_TOKEN", "")).strip() or None
    redact = Redactor(secret)
    commands = WorkflowCommands(out, redact)
    if secret and env.get("GITHUB_ACTIONS") == "true":
        # Only the runner hides this line; elsewhere printing it would leak the token to the terminal.
        commands.add_mask(secret)
    ctx = GitHubContext.from_env(env, pr_number=request.pr_number)
    notes = list(ctx.problems)

    summary, truncated = _summary(request, ctx, redact)
    outputs = _outputs(request, ctx, redact)
    annotations = emit_gate_errors(commands, request.playbook, request.failed_gates)
    comment, status = _remote(request, ctx, secret, options, notes)

    report = PublishReport(
        summary=summary,
        summary_truncated=truncated,
        outputs=outputs,
        annotations=annotations,
        comment=comment,
        status=status,
        notes=tuple(redact(note) for note in notes),
    )
    for name, detail in report.degraded:
        commands.warning(f"{name} not published: {detail}", title=WARNING_TITLE)
    for problem in ctx.problems:
        commands.warning(problem, title=WARNING_TITLE)
    return report


def _full_report(request: PublishRequest, ctx: GitHubContext) -> str:
    where = f"`{request.summary_path}`" if request.summary_path else "summary.md"
    run = f" ([workflow run]({ctx.run_url}))" if ctx.run_url else ""
    return f"{where} in the output directory of this run{run} (upload it as an artifact to keep it)"


def _summary(request: PublishRequest, ctx: GitHubContext, redact: Redactor) -> tuple[StepResult, bool]:
    if ctx.step_summary is None:
        return _skipped("GITHUB_STEP_SUMMARY is not set"), False
    try:
        markdown = redact(request.summary_markdown)
        truncated = append_summary(ctx.step_summary, markdown, _full_report(request, ctx))
    except OSError as exc:
        return _degraded(redact(f"cannot write {ctx.step_summary}: {exc}")), False
    return _done(str(ctx.step_summary)), truncated


def _outputs(request: PublishRequest, ctx: GitHubContext, redact: Redactor) -> StepResult:
    if ctx.output is None:
        return _skipped("GITHUB_OUTPUT is not set")
    # No verdict (the run could not judge): ERROR, and no score a later step could mistake for a bad model's.
    judged = request.error is None
    values = {
        "verdict": ("QUALIFIED" if request.qualified else "NOT_QUALIFIED") if judged else "ERROR",
        "mqs": str(request.mqs) if judged else "",
        "grade": request.grade if judged else "",
        "status": request.status if judged else "",
        "qualified": "true" if request.qualified else "false",
        "evidence": request.evidence_path,
        "junit": request.junit_path,
        "summary": request.summary_path,
    }
    try:
        write_outputs(ctx.output, {name: redact(value) for name, value in values.items()})
    except OSError as exc:
        return _degraded(redact(f"cannot write {ctx.output}: {exc}"))
    return _done(", ".join(values))


def _remote(
    request: PublishRequest,
    ctx: GitHubContext,
    token: str | None,
    options: ClientOptions | None,
    notes: list[str],
) -> tuple[CommentResult, StepResult]:
    comment_wanted = request.comment_mode != "off"
    comment: CommentResult | None = None
    status: StepResult | None = None
    if not comment_wanted:
        comment = CommentResult(outcome="skipped", detail="comment mode is off")
    elif ctx.pr_number is None:
        comment = CommentResult(
            outcome="skipped", detail="not a pull request (for workflow_run, pass the PR number explicitly)"
        )
    if not request.post_status:
        status = _skipped("commit status disabled")
    elif ctx.sha is None:
        status = _degraded("no commit sha (GITHUB_SHA is not set)")

    missing = None
    if ctx.repository is None:
        missing = "GITHUB_REPOSITORY is not set"
    elif token is None:
        missing = "no GitHub token (GITHUB_TOKEN is not set and none was given)"
    if missing:
        comment = comment or CommentResult(outcome="degraded", detail=missing)
        status = status or _degraded(missing)
    if comment is not None and status is not None:
        return comment, status

    assert ctx.repository is not None and token is not None
    redact = Redactor(token)
    # workflow_run: the PR number may be the fork's word, so its head must be the commit the run qualified.
    expected = request.expect_head_sha or (ctx.sha if ctx.event_name == "workflow_run" else None)
    with GitHubClient(ctx.api_url, token, options=options) as client:
        refused = _verify_head(client, expected, ctx, ctx.repository) if expected else None
        if refused:
            refused = redact(refused)
            comment = comment or CommentResult(outcome="degraded", detail=refused)
            status = status or _degraded(refused)
        if comment is None:
            comment = _comment(client, request, ctx, ctx.repository, redact, notes)
        if status is None:
            status = _status(client, request, ctx, ctx.repository, redact)
        notes.extend(client.log)
    return comment, status


def _verify_head(client: GitHubClient, expected: str, ctx: GitHubContext, repository: str) -> str | None:
    """None when the PR's head (and the commit to status) is the expected commit, else why not: then nothing
    goes to the PR, since its number may have been forged."""
    expected = expected.strip().lower()
    if ctx.sha is not None and ctx.sha.lower() != expected:
        return f"the commit to status ({ctx.sha}) is not the expected head {expected}"
    if ctx.pr_number is None:
        return None
    try:
        data = client.get(f"/repos/{repository}/pulls/{ctx.pr_number}")
    except GitHubError as exc:
        return f"cannot check the head commit of PR #{ctx.pr_number}: {_describe(exc)}"
    head = data.get("head") if isinstance(data, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    if not isinstance(sha, str) or sha.lower() != expected:
        return (
            f"PR #{ctx.pr_number}'s head is {sha or 'unknown'}, not the qualified commit {expected}: "
            "the PR number does not belong to this run (or the PR has moved on)"
        )
    return None


def _comment(
    client: GitHubClient,
    request: PublishRequest,
    ctx: GitHubContext,
    repository: str,
    redact: Redactor,
    notes: list[str],
) -> CommentResult:
    assert ctx.pr_number is not None
    mark = marker(request.playbook, request.key)
    body, truncated = comment_body(mark, redact(request.comment_markdown), ctx.run_url)
    # on-failure: post only for a failed verdict, but still refresh an earlier comment so it is never stale.
    create = request.comment_mode == "always" or not request.qualified
    try:
        outcome = upsert_comment(
            client, repository, ctx.pr_number, mark, body, create=create, author=request.comment_author
        )
    except GitHubError as exc:
        return CommentResult(outcome="degraded", detail=redact(_describe(exc)))
    notes.extend(redact(note) for note in outcome.notes)
    if outcome.action == "skipped":
        detail = "qualified, comment mode on-failure, no earlier comment"
        return CommentResult(outcome="skipped", detail=detail)
    return CommentResult(
        outcome="done",
        detail=f"{outcome.action} comment {outcome.comment_id} on PR #{ctx.pr_number}",
        action=outcome.action,
        comment_id=outcome.comment_id,
        url=outcome.url,
        truncated=truncated,
    )


def _status(
    client: GitHubClient, request: PublishRequest, ctx: GitHubContext, repository: str, redact: Redactor
) -> StepResult:
    assert ctx.sha is not None
    state = commit_state(request.qualified, request.error)
    claim = request.claim or ctx.claim  # the event decides too, whatever the caller rendered
    context = status_context(request.playbook, request.key, claim)
    description = status_description(request.mqs, request.grade, request.status, request.error, claim)
    try:
        post_status(
            client,
            repository,
            ctx.sha,
            state=state,
            context=context,
            description=redact(description),
            target_url=ctx.run_url,
        )
    except GitHubError as exc:
        return _degraded(redact(_describe(exc)))
    return _done(f"{context} = {state} on {ctx.sha}")
