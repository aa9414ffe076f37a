"""Provenance of a model: sha256 of every file, format, detected quantization, tensor and parameter counts.

Hashing a multi-GB model costs seconds, and a CI job asks for the same file many times, so digests are
cached by (real path, size, mtime_ns): in process, and in a small JSON file, `$APRQA_CACHE_DIR/sha256.json`
(default `$XDG_CACHE_HOME/aprqa/` or `~/.cache/aprqa/`). A changed size or mtime means a new digest. The
cache file is written atomically (temporary file + rename) and a cache that cannot be read or written is
simply not used: it only ever saves time, it never changes an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from aprqa_action.contracts.quant import detect
from aprqa_action.contracts.reader import read_model
from aprqa_action.records.model_file import FileDigest, ModelFile, Provenance

MAX_ENTRIES = 2000
_memory: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def cache_file() -> Path:
    base = os.environ.get("APRQA_CACHE_DIR")
    if base:
        return Path(base) / "sha256.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "aprqa" / "sha256.json"


def _load(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store(path: Path, key: str, size: int, mtime_ns: int, digest: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = _load(path)
        entries.pop(key, None)
        entries[key] = {"size": size, "mtime_ns": mtime_ns, "sha256": digest}
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))  # the oldest insertion
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sha256-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(entries, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache directory only costs a re-hash next time


def sha256(path: str | Path) -> str:
    """The file's sha256, streamed in chunks (never the whole file in memory), cached as described above."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    key = (real, stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _memory:
            return _memory[key]
    store = cache_file()
    entry = _load(store).get(real)
    if isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
        digest = str(entry.get("sha256"))
    else:
        with open(real, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        _store(store, real, stat.st_size, stat.st_mtime_ns, digest)
    with _lock:
        _memory[key] = digest
    return digest


def _digests(paths: list[str]) -> tuple[list[FileDigest], str | None]:
    digests = []
    for path in paths:
        try:
            digests.append(FileDigest(path=path, size=os.stat(path).st_size, sha256=sha256(path)))
        except OSError as exc:
            return digests, f"cannot hash {path}: {exc.strerror or exc}"
    return digests, None


def provenance(path: str | Path) -> Provenance:
    """Never raises: a file that does not parse is still hashed, with `error` saying why the rest is empty."""
    try:
        return _provenance(path)
    except Exception as exc:  # whatever goes wrong is reported in the record, not raised into the caller
        return Provenance(
            path=str(path), size=0, sha256="", format=None, quantization=None, dominant_type=None,
            tensor_count=0, parameter_count=0, files=[],
            error=f"internal error (a bug in aprqa): {type(exc).__name__}: {exc}",
        )  # fmt: skip


def _provenance(path: str | Path) -> Provenance:
    model = read_model(path)
    if isinstance(model, ModelFile):
        files, error = _digests([f.path for f in model.files])
        quantization, dominant = detect(model)
        return Provenance(
            path=str(path),
            size=sum(f.size for f in files),
            sha256=files[0].sha256 if files else "",
            format=model.format,
            quantization=quantization,
            dominant_type=dominant,
            tensor_count=len(model.tensors),
            parameter_count=model.parameter_count,
            files=files,
            error=error,
        )
    files, error = _digests([str(path)]) if Path(path).is_file() else ([], None)
    return Provenance(
        path=str(path),
        size=sum(f.size for f in files),
        sha256=files[0].sha256 if files else "",
        format=model.format,
        quantization=None,
        dominant_type=None,
        tensor_count=0,
        parameter_count=0,
        files=files,
        error=error or model.reason,
    )
