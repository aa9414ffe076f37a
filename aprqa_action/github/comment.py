"""One sticky PR comment per playbook (and key), found again by a hidden HTML marker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from aprqa_action.github.client import GitHubClient
from aprqa_action.github.errors import GitHubError, NotFoundError
from aprqa_action.github.truncate import truncate_lines

COMMENT_LIMIT = 65_536  # characters; GitHub answers 422 above it


def marker(playbook: str, key: str | None = None) -> str:
    """`<!-- aprqa:<playbook>[:<key>] -->`; quoting keeps it injective and unable to close the comment."""
    ident = quote(playbook, safe="._/@+")
    if key:
        ident += ":" + quote(key, safe="._/@+")
    return f"<!-- aprqa:{ident} -->"


def comment_note(run_url: str | None) -> str:
    where = f"[the workflow run]({run_url})" if run_url else "the workflow run"
    return (
        "\n---\n"
        "> [!WARNING]\n"
        "> This comment was truncated to fit GitHub's 65,536-character limit. "
        f"The full report is in the job summary and the evidence artifact of {where}.\n"
    )


def comment_body(mark: str, markdown: str, run_url: str | None) -> tuple[str, bool]:
    return truncate_lines(f"{mark}\n{markdown}", COMMENT_LIMIT, comment_note(run_url))


@dataclass
class CommentOutcome:
    action: Literal["created", "updated", "skipped"]
    comment_id: int | None = None
    url: str | None = None
    notes: list[str] = field(default_factory=list)


def _issue(repository: str, number: int) -> str:
    return f"/repos/{repository}/issues/{number}/comments"


def _comment(repository: str, comment_id: int) -> str:
    return f"/repos/{repository}/issues/comments/{comment_id}"


def find_comments(client: GitHubClient, repository: str, number: int, mark: str) -> list[dict[str, Any]]:
    """Ours, oldest first. Only bodies that *start* with the marker: a reply quoting ours does not count."""
    return [
        item
        for item in client.paginate(_issue(repository, number))
        if isinstance(item, dict) and isinstance(item.get("id"), int) and str(item.get("body") or "").startswith(mark)
    ]


def upsert_comment(
    client: GitHubClient, repository: str, number: int, mark: str, body: str, *, create: bool = True
) -> CommentOutcome:
    """Update our comment wherever it is (any page), create it when absent and `create` is set.

    Duplicates left by concurrent runs are deleted so exactly one remains.
    """
    ours = find_comments(client, repository, number, mark)
    if not ours:
        if not create:
            return CommentOutcome("skipped", notes=["no earlier comment to update"])
        return _created(client.post(_issue(repository, number), {"body": body}))
    first, *duplicates = ours
    try:
        outcome = _outcome("updated", client.patch(_comment(repository, int(first["id"])), {"body": body}))
    except NotFoundError:  # deleted between listing and update
        if not create:
            return CommentOutcome("skipped", notes=[f"comment {first['id']} was deleted meanwhile"])
        outcome = _created(client.post(_issue(repository, number), {"body": body}))
        outcome.notes.append(f"comment {first['id']} vanished before the update; created a new one")
    for duplicate in duplicates:
        try:
            client.delete(_comment(repository, int(duplicate["id"])))
            outcome.notes.append(f"deleted duplicate comment {duplicate['id']}")
        except NotFoundError:
            pass  # another run removed it already
        except GitHubError as exc:
            outcome.notes.append(f"could not delete duplicate comment {duplicate['id']}: {exc}")
    return outcome


def _outcome(action: Literal["created", "updated"], data: Any) -> CommentOutcome:
    data = data if isinstance(data, dict) else {}
    comment_id = data.get("id")
    url = data.get("html_url")
    return CommentOutcome(
        action,
        comment_id if isinstance(comment_id, int) else None,
        url if isinstance(url, str) else None,
    )


def _created(data: Any) -> CommentOutcome:
    return _outcome("created", data)
