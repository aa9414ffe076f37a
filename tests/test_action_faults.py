"""GitHub faults end to end: the whole action under act against the fake GitHub API, one scenario per fault.

Publishing is best effort: a 502, a 429, a secondary rate limit, a comment deleted under us, a read-only token
or no token at all may cost a retry or degrade to "summary + warning", but never change the verdict (act's exit
code, the step's outcome, the `qualified` and `mqs` outputs), never leave two comments, and never leak the
token. tests/act/faults.yml runs every scenario in one act job (the action's venv is built once), each with its
own playbook, output directory and token; the server below picks each scenario's faults by its token.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, hostile_profile, repository_copy
from contracts_fixtures import tiny_gguf
from github_api_server import (
    BAD_GATEWAY,
    HEAD_SHA,
    PR,
    READ_ONLY_TOKEN,
    REPO,
    SECONDARY_LIMIT,
    FakeGitHub,
    Fault,
    Recorded,
)

from aprqa_action.github.comment import marker

WORKFLOW = "tests/act/faults.yml"
BIN = Path(sys.executable).parent
# act cannot fetch actions/cache here: the no-op stand-in takes the place of the pin action.yml uses.
CACHE_PIN = re.search(r"uses: (actions/cache@[0-9a-f]{40})", (ROOT / "action.yml").read_text())
COMMENTS = re.compile(r"/issues/\d+/comments$")
COMMENT = re.compile(r"/issues/comments/\d+$")
STATUSES = re.compile(r"/statuses/")


def _token(scenario: str) -> str:
    # Shaped like an installation token, distinct per scenario, so the server can tell scenarios apart.
    return "ghs_" + f"faults{scenario.replace('_', '')}".ljust(36, "X")[:36]


@dataclass
class Scenario:
    name: str
    token: str | None  # None: the step passes an empty github-token
    faults: list[Fault] = field(default_factory=list)
    blocked: bool = False  # the engine fails: the verdict is BLOCKED with or without faults
    published: bool = True  # one comment and one status expected; else summary + warnings only

    @property
    def playbook(self) -> str:
        return f"faults-{self.name.replace('_', '-')}"

    @property
    def secret(self) -> str | None:
        """The act secret the workflow reads this scenario's token from (tests/act/faults.yml)."""
        if self.token is None or self.token == READ_ONLY_TOKEN:
            return None
        return f"TOKEN_{self.name.upper()}"


def _fault(method: str, pattern: re.Pattern[str], status: int = 500, **kwargs: Any) -> Fault:
    return Fault(method, pattern, status, **kwargs)


SCENARIOS = [
    Scenario("clean", _token("clean")),
    Scenario(
        "bad_gateway",
        _token("bad_gateway"),
        [_fault("GET", COMMENTS, 502, body=BAD_GATEWAY), _fault("POST", STATUSES, 502, body=BAD_GATEWAY)],
    ),
    Scenario(
        "too_many",
        _token("too_many"),
        [_fault("POST", COMMENTS, 429, headers={"Retry-After": "1"}, body={"message": "Too many requests"})],
    ),
    # Without Retry-After the client waits GitHub's minimum of 60 s for a secondary limit; name 1 s instead.
    Scenario(
        "secondary",
        _token("secondary"),
        [_fault("POST", STATUSES, 403, headers={"retry-after": "1"}, body=SECONDARY_LIMIT)],
    ),
    Scenario("vanished", _token("vanished"), [_fault("PATCH", COMMENT, vanish=True)]),
    Scenario("read_only", READ_ONLY_TOKEN, published=False),
    Scenario("no_token", None, published=False),
    Scenario("blocked_clean", _token("blocked_clean"), blocked=True),
    Scenario(
        "blocked_faulty",
        _token("blocked_faulty"),
        [
            _fault("GET", COMMENTS, 502, body=BAD_GATEWAY),
            _fault("POST", STATUSES, 429, headers={"Retry-After": "1"}, body={"message": "Too many requests"}),
        ],
        blocked=True,
    ),
]
BY_TOKEN = {s.token: s for s in SCENARIOS if s.token}
TOKENS = [s.token for s in SCENARIOS if s.token]


