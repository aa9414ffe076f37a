"""The REST client against the local GitHub API server: pagination, spacing, retries, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from github_api_server import BAD_GATEWAY, READ_ONLY_TOKEN, REPO, TOKEN, FakeGitHub, FakeTime, running

from aprqa_action.github.client import GitHubClient
from aprqa_action.github.errors import AuthError, GitHubError, NotFoundError, RateLimitError
from aprqa_action.github.retry import ClientOptions

ISSUE = f"/repos/{REPO}/issues/3/comments"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with running() as server:
        yield server


def client(gh: FakeGitHub, clock: FakeTime, token: str = TOKEN, **options: Any) -> GitHubClient:
    options.setdefault("min_write_interval", 0.0)
    return GitHubClient(
        gh.url, token, options=ClientOptions(sleep=clock.sleep, clock=clock.clock, now=clock.now, **options)
    )


def test_paginate_follows_link_next_in_order(gh: FakeGitHub) -> None:
    for index in range(250):
        gh.add_comment(REPO, 3, f"c{index}")

    with client(gh, FakeTime()) as api:
        bodies = [item["body"] for item in api.paginate(ISSUE)]

    assert bodies == [f"c{index}" for index in range(250)]
    pages = [r.path for r in gh.requests]
    assert pages[0] == f"{ISSUE}?per_page=100"
    assert ["page=2" in pages[1], "page=3" in pages[2], len(pages)] == [True, True, 3]


def test_a_link_to_another_host_is_refused(gh: FakeGitHub) -> None:
    # The token must never be sent anywhere but the API host, whatever a Link header says.
    with client(gh, FakeTime()) as api, pytest.raises(GitHubError, match="another host"):
        api.get("https://evil.example/repos/o/r/issues/1/comments")
    assert gh.requests == []


def test_writes_are_spaced_by_the_minimum_interval(gh: FakeGitHub) -> None:
    clock = FakeTime()
    with client(gh, clock, min_write_interval=1.0) as api:
        api.post(ISSUE, {"body": "one"})
        api.get(ISSUE)  # reads are not spaced
        api.post(ISSUE, {"body": "two"})
        clock.elapsed += 0.25  # time passing between writes counts
        api.post(ISSUE, {"body": "three"})

    assert clock.sleeps == [1.0, 0.75]
    assert [c["body"] for c in gh.issue_comments(REPO, 3)] == ["one", "two", "three"]


def test_a_plain_403_is_not_retried(gh: FakeGitHub) -> None:
    clock = FakeTime()
    with client(gh, clock, token=READ_ONLY_TOKEN) as api, pytest.raises(AuthError) as caught:
        api.post(ISSUE, {"body": "hi"})

    assert caught.value.status == 403 and "Resource not accessible by integration" in str(caught.value)
    assert len(gh.requests) == 1 and clock.sleeps == []


def test_bad_credentials_are_an_auth_error_without_the_token(gh: FakeGitHub) -> None:
    wrong = "ghp_notTheRightToken000000000000000"
    with client(gh, FakeTime(), token=wrong) as api, pytest.raises(AuthError) as caught:
        api.get(ISSUE)
    assert caught.value.status == 401 and "Bad credentials" in str(caught.value)
    assert wrong not in str(caught.value)


def test_404_is_not_found(gh: FakeGitHub) -> None:
    with client(gh, FakeTime()) as api, pytest.raises(NotFoundError):
        api.patch(f"/repos/{REPO}/issues/comments/1", {"body": "x"})


def test_retry_after_as_an_http_date(gh: FakeGitHub) -> None:
    clock = FakeTime(epoch=1_700_000_000.0)  # Tue, 14 Nov 2023 22:13:20 GMT
    gh.inject("GET", "/comments$", 503, headers={"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"})

    with client(gh, clock) as api:
        assert api.get(ISSUE) == []
    assert clock.sleeps == [30.0]


def test_the_total_wait_budget_bounds_retries(gh: FakeGitHub) -> None:
    clock = FakeTime()
    gh.inject("GET", "/comments$", 502, body=BAD_GATEWAY, times=5)

    with client(gh, clock, backoff=1, max_wait=60, total_wait=5) as api, pytest.raises(GitHubError) as caught:
        api.get(ISSUE)

    assert clock.sleeps == [1, 2]  # a further 4 s would exceed the 5 s budget
    assert caught.value.status == 502 and "5 s" in str(caught.value)


def test_still_rate_limited_after_the_retries_is_a_rate_limit_error(gh: FakeGitHub) -> None:
    clock = FakeTime()
    gh.inject("POST", "/comments$", 429, headers={"Retry-After": "1"}, times=3)

    with client(gh, clock, max_attempts=3) as api, pytest.raises(RateLimitError):
        api.post(ISSUE, {"body": "x"})
    assert clock.sleeps == [1.0, 1.0]
    assert gh.issue_comments(REPO, 3) == []
    assert len(api.log) == 2 and "Retry-After: 1" in api.log[0]


def test_the_client_repr_and_errors_hide_the_token(gh: FakeGitHub) -> None:
    gh.inject("GET", "/comments$", 500, body={"message": f"internal error near {TOKEN}"}, times=5)
    with client(gh, FakeTime()) as api, pytest.raises(GitHubError) as caught:
        api.get(ISSUE)
    assert TOKEN not in repr(api) + str(caught.value) + "".join(api.log)
    assert "***" in str(caught.value)
