"""What the publisher writes, byte for byte: workflow commands, outputs, truncation, markers, context."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from github_api_server import parse_github_output

from aprqa_action.github.annotations import gate_annotations
from aprqa_action.github.commands import WorkflowCommands, escape_data, escape_property, format_command
from aprqa_action.github.comment import marker
from aprqa_action.github.context import GitHubContext, fork_claim
from aprqa_action.github.outputs import format_output, write_outputs
from aprqa_action.github.redact import Redactor
from aprqa_action.github.status import status_description
from aprqa_action.github.summary import append_summary
from aprqa_action.github.truncate import truncate_lines, utf8_size


def test_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("50% of\r\ncells: a,b") == "50%25 of%0D%0Acells: a,b"
    assert escape_property("50% of\r\ncells: a,b") == "50%25 of%0D%0Acells%3A a%2Cb"
    assert escape_data("%0A is not a newline") == "%250A is not a newline"
    assert (
        format_command("error", "oracle: got '5'\nexpected 4", {"title": "G4, arithmetic: 100%"})
        == "::error title=G4%2C arithmetic%3A 100%25::oracle: got '5'%0Aexpected 4"
    )
    assert format_command("warning", "plain") == "::warning::plain"


def test_commands_redact_secrets_except_in_add_mask() -> None:
    out = io.StringIO()
    commands = WorkflowCommands(out, Redactor("s3cret"))
    commands.add_mask("s3cret")
    commands.error("leaked s3cret", title="t s3cret")
    assert out.getvalue() == "::add-mask::s3cret\n::error title=t ***::leaked ***\n"


def test_annotations_are_capped_at_ten_with_a_count_of_the_rest() -> None:
    gates = [(f"G{i}", f"reason {i}") for i in range(12)]
    annotations = gate_annotations("pb", gates)
    assert len(annotations) == 10
    assert annotations[:2] == [("aprqa pb: G0", "reason 0"), ("aprqa pb: G1", "reason 1")]
    assert annotations[-1][0] == "aprqa pb: 3 more failed gates"
    assert gate_annotations("pb", gates[:10]) == [(f"aprqa pb: G{i}", f"reason {i}") for i in range(10)]


def test_outputs_use_a_delimiter_absent_from_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = iter(["collide", "fresh"])
    monkeypatch.setattr("aprqa_action.github.outputs.uuid.uuid4", lambda: next(values))
    text = format_output("summary", "line 1\nghadelimiter_collide\nline 3")
    assert text == "summary<<ghadelimiter_fresh\nline 1\nghadelimiter_collide\nline 3\nghadelimiter_fresh\n"

    monkeypatch.undo()
    path = tmp_path / "out"
    path.write_text("earlier=kept\n")
    write_outputs(path, {"a": "1", "b": "x\ny", "c": "", "d": "k=v<<z"})
    assert parse_github_output(path.read_text()) == {
        "earlier": "kept",
        "a": "1",
        "b": "x\ny",
        "c": "",
        "d": "k=v<<z",
    }
    with pytest.raises(ValueError):
        format_output("bad\nname", "v")


def test_truncate_keeps_whole_lines_and_closes_blocks() -> None:
    text = "# title\n~~~~\ncode 1\ncode 2\n~~~~\n<details>\n```py\nx = 1\ny = 2\n```\n</details>\n"
    cut, truncated = truncate_lines(text, 50, "[cut]")
    assert truncated and len(cut) <= 50
    assert cut == "# title\n~~~~\ncode 1\ncode 2\n~~~~\n[cut]"  # an opened <details> would not fit closed
    cut, _ = truncate_lines(text, 70, "[cut]")
    assert cut == "# title\n~~~~\ncode 1\ncode 2\n~~~~\n<details>\n```py\n```\n</details>\n[cut]"
    assert truncate_lines(text, len(text), "[cut]") == (text, False)
    # Not even one line fits: a hard cut, still within the limit.
    cut, _ = truncate_lines("x" * 100, 20, "[cut]")
    assert cut == "x" * 15 + "[cut]"


def test_summary_counts_bytes_not_characters(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    markdown = "".join(f"{'é' * 9}\n" for _ in range(100))  # 19 bytes, 10 characters per line
    assert append_summary(path, markdown, "here", limit=1000)
    data = path.read_bytes()
    assert len(data) <= 1000 and data.decode("utf-8").endswith("The full report is here.\n")
    assert not append_summary(tmp_path / "small.md", "# ok", "here")
    assert (tmp_path / "small.md").read_text() == "# ok\n"
    assert utf8_size("é") == 2


def test_marker_cannot_close_the_html_comment_and_keeps_keys_apart() -> None:
    assert marker("qwen2.5-coder-7b-ci") == "<!-- aprqa:qwen2.5-coder-7b-ci -->"
    assert marker("pb", "shard-merge") == "<!-- aprqa:pb:shard-merge -->"
    assert marker("a-->b c") == "<!-- aprqa:a--%3Eb%20c -->"
    assert marker("a:b") != marker("a", "b")


def test_status_description_fits_140_characters() -> None:
    assert status_description(874, "B+", "PROVISIONAL") == "MQS 874/1000 · grade B+ · PROVISIONAL"
    long = status_description(0, "F", "BLOCKED", error="engine crashed\n" + "x" * 300)
    assert len(long) == 140 and long.startswith("error: engine crashed x") and long.endswith("…")


def _event(tmp_path: Path, data: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_context_of_pull_request_events(tmp_path: Path) -> None:
    event = {"pull_request": {"number": 12, "head": {"sha": "h" * 40}}}
    for name in ("pull_request", "pull_request_target"):
        env = {
            "GITHUB_EVENT_NAME": name,
            "GITHUB_EVENT_PATH": _event(tmp_path, event),
            "GITHUB_SHA": "m" * 40,
            "GITHUB_REPOSITORY": "o/r",
            "GITHUB_RUN_ID": "5",
        }
        ctx = GitHubContext.from_env(env)
        assert (ctx.pr_number, ctx.sha) == (12, "h" * 40)
        assert ctx.api_url == "https://api.github.com"
        assert ctx.run_url == "https://github.com/o/r/actions/runs/5"


def test_context_of_workflow_run_and_push(tmp_path: Path) -> None:
    run = {"workflow_run": {"head_sha": "h" * 40, "pull_requests": [{"number": 4}]}}
    env = {"GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": _event(tmp_path, run), "GITHUB_SHA": "m"}
    assert (GitHubContext.from_env(env).pr_number, GitHubContext.from_env(env).sha) == (4, "h" * 40)
    fork = {"workflow_run": {"head_sha": "h" * 40, "pull_requests": []}}
    env["GITHUB_EVENT_PATH"] = _event(tmp_path, fork)
    assert GitHubContext.from_env(env).pr_number is None
    assert GitHubContext.from_env(env, pr_number=9).pr_number == 9

    push = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": _event(tmp_path, {}), "GITHUB_SHA": "m" * 40}
    ctx = GitHubContext.from_env(push)
    assert (ctx.pr_number, ctx.sha, ctx.run_url) == (None, "m" * 40, None)


@pytest.mark.parametrize(
    ("event_name", "event", "claim"),
    [
        # workflow_run: a claim unless the triggering run's head repository is provably this one
        (
            "workflow_run",
            {"workflow_run": {"head_repository": {"full_name": "fork/r"}, "repository": {"full_name": "o/r"}}},
            True,
        ),
        (
            "workflow_run",
            {"workflow_run": {"head_repository": {"full_name": "O/R"}, "repository": {"full_name": "o/r"}}},
            False,
        ),
        ("workflow_run", {"workflow_run": {"head_sha": "h"}}, True),
        ("workflow_run", {"workflow_run": {"head_repository": None, "repository": {"full_name": "o/r"}}}, True),
        # pull_request: a claim when the head repository differs or is gone
        (
            "pull_request",
            {"pull_request": {"head": {"repo": {"full_name": "fork/r"}}, "base": {"repo": {"full_name": "o/r"}}}},
            True,
        ),
        (
            "pull_request",
            {"pull_request": {"head": {"repo": {"full_name": "o/r"}}, "base": {"repo": {"full_name": "o/r"}}}},
            False,
        ),
        ("pull_request", {"pull_request": {"head": {"repo": None}, "base": {"repo": {"full_name": "o/r"}}}}, True),
        ("pull_request", {"pull_request": {"head": {"sha": "h"}}}, False),  # a hand-written payload
        ("push", {}, False),
    ],
)
def test_a_result_from_another_repository_is_a_claim(event_name: str, event: dict, claim: bool) -> None:
    assert fork_claim(event_name, event) is claim


def test_context_reports_an_unreadable_event_and_a_bad_repository(tmp_path: Path) -> None:
    broken = tmp_path / "event.json"
    broken.write_text("{not json")
    env = {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(broken),
        "GITHUB_REPOSITORY": "../../etc",
        "GITHUB_API_URL": "https://ghe.example/api/v3/",
    }
    ctx = GitHubContext.from_env(env)
    assert ctx.pr_number is None and ctx.repository is None
    assert ctx.api_url == "https://ghe.example/api/v3"
    assert len(ctx.problems) == 2 and "cannot read the event payload" in ctx.problems[0]
