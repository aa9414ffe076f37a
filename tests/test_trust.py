"""Evidence is data, never instructions: what a fork can put in an artifact — a checker argv, an inline engine,
a baseline with a checker, names and reasons with newlines and `::` commands — goes through `aprqa merge`,
`report` and `publish` without anything being executed (a sentinel file is never created), without a printed
line starting a workflow command, without unescaped Markdown, and without the token in any output. A trusted
playbook (`--playbook`, the base branch's copy) names and judges the evidence; a fork's result is a claim.

Real runs of the hostile test engine (it answers "4") make the evidence; the attacks are edits of the
evidence file, as a fork would make them to its artifact."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import aprqa, hostile_profile, write_playbook
from github_api_server import HEAD_SHA, PR, REPO, TOKEN, FakeGitHub, actions_env, running

from aprqa_action.store.evidence import read_evidence

PROMPTS = ["Write a C function that adds two numbers.", "What is 2+2?"]
# A checker the playbook's author trusts: it accepts every answer (the hostile engine's "4" is not C).
CHECKER = [sys.executable, "-c", "import sys; sys.exit(0)", "{file}"]
INJECTED = "engine said:\n::error::pwned\r::add-mask::pwned\n::stop-commands::pwned\n##[set-env name=X;]pwned"


def _hostile_argv(sentinel: Path) -> list[str]:
    return ["sh", "-c", f"touch {sentinel}; echo owned"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, smollm2: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trust")
    playbook = write_playbook(
        root / "trusted.playbook.yaml",
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "scenario_count": 2, "prompts": PROMPTS},
        engine=hostile_profile("ok"),
        oracles=[{"type": "code_syntax", "config": {"languages": ["c"], "checkers": {"c": CHECKER}}}],
    )
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", root / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"playbook": playbook, "evidence": root / "out" / "evidence.json"}


def _forged(run: dict[str, Path], tmp_path: Path, sentinel: Path, edit: Any = None) -> Path:
    """The run's evidence as a fork would upload it: its recorded playbook names a program that creates
    `sentinel` as the C checker and as the engine; `edit(data)` makes further changes."""
    data = json.loads(run["evidence"].read_text())
    spec = data["playbook"]["spec"]
    spec["oracles"][0]["config"]["checkers"]["c"] = _hostile_argv(sentinel)
    spec["engine"]["run"]["argv"] = _hostile_argv(sentinel)
    if edit is not None:
        edit(data)
    path = tmp_path / "artifact" / "evidence.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _inject(data: dict[str, Any]) -> None:
    """Reasons and an answer carrying workflow commands, and a failed scenario whose reason is the engine's."""
    failed = data["observations"][1]
    failed.update(status="failed", reason=INJECTED, loaded=True, text=None)
    for item in data["items"]:
        item["reason"] = INJECTED
    for gate in data["verdict"]["gateways"]:
        gate["reason"] = INJECTED


# aprqa's own commands: their data may quote outside text, escaped onto the one line (%0A).
OURS = re.compile(r"^::(?:(?:warning|error|notice) title=aprqa[^:]*|group|endgroup|add-mask)::(?!.*%0A::add-mask)")


def _no_command_from_outside(output: str) -> None:
    for line in output.splitlines():
        if line.strip().startswith("::"):
            assert OURS.match(line), line
            assert not line.startswith("::add-mask::") or line == f"::add-mask::{TOKEN}", line
        assert "##[" not in line, line


