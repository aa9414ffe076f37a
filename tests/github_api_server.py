"""A real HTTP server that speaks the slice of the GitHub REST API the publisher uses, with state.

Comments (paginated like GitHub: ascending ids, `per_page` ≤ 100, `Link` rel=next/last/first/prev),
commit statuses, pull requests (their head commit), GET /user (403 for an installation token like
GITHUB_TOKEN, the user for a personal access token, whose comments are then that user's), token checks
(bad, missing, read-only) and faults queued per (method, path pattern).
Every request is recorded so tests can check where the token went.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

TOKEN = "ghs_fakeToken1234567890abcdefWRITE"
READ_ONLY_TOKEN = "ghs_fakeToken0987654321zyxwvuREAD"
PAT = "ghp_fakePersonalAccessToken0123456789"  # a user's token: GET /user answers, comments are the user's
PAT_LOGIN = "release-manager"
COMMENT_LIMIT = 65_536
STATES = {"error", "failure", "pending", "success"}

_ISSUE_COMMENTS = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")
_COMMENT = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$")
_STATUSES = re.compile(r"^/repos/([^/]+)/([^/]+)/statuses/([^/]+)$")
_COMMIT_STATUSES = re.compile(r"^/repos/([^/]+)/([^/]+)/commits/([^/]+)/statuses$")
_PULL = re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)$")


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: str


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # dict → JSON, str → as is
    vanish: bool = False  # delete the addressed comment, then answer normally (a real 404)
    applied: bool = False  # do the request for real, then answer with the fault (a 502 after the write)
    delay: float = 0.0  # seconds before answering (outside the lock): longer than the client's timeout


class FakeGitHub:
    def __init__(
        self,
        token: str = TOKEN,
        read_only_tokens: tuple[str, ...] = (READ_ONLY_TOKEN,),
        users: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.read_only_tokens = set(read_only_tokens)
        self.users = {PAT: PAT_LOGIN} if users is None else dict(users)  # personal access token → login
        self.pulls: dict[tuple[str, int], str] = {}  # (owner/repo, number) → head sha
        self.requests: list[Recorded] = []
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}  # (owner/repo, issue) → comments
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (owner/repo, sha) → newest last
        self._faults: list[Fault] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-github", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- test helpers -----------------------------------------------------------------------------------

    def add_comment(self, repo: str, issue: int, body: str, login: str = "someone") -> dict[str, Any]:
        with self._lock:
            return self._create(repo, issue, body, login)

    def add_pull(self, repo: str, number: int, head_sha: str) -> None:
        with self._lock:
            self.pulls[(repo, number)] = head_sha

    def issue_comments(self, repo: str, issue: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self.comments.get((repo, issue), [])]

    def commit_statuses(self, repo: str, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self.statuses.get((repo, sha), [])]

    def inject(
        self,
        method: str,
        pattern: str,
        status: int = 500,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        vanish: bool = False,
        applied: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Queue `times` faults for requests whose method matches and whose path (no query) matches."""
        with self._lock:
            for _ in range(times):
                self._faults.append(
                    Fault(method, re.compile(pattern), status, dict(headers or {}), body, vanish, applied, delay)
                )

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # -- state (called with the lock held) --------------------------------------------------------------

    def _create(self, repo: str, issue: int, body: str, login: str) -> dict[str, Any]:
        self._next_id += 1
        owner, name = repo.split("/")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        comment = {
            "id": self._next_id,
            "body": body,
            "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
            "html_url": f"https://github.com/{repo}/pull/{issue}#issuecomment-{self._next_id}",
            "issue_url": f"{self.url}/repos/{owner}/{name}/issues/{issue}",
            "created_at": now,
            "updated_at": now,
        }
        self.comments.setdefault((repo, issue), []).append(comment)
        return comment

    def _find(self, repo: str, comment_id: int) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        for (owner_repo, _), comments in self.comments.items():
            for comment in comments:
                if owner_repo == repo and comment["id"] == comment_id:
                    return comments, comment
        return None

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.method == method and fault.pattern.search(path):
                return self._faults.pop(index)
        return None


Response = tuple[int, Any, dict[str, str]]


