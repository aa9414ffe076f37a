"""A small GitHub REST client: serial calls, spaced writes, retries that honour GitHub's rate limits.

Every failure surfaces as a `GitHubError` whose message never contains the token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result

from aprqa_action.github.errors import AuthError, GitHubError, NotFoundError, RateLimitError
from aprqa_action.github.redact import Redactor
from aprqa_action.github.retry import (
    ClientOptions,
    Wait,
    backoff,
    is_primary_limit,
    is_retryable,
    is_secondary_limit,
    wait_for,
)

API_VERSION = "2022-11-28"
USER_AGENT = "aprqa-action"
MAX_PAGES = 100  # 10,000 items at per_page=100: beyond that something loops
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout)


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str):
        return message
    return " ".join(response.text.split())[:200] or response.reason or ""


class GitHubClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        options: ClientOptions | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._api = api_url.rstrip("/")
        parts = urlsplit(self._api)
        self._origin = (parts.scheme, parts.netloc)
        self._token = token
        self._redact = Redactor(token)
        self._options = options or ClientOptions()
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._lock = threading.Lock()  # serial: one request at a time, even if shared
        self._last_write: float | None = None
        self._pending: Wait | None = None
        self._gave_up = ""
        self.log: list[str] = []  # retries, already redacted

    def __repr__(self) -> str:
        return f"GitHubClient({self._api!r})"

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # -- requests ---------------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self._json(self.request("GET", path, params=params))

    def post(self, path: str, body: Mapping[str, Any], *, idempotent: bool = True) -> Any:
        """`idempotent=False` (creating a comment): no blind retry after a 5xx or a network error, which
        GitHub may have applied; the GitHubError is `uncertain` and the caller checks before retrying."""
        return self._json(self.request("POST", path, body=body, idempotent=idempotent))

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._json(self.request("PATCH", path, body=body))

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def paginate(self, path: str, params: Mapping[str, str | int] | None = None) -> Iterator[Any]:
        """Items of every page, following `Link: rel="next"` (which already carries the query)."""
        url: str | None = path
        query: Mapping[str, str | int] | None = {"per_page": 100, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.request("GET", url, params=query)
            items = self._json(response)
            if not isinstance(items, list):
                raise GitHubError(self._redact(f"GET {path}: expected a JSON list"), response.status_code)
            yield from items
            url, query = response.links.get("next", {}).get("url"), None
        raise GitHubError(self._redact(f"GET {path}: more than {MAX_PAGES} pages"))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """A successful response, or a GitHubError once retries are exhausted or pointless."""
        url = self._url(path)
        label = f"{method} {urlsplit(url).path}"
        # A rate-limit answer means GitHub did nothing, so even a non-idempotent write may be retried on it.
        retry = (
            retry_if_exception_type(_NETWORK_ERRORS) | retry_if_result(self._should_retry)
            if idempotent
            else retry_if_result(self._is_rate_limited)
        )
        with self._lock:
            self._gave_up = ""
            retrying = Retrying(
                retry=retry,
                wait=self._wait,
                stop=self._stop,
                sleep=self._options.sleep,
                before_sleep=lambda state: self._note_retry(label, state),
                retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
                reraise=True,
            )
            try:
                response: requests.Response = retrying(self._attempt, method, url, body, params)
            except requests.RequestException as exc:
                message = f"{label}: {type(exc).__name__}: {exc}{self._why()}"
                raise GitHubError(self._redact(message), uncertain=not idempotent) from None
        if response.ok:
            return response
        error = self._error(label, response)
        error.uncertain = not idempotent and response.status_code >= 500
        raise error

    @property
    def max_attempts(self) -> int:
        return self._options.max_attempts

    def pause(self, attempt: int) -> None:
        """Sleep the exponential backoff after failed attempt `attempt` of a retry the caller drives."""
        self._options.sleep(backoff(self._options, attempt))

    # -- internals --------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if not path.startswith(("http://", "https://")):
            return self._api + "/" + path.lstrip("/")
        parts = urlsplit(path)
        if (parts.scheme, parts.netloc) != self._origin:
            # A Link header pointing elsewhere must not receive our Authorization header.
            raise GitHubError(self._redact(f"refusing to follow a link to another host: {parts.netloc}"))
        return path

    def _headers(self) -> dict[str, str]:
        return {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {self._token}",
        }

    def _attempt(
        self, method: str, url: str, body: Mapping[str, Any] | None, params: Mapping[str, str | int] | None
    ) -> requests.Response:
        write = method != "GET"
        if write and self._last_write is not None:
            remaining = self._options.min_write_interval - (self._options.clock() - self._last_write)
            if remaining > 0:
                self._options.sleep(remaining)
        try:
            return self._session.request(
                method,
                url,
                json=body,
                params=params,
                headers=self._headers(),
                timeout=self._options.timeout,
            )
        finally:
            if write:
                self._last_write = self._options.clock()

    @staticmethod
    def _should_retry(response: requests.Response) -> bool:
        return is_retryable(response.status_code, response.headers, response.text)

    @staticmethod
    def _is_rate_limited(response: requests.Response) -> bool:
        return response.status_code < 500 and is_retryable(response.status_code, response.headers, response.text)

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is None or outcome.failed:
            self._pending = wait_for(self._options, state.attempt_number, None, {}, "")
        else:
            response: requests.Response = outcome.result()
            self._pending = wait_for(
                self._options, state.attempt_number, response.status_code, response.headers, response.text
            )
        return self._pending.seconds

    def _stop(self, state: RetryCallState) -> bool:
        wait, options = self._pending, self._options
        if state.attempt_number >= options.max_attempts:
            self._gave_up = f"gave up after {state.attempt_number} attempts"
        elif wait is not None and wait.dictated and wait.seconds > options.max_wait:
            # Retrying before the time GitHub names is futile and can get the integration banned.
            self._gave_up = f"GitHub asked to wait {wait.seconds:g} s, over the {options.max_wait:g} s cap"
        elif wait is not None and state.idle_for + wait.seconds > options.total_wait:
            self._gave_up = f"waiting {wait.seconds:g} s more would exceed the {options.total_wait:g} s"
        return bool(self._gave_up)

    def _note_retry(self, label: str, state: RetryCallState) -> None:
        wait = self._pending
        reason = wait.reason if wait else "retry"
        outcome = state.outcome
        if outcome is not None and outcome.failed:
            reason = f"{type(outcome.exception()).__name__}, backoff"
        attempt, seconds = state.attempt_number, state.upcoming_sleep
        self.log.append(self._redact(f"{label}: attempt {attempt} failed ({reason}); retrying in {seconds:g} s"))

    def _why(self) -> str:
        return f" ({self._gave_up})" if self._gave_up else ""

    def _error(self, label: str, response: requests.Response) -> GitHubError:
        status, headers, text = response.status_code, response.headers, response.text
        message = self._redact(f"{label}: {status} {_message(response)}{self._why()}")
        if status == 429 or is_secondary_limit(status, headers, text) or is_primary_limit(status, headers):
            return RateLimitError(message, status)
        if status in (401, 403):
            return AuthError(message, status)
        if status == 404:
            return NotFoundError(message, status)
        return GitHubError(message, status)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None