def test_merge_never_starts_a_program_the_evidence_names(run: dict[str, Path], tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    forged = _forged(run, tmp_path, sentinel)
    done = aprqa("merge", forged, "-o", tmp_path / "m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not sentinel.exists()
    part = {i.id: i for i in read_evidence(run["evidence"]).items}
    merged = read_evidence(tmp_path / "m" / "evidence.json")
    [code] = [i for i in merged.items if i.gate_id == "F-QUAL-CODE"]
    # the checker was not run: the part's own judgement of the scenario stands, word for word
    assert code == part[code.id]
    assert code.outcome == "Corroborated" and code.reason == f"c accepted by {sys.executable}"
    assert merged.trusted_playbook is None


def test_a_judgement_the_part_did_not_make_is_skipped_not_passed(run: dict[str, Path], tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    forged = _forged(run, tmp_path, sentinel, lambda d: d.update(items=[]))
    done = aprqa("merge", forged, "-o", tmp_path / "m")
    assert not sentinel.exists()
    assert done.returncode == 0, done.stderr
    [code] = [i for i in read_evidence(tmp_path / "m" / "evidence.json").items if i.gate_id == "F-QUAL-CODE"]
    assert code.outcome == "Skipped"
    assert code.reason == (
        "c is judged by a program, which is never started on evidence read from a file; the run judged nothing"
    )


def test_a_trusted_playbook_judges_with_its_own_checks(run: dict[str, Path], tmp_path: Path) -> None:
    sentinel, ran = tmp_path / "sentinel", tmp_path / "trusted-checker-ran"
    # The base branch's playbook: its checker (trusted) runs, the one the evidence names does not.
    trusted = json.loads(json.dumps(read_evidence(run["evidence"]).playbook.spec))
    trusted["oracles"][0]["config"]["checkers"]["c"] = ["sh", "-c", f"touch {ran}", "{file}"]
    path = write_playbook(tmp_path / "base.playbook.yaml", **trusted)
    done = aprqa("merge", _forged(run, tmp_path, sentinel), "-o", tmp_path / "m", "--playbook", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran.exists() and not sentinel.exists()
    merged = read_evidence(tmp_path / "m" / "evidence.json")
    assert merged.trusted_playbook is not None and merged.trusted_playbook.differs
    for report in ("summary.md", "comment.md"):
        text = (tmp_path / "m" / report).read_text()
        assert "> The run recorded a different playbook (sha256 " in text, report
        assert merged.trusted_playbook.sha256[:12] in text


def test_the_same_trusted_playbook_says_nothing(run: dict[str, Path], tmp_path: Path) -> None:
    done = aprqa("merge", run["evidence"], "-o", tmp_path / "m", "--playbook", run["playbook"])
    assert done.returncode == 0, done.stderr
    merged = read_evidence(tmp_path / "m" / "evidence.json")
    assert merged.trusted_playbook is not None and not merged.trusted_playbook.differs
    assert "different playbook" not in (tmp_path / "m" / "summary.md").read_text()


def test_evidence_for_another_playbook_is_refused(run: dict[str, Path], tmp_path: Path) -> None:
    other = write_playbook(tmp_path / "other.playbook.yaml", name="release-gate")
    done = aprqa("merge", run["evidence"], "-o", tmp_path / "m", "--playbook", other)
    assert done.returncode == 2
    assert "is evidence for playbook 't', not 'release-gate'" in done.stderr
    assert not (tmp_path / "m").exists()
    with running() as gh:
        env = actions_env(tmp_path, gh.url)
        done = aprqa("publish", run["evidence"], "--playbook", other, env=env, timeout=120)
        assert done.returncode == 2 and "nothing was published" in done.stderr
        assert gh.issue_comments(REPO, PR) == [] and gh.commit_statuses(REPO, HEAD_SHA) == []


def test_a_baseline_is_data_too(run: dict[str, Path], tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    baseline = _forged(run, tmp_path, sentinel)
    for argv in (
        ["merge", run["evidence"], "-o", tmp_path / "m", "--baseline", baseline],
        ["report", run["evidence"], "--output-dir", tmp_path / "r", "--baseline", baseline],
        ["report", baseline, "--output-dir", tmp_path / "r2"],
    ):
        done = aprqa(*argv)
        assert done.returncode == 0, done.stdout + done.stderr
    assert not sentinel.exists()


def test_reasons_with_workflow_commands_never_start_a_line(run: dict[str, Path], tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    forged = _forged(run, tmp_path, sentinel, _inject)
    with running() as gh:
        env = actions_env(tmp_path, gh.url)
        outputs = [
            aprqa("merge", forged, "-o", tmp_path / "m", env=env),
            aprqa("report", forged, "--output-dir", tmp_path / "r", env=env),
            aprqa("publish", forged, env=env, timeout=120),
            aprqa("publish", tmp_path / "m" / "evidence.json", "--playbook", run["playbook"], env=env, timeout=120),
        ]
        bodies = [c["body"] for c in gh.issue_comments(REPO, PR)]
        requests = "".join(r.path + r.body for r in gh.requests)
    assert [o.returncode for o in outputs] == [1, 0, 0, 0], [o.stderr for o in outputs]
    assert "pwned" in outputs[0].stdout  # the merged verdict quotes the engine's reason …
    for done in outputs:  # … on its own line, folded
        _no_command_from_outside(done.stdout + done.stderr)
        # the one line with the token is the mask the runner hides (and masks the token with afterwards)
        assert TOKEN not in (done.stdout + done.stderr).replace(f"::add-mask::{TOKEN}\n", "")
    assert "engine said:\\n::error::pwned" in outputs[0].stdout
    assert not sentinel.exists()
    assert TOKEN not in requests
    summary = (tmp_path / "step_summary.md").read_text()
    for markdown in [*bodies, summary]:
        assert "\n::error::pwned" not in markdown


def test_no_verdict_markdown_is_escaped(tmp_path: Path) -> None:
    """A "no verdict" report quotes what could not be read: a hostile name or problem stays inert."""
    bad = {
        "schema_version": 1,
        "playbook": {"name": "@octo-org/admins ![x](https://evil.example/p.png)\n::error::pwned"},
    }
    path = tmp_path / "out" / "evidence.json"
    path.parent.mkdir()
    path.write_text(json.dumps(bad))
    with running() as gh:
        env = actions_env(tmp_path, gh.url)
        done = aprqa("publish", path, env=env, timeout=120)
        [comment] = gh.issue_comments(REPO, PR)
    assert done.returncode == 0, done.stderr
    _no_command_from_outside(done.stdout + done.stderr)
    for markdown in (comment["body"], (tmp_path / "step_summary.md").read_text()):
        assert "no verdict" in markdown
        assert "@octo-org" not in markdown and "@\u200docto-org" in markdown  # no mention notifies anyone
        assert "![x](" not in markdown and "\\!\\[x\\]" in markdown  # no image loads
        assert "\n::error" not in markdown


# -- fork claims -------------------------------------------------------------------------------------------

FORK = "a-fork/models"


def _workflow_run(head_repository: str, pr: int | None = None) -> dict[str, Any]:
    return {
        "workflow_run": {
            "id": 99,
            "head_sha": HEAD_SHA,
            "pull_requests": [{"number": pr}] if pr else [],
            "head_repository": {"full_name": head_repository},
            "repository": {"full_name": REPO},
        }
    }


def _publish(gh: FakeGitHub, tmp_path: Path, evidence: Path, event_name: str, event: dict[str, Any], *args: str):
    env = actions_env(tmp_path, gh.url, event_name=event_name, event=event)
    return aprqa("publish", evidence, *args, env=env, timeout=120)


def test_a_fork_result_is_published_as_an_unverified_claim(run: dict[str, Path], tmp_path: Path) -> None:
    with running() as gh:
        gh.add_pull(REPO, PR, HEAD_SHA)
        done = _publish(gh, tmp_path, run["evidence"], "workflow_run", _workflow_run(FORK), "--pr-number", str(PR))
        assert done.returncode == 0, done.stdout + done.stderr
        [status] = gh.commit_statuses(REPO, HEAD_SHA)
        [comment] = gh.issue_comments(REPO, PR)
    assert status["context"] == "aprqa/t (fork)" and status["state"] == "success"
    assert status["description"].startswith("unverified fork claim: MQS ")
    # qualified (the status is success): the headline says so, and BLOCKED beside it when the MQS is < 700
    headline = r"^## (🟢 QUALIFIED|🟠 PASSES fail-on: gateway, BLOCKED) \(unverified fork claim\) · t$"
    assert re.search(headline, comment["body"], re.MULTILINE), comment["body"]
    assert "this result is the fork's claim" in comment["body"]
    assert "this result is the fork's claim" in (tmp_path / "step_summary.md").read_text()


def test_a_fork_pr_whose_head_moved_gets_nothing(run: dict[str, Path], tmp_path: Path) -> None:
    """No expect-head-sha given: under workflow_run the event's head_sha is expected all the same."""
    with running() as gh:
        gh.add_pull(REPO, PR, "b" * 40)  # the PR the artifact names is at another commit
        done = _publish(gh, tmp_path, run["evidence"], "workflow_run", _workflow_run(FORK), "--pr-number", str(PR))
        assert done.returncode == 0, done.stderr
        assert gh.issue_comments(REPO, PR) == [] and gh.commit_statuses(REPO, HEAD_SHA) == []
    assert "not the qualified commit" in done.stdout


def test_a_same_repository_pr_keeps_the_normal_context(run: dict[str, Path], tmp_path: Path) -> None:
    same = {
        "pull_request": {
            "number": PR,
            "head": {"sha": HEAD_SHA, "repo": {"full_name": REPO}},
            "base": {"repo": {"full_name": REPO}},
        }
    }
    with running() as gh:
        done = _publish(gh, tmp_path, run["evidence"], "pull_request", same)
        assert done.returncode == 0, done.stderr
        [status] = gh.commit_statuses(REPO, HEAD_SHA)
        [comment] = gh.issue_comments(REPO, PR)
    assert status["context"] == "aprqa/t" and not status["description"].startswith("unverified")
    assert "fork" not in comment["body"]
    with running() as gh:  # the same PR published through workflow_run from this repository: still trusted
        gh.add_pull(REPO, PR, HEAD_SHA)
        done = _publish(gh, tmp_path, run["evidence"], "workflow_run", _workflow_run(REPO, PR))
        assert done.returncode == 0, done.stderr
        assert [s["context"] for s in gh.commit_statuses(REPO, HEAD_SHA)] == ["aprqa/t"]


@pytest.mark.parametrize("number", ["0", "-3", "seven", "7; rm -rf /"])
def test_a_bad_pr_number_is_a_warning_and_no_comment(run: dict[str, Path], tmp_path: Path, number: str) -> None:
    with running() as gh:
        gh.add_pull(REPO, PR, HEAD_SHA)
        done = _publish(gh, tmp_path, run["evidence"], "workflow_run", _workflow_run(REPO, PR), "--pr-number", number)
        assert done.returncode == 0, done.stderr
        assert gh.issue_comments(REPO, PR) == []
        assert len(gh.commit_statuses(REPO, HEAD_SHA)) == 1  # the status does not need the number
    assert "is not a PR number: no comment" in done.stdout


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("playbooks/models/qwen2.5-coder-7b-mvp.playbook.yaml", "qwen2.5-coder-7b-mvp"),
        ("gate.yml", "gate"),
        ("@team ![x](y)\n::error::z.playbook.yaml", "team---x--y----error--z"),
        (".yaml", "yaml"),
    ],
)
def test_a_playbook_that_cannot_be_loaded_is_named_by_its_file(path: str, name: str) -> None:
    """It names the comment and the status: the whole file name less its suffix, in the name's characters."""
    from aprqa_action.cli import _file_name

    assert _file_name(path) == name


def test_an_evidence_file_larger_than_any_run_writes_is_refused_unread(tmp_path: Path) -> None:
    # a fork's artifact: a sparse file of 1 GiB + 1 byte costs no disk and would cost the publisher its memory
    huge = tmp_path / "evidence.json"
    with huge.open("wb") as handle:
        handle.truncate((1 << 30) + 1)
    said = "1,073,741,825 bytes, more than an evidence file can be (1,073,741,824)"
    for argv in (("report", huge), ("merge", huge, "-o", tmp_path / "m")):
        done = aprqa(*argv)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, (argv, done.stderr)
    done = aprqa("publish", huge, env={"GITHUB_TOKEN": ""})  # publishing never fails: "no verdict", saying why
    assert done.returncode == 0 and f"run::{huge}: {said}" in done.stdout
