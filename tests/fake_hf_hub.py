"""A real local HTTP server that speaks the slice of the Hugging Face Hub protocol huggingface_hub uses to list and
download a model repo, so `aprqa_action.pull` is tested end to end without the internet.

Modelled on what the installed huggingface_hub (2.x) requests and reads back:
- `GET /api/models/{repo}[/revision/{rev}][?blobs=true]` (HfApi.model_info / repo_info): id, sha, siblings
  (`rfilename`, and with blobs `blobId`, `size`, `lfs {sha256, size, pointerSize}`).
- `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=` (list_repo_tree, used by snapshot_download):
  `[{type, oid, size, path, lfs {oid, size, pointerSize}}]`, paginated by a cursor in a `Link: <…>; rel="next"`.
- `HEAD|GET /{repo}/resolve/{rev}/{path}` (hf_hub_download): a regular file answers 307 to the same-host
  `/api/resolve-cache/models/{repo}/{sha}/{path}` (ETag = git blob id); an LFS file answers 302 to a *signed* URL
  on a separate CDN origin with `X-Linked-Etag` (sha256), `X-Linked-Size` and `X-Repo-Commit` — the library stops
  there, takes the metadata from that response and drops the Authorization header before following.
- Errors carry the `X-Error-Code` the library maps to its exceptions: RepoNotFound (404, or 401 for a private repo
  without a valid token), RevisionNotFound, EntryNotFound (with X-Repo-Commit).
Both origins listen on 127.0.0.1 and record every request, so tests can assert "no request at all" (offline) and
"only the chosen files were downloaded".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

# Extensions a real model repo's .gitattributes routes to LFS.
LFS_PATTERN = re.compile(r"\.(gguf|safetensors|apr|bin|pt|onnx)$", re.IGNORECASE)
GITATTRIBUTES = b"".join(
    f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n".encode() for ext in ("gguf", "safetensors", "apr", "bin")
)
_SIGNING_KEY = b"fake-cdn-signing-key"

_MODEL_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+?)(?:/revision/(?P<rev>[^/]+))?$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_RESOLVE_CACHE = re.compile(r"^/api/resolve-cache/models/(?P<repo>[^/]+/[^/]+)/(?P<sha>[0-9a-f]{40})/(?P<path>.+)$")
_BLOB = re.compile(r"^/blobs/(?P<sha256>[0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Recorded:
    origin: str  # "hub" or "cdn"
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names in lower case


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    times: int


@dataclass
class RepoFile:
    path: str
    data: bytes

    @property
    def lfs(self) -> bool:
        return bool(LFS_PATTERN.search(self.path))

    @property
    def blob_id(self) -> str:
        # A git blob id; for an LFS file git stores the pointer, whose id the Hub reports as `oid`.
        content = self.pointer if self.lfs else self.data
        return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n"
        ).encode()


@dataclass
class Repo:
    repo_id: str
    files: dict[str, RepoFile]
    token: str | None = None  # a private repo: only this bearer token may read it
    branches: dict[str, str] = field(default_factory=dict)

    @property
    def sha(self) -> str:
        digest = hashlib.sha1(self.repo_id.encode())
        for path in sorted(self.files):
            digest.update(f"{path}\0{self.files[path].blob_id}\n".encode())
        return digest.hexdigest()


class FakeHub:
    """The Hub (API + resolve) on one 127.0.0.1 origin and its LFS CDN on another."""

    def __init__(self, repos: Mapping[str, Mapping[str, bytes]] | None = None, *, page_size: int = 1000) -> None:
        self.page_size = page_size
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "cdn"))
        self._threads = []
        for name, server in (("hub", self._hub), ("cdn", self._cdn)):
            server.daemon_threads = True
            self._threads.append(
                threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"fake-hf-{name}", daemon=True
                )
            )
        for repo_id, files in (repos or {}).items():
            self.add_repo(repo_id, files)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> FakeHub:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        # Keep-alive connections of the library's pooled client would otherwise pin handler threads.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    # -- test helpers -----------------------------------------------------------------------------------

    def add_repo(self, repo_id: str, files: Mapping[str, bytes], *, token: str | None = None) -> str:
        """Create (or replace: a new commit on main) a repo; returns its commit sha."""
        entries = {path: RepoFile(path, data) for path, data in files.items()}
        entries.setdefault(".gitattributes", RepoFile(".gitattributes", GITATTRIBUTES))
        repo = Repo(repo_id, entries, token)
        repo.branches["main"] = repo.sha
        with self._lock:
            self.repos[repo_id] = repo
        return repo.sha

    def inject(
        self,
        method: str,
        pattern: str,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests whose path matches `pattern` with this response instead."""
        with self._lock:
            self._faults.append(Fault(method, re.compile(pattern), status, dict(headers or {}), body, times))

    def downloaded(self) -> list[str]:
        """Repo paths whose bytes were served (GET of a regular file or of an LFS blob), in order."""
        by_sha256 = {f.sha256: f.path for repo in self.repos.values() for f in repo.files.values() if f.lfs}
        served = []
        for r in self.requests:
            if r.method != "GET":
                continue
            path = urlsplit(r.path).path
            if r.origin == "cdn" and (match := _BLOB.match(path)):
                served.append(by_sha256.get(match["sha256"], match["sha256"]))
            elif r.origin == "hub" and (match := _RESOLVE_CACHE.match(path)):
                served.append(unquote(match["path"]))
        return served

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- internals ---------------------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _signature(self, sha256: str) -> str:
        return hmac.new(_SIGNING_KEY, sha256.encode(), hashlib.sha256).hexdigest()


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response[0])
        self.response = response


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(payload).encode()