def _error(status: int, message: str) -> Response:
    return status, {"message": message, "documentation_url": "https://docs.github.com/rest"}, {}


def _handler(api: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like api.github.com
        disable_nagle_algorithm = True  # headers and body go out separately: avoid 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            parts = urlsplit(self.path)
            self.delay = 0.0
            with api._lock:
                api.requests.append(Recorded(method, self.path, dict(self.headers.items()), raw))
                status, payload, headers = self._route(method, parts.path, parse_qs(parts.query), raw)
            if self.delay:
                time.sleep(self.delay)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                self._send(status, payload, headers)

        def _route(self, method: str, path: str, query: dict[str, list[str]], raw: str) -> Response:
            fault = api._take_fault(method, path)
            self.delay = fault.delay if fault is not None else 0.0
            if fault is not None and fault.applied:
                self._handle(method, path, query, raw)
                return fault.status, fault.body, fault.headers
            if fault is not None and not fault.vanish:
                return fault.status, fault.body, fault.headers
            if fault is not None:
                match = _COMMENT.match(path)
                if match:
                    found = api._find(f"{match[1]}/{match[2]}", int(match[3]))
                    if found:
                        found[0].remove(found[1])
            return self._handle(method, path, query, raw)

        def _handle(self, method: str, path: str, query: dict[str, list[str]], raw: str) -> Response:
            denied = self._auth(method)
            if denied:
                return denied
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return _error(400, "Problems parsing JSON")
            if match := _ISSUE_COMMENTS.match(path):
                repo, issue = f"{match[1]}/{match[2]}", int(match[3])
                if method == "GET":
                    return self._list(repo, issue, path, query)
                if method == "POST":
                    invalid = _invalid_body(body)
                    author = api.users.get(self._token(), "github-actions[bot]")
                    return invalid or (201, api._create(repo, issue, body["body"], author), {})
            if match := _COMMENT.match(path):
                found = api._find(f"{match[1]}/{match[2]}", int(match[3]))
                if found is None:
                    return _error(404, "Not Found")
                comments, comment = found
                if method == "GET":
                    return 200, comment, {}
                if method == "PATCH":
                    invalid = _invalid_body(body)
                    if invalid:
                        return invalid
                    comment["body"] = body["body"]
                    comment["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    return 200, comment, {}
                if method == "DELETE":
                    comments.remove(comment)
                    return 204, None, {}
            if (match := _STATUSES.match(path)) and method == "POST":
                return self._status(f"{match[1]}/{match[2]}", match[3], body)
            if (match := _COMMIT_STATUSES.match(path)) and method == "GET":
                return 200, list(reversed(api.statuses.get((f"{match[1]}/{match[2]}", match[3]), []))), {}
            if (match := _PULL.match(path)) and method == "GET":
                head = api.pulls.get((f"{match[1]}/{match[2]}", int(match[3])))
                if head is None:
                    return _error(404, "Not Found")
                return 200, {"number": int(match[3]), "state": "open", "head": {"sha": head}}, {}
            if path == "/user" and method == "GET":
                login = api.users.get(self._token())
                if login is None:  # what GitHub answers an installation token
                    return _error(403, "Resource not accessible by integration")
                return 200, {"login": login, "id": 1, "type": "User"}, {}
            return _error(404, "Not Found")

        def _token(self) -> str:
            return self.headers.get("Authorization", "").partition(" ")[2]

        def _auth(self, method: str) -> Response | None:
            header = self.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if not header:
                return _error(401, "Requires authentication")
            valid = {api.token, *api.read_only_tokens, *api.users}
            if scheme.lower() not in ("bearer", "token") or token not in valid:
                return _error(401, "Bad credentials")
            if method != "GET" and token in api.read_only_tokens:
                return _error(403, "Resource not accessible by integration")
            return None

        def _list(self, repo: str, issue: int, path: str, query: dict[str, list[str]]) -> Response:
            try:
                per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
                page = max(int(query.get("page", ["1"])[0]), 1)
            except ValueError:
                return _error(422, "Invalid pagination")
            comments = api.comments.get((repo, issue), [])
            last = max((len(comments) + per_page - 1) // per_page, 1)
            items = comments[(page - 1) * per_page : page * per_page]

            def link(number: int) -> str:
                return f"<{api.url}{path}?{urlencode({'per_page': per_page, 'page': number})}>"

            rels = []
            if page < last:
                rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
            if page > 1:
                rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
            return 200, items, {"Link": ", ".join(rels)} if rels else {}

        def _status(self, repo: str, sha: str, body: dict[str, Any]) -> Response:
            if body.get("state") not in STATES:
                return _error(422, "Validation Failed: state is not included in the list")
            description = body.get("description")
            if description is not None and len(description) > 140:
                return _error(422, "Validation Failed: description is too long (maximum is 140 characters)")
            status = {
                "id": len(api.statuses.get((repo, sha), [])) + 1,
                "state": body["state"],
                "context": body.get("context", "default"),
                "description": description,
                "target_url": body.get("target_url"),
            }
            api.statuses.setdefault((repo, sha), []).append(status)
            return 201, status, {}

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            if payload is None:
                data = b""
            elif isinstance(payload, str):
                data = payload.encode("utf-8")
            else:
                data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            merged = {
                "Content-Type": "application/json; charset=utf-8",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4999",
                "X-RateLimit-Reset": str(int(time.time()) + 3600),
            }
            # Injected headers replace the defaults case-insensitively (e.g. x-ratelimit-remaining: 0).
            lowered = {key.lower() for key in headers}
            for key, value in {
                **{k: v for k, v in merged.items() if k.lower() not in lowered},
                **headers,
            }.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

    return Handler


def _invalid_body(body: Any) -> Response | None:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        return _error(422, "Validation Failed: body is missing")
    if len(body["body"]) > COMMENT_LIMIT:
        return _error(422, f"Validation Failed: body is too long (maximum is {COMMENT_LIMIT} characters)")
    return None


# -- canned faults -------------------------------------------------------------------------------------

BAD_GATEWAY = "<html><body><h1>502 Bad Gateway</h1></body></html>"
SECONDARY_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
PRIMARY_LIMIT = {"message": "API rate limit exceeded for installation ID 1."}


@contextmanager
def running(**kwargs: Any) -> Iterator[FakeGitHub]:
    server = FakeGitHub(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


# -- the rest of a runner's environment ----------------------------------------------------------------

REPO = "octo/models"
PR = 7
HEAD_SHA = "a" * 40  # the PR head: where statuses must go
MERGE_SHA = "m" * 40  # GITHUB_SHA of a pull_request event: the merge commit, never the status target
RUN_ID = "4242"
RUN_URL = f"https://github.com/{REPO}/actions/runs/{RUN_ID}"


def actions_env(
    tmp_path: Any,
    api_url: str,
    *,
    event_name: str = "pull_request",
    event: dict[str, Any] | None = None,
    token: str | None = TOKEN,
    **extra: str,
) -> dict[str, str]:
    """The variables a runner sets for a step, with files under `tmp_path`."""
    if event is None:
        event = {"action": "synchronize", "pull_request": {"number": PR, "head": {"sha": HEAD_SHA}}}
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": MERGE_SHA,
        "GITHUB_RUN_ID": RUN_ID,
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }
    if token is not None:
        env["GITHUB_TOKEN"] = token
    return {**env, **extra}


class FakeTime:
    """sleep/clock/now for the client: sleeping records the wait and advances time instantly."""

    def __init__(self, epoch: float = 1_700_000_000.0) -> None:
        self.elapsed = 0.0
        self.epoch = epoch
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def clock(self) -> float:
        return self.elapsed

    def now(self) -> float:
        return self.epoch + self.elapsed


def parse_github_output(text: str) -> dict[str, str]:
    """Reads $GITHUB_OUTPUT the way the runner does (`name=value` or `name<<DELIMITER` … `DELIMITER`)."""
    outputs: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            for candidate in lines:
                if candidate == delimiter:
                    break
                value.append(candidate)
            else:
                raise AssertionError(f"unterminated heredoc for {name}")
            outputs[name] = "\n".join(value)
        else:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
    return outputs
