"""publish() end to end against the local GitHub API server: one comment, the right status, or a
documented degradation — and never an exception."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_api_server import (
    BAD_GATEWAY,
    HEAD_SHA,
    MERGE_SHA,
    PAT,
    PAT_LOGIN,
    PR,
    READ_ONLY_TOKEN,
    REPO,
    RUN_URL,
    SECONDARY_LIMIT,
    TOKEN,
    FakeGitHub,
    FakeTime,
    actions_env,
    parse_github_output,
    running,
)

from aprqa_action.github import PublishReport, PublishRequest, publish
from aprqa_action.github.comment import marker
from aprqa_action.github.from_evidence import request_without_evidence
from aprqa_action.github.retry import ClientOptions

PLAYBOOK = "qwen2.5-coder-1.5b-ci"
MARK = marker(PLAYBOOK)
COMMENTS = r"/issues/\d+/comments$"
COMMENT = r"/issues/comments/\d+$"
STATUSES = r"/statuses/"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with running() as server:
        yield server


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def verdict(**overrides: Any) -> PublishRequest:
    fields: dict[str, Any] = {
        "playbook": PLAYBOOK,
        "qualified": True,
        "mqs": 912,
        "grade": "A-",
        "status": "CERTIFIED",
        "summary_markdown": "# aprqa: qwen2.5-coder-1.5b-ci\n\nMQS **912** (A-)\n",
        "comment_markdown": "## aprqa verdict\n\nMQS **912** (A-), CERTIFIED\n",
        "evidence_path": "aprqa-out/evidence.json",
        "junit_path": "aprqa-out/junit.xml",
        "summary_path": "aprqa-out/summary.md",
    }
    return PublishRequest(**{**fields, **overrides})


def failing(**overrides: Any) -> PublishRequest:
    base: dict[str, Any] = {
        "qualified": False,
        "mqs": 0,
        "grade": "F",
        "status": "BLOCKED",
        "failed_gates": (("G4-QUALITY", "3/3 cells failed the arithmetic oracle"),),
        "comment_markdown": "## aprqa verdict\n\nBLOCKED\n",
    }
    return verdict(**{**base, **overrides})


def run(
    gh: FakeGitHub,
    tmp_path: Path,
    request: PublishRequest,
    clock: FakeTime | None = None,
    *,
    env: dict[str, str] | None = None,
    **options: Any,
) -> tuple[PublishReport, str]:
    """publish() with instant waits; returns the report and what it printed (workflow commands)."""
    clock = clock or FakeTime()
    out = io.StringIO()
    report = publish(
        request,
        env if env is not None else actions_env(tmp_path, gh.url),
        options=ClientOptions(min_write_interval=0, sleep=clock.sleep, clock=clock.clock, now=clock.now, **options),
        stream=out,
    )
    return report, out.getvalue()


def ours(gh: FakeGitHub, issue: int = PR) -> list[dict[str, Any]]:
    return [c for c in gh.issue_comments(REPO, issue) if c["body"].startswith("<!-- aprqa:")]


def writes(gh: FakeGitHub) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in gh.requests if r.method != "GET"]


def assert_published(
    gh: FakeGitHub, report: PublishReport, state: str = "success", context: str = f"aprqa/{PLAYBOOK}"
) -> dict[str, Any]:
    """Exactly one comment from us and one status on the PR head; returns the comment."""
    [comment] = ours(gh)
    assert comment["body"].startswith(MARK + "\n")
    [status] = gh.commit_statuses(REPO, HEAD_SHA)
    assert (status["state"], status["context"], status["target_url"]) == (state, context, RUN_URL)
    assert gh.commit_statuses(REPO, MERGE_SHA) == []
    assert report.comment.outcome == report.status.outcome == "done"
    assert report.comment.comment_id == comment["id"]
    return comment


def test_first_publish_creates_the_comment_and_the_status(gh: FakeGitHub, tmp_path: Path) -> None:
    report, printed = run(gh, tmp_path, verdict())

    comment = assert_published(gh, report)
    assert comment["body"] == MARK + "\n" + verdict().comment_markdown
    assert report.comment.action == "created"
    [status] = gh.commit_statuses(REPO, HEAD_SHA)
    assert status["description"] == "MQS 912/1000 · grade A- · CERTIFIED"
    assert (tmp_path / "step_summary.md").read_text() == verdict().summary_markdown
    assert report.degraded == [] and "::warning" not in printed and "::error" not in printed
    # Serial and well-formed: list, create, status — with GitHub's media type and API version.
    assert [(r.method, r.path.split("?")[0]) for r in gh.requests] == [
        ("GET", f"/repos/{REPO}/issues/{PR}/comments"),
        ("POST", f"/repos/{REPO}/issues/{PR}/comments"),
        ("POST", f"/repos/{REPO}/statuses/{HEAD_SHA}"),
    ]
    assert "per_page=100" in gh.requests[0].path
    assert all(r.headers["Accept"] == "application/vnd.github+json" for r in gh.requests)
    assert all(r.headers["X-GitHub-Api-Version"] == "2022-11-28" for r in gh.requests)


def test_a_second_publish_updates_instead_of_creating(gh: FakeGitHub, tmp_path: Path) -> None:
    first, _ = run(gh, tmp_path, failing())
    second, _ = run(gh, tmp_path, verdict())

    [comment] = ours(gh)
    assert (first.comment.action, second.comment.action) == ("created", "updated")
    assert first.comment.comment_id == second.comment.comment_id == comment["id"]
    assert "MQS **912**" in comment["body"]
    # The latest status per context is what GitHub shows: the second one.
    assert [s["state"] for s in gh.commit_statuses(REPO, HEAD_SHA)] == ["failure", "success"]


def test_two_playbooks_and_two_keys_get_their_own_comments(gh: FakeGitHub, tmp_path: Path) -> None:
    run(gh, tmp_path, verdict())
    run(gh, tmp_path, verdict(playbook="gemma-270m-smoke"))
    run(gh, tmp_path, verdict(key="merge-1"))
    run(gh, tmp_path, verdict(playbook="gemma-270m-smoke"))  # again: updates, no fourth comment

    bodies = [c["body"].split("\n", 1)[0] for c in ours(gh)]
    assert bodies == [MARK, marker("gemma-270m-smoke"), marker(PLAYBOOK, "merge-1")]
    contexts = {s["context"] for s in gh.commit_statuses(REPO, HEAD_SHA)}
    assert contexts == {f"aprqa/{PLAYBOOK}", "aprqa/gemma-270m-smoke", f"aprqa/{PLAYBOOK}:merge-1"}


def test_our_comment_on_page_3_of_300_is_updated_not_duplicated(gh: FakeGitHub, tmp_path: Path) -> None:
    for index in range(250):
        gh.add_comment(REPO, PR, f"LGTM {index}")
    mine = gh.add_comment(REPO, PR, MARK + "\nold verdict", login="github-actions[bot]")
    for index in range(48):
        gh.add_comment(REPO, PR, f"nit {index}")
    # A reply quoting our comment carries the marker too, but is not ours.
    gh.add_comment(REPO, PR, "> " + MARK + "\n> old verdict\n\nwhy did it pass?")

    report, _ = run(gh, tmp_path, verdict())

    assert report.comment.action == "updated" and report.comment.comment_id == mine["id"]
    assert len(gh.issue_comments(REPO, PR)) == 300
    assert [c["id"] for c in ours(gh)] == [mine["id"]]
    assert "MQS **912**" in ours(gh)[0]["body"]
    listed = [r.path for r in gh.requests if r.method == "GET"]
    assert len(listed) == 3 and "page=3" in listed[2]
    assert writes(gh) == [
        ("PATCH", f"/repos/{REPO}/issues/comments/{mine['id']}"),
        ("POST", f"/repos/{REPO}/statuses/{HEAD_SHA}"),
    ]


def test_duplicates_from_concurrent_runs_are_removed(gh: FakeGitHub, tmp_path: Path) -> None:
    first = gh.add_comment(REPO, PR, MARK + "\nrun A", login="github-actions[bot]")
    gh.add_comment(REPO, PR, MARK + "\nrun B", login="github-actions[bot]")

    report, _ = run(gh, tmp_path, verdict())

    assert [c["id"] for c in ours(gh)] == [first["id"]]
    assert report.comment.action == "updated"
    assert any("deleted duplicate" in note for note in report.notes)


def test_502_then_success_is_retried_with_real_short_backoff(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.inject("GET", COMMENTS, 502, body=BAD_GATEWAY)
    gh.inject("POST", COMMENTS, 502, body=BAD_GATEWAY)
    gh.inject("POST", STATUSES, 503, times=2)
    out = io.StringIO()

    report = publish(
        verdict(),
        actions_env(tmp_path, gh.url),
        options=ClientOptions(min_write_interval=0, backoff=0.001, max_wait=0.004),
        stream=out,
    )

    assert_published(gh, report)
    assert gh.pending_faults() == 0
    assert len(report.notes) == 4 and all("retrying" in note for note in report.notes)


def test_429_honours_retry_after(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    gh.inject("POST", COMMENTS, 429, headers={"Retry-After": "1"}, body={"message": "Too many requests"})

    report, _ = run(gh, tmp_path, verdict(), clock)

    assert_published(gh, report)
    assert clock.sleeps == [1.0]


def test_403_secondary_rate_limit_honours_retry_after(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    gh.inject("POST", STATUSES, 403, headers={"retry-after": "2"}, body=SECONDARY_LIMIT)

    report, _ = run(gh, tmp_path, verdict(), clock)

    assert_published(gh, report)
    assert clock.sleeps == [2.0]


def test_403_secondary_limit_without_retry_after_waits_a_minute(
    gh: FakeGitHub, tmp_path: Path, clock: FakeTime
) -> None:
    gh.inject("POST", COMMENTS, 403, body=SECONDARY_LIMIT)

    report, _ = run(gh, tmp_path, verdict(), clock)

    assert_published(gh, report)
    assert clock.sleeps == [60.0]


def test_exhausted_quota_waits_until_x_ratelimit_reset(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    reset = int(clock.now()) + 7
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    gh.inject("GET", COMMENTS, 403, headers=headers, body={"message": "API rate limit exceeded"})

    report, _ = run(gh, tmp_path, verdict(), clock)

    assert_published(gh, report)
    assert clock.sleeps == [7.0]


def test_a_wait_longer_than_the_cap_is_not_attempted(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    gh.inject("POST", STATUSES, 429, headers={"Retry-After": "3600"}, body={"message": "slow down"})

    report, printed = run(gh, tmp_path, verdict(), clock)

    assert len(ours(gh)) == 1 and gh.commit_statuses(REPO, HEAD_SHA) == []
    assert clock.sleeps == []
    assert report.status.outcome == "degraded" and "3600 s" in report.status.detail
    assert "::warning title=aprqa publish::status not published" in printed


def test_persistent_5xx_gives_up_after_bounded_attempts(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    gh.inject("POST", STATUSES, 502, body=BAD_GATEWAY, times=10)

    report, printed = run(gh, tmp_path, verdict(), clock, max_attempts=5, backoff=1, max_wait=60)

    assert [r.method for r in gh.requests if "/statuses/" in r.path] == ["POST"] * 5
    assert clock.sleeps == [1, 2, 4, 8]  # exponential backoff between the 5 attempts
    assert report.status.outcome == "degraded" and "gave up after 5 attempts" in report.status.detail
    assert len(ours(gh)) == 1 and report.comment.outcome == "done"
    assert "::warning" in printed


def test_404_on_patch_falls_back_to_create(gh: FakeGitHub, tmp_path: Path) -> None:
    old = gh.add_comment(REPO, PR, MARK + "\nold verdict", login="github-actions[bot]")
    gh.inject("PATCH", COMMENT, vanish=True)  # someone deletes it between our listing and our update

    report, _ = run(gh, tmp_path, verdict())

    comment = assert_published(gh, report)
    assert comment["id"] != old["id"] and report.comment.action == "created"
    assert [m for m, _ in writes(gh)] == ["PATCH", "POST", "POST"]


def test_read_only_token_degrades_to_summary_and_warning(gh: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(tmp_path, gh.url, token=READ_ONLY_TOKEN)

    report, printed = run(gh, tmp_path, failing(), env=env)

    assert gh.issue_comments(REPO, PR) == [] and gh.commit_statuses(REPO, HEAD_SHA) == []
    assert report.summary.outcome == "done" and (tmp_path / "step_summary.md").read_text()
    assert report.outputs.outcome == "done"
    assert [name for name, _ in report.degraded] == ["comment", "status"]
    assert all("Resource not accessible by integration" in detail for _, detail in report.degraded)
    assert "workflow_run" in report.comment.detail
    warnings = [line for line in printed.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 2
    assert "::error title=aprqa qwen2.5-coder-1.5b-ci%3A G4-QUALITY::" in printed  # the verdict still shows
    # A plain 403 is not retried.
    assert [r.method for r in gh.requests].count("POST") == 2


def test_missing_token_degrades_without_any_request(gh: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(tmp_path, gh.url, token=None)

    report, printed = run(gh, tmp_path, verdict(), env=env)

    assert gh.requests == []
    assert report.summary.outcome == "done" and report.outputs.outcome == "done"
    assert [name for name, _ in report.degraded] == ["comment", "status"]
    assert "no GitHub token" in report.comment.detail
    assert printed.count("::warning title=aprqa publish::") == 2
    assert "::add-mask::" not in printed


def test_on_failure_mode(gh: FakeGitHub, tmp_path: Path) -> None:
    passed, _ = run(gh, tmp_path, verdict(comment_mode="on-failure"))
    assert passed.comment.outcome == "skipped" and ours(gh) == []
    assert len(gh.commit_statuses(REPO, HEAD_SHA)) == 1

    failed, _ = run(gh, tmp_path, failing(comment_mode="on-failure"))
    assert failed.comment.action == "created" and "BLOCKED" in ours(gh)[0]["body"]

    # Passing again: the earlier failure comment must not stay stale.
    fixed, _ = run(gh, tmp_path, verdict(comment_mode="on-failure"))
    assert fixed.comment.action == "updated"
    [comment] = ours(gh)
    assert "CERTIFIED" in comment["body"]


def test_off_mode_and_no_status_touch_nothing(gh: FakeGitHub, tmp_path: Path) -> None:
    report, _ = run(gh, tmp_path, verdict(comment_mode="off", post_status=False))

    assert gh.requests == []
    assert (report.comment.outcome, report.status.outcome) == ("skipped", "skipped")
    assert report.summary.outcome == "done"


def test_push_event_posts_the_status_on_github_sha_and_no_comment(gh: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(tmp_path, gh.url, event_name="push", event={"ref": "refs/heads/main"})

    report, _ = run(gh, tmp_path, verdict(), env=env)

    assert report.comment.outcome == "skipped" and gh.issue_comments(REPO, PR) == []
    assert [s["state"] for s in gh.commit_statuses(REPO, MERGE_SHA)] == ["success"]


def test_workflow_run_for_a_fork_takes_the_pr_number_from_the_request(gh: FakeGitHub, tmp_path: Path) -> None:
    # workflow_run.pull_requests is empty for fork PRs; the number travels in the evidence artifact, and is
    # checked against the event's head_sha (the default expectation under workflow_run).
    event = {"workflow_run": {"id": 99, "head_sha": HEAD_SHA, "pull_requests": []}}
    env = actions_env(tmp_path, gh.url, event_name="workflow_run", event=event)
    gh.add_pull(REPO, PR, HEAD_SHA)

    report, _ = run(gh, tmp_path, verdict(pr_number=PR), env=env)

    # no head repository in the event: a fork's, so its own status context and the unverified wording
    assert_published(gh, report, context=f"aprqa/{PLAYBOOK} (fork)")
    [status] = gh.commit_statuses(REPO, HEAD_SHA)
    assert status["description"].startswith("unverified fork claim: ")


def test_an_infrastructure_error_posts_an_error_status(gh: FakeGitHub, tmp_path: Path) -> None:
    report, _ = run(gh, tmp_path, failing(error="engine binary `apr` not found on PATH"))

    [status] = gh.commit_statuses(REPO, HEAD_SHA)
    assert status["state"] == "error" and status["description"].startswith("error: engine binary")
    assert report.status.outcome == "done"


def test_comment_is_kept_under_65536_characters(gh: FakeGitHub, tmp_path: Path) -> None:
    rows = "".join(f"| cell {i:05d} | {'x' * 60} |\n" for i in range(2000))  # ~140,000 characters
    markdown = f"## aprqa verdict\n\n<details><summary>cells</summary>\n\n```text\n{rows}```\n</details>\n"

    report, _ = run(gh, tmp_path, verdict(comment_markdown=markdown))

    body = assert_published(gh, report)["body"]
    assert len(body) <= 65_536 and report.comment.truncated
    assert body.startswith(MARK + "\n## aprqa verdict\n")
    kept, note = body.split("\n---\n> [!WARNING]\n")
    assert kept.endswith("|\n```\n</details>\n")  # the fence and <details> are closed before the note
    assert f"[the workflow run]({RUN_URL})" in note and "65,536" in note
    for line in kept.splitlines()[6:-2]:  # only whole rows survive
        assert line.startswith("| cell ") and line.endswith(" |")


def test_step_summary_is_kept_under_1_mib(gh: FakeGitHub, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("written earlier in this step\n")  # the limit is per step: it counts
    markdown = "# aprqa\n" + "".join(f"- scenario {i} ✓ {'é' * 40}\n" for i in range(20_000))  # ~1.9 MB

    report, _ = run(gh, tmp_path, verdict(summary_markdown=markdown))

    data = summary.read_bytes()
    assert len(data) <= 1024 * 1024 and report.summary_truncated
    text = data.decode("utf-8")
    assert text.startswith("written earlier in this step\n# aprqa\n")
    kept, note = text.split("\n> [!WARNING]\n")
    assert kept.endswith("\n") and kept.splitlines()[-1].startswith("- scenario ")
    assert "1 MiB" in note and "`aprqa-out/summary.md`" in note and RUN_URL in note


def test_outputs_are_written_and_parse_back(gh: FakeGitHub, tmp_path: Path) -> None:
    run(gh, tmp_path, failing(summary_path="out/summary\nwith a newline.md"))

    outputs = parse_github_output((tmp_path / "github_output").read_text())

    assert outputs == {
        "verdict": "NOT_QUALIFIED",
        "mqs": "0",
        "grade": "F",
        "status": "BLOCKED",
        "qualified": "false",
        "evidence": "aprqa-out/evidence.json",
        "junit": "aprqa-out/junit.xml",
        "summary": "out/summary\nwith a newline.md",
    }


def test_no_verdict_is_verdict_error_with_no_score(gh: FakeGitHub, tmp_path: Path) -> None:
    request = request_without_evidence("p", "aprqa run exited 3", comment_mode="off", post_status=False)
    run(gh, tmp_path, request)

    outputs = parse_github_output((tmp_path / "github_output").read_text())
    assert {k: outputs[k] for k in ("verdict", "mqs", "grade", "status", "qualified")} == {
        "verdict": "ERROR",
        "mqs": "",
        "grade": "",
        "status": "",
        "qualified": "false",
    }


def test_failed_gates_become_at_most_ten_error_annotations(gh: FakeGitHub, tmp_path: Path) -> None:
    gates = tuple((f"F-QUAL-{i:02d}", f"cell {i} failed") for i in range(14))

    report, printed = run(gh, tmp_path, failing(failed_gates=gates))

    errors = [line for line in printed.splitlines() if line.startswith("::error")]
    assert len(errors) == report.annotations == 10
    assert errors[0] == "::error title=aprqa qwen2.5-coder-1.5b-ci%3A F-QUAL-00::cell 0 failed"
    assert errors[-1].startswith("::error title=aprqa qwen2.5-coder-1.5b-ci%3A 5 more failed gates::")


def test_the_token_appears_nowhere_but_the_authorization_header(
    gh: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Worst case: the token leaked into the rendered Markdown and an error message echoes it back.
    leak = f"printed by the engine: {TOKEN}"
    gh.inject("POST", STATUSES, 422, body={"message": f"Validation Failed for {TOKEN}"})
    request = failing(
        summary_markdown=f"# summary\n{leak}\n",
        comment_markdown=f"## comment\n{leak}\n",
        failed_gates=(("G2-INFERENCE", leak),),
    )
    env = actions_env(tmp_path, gh.url)

    report = publish(request, env, options=ClientOptions(min_write_interval=0))  # prints to real stdout
    captured = capsys.readouterr()

    # In Actions the token is masked first; that line is the only place it is printed (the runner hides it).
    assert captured.out.splitlines()[0] == f"::add-mask::{TOKEN}"
    rest = "\n".join(captured.out.splitlines()[1:])
    assert report.status.outcome == "degraded" and "***" in report.status.detail
    places = {
        "stdout": rest,
        "stderr": captured.err,
        "outputs": (tmp_path / "github_output").read_text(),
        "summary": (tmp_path / "step_summary.md").read_text(),
        "comments": json.dumps(gh.issue_comments(REPO, PR)),
        "report": report.model_dump_json() + "\n".join(report.lines()),
    }
    for request_seen in gh.requests:
        places[f"{request_seen.method} {request_seen.path}"] = request_seen.path + request_seen.body
        others = {k: v for k, v in request_seen.headers.items() if k.lower() != "authorization"}
        places[f"headers of {request_seen.path}"] = json.dumps(others)
        assert request_seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert [name for name, text in places.items() if TOKEN in text] == []
    assert "***" in places["comments"] and "***" in places["summary"]


def test_outside_actions_the_token_is_not_even_masked_on_stdout(gh: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(tmp_path, gh.url, GITHUB_ACTIONS="")

    report, printed = run(gh, tmp_path, verdict(), env=env)

    assert_published(gh, report)
    assert TOKEN not in printed and "::add-mask::" not in printed


def test_an_explicit_token_wins_over_the_environment(gh: FakeGitHub, tmp_path: Path) -> None:
    env = actions_env(tmp_path, gh.url, token=READ_ONLY_TOKEN)
    out = io.StringIO()

    report = publish(verdict(), env, TOKEN, options=ClientOptions(min_write_interval=0), stream=out)

    assert_published(gh, report)
    assert {r.headers["Authorization"] for r in gh.requests} == {f"Bearer {TOKEN}"}


def test_an_unreachable_api_degrades_without_raising(tmp_path: Path) -> None:
    with running() as server:
        url = server.url
    # The server is gone: connections are refused.
    env = actions_env(tmp_path, url, GITHUB_ACTIONS="")
    out = io.StringIO()

    report = publish(
        verdict(), env, options=ClientOptions(min_write_interval=0, backoff=0.001, max_wait=0.002), stream=out
    )

    assert [name for name, _ in report.degraded] == ["comment", "status"]
    assert "ConnectionError" in report.comment.detail and "gave up after 5 attempts" in report.comment.detail
    assert TOKEN not in out.getvalue() + report.model_dump_json()


# -- whose comment is ours -------------------------------------------------------------------------------


def test_a_marker_comment_by_someone_else_is_never_edited_nor_deleted(gh: FakeGitHub, tmp_path: Path) -> None:
    # mallory copies our hidden marker into her own comment, before and after ours.
    forged = gh.add_comment(REPO, PR, MARK + "\nQUALIFIED, trust me", login="mallory")
    mine = gh.add_comment(REPO, PR, MARK + "\nold verdict", login="github-actions[bot]")
    later = gh.add_comment(REPO, PR, MARK + "\nanother forgery", login="mallory")

    report, _ = run(gh, tmp_path, failing())

    bodies = {c["id"]: c["body"] for c in gh.issue_comments(REPO, PR)}
    assert bodies[forged["id"]] == MARK + "\nQUALIFIED, trust me"  # untouched
    assert bodies[later["id"]] == MARK + "\nanother forgery"  # not deleted as a "duplicate"
    assert "BLOCKED" in bodies[mine["id"]] and len(bodies) == 3
    assert report.comment.action == "updated" and report.comment.comment_id == mine["id"]
    assert writes(gh) == [
        ("PATCH", f"/repos/{REPO}/issues/comments/{mine['id']}"),
        ("POST", f"/repos/{REPO}/statuses/{HEAD_SHA}"),
    ]
    # GITHUB_TOKEN is no user: GET /user (asked once, for the foreign comments) answers 403 and changes nothing.
    assert [r.path for r in gh.requests if r.path.startswith("/user")] == ["/user"]
    assert any("by other authors alone: mallory" in note for note in report.notes)


def test_only_a_forged_marker_comment_means_we_create_our_own(gh: FakeGitHub, tmp_path: Path) -> None:
    forged = gh.add_comment(REPO, PR, MARK + "\nQUALIFIED, trust me", login="mallory")

    report, _ = run(gh, tmp_path, failing())

    assert report.comment.action == "created"
    [first, second] = gh.issue_comments(REPO, PR)
    assert first == forged
    assert second["user"]["login"] == "github-actions[bot]" and "BLOCKED" in second["body"]


def test_a_personal_access_token_owns_its_users_comments(tmp_path: Path) -> None:
    with running() as gh:
        mine = gh.add_comment(REPO, PR, MARK + "\nold verdict", login=PAT_LOGIN)
        forged = gh.add_comment(REPO, PR, MARK + "\nforged", login="mallory")
        env = actions_env(tmp_path, gh.url, token=PAT)

        report, _ = run(gh, tmp_path, verdict(), env=env)

        assert report.comment.action == "updated" and report.comment.comment_id == mine["id"]
        assert [c["body"] for c in gh.issue_comments(REPO, PR)] == [
            MARK + "\n" + verdict().comment_markdown,
            forged["body"],
        ]
        assert [r.path for r in gh.requests if r.path.startswith("/user")] == ["/user"]


def test_an_explicit_comment_author_is_ours_too(gh: FakeGitHub, tmp_path: Path) -> None:
    # A GitHub App's installation token comments as `<app>[bot]`; GET /user cannot tell (403).
    mine = gh.add_comment(REPO, PR, MARK + "\nold verdict", login="aprqa-app[bot]")

    report, _ = run(gh, tmp_path, verdict(comment_author="APRQA-APP[bot]"))  # logins ignore case

    assert report.comment.action == "updated" and report.comment.comment_id == mine["id"]
    assert len(gh.issue_comments(REPO, PR)) == 1


def test_a_create_that_502s_after_creating_is_not_repeated(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    # GitHub created the comment, then the gateway answered 502: a blind retry would post a second one.
    gh.inject("POST", COMMENTS, 502, body=BAD_GATEWAY, applied=True)

    report, _ = run(gh, tmp_path, verdict(), clock)

    comment = assert_published(gh, report)
    assert comment["body"] == MARK + "\n" + verdict().comment_markdown
    assert len(gh.issue_comments(REPO, PR)) == 1
    assert [m for m, p in writes(gh) if "/statuses/" not in p] == ["POST", "PATCH"]
    assert clock.sleeps == [1.0]  # one backoff before looking again
    assert any("created after all" in note for note in report.notes)


def test_a_create_that_times_out_after_creating_is_not_repeated(gh: FakeGitHub, tmp_path: Path) -> None:
    # The comment is created, but the answer comes after the client's (shortened) timeout.
    gh.inject("POST", COMMENTS, 201, applied=True, delay=1.0)

    report, _ = run(gh, tmp_path, verdict(), timeout=0.3, backoff=0.001)

    assert_published(gh, report)
    assert len(gh.issue_comments(REPO, PR)) == 1
    assert [m for m, p in writes(gh) if "/statuses/" not in p] == ["POST", "PATCH"]
    assert any("ReadTimeout" in note and "may have been applied" in note for note in report.notes)
    assert any("created after all" in note for note in report.notes)


def test_a_create_that_502s_without_creating_is_retried_once(gh: FakeGitHub, tmp_path: Path, clock: FakeTime) -> None:
    gh.inject("POST", COMMENTS, 502, body=BAD_GATEWAY)

    report, _ = run(gh, tmp_path, verdict(), clock)

    assert_published(gh, report)
    assert report.comment.action == "created"
    assert [m for m, p in writes(gh) if "/statuses/" not in p] == ["POST", "POST"]
    listed = [r for r in gh.requests if r.method == "GET" and "/comments" in r.path]
    assert len(listed) == 2  # listed again between the two POSTs


def test_a_create_that_keeps_failing_gives_up_with_bounded_attempts(
    gh: FakeGitHub, tmp_path: Path, clock: FakeTime
) -> None:
    gh.inject("POST", COMMENTS, 503, times=10)

    report, printed = run(gh, tmp_path, verdict(), clock, max_attempts=3)

    assert [r.method for r in gh.requests if r.path.endswith("/comments")].count("POST") == 3
    assert gh.issue_comments(REPO, PR) == [] and report.comment.outcome == "degraded"
    assert clock.sleeps == [1.0, 2.0]
    assert "comment not published" in printed


# -- the PR number of a fork's artifact is checked against the PR's head -----------------------------------


FORK_EVENT = {"workflow_run": {"id": 99, "head_sha": HEAD_SHA, "pull_requests": []}}


def test_the_pr_head_matches_the_expected_sha_then_publish(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.add_pull(REPO, PR, HEAD_SHA)
    env = actions_env(tmp_path, gh.url, event_name="workflow_run", event=FORK_EVENT)

    report, _ = run(gh, tmp_path, verdict(pr_number=PR, expect_head_sha=HEAD_SHA.upper()), env=env)

    assert_published(gh, report, context=f"aprqa/{PLAYBOOK} (fork)")
    assert (gh.requests[0].method, gh.requests[0].path) == ("GET", f"/repos/{REPO}/pulls/{PR}")


@pytest.mark.parametrize("head", ["b" * 40, None], ids=["another-head", "no-such-pr"])
def test_a_pr_number_that_is_not_this_commits_gets_nothing(gh: FakeGitHub, tmp_path: Path, head: str | None) -> None:
    # The fork's artifact names PR 7, but PR 7's head is someone else's commit (or there is no PR 7).
    if head:
        gh.add_pull(REPO, PR, head)
    env = actions_env(tmp_path, gh.url, event_name="workflow_run", event=FORK_EVENT)

    report, printed = run(gh, tmp_path, verdict(pr_number=PR, expect_head_sha=HEAD_SHA), env=env)

    assert gh.issue_comments(REPO, PR) == [] and gh.commit_statuses(REPO, HEAD_SHA) == []
    assert writes(gh) == []
    assert [name for name, _ in report.degraded] == ["comment", "status"]
    assert f"PR #{PR}" in report.comment.detail
    assert printed.count("::warning title=aprqa publish::") == 2
    # The verdict itself is unchanged: the outputs still carry it.
    outputs = parse_github_output((tmp_path / "github_output").read_text())
    assert (outputs["qualified"], outputs["mqs"]) == ("true", "912")
