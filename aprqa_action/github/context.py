"""Where to publish: the GitHub Actions environment variables and the event payload."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
PR_EVENTS = ("pull_request", "pull_request_target")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class GitHubContext:
    api_url: str
    server_url: str
    repository: str | None  # "owner/name"
    event_name: str | None
    sha: str | None  # the commit that was qualified (PR head for PR events)
    pr_number: int | None
    run_id: str | None
    step_summary: Path | None
    output: Path | None
    in_actions: bool
    # The result is a claim, not a verification: it comes from code a fork controls (see fork_claim).
    claim: bool = False
    problems: tuple[str, ...] = ()  # what could not be read, for the report

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], pr_number: int | None = None) -> GitHubContext:
        """`pr_number` overrides the event (a workflow_run for a fork PR has an empty `pull_requests`)."""
        problems: list[str] = []
        event_name = env.get("GITHUB_EVENT_NAME") or None
        event = _read_event(env.get("GITHUB_EVENT_PATH"), problems)
        repository = env.get("GITHUB_REPOSITORY") or None
        if repository and not _REPOSITORY.match(repository):
            problems.append(f"GITHUB_REPOSITORY is not owner/name: {repository!r}")
            repository = None
        event_pr, event_sha = _pull_request(event_name, event)
        return cls(
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            repository=repository,
            event_name=event_name,
            sha=event_sha or env.get("GITHUB_SHA") or None,
            pr_number=pr_number if pr_number is not None else event_pr,
            run_id=env.get("GITHUB_RUN_ID") or None,
            step_summary=_path(env.get("GITHUB_STEP_SUMMARY")),
            output=_path(env.get("GITHUB_OUTPUT")),
            in_actions=env.get("GITHUB_ACTIONS") == "true",
            claim=fork_claim(event_name, event),
            problems=tuple(problems),
        )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _read_event(path: str | None, problems: list[str]) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"cannot read the event payload {path}: {exc}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"the event payload {path} is not a JSON object")
        return {}
    return data


def _get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and len(data) > key else None
        else:
            data = data.get(key) if isinstance(data, dict) else None
    return data


def _pull_request(event_name: str | None, event: dict[str, Any]) -> tuple[int | None, str | None]:
    """(PR number, commit sha) from the event; GITHUB_SHA is the base/merge commit for these events."""
    if event_name in PR_EVENTS:
        number, sha = _get(event, "pull_request", "number"), _get(event, "pull_request", "head", "sha")
    elif event_name == "workflow_run":
        # GITHUB_SHA here is the default branch's tip; the qualified commit is the triggering run's head.
        number = _get(event, "workflow_run", "pull_requests", 0, "number")
        sha = _get(event, "workflow_run", "head_sha")
    else:
        return None, None
    return (number if isinstance(number, int) else None), (sha if isinstance(sha, str) and sha else None)


def _repo(data: Any, *keys: str) -> str | None:
    name = _get(data, *keys, "full_name")
    return name.lower() if isinstance(name, str) and name else None


def fork_claim(event_name: str | None, event: dict[str, Any]) -> bool:
    """Whether the evidence was made by code from another repository than the one we publish to.

    workflow_run (the fork-safe split's publisher): a claim unless the triggering run's head repository is
    provably this one — a fork's artifact is whatever the fork's workflow wrote. A pull_request event: a claim
    when the head repository differs from the base (or was deleted); an event without the repositories (a
    hand-written payload) is taken as same-repository, since a real fork PR's token cannot write anyway.
    """
    if event_name == "workflow_run":
        head = _repo(event, "workflow_run", "head_repository")
        base = _repo(event, "workflow_run", "repository") or _repo(event, "repository")
        return head is None or head != base
    if event_name in PR_EVENTS:
        pull = _get(event, "pull_request")
        head = _get(pull, "head")
        if not isinstance(head, dict) or "repo" not in head:
            return False
        return _repo(head, "repo") is None or _repo(head, "repo") != _repo(pull, "base", "repo")
    return False
