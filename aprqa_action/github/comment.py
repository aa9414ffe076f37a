"""One sticky PR comment per playbook (and key), found again by a hidden HTML marker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from aprqa_action.github.client import GitHubClient
from aprqa_action.github.errors import AuthError, GitHubError, NotFoundError
from aprqa_action.github.truncate import truncate_lines
from aprqa_action.report.limits import COMMENT_LIMIT


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
        f"The full report is in the job summary of {where}.\n"
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


ACTIONS_BOT = "github-actions[bot]"  # the author of comments made with the workflow's GITHUB_TOKEN


class Authors:
    """Who "we" are: only comments we wrote may be edited or deleted, whatever their body says.

    The Actions bot (type Bot, so a user cannot pose as it), the token's own user when the token may call
    GET /user (a personal access token; an integration token gets 403 and is not a user), and an explicit
    login (`--comment-author`, e.g. a GitHub App's `name[bot]`). GET /user is asked at most once, and only
    when a marked comment by someone else is found.
    """

    def __init__(self, client: GitHubClient, explicit: str | None = None) -> None:
        self._client = client
        self._explicit = explicit.strip().lower() if explicit and explicit.strip() else None
        self._token_login: str | None = None
        self._asked = False
        self.notes: list[str] = []

    def owns(self, comment: dict[str, Any]) -> bool:
        login = _login(comment).lower()
        if not login:
            return False
        if login == ACTIONS_BOT and comment["user"].get("type") == "Bot":
            return True
        if login == self._explicit:
            return True
        return login == self._whoami()

    def _whoami(self) -> str | None:
        if not self._asked:
            self._asked = True
            try:
                data = self._client.get("/user")
            except AuthError:
                pass  # an installation token (GITHUB_TOKEN, an App): it acts as a bot, not as a user
            except GitHubError as exc:
                self.notes.append(f"could not ask GitHub whose token this is: {exc}")
            else:
                login = data.get("login") if isinstance(data, dict) else None
                self._token_login = login.lower() if isinstance(login, str) and login else None
        return self._token_login


def _login(comment: dict[str, Any]) -> str:
    user = comment.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else ""


def find_comments(
    client: GitHubClient, repository: str, number: int, mark: str, authors: Authors
) -> list[dict[str, Any]]:
    """Ours, oldest first: bodies that *start* with the marker (a reply quoting ours does not count) and
    whose author is us — anyone can post a comment starting with our marker."""
    marked = [
        item
        for item in client.paginate(_issue(repository, number))
        if isinstance(item, dict) and isinstance(item.get("id"), int) and str(item.get("body") or "").startswith(mark)
    ]
    ours = [item for item in marked if authors.owns(item)]
    foreign = sorted({_login(item) or "(unknown)" for item in marked if item not in ours})
    if foreign:
        authors.notes.append(
            f"left {len(marked) - len(ours)} comment(s) carrying our marker by other authors alone: "
            + ", ".join(foreign)
        )
    return ours


def upsert_comment(
    client: GitHubClient,
    repository: str,
    number: int,
    mark: str,
    body: str,
    *,
    create: bool = True,
    author: str | None = None,
) -> CommentOutcome:
    """Update our comment wherever it is (any page), create it when absent and `create` is set.

    Duplicates of ours left by concurrent runs are deleted so exactly one remains; others' comments are
    never touched.
    """
    authors = Authors(client, author)
    outcome = _upsert(client, repository, number, mark, body, create, authors)
    outcome.notes[:0] = authors.notes
    return outcome


def _upsert(
    client: GitHubClient, repository: str, number: int, mark: str, body: str, create: bool, authors: Authors
) -> CommentOutcome:
    ours = find_comments(client, repository, number, mark, authors)
    if not ours:
        if not create:
            return CommentOutcome("skipped", notes=["no earlier comment to update"])
        return _create(client, repository, number, mark, body, authors)
    first, *duplicates = ours
    try:
        outcome = _outcome("updated", client.patch(_comment(repository, int(first["id"])), {"body": body}))
    except NotFoundError:  # deleted between listing and update
        if not create:
            return CommentOutcome("skipped", notes=[f"comment {first['id']} was deleted meanwhile"])
        outcome = _create(client, repository, number, mark, body, authors)
        outcome.notes.append(f"comment {first['id']} vanished before the update; created a new one")
    _delete_duplicates(client, repository, duplicates, outcome)
    return outcome


def _create(
    client: GitHubClient, repository: str, number: int, mark: str, body: str, authors: Authors
) -> CommentOutcome:
    """POST the comment; after a 5xx or a network error GitHub may have created it all the same, so list
    again and update ours if it is there before posting once more — a blind retry could leave two."""
    notes: list[str] = []
    attempt = 1
    while True:
        try:
            outcome = _outcome("created", client.post(_issue(repository, number), {"body": body}, idempotent=False))
        except GitHubError as exc:
            if not exc.uncertain or attempt >= client.max_attempts:
                raise
            notes.append(f"{exc}; attempt {attempt} may have been applied: listing again before retrying")
            client.pause(attempt)
            attempt += 1
            ours = find_comments(client, repository, number, mark, authors)
            if ours:
                first, *duplicates = ours
                outcome = _outcome("updated", client.patch(_comment(repository, int(first["id"])), {"body": body}))
                outcome.notes[:0] = [*notes, f"comment {first['id']} was created after all; updated it"]
                _delete_duplicates(client, repository, duplicates, outcome)
                return outcome
            continue
        outcome.notes[:0] = notes
        return outcome


def _delete_duplicates(
    client: GitHubClient, repository: str, duplicates: list[dict[str, Any]], outcome: CommentOutcome
) -> None:
    for duplicate in duplicates:
        try:
            client.delete(_comment(repository, int(duplicate["id"])))
            outcome.notes.append(f"deleted duplicate comment {duplicate['id']}")
        except NotFoundError:
            pass  # another run removed it already
        except GitHubError as exc:
            outcome.notes.append(f"could not delete duplicate comment {duplicate['id']}: {exc}")


def _outcome(action: Literal["created", "updated"], data: Any) -> CommentOutcome:
    data = data if isinstance(data, dict) else {}
    comment_id = data.get("id")
    url = data.get("html_url")
    return CommentOutcome(
        action,
        comment_id if isinstance(comment_id, int) else None,
        url if isinstance(url, str) else None,
    )
