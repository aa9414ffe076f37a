"""HTTP failures of the GitHub API, classified for the publisher (messages are already redacted)."""

from __future__ import annotations


class GitHubError(Exception):
    """A request failed for good (after any retries); `status` is None for network failures.

    `uncertain`: a write that was not retried because GitHub may have applied it anyway (a 5xx or a
    network error): the caller checks before writing again.
    """

    def __init__(self, message: str, status: int | None = None, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.uncertain = uncertain


class AuthError(GitHubError):
    """401 (bad or missing credentials) or a plain 403 (the token may not write here, e.g. a fork PR)."""


class NotFoundError(GitHubError):
    """404: the resource is gone, or the token cannot see it."""


class RateLimitError(GitHubError):
    """Still rate limited when attempts or the wait budget ran out, or GitHub asked for a longer wait."""
