"""`aprqa report` and `aprqa publish` as the action runs them: real subprocesses, real files, and the local
GitHub API server (tests/github_api_server.py) in place of api.github.com."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import report_fixtures as fx
import xmlschema
from conftest import ROOT, aprqa
from github_api_server import HEAD_SHA, PR, REPO, FakeGitHub, actions_env, parse_github_output, running

from aprqa_action.github.status import status_description
from aprqa_action.records import Evidence, Selection
from aprqa_action.store.evidence import dump, write_evidence

XSD = xmlschema.XMLSchema(Path(__file__).parent / "junit.xsd")
QUALIFIED = "qwen2.5-coder-1.5b-ci"  # fx.qualified(): MQS 700, C-, PROVISIONAL, qualified


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with running() as server:
        yield server


def evidence_dir(tmp_path: Path, evidence: Evidence, name: str = "aprqa-out") -> Path:
    directory = tmp_path / name
    write_evidence(directory, evidence)
    return directory


def publish(gh: FakeGitHub, tmp_path: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess:
    # The client waits ≥ 1 s between writes (GitHub's rule); a handful of writes keeps this short.
    return aprqa("publish", *args, env=actions_env(tmp_path, gh.url, **env), timeout=120)


def statuses(gh: FakeGitHub) -> list[tuple[str, str, str]]:
    return [(s["state"], s["context"], s["description"]) for s in gh.commit_statuses(REPO, HEAD_SHA)]


def outputs(tmp_path: Path) -> dict[str, str]:
    return parse_github_output((tmp_path / "github_output").read_text())


# -- aprqa report ------------------------------------------------------------------------------------------


def test_report_renders_the_three_files_into_the_output_dir(tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.blocked())
    out = tmp_path / "reports" / "nested"

    done = aprqa("report", source / "evidence.json", "--output-dir", out)

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["comment.md", "junit.xml", "summary.md"]
    assert sorted(p.name for p in source.iterdir()) == ["evidence.json"]  # nothing written beside the evidence
    assert {line.split(":", 1)[0] for line in done.stdout.splitlines()} >= {"junit", "summary", "comment"}
    XSD.validate(str(out / "junit.xml"))
    assert "gemma3-270m-base-gate" in (out / "summary.md").read_text()
    assert "BLOCKED" in (out / "comment.md").read_text()


def test_report_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = aprqa("report", tmp_path / "nope" / "evidence.json", "--output-dir", tmp_path / "out")

    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr


# -- aprqa publish -----------------------------------------------------------------------------------------


def test_a_qualified_verdict_is_published_with_the_documented_status(gh: FakeGitHub, tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.qualified())

    done = publish(gh, tmp_path, source / "evidence.json", "--run-exit-code", "0", "--fail-on", "gateway")

    assert done.returncode == 0, done.stdout + done.stderr
    assert statuses(gh) == [("success", f"aprqa/{QUALIFIED}", "MQS 700/1000 · grade C- · PROVISIONAL")]
    [comment] = gh.issue_comments(REPO, PR)
    assert "PROVISIONAL" in comment["body"]
    assert outputs(tmp_path)["qualified"] == "true"


def test_the_readme_shows_the_status_exactly_as_posted() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f'("{status_description(700, "C-", "PROVISIONAL")}")' in readme


def test_fail_on_fails_a_blocked_verdict_after_publishing_it(gh: FakeGitHub, tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.blocked())

    done = publish(gh, tmp_path, source, "--run-exit-code", "1", "--fail-on", "gateway")

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "aprqa: not qualified (--fail-on gateway)"
    assert [s[0] for s in statuses(gh)] == ["failure"]  # published first
    assert len(gh.issue_comments(REPO, PR)) == 1


def test_the_old_fail_if_not_qualified_still_works_and_says_it_is_deprecated(gh: FakeGitHub, tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.blocked())

    done = publish(gh, tmp_path, source, "--run-exit-code", "1", "--fail-if-not-qualified")

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "aprqa: warning: --fail-if-not-qualified is deprecated: use --fail-on gateway",
        "aprqa: not qualified (--fail-if-not-qualified)",
    ]


def test_fail_on_another_policy_than_the_verdicts_fails_and_says_how_to_judge_again(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    source = evidence_dir(tmp_path, fx.qualified())  # judged under gateway

    done = publish(gh, tmp_path, source, "--run-exit-code", "0", "--fail-on", "grade:A")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "judged under --fail-on gateway, not grade:A" in done.stderr and "aprqa merge" in done.stderr
    bad = publish(gh, tmp_path, source, "--fail-on", "grade:Q")
    assert bad.returncode == 2 and "--fail-on 'grade:Q'" in bad.stderr


def test_a_shipped_playbook_by_model_and_tier_is_the_trusted_one(gh: FakeGitHub, tmp_path: Path) -> None:
    done = publish(gh, tmp_path, tmp_path / "missing.json", "--model", "smollm2-135m", "--tier", "smoke")

    assert done.returncode == 0, done.stdout + done.stderr
    [(state, context, _)] = statuses(gh)
    assert (state, context) == ("error", "aprqa/smollm2-135m-smoke")


def test_without_evidence_publishes_no_verdict_as_an_error(gh: FakeGitHub, tmp_path: Path) -> None:
    playbook = ROOT / "playbooks" / "examples" / "smollm2-135m-demo.playbook.yaml"

    done = publish(
        gh, tmp_path, tmp_path / "aprqa-out" / "evidence.json", "--playbook", playbook, "--run-exit-code", "3"
    )

    assert done.returncode == 0, done.stdout + done.stderr  # publishing never turns the job red by itself
    [(state, context, description)] = statuses(gh)
    assert (state, context) == ("error", "aprqa/smollm2-135m-demo")
    assert description.startswith("error: ") and "(aprqa run exited 3)" in description
    summary = (tmp_path / "step_summary.md").read_text()
    assert "## aprqa: smollm2-135m-demo — no verdict" in summary and "no such file" in summary
    assert outputs(tmp_path)["qualified"] == "false"

    again = publish(gh, tmp_path, tmp_path / "missing.json", "--playbook", playbook, "--fail-on", "gateway")
    assert again.returncode == 1 and "no verdict (--fail-on gateway)" in again.stderr


@pytest.mark.parametrize(
    ("build", "code", "said"),
    [
        (fx.qualified, "2", "qualified"),  # run failed in prepare: a previous run's evidence is still there
        (fx.qualified, "3", "qualified"),
        (fx.qualified, "1", "qualified"),  # exit 1 (not qualified) but the file says qualified
        (fx.blocked, "0", "not qualified"),  # exit 0 (qualified) but the file says not
    ],
    ids=["exit2", "exit3", "exit1-vs-qualified", "exit0-vs-blocked"],
)
def test_a_verdict_the_run_exit_code_contradicts_is_not_published(
    gh: FakeGitHub, tmp_path: Path, build: Any, code: str, said: str
) -> None:
    source = evidence_dir(tmp_path, build())

    done = publish(gh, tmp_path, source / "evidence.json", "--run-exit-code", code)

    assert done.returncode == 0, done.stdout + done.stderr
    [(state, _, description)] = statuses(gh)
    assert state == "error" and description.startswith(f"error: aprqa run exited {code}")
    summary = (tmp_path / "step_summary.md").read_text()
    assert "no verdict" in summary and (f"says {said}" in summary or f"({said})" in summary)
    assert "not trusted" in summary
    said_outputs = outputs(tmp_path)
    assert (said_outputs["qualified"], said_outputs["verdict"], said_outputs["status"]) == ("false", "ERROR", "")
    [comment] = gh.issue_comments(REPO, PR)
    assert "no verdict" in comment["body"] and "PROVISIONAL" not in comment["body"]


@pytest.mark.parametrize(("option", "value"), [("--comment", "yes"), ("--status", "maybe")])
def test_an_invalid_comment_or_status_warns_and_uses_the_default(
    gh: FakeGitHub, tmp_path: Path, option: str, value: str
) -> None:
    source = evidence_dir(tmp_path, fx.qualified())

    done = publish(gh, tmp_path, source, "--run-exit-code", "0", option, value)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"::warning title=aprqa publish::{option} '{value}' is not one of" in done.stdout
    # The defaults: comment always, status true — so both are published.
    assert len(gh.issue_comments(REPO, PR)) == 1 and [s[0] for s in statuses(gh)] == ["success"]


def test_case_of_a_valid_value_does_not_matter(gh: FakeGitHub, tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.qualified())

    done = publish(gh, tmp_path, source, "--comment", "OFF", "--status", "False")

    assert done.returncode == 0 and "::warning" not in done.stdout, done.stdout
    assert gh.requests == []


def test_a_bad_baseline_warns_but_the_verdict_is_still_published(gh: FakeGitHub, tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.qualified())

    done = publish(gh, tmp_path, source, "--run-exit-code", "0", "--baseline", tmp_path / "none.json")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "::warning title=aprqa publish::not compared with the baseline" in done.stdout
    assert [s[0] for s in statuses(gh)] == ["success"]


def test_a_fork_artifact_pr_number_is_checked_against_the_head_sha(gh: FakeGitHub, tmp_path: Path) -> None:
    source = evidence_dir(tmp_path, fx.qualified())
    gh.add_pull(REPO, PR, "c" * 40)  # PR 7 is someone else's: the artifact lied about its number
    event = {"workflow_run": {"id": 99, "head_sha": HEAD_SHA, "pull_requests": []}}
    env = actions_env(tmp_path, gh.url, event_name="workflow_run", event=event)

    done = aprqa("publish", source, "--pr-number", str(PR), "--expect-head-sha", HEAD_SHA, env=env, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert gh.issue_comments(REPO, PR) == [] and statuses(gh) == []
    assert done.stdout.count("::warning title=aprqa publish::") == 2
    assert "not the qualified commit" in done.stdout


def test_the_part_of_a_plan_warning_is_escaped(gh: FakeGitHub, tmp_path: Path) -> None:
    # A directory name can carry `%0A` (an escaped newline for the runner) and `::`: it must stay data.
    part = fx.qualified().model_copy(update={"selection": Selection(shard_index=1, shard_count=2, plan_ids=["x"])})
    directory = tmp_path / "out%0A::error::forged"
    directory.mkdir()
    (directory / "evidence.json").write_text(dump(part))

    done = publish(gh, tmp_path, directory / "evidence.json", "--run-exit-code", "0", "--comment", "off")

    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if "holds part of the plan" in line]
    assert line.startswith("::warning title=aprqa publish::") and "out%250A::error::forged" in line
    assert not any(line.startswith("::error") for line in done.stdout.splitlines())


def test_each_key_keeps_its_own_comment_and_status(gh: FakeGitHub, tmp_path: Path) -> None:
    # A job matrix over two engines: the failing one must not be hidden by the other's later success.
    blocked = evidence_dir(tmp_path, fx.blocked(), "engine-a")
    qualified = evidence_dir(tmp_path, fx.qualified(), "engine-b")
    assert publish(gh, tmp_path, blocked, "--key", "engine-a").returncode == 0
    assert publish(gh, tmp_path, qualified, "--key", "engine-b").returncode == 0
    assert publish(gh, tmp_path, blocked, "--key", "engine-a").returncode == 0  # a rerun updates its own

    states = {context: state for state, context, _ in statuses(gh)}
    assert {c: s for c, s in states.items() if c.endswith((":engine-a", ":engine-b"))} == {
        f"aprqa/{fx.blocked().playbook.name}:engine-a": "failure",
        f"aprqa/{QUALIFIED}:engine-b": "success",
    }
    comments = gh.issue_comments(REPO, PR)
    assert len(comments) == 2
    assert sorted(c["body"].split("\n", 1)[0] for c in comments) == sorted(
        [f"<!-- aprqa:{fx.blocked().playbook.name}:engine-a -->", f"<!-- aprqa:{QUALIFIED}:engine-b -->"]
    )