class ScenarioGitHub(FakeGitHub):
    """The fake GitHub API, where each scenario's token is a write token with its own queue of faults."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario_faults = {s.token: list(s.faults) for s in SCENARIOS if s.token}
        api = self
        base: Any = self._server.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def _auth(self, method: str) -> Any:
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                if scheme.lower() == "bearer" and token in api.scenario_faults and token != READ_ONLY_TOKEN:
                    return None
                return super()._auth(method)

        self._server.RequestHandlerClass = Handler

    def _take_fault(self, method: str, path: str) -> Fault | None:
        # Called under the lock right after the request was recorded: the last record is this request.
        queue = self.scenario_faults.get(_bearer(self.requests[-1]), [])
        for index, fault in enumerate(queue):
            if fault.method == method and fault.pattern.search(path):
                return queue.pop(index)
        return None

    def of(self, scenario: Scenario) -> list[Recorded]:
        return [r for r in self.requests if scenario.token is not None and _bearer(r) == scenario.token]


def _bearer(request: Recorded) -> str:
    header = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    return header.partition(" ")[2]


def _write_playbooks(repo: Path) -> None:
    for scenario in SCENARIOS:
        data = {
            "name": scenario.playbook,
            "version": "1.0.0",
            "model": {"hf_repo": "org/model", "formats": ["gguf"]},
            "test_matrix": {"modalities": ["run"], "backends": ["cpu"], "scenario_count": 1, "timeout_ms": 30000},
            "engine": hostile_profile("fail" if scenario.blocked else "ok"),
        }
        path = repo / "faults" / f"{scenario.name}.playbook.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))


def _act(repo: Path, api_url: str, model: Path, collect: Path) -> subprocess.CompletedProcess[str]:
    event = repo.parent / "event.json"
    event.write_text(
        json.dumps({"action": "synchronize", "number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD_SHA}}})
    )
    secrets = [f"READ_ONLY_TOKEN={READ_ONLY_TOKEN}"]
    secrets += [f"{s.secret}={s.token}" for s in SCENARIOS if s.secret]
    argv: list[str | Path] = [
        BIN / "act",
        "pull_request",
        "-e",
        event,
        "-W",
        WORKFLOW,
        "-P",
        "ubuntu-latest=-self-hosted",
        "--local-repository",
        f"{CACHE_PIN[1]}={ROOT / 'tests' / 'act' / 'cache-stub'}",
        "--env",
        f"GITHUB_API_URL={api_url}",
        "--env",
        f"FAULTS_MODEL={model}",
        "--env",
        f"FAULTS_COLLECT={collect}",
    ]
    for secret in secrets:
        argv += ["-s", secret]
    return subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=1500)


def _sections(log: str) -> dict[str, str]:
    """act's log cut at each scenario step's start line ("⭐ Run Main Scenario <name>: ...")."""
    found: dict[str, str] = {}
    parts = re.split(r"⭐ Run Main Scenario (\w+): ", log)
    for name, text in zip(parts[1::2], parts[2::2], strict=True):
        found[name] = text
    return found


def _outcomes(log: str) -> dict[str, tuple[str, ...]]:
    """`FAULTS-OUTCOME NAME outcome qualified mqs` lines printed by the workflow's last step."""
    rows = re.findall(r"FAULTS-OUTCOME (\w+) (.*)", log)
    return {name.lower(): tuple(rest.split()) for name, rest in rows}


