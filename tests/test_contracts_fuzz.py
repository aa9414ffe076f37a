"""Property: whatever bytes a model file holds, the contract API answers with a result or a clear failure.

Random bytes, byte-level mutations of valid files (including the real SmolLM2 header) and randomly built
SafeTensors headers go through read_model, check_invariants, provenance and inspect_text. None may raise,
and none may answer with an internal error (that would be an exception we caught: a bug, not a verdict), or
allocate more than PEAK_LIMIT for one input (tracemalloc).
"""

from __future__ import annotations

import json
import struct
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from contracts_fixtures import (
    SMOLLM2,
    private_cache_fixture,  # noqa: F401 - pytest fixtures, registered by import
    tiny_gguf,
    tiny_safetensors,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from aprqa_action.contracts import (
    InvariantResult,
    ModelFile,
    ReadFailure,
    check_invariants,
    inspect_text,
    provenance,
    read_model,
)

# Hypothesis caches the constants of the code under test in ./.hypothesis; keep that out of the repository.
# (It does so before any fixture runs, hence at import; only these tests use Hypothesis.)
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "aprqa-hypothesis")
ALL = ["I-2", "I-3", "I-4", "I-5"]
FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
INTERESTING = [0, 1, 7, 31, 255, 2**16 - 1, 2**31, 2**32 - 1, 2**32, 2**62, 2**63, 2**64 - 1]


# "Never unbounded memory": the largest input here, SmolLM2's 1.78 MB header (+64 KB), costs ~1.1 MiB and the
# whole real file ~2.6 MiB; a count or length taken from the file without a bound (a list of 2**32 entries, a
# buffer sized by a corrupt offset) goes far past this.
PEAK_LIMIT = 32 << 20


def _check(path: Path, limit: int = PEAK_LIMIT) -> None:
    # tracemalloc sees numpy's buffers and Python objects, not the read-only mmap of the file (that costs no
    # memory of its own): the peak is what the readers allocate for this one input.
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        _answers(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    assert peak <= limit, f"{path.name}: {peak / 2**20:.1f} MiB allocated for one input"


def _answers(path: Path) -> None:
    model = read_model(path)
    assert isinstance(model, ModelFile | ReadFailure)
    results = check_invariants(path, ALL, ["q4_k_m", "f16"])
    assert [r.invariant for r in results] == ALL
    for result in results:
        assert isinstance(result, InvariantResult)
        assert result.outcome in ("pass", "fail", "skip") and result.reason
        assert "internal error" not in result.reason, result.reason
    if isinstance(model, ReadFailure):
        assert model.reason and all(r.outcome == "fail" and r.unusable for r in results)
    record = provenance(path)
    assert record.error is None or "internal error" not in record.error
    assert "internal error" not in inspect_text(path, max_tensors=5)


@st.composite
def mutations(draw: st.DrawFn, size: int, region: int | None = None) -> list[tuple[int, bytes]]:
    """A few overwrites: random bytes, or a little-endian integer chosen to break a length or count."""
    limit = min(size, region or size)
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, limit - 1)))
        if draw(st.booleans()):
            edits.append((at, bytes([draw(st.integers(0, 255))])))
        else:
            width = draw(st.sampled_from([4, 8]))
            value = draw(st.sampled_from(INTERESTING)) % (2 ** (8 * width))
            edits.append((at, value.to_bytes(width, "little")))
    return edits


def _mutate(base: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
    data = bytearray(base)
    for at, value in edits:
        data[at : at + len(value)] = value
    return bytes(data[:cut] if cut is not None else data)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def valid_gguf(workdir: Path) -> bytes:
    return tiny_gguf(workdir / "base.gguf").read_bytes()


@pytest.fixture(scope="module")
def valid_safetensors(workdir: Path) -> bytes:
    return tiny_safetensors(workdir / "base").read_bytes()


@FUZZ
@given(
    prefix=st.sampled_from([b"", b"GGUF", b"GGUF\x03\x00\x00\x00", b"GGUF\x02\x00\x00\x00", struct.pack("<Q", 40)]),
    body=st.binary(max_size=2048),
    suffix=st.sampled_from([".gguf", ".safetensors", ".bin"]),
)
def test_random_bytes(workdir: Path, prefix: bytes, body: bytes, suffix: str) -> None:
    path = workdir / f"random{suffix}"
    path.write_bytes(prefix + body)
    _check(path)


@FUZZ
@given(data=st.data())
def test_mutated_gguf(workdir: Path, valid_gguf: bytes, data: st.DataObject) -> None:
    # Most edits land in the header (metadata, tensor infos), where they change lengths, counts and offsets.
    edits = data.draw(mutations(len(valid_gguf), region=data.draw(st.sampled_from([700, 2700, len(valid_gguf)]))))
    cut = data.draw(st.none() | st.integers(0, len(valid_gguf)))
    path = workdir / "mutated.gguf"
    path.write_bytes(_mutate(valid_gguf, edits, cut))
    _check(path)


@FUZZ
@given(data=st.data())
def test_mutated_safetensors(workdir: Path, valid_safetensors: bytes, data: st.DataObject) -> None:
    (length,) = struct.unpack("<Q", valid_safetensors[:8])
    edits = data.draw(mutations(len(valid_safetensors), region=data.draw(st.sampled_from([8 + length, None]))))
    cut = data.draw(st.none() | st.integers(0, len(valid_safetensors)))
    path = workdir / "mutated.safetensors"
    path.write_bytes(_mutate(valid_safetensors, edits, cut))
    _check(path)


_DTYPES = ["F16", "BF16", "F32", "F64", "I64", "U8", "BOOL", "F8_E4M3", "F4", "Q4", 7, None]
_ENTRY = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(_DTYPES),
        "shape": st.lists(st.integers(-1, 9) | st.booleans(), max_size=3) | st.none(),
        "data_offsets": st.lists(st.integers(-2, 80), min_size=0, max_size=3),
    }
)


@FUZZ
@given(
    header=st.dictionaries(st.sampled_from(["a", "b", "c", "__metadata__"]), _ENTRY, max_size=3),
    data=st.binary(max_size=96),
)
def test_random_safetensors_headers(workdir: Path, header: dict[str, object], data: bytes) -> None:
    encoded = json.dumps(header).encode()
    path = workdir / "built.safetensors"
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    _check(path)


@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_mutated_real_header(workdir: Path, data: st.DataObject) -> None:
    # SmolLM2's header is 1.78 MB (its 49152-token vocabulary); keep it and 64 KB of data, mutate its start.
    head = SMOLLM2.open("rb").read(1_785_664 + 65_536)
    edits = data.draw(mutations(len(head), region=4096))
    path = workdir / "real.gguf"
    path.write_bytes(_mutate(head, edits, None))
    _check(path)


def test_the_memory_bound_sees_what_the_readers_allocate(workdir: Path) -> None:
    # The bound can fail: reading SmolLM2's real header allocates ~1 MiB, so a limit of 256 KiB must trip on
    # it, while the real limit holds.
    path = workdir / "real-header.gguf"
    path.write_bytes(SMOLLM2.open("rb").read(1_785_664 + 65_536))
    _check(path)
    with pytest.raises(AssertionError, match="MiB allocated for one input"):
        _check(path, limit=256 << 10)
