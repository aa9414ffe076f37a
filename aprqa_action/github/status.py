"""The commit status `aprqa/<playbook>` on the qualified commit."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from aprqa_action.github.client import GitHubClient

DESCRIPTION_LIMIT = 140  # GitHub rejects longer descriptions
State = Literal["success", "failure", "error"]


FORK_SUFFIX = " (fork)"
UNVERIFIED = "unverified fork claim: "


def status_context(playbook: str, key: str | None = None, claim: bool = False) -> str:
    """A fork's claim has a context of its own, so it can never satisfy a required `aprqa/<playbook>` check."""
    return f"aprqa/{playbook}" + (f":{key}" if key else "") + (FORK_SUFFIX if claim else "")


def commit_state(qualified: bool, error: str | None = None) -> State:
    """`error` when the run could not judge at all, so it is not mistaken for a failed model."""
    if error:
        return "error"
    return "success" if qualified else "failure"


def status_description(mqs: int, grade: str, status: str, error: str | None = None, claim: bool = False) -> str:
    text = f"error: {error}" if error else f"MQS {mqs}/1000 · grade {grade} · {status}"
    text = (UNVERIFIED if claim else "") + " ".join(text.split())
    if len(text) > DESCRIPTION_LIMIT:
        text = text[: DESCRIPTION_LIMIT - 1] + "…"
    return text


def post_status(
    client: GitHubClient,
    repository: str,
    sha: str,
    *,
    state: State,
    context: str,
    description: str,
    target_url: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"state": state, "context": context, "description": description}
    if target_url:
        body["target_url"] = target_url
    data = client.post(f"/repos/{repository}/statuses/{quote(sha, safe='')}", body)
    return data if isinstance(data, dict) else {}