def test_the_faults_workflow_passes_zizmor() -> None:
    done = subprocess.run(
        [BIN / "zizmor", "--config", ROOT / ".github" / "zizmor.yml", "--no-progress", ROOT / WORKFLOW],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_scenario_has_its_step_and_secret_in_the_workflow() -> None:
    steps = yaml.safe_load((ROOT / WORKFLOW).read_text())["jobs"]["qualify"]["steps"]
    by_id = {step.get("id"): step for step in steps}
    for scenario in SCENARIOS:
        step = by_id[scenario.name]
        assert step["with"]["playbook"] == f"faults/{scenario.name}.playbook.yaml"
        assert step["with"]["output-dir"] == f"out/{scenario.name}"
        expected = "" if scenario.token is None else "${{ secrets.%s }}" % (scenario.secret or "READ_ONLY_TOKEN")
        assert step["with"]["github-token"] == expected
        assert step.get("continue-on-error", False) is scenario.blocked


@pytest.mark.engine
def test_github_faults_never_change_the_verdict_nor_leak_the_token(tmp_path: Path) -> None:
    assert CACHE_PIN is not None, "action.yml no longer uses a pinned actions/cache: update the stand-in mapping"
    repo = repository_copy(tmp_path, REPO)
    _write_playbooks(repo)
    (tmp_path / "model").mkdir()
    model = tiny_gguf(tmp_path / "model" / "model.gguf")
    collect = tmp_path / "collect"
    github = ScenarioGitHub().start()
    try:
        vanished = next(s for s in SCENARIOS if s.name == "vanished")
        seeded = github.add_comment(REPO, PR, marker(vanished.playbook) + "\nan earlier verdict", "github-actions[bot]")
        done = _act(repo, github.url, model, collect)
        log = done.stdout + done.stderr

        # The job: every qualified scenario passed and the blocked ones failed only their own step.
        assert done.returncode == 0, log[-8000:]
        outcomes = _outcomes(log)
        assert set(outcomes) == {s.name for s in SCENARIOS}, log[-4000:]
        for scenario in SCENARIOS:
            baseline = outcomes["blocked_clean" if scenario.blocked else "clean"]
            assert outcomes[scenario.name] == baseline, (scenario.name, outcomes)
        assert outcomes["clean"][:2] == ("success", "true")
        assert outcomes["blocked_clean"][:3] == ("failure", "false", "0")

        sections = _sections(log)
        for scenario in SCENARIOS:
            text = sections[scenario.name]
            comments = [
                c for c in github.issue_comments(REPO, PR) if c["body"].startswith(marker(scenario.playbook) + "\n")
            ]
            statuses = [
                s for s in github.commit_statuses(REPO, HEAD_SHA) if s["context"] == f"aprqa/{scenario.playbook}"
            ]
            assert "publish: summary: done" in text, (scenario.name, text[-3000:])
            if scenario.published:
                assert len(comments) == 1 and len(statuses) == 1, (scenario.name, comments, statuses)
                assert statuses[0]["state"] == ("failure" if scenario.blocked else "success")
                assert scenario.playbook in comments[0]["body"]
                assert "::warning title=aprqa publish::" not in text, (scenario.name, text[-3000:])
            else:  # the documented degradation: the summary is written and a warning says why
                assert comments == [] and statuses == [], (scenario.name, comments, statuses)
                assert "comment not published" in text and "status not published" in text, text[-3000:]
            assert github.scenario_faults.get(scenario.token or "", []) == [], f"{scenario.name}: fault unused"

        # What each fault cost: one retry each, then success.
        assert "attempt 1 failed (502, backoff)" in sections["bad_gateway"]
        assert "attempt 1 failed (429, Retry-After: 1)" in sections["too_many"]
        assert "attempt 1 failed (403, Retry-After: 1)" in sections["secondary"]
        methods = [r.method for r in github.of(next(s for s in SCENARIOS if s.name == "too_many"))]
        assert methods == ["GET", "POST", "POST", "POST"]  # list, 429, comment, status
        [replacement] = [c for c in github.issue_comments(REPO, PR) if c["body"].startswith(marker(vanished.playbook))]
        assert replacement["id"] != seeded["id"]
        assert "vanished before the update; created a new one" in sections["vanished"]
        assert "Resource not accessible by integration" in sections["read_only"]
        assert "no GitHub token" in sections["no_token"]
        # No request went out without a token (the no-token scenario makes none).
        assert all(_bearer(r) for r in github.requests)
        requests = list(github.requests)
    finally:
        github.stop()

    # The tokens appear nowhere: not in act's output (which includes the job summaries), not in any file the
    # runs wrote, not in any request other than its Authorization header.
    secrets = [*TOKENS]
    assert READ_ONLY_TOKEN in secrets
    places: dict[str, str] = {"act stdout": done.stdout, "act stderr": done.stderr}
    written = sorted(p for p in collect.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"evidence.json", "summary.md", "junit.xml", "comment.md"}
    assert len([p for p in written if p.name == "evidence.json"]) == len(SCENARIOS)
    for path in written:
        places[str(path.relative_to(collect))] = path.read_text(encoding="utf-8", errors="replace")
    for request in requests:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        places[f"{request.method} {request.path}"] = request.path + request.body + json.dumps(headers)
    leaks = [(where, secret[:8]) for where, text in places.items() for secret in secrets if secret in text]
    assert leaks == []
    # act prints a secret (and whatever `::add-mask::` registered) as "***": a token that reached the log would
    # pass the check above masked, so the mask itself must not appear either — except in act's echo of our
    # own `::add-mask::` command ("⚙  ***"), which is the masking, not a leak.
    masked = re.compile(r"(?<!\*)\*\*\*(?!\*)")  # exactly three: a banner of asterisks is not a mask
    shown = [line for line in log.splitlines() if masked.search(line) and not re.search(r"⚙\s+\*\*\*$", line)]
    assert shown == [], shown[:5]
    assert any(re.search(r"⚙\s+\*\*\*$", line) for line in log.splitlines())  # the mask was registered
    shutil.rmtree(repo, ignore_errors=True)