def _error(status: int, code: str | None, message: str, headers: Mapping[str, str] | None = None) -> Response:
    extra = {"X-Error-Message": message, **(headers or {})}
    if code:
        extra["X-Error-Code"] = code
    return _json(status, {"error": message}, extra)


def _handler(hub: FakeHub, origin: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the Hub
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def setup(self) -> None:
            super().setup()
            with hub._lock:
                hub._connections.add(self.connection)

        def finish(self) -> None:
            with hub._lock:
                hub._connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def _serve(self, method: str) -> None:
            with hub._lock:
                hub.requests.append(
                    Recorded(origin, method, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
            fault = hub._take_fault(method, self.path)
            if fault is not None:
                body = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body or {}).encode()
                status, headers, data = fault.status, {"Content-Type": "application/json", **fault.headers}, body
            else:
                try:
                    status, headers, data = self._route(method)
                except _Refusal as refusal:
                    status, headers, data = refusal.response
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD" and data:
                self.wfile.write(data)

        def _route(self, method: str) -> Response:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            if origin == "cdn":
                return self._blob(path, query)
            if method == "GET" and (match := _TREE.match(path)):
                return self._tree(match, query)
            if method == "GET" and (match := _MODEL_INFO.match(path)):
                return self._model_info(match, query)
            if match := _RESOLVE_CACHE.match(path):
                return self._resolve_cache(match)
            if match := _RESOLVE.match(path):
                return self._resolve(match)
            return _error(404, None, "Sorry, we can't find the page you are looking for.")

        # -- Hub API -------------------------------------------------------------------------------------

        def _repo(self, repo_id: str, rev: str | None) -> tuple[Repo, str]:
            """The repo and the commit a revision names, or a _Refusal with the Hub's error."""
            with hub._lock:
                repo = hub.repos.get(repo_id)
            if repo is None:
                raise _Refusal(_error(404, "RepoNotFound", "Repository not found"))
            if repo.token is not None:
                auth = self.headers.get("Authorization", "")
                if not auth:
                    raise _Refusal(_error(401, "RepoNotFound", "Invalid username or password."))
                if auth != f"Bearer {repo.token}":
                    raise _Refusal(_error(401, "RepoNotFound", "Invalid credentials in Authorization header"))
            rev = unquote(rev or "main")
            sha = repo.branches.get(rev) or (rev if rev == repo.sha else None)
            if sha is None:
                raise _Refusal(_error(404, "RevisionNotFound", f"Invalid rev id: {rev}"))
            return repo, sha

        def _model_info(self, match: re.Match[str], query: dict[str, list[str]]) -> Response:
            repo, sha = self._repo(match["repo"], match["rev"])
            blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
            siblings = []
            for f in sorted(repo.files.values(), key=lambda f: f.path):
                sibling: dict[str, Any] = {"rfilename": f.path}
                if blobs:
                    sibling.update(blobId=f.blob_id, size=len(f.data))
                    if f.lfs:
                        sibling["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
                siblings.append(sibling)
            org = repo.repo_id.split("/")[0]
            return _json(
                200,
                {
                    "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "author": org,
                    "sha": sha,
                    "lastModified": "2024-09-19T00:00:00.000Z",
                    "createdAt": "2024-09-18T00:00:00.000Z",
                    "private": repo.token is not None,
                    "gated": False,
                    "disabled": False,
                    "tags": ["gguf"] if any(p.endswith(".gguf") for p in repo.files) else [],
                    "siblings": siblings,
                },
            )

        def _tree(self, match: re.Match[str], query: dict[str, list[str]]) -> Response:
            repo, sha = self._repo(match["repo"], match["rev"])
            base = unquote(match["path"] or "").strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            entries = _tree_entries(repo, base, recursive)
            if base and not entries:
                return _error(404, "EntryNotFound", f"{base} does not exist on {match['rev']}", {"X-Repo-Commit": sha})
            start = int(query.get("cursor", ["0"])[0])
            page = entries[start : start + hub.page_size]
            headers = {"X-Repo-Commit": sha}
            if start + hub.page_size < len(entries):
                params = {k: v[0] for k, v in query.items() if k != "cursor"}
                params["cursor"] = str(start + hub.page_size)
                headers["Link"] = f'<{hub.url}{urlsplit(self.path).path}?{urlencode(params)}>; rel="next"'
            return _json(200, page, headers)

        def _resolve(self, match: re.Match[str]) -> Response:
            repo, sha = self._repo(match["repo"], match["rev"])
            path = unquote(match["path"])
            f = repo.files.get(path)
            if f is None:
                return _error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
            common = {"X-Repo-Commit": sha, "Content-Length": "0"}
            if f.lfs:
                location = f"{hub.cdn_url}/blobs/{f.sha256}?{urlencode({'sig': hub._signature(f.sha256)})}"
                return (
                    302,
                    {
                        **common,
                        "Location": location,
                        "ETag": f'"{f.blob_id}"',
                        "X-Linked-Etag": f'"{f.sha256}"',
                        "X-Linked-Size": str(len(f.data)),
                    },
                    b"",
                )
            location = f"/api/resolve-cache/models/{repo.repo_id}/{sha}/{quote(path)}"
            return 307, {**common, "Location": location, "ETag": f'"{f.blob_id}"'}, b""

        def _resolve_cache(self, match: re.Match[str]) -> Response:
            repo, sha = self._repo(match["repo"], match["sha"])
            f = repo.files.get(unquote(match["path"]))
            if f is None or f.lfs:
                return _error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
            headers = {"X-Repo-Commit": sha, "ETag": f'"{f.blob_id}"', "Content-Type": "text/plain; charset=utf-8"}
            return 200, headers, f.data

        # -- CDN -----------------------------------------------------------------------------------------

        def _blob(self, path: str, query: dict[str, list[str]]) -> Response:
            match = _BLOB.match(path)
            if match is None:
                return 404, {}, b"Not Found"
            sha256 = match["sha256"]
            if not hmac.compare_digest(query.get("sig", [""])[0], hub._signature(sha256)):
                return 403, {"Content-Type": "text/plain"}, b"AccessDenied: bad signature"
            with hub._lock:
                data = next(
                    (f.data for r in hub.repos.values() for f in r.files.values() if f.lfs and f.sha256 == sha256),
                    None,
                )
            if data is None:
                return 404, {}, b"NoSuchKey"
            headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
            wanted = _RANGE.match(self.headers.get("Range", ""))
            if wanted is None:
                return 200, headers, data
            start = int(wanted[1])
            end = int(wanted[2]) if wanted[2] else len(data) - 1
            if start >= len(data):
                return 416, {"Content-Range": f"bytes */{len(data)}"}, b""
            return 206, {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start : end + 1]

    return Handler


def _tree_entries(repo: Repo, base: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{base}/" if base else ""
    entries: dict[str, dict[str, Any]] = {}
    for f in sorted(repo.files.values(), key=lambda f: f.path):
        if not f.path.startswith(prefix):
            continue
        rest = f.path[len(prefix) :].split("/")
        # Folders on the way to the file (all of them when recursive, only the first level otherwise).
        for depth in range(1, len(rest) if recursive else min(len(rest), 2)):
            folder = prefix + "/".join(rest[:depth])
            entries.setdefault(
                folder,
                {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0, "path": folder},
            )
        if len(rest) > 1 and not recursive:
            continue
        entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": f.path}
        if f.lfs:
            entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
        entries[f.path] = entry
    return list(entries.values())


def closed_port_url() -> str:
    """An http://127.0.0.1 URL on which nothing listens (the port was just free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def running(repos: Mapping[str, Mapping[str, bytes]] | None = None, **kwargs: Any) -> Iterator[FakeHub]:
    hub = FakeHub(repos, **kwargs).start()
    try:
        yield hub
    finally:
        hub.stop()
