"""Provenance: streamed sha256, cached by (path, size, mtime_ns) in process and in a JSON file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from contracts_fixtures import (
    private_cache_fixture,  # noqa: F401 - pytest fixtures, registered by import
    raw_safetensors,
    tiny_gguf,
    tiny_safetensors,
)

from aprqa_action.contracts import provenance
from aprqa_action.contracts.provenance import _memory, cache_file, sha256


def test_digest_fields_and_counts(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    record = provenance(path)
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (record.format, record.quantization, record.dominant_type) == ("safetensors", "f16", "F16")
    assert (record.tensor_count, record.parameter_count, record.size) == (21, 86336, path.stat().st_size)
    assert record.error is None and [f.path for f in record.files] == [str(path)]


def test_cache_file_and_invalidation(tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny_gguf(tmp_path / "m.gguf")
    first = sha256(path)
    entry = json.loads(cache_file().read_text())[os.path.realpath(path)]
    stat = path.stat()
    assert entry == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": first}
    assert cache_file().parent == private_cache

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("hashed again")

    _memory.clear()  # a new process: only the JSON file remembers
    with monkeypatch.context() as patch:  # (not monkeypatch.undo(): that would also drop the private cache)
        patch.setattr(hashlib, "file_digest", no_hashing)
        assert sha256(path) == first
    with open(path, "ab") as handle:  # new size and mtime: a new digest
        handle.write(b"\0")
    second = sha256(path)
    assert second == hashlib.sha256(path.read_bytes()).hexdigest() != first
    assert json.loads(cache_file().read_text())[os.path.realpath(path)]["sha256"] == second  # replaced
    # The same size, rewritten in place with one byte changed: only the mtime tells, and it must re-hash.
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    before = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # a coarse clock could tie
    assert path.stat().st_size == before.st_size
    third = sha256(path)
    assert third == hashlib.sha256(bytes(data)).hexdigest() != second
    _memory.clear()  # and through the JSON file, as in a new process
    assert sha256(path) == third
    # Back to the earlier bytes at yet another mtime: the digest cached for this size is stale again.
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    assert sha256(path) == second


def test_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("APRQA_CACHE_DIR", str(blocker / "sub"))
    path = tiny_gguf(tmp_path / "m.gguf")
    _memory.clear()
    assert sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unparseable_and_missing_files_do_not_raise(tmp_path: Path) -> None:
    bad = raw_safetensors(tmp_path / "bad.safetensors", {}, b"", length=2**63)
    record = provenance(bad)
    assert record.sha256 == hashlib.sha256(bad.read_bytes()).hexdigest()
    assert record.format == "safetensors" and record.tensor_count == 0
    assert record.error is not None and "header length 9223372036854775808 exceeds the file" in record.error
    missing = provenance(tmp_path / "absent.gguf")
    assert (missing.sha256, missing.error) == ("", "no such file")
