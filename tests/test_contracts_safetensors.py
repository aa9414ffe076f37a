"""SafeTensors: valid files pass I-2..I-5; each corruption fails the invariant it breaks, with a reason."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from contracts_fixtures import (
    INF_F16,
    NAN_F16,
    TINY,
    patch,
    private_cache_fixture,  # noqa: F401 - pytest fixtures, registered by import
    raw_safetensors,
    tensor,
    tiny_safetensors,
    tiny_sharded,
    write_config,
)

from aprqa_action.contracts import (
    ExpectedDims,
    InvariantResult,
    ModelFile,
    ReadFailure,
    check_invariants,
    provenance,
    read_model,
)

ALL = ["I-2", "I-3", "I-4", "I-5"]
# TINY in F16: embed + lm_head 2·96·64, final norm 64, per layer 2·64 + q,o 2·64·64 + k,v 2·32·64 + mlp 3·128·64.
TINY_PARAMS = 2 * 96 * 64 + 64 + 2 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 128 * 64)


def by_name(results: list[InvariantResult]) -> dict[str, InvariantResult]:
    return {r.invariant: r for r in results}


def outcomes(results: list[InvariantResult]) -> dict[str, str]:
    return {r.invariant: r.outcome for r in results}


def test_library_written_file_with_config_passes_everything(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    results = by_name(check_invariants(path, ALL, ["f16"]))
    assert outcomes(list(results.values())) == dict.fromkeys(ALL, "pass"), results
    assert TINY_PARAMS == 86336
    assert results["I-5"].metrics["data_bytes"] == 2 * TINY_PARAMS
    assert results["I-2"].metrics["tensors_checked"] == 21 + 1  # every tensor, and the layer count
    assert results["I-4"].metrics["tensors_scanned"] == 21
    assert not any(r.unusable for r in results.values())
    model = read_model(path)
    assert isinstance(model, ModelFile)
    assert model.format == "safetensors" and model.metadata == {"format": "pt"}
    assert model.parameter_count == TINY_PARAMS
    assert model.library_error is None


def test_nan_and_inf_in_an_f16_tensor_fail_i4_only(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    t = tensor(path, "model.layers.1.mlp.up_proj.weight")  # [128, 64]
    patch(path, t.offset + 2 * (5 * 64 + 7), struct.pack("<H", NAN_F16))  # row 5, column 7
    patch(path, t.offset + 2 * 1000, struct.pack("<H", INF_F16 | 0x8000))  # -Inf
    results = by_name(check_invariants(path, ALL, ["f16"]))
    assert outcomes(list(results.values())) == {"I-2": "pass", "I-3": "pass", "I-4": "fail", "I-5": "pass"}
    reason = results["I-4"].reason
    assert "model.layers.1.mlp.up_proj.weight (F16 [128, 64])" in reason
    assert "1 NaN and 1 Inf among 8192 values; first at index 327 (5, 7)" in reason
    assert results["I-4"].metrics["nonfinite_values"] == 2
    assert results["I-4"].unusable is False


def test_bf16_f32_f64_and_float8_patterns(tmp_path: Path) -> None:
    # Hand-built: each tensor holds exactly the non-finite patterns listed, nothing else.
    bf16 = np.array([0x3F80, 0x7F80, 0xFFC1, 0x7F7F], dtype="<u2")  # 1.0, +Inf, -NaN, max finite
    f32 = np.array([0x3F800000, 0xFFC00001, 0x7F7FFFFF], dtype="<u4")  # 1.0, -NaN, max finite
    f64 = np.array([0x7FF0000000000000, 0], dtype="<u8")  # +Inf, 0
    e4m3 = np.array([0x7E, 0xFF, 0x7F], dtype="u1")  # 448 (max), -NaN, NaN
    e5m2 = np.array([0x7B, 0x7C, 0xFD], dtype="u1")  # max finite, +Inf, -NaN
    fnuz = np.array([0x00, 0x80, 0x7F], dtype="u1")  # 0, NaN (the only one), max finite
    parts = [("bf16", "BF16", bf16), ("f32", "F32", f32), ("f64", "F64", f64)]
    parts += [("e4m3", "F8_E4M3", e4m3), ("e5m2", "F8_E5M2", e5m2), ("fnuz", "F8_E4M3FNUZ", fnuz)]
    header: dict[str, object] = {}
    data = b""
    for name, dtype, values in parts:
        header[name] = {"dtype": dtype, "shape": [values.size], "data_offsets": [len(data), len(data) + values.nbytes]}
        data += values.tobytes()
    path = raw_safetensors(tmp_path / "m.safetensors", header, data)
    (result,) = check_invariants(path, ["I-4"], [])
    assert result.outcome == "fail"
    assert result.metrics["nonfinite_tensors"] == 6
    assert result.metrics["nonfinite_values"] == 2 + 1 + 1 + 2 + 2 + 1
    for expected in (
        "bf16 (BF16 [4]): 1 NaN and 1 Inf among 4 values; first at index 1",
        "f32 (F32 [3]): 1 NaN and 0 Inf among 3 values; first at index 1",
        "f64 (F64 [2]): 0 NaN and 1 Inf among 2 values; first at index 0",
        "e4m3 (F8_E4M3 [3]): 2 NaN and 0 Inf",
    ):
        assert expected in result.reason
    assert check_invariants(path, ["I-5"], [])[0].outcome == "pass"


def test_overlapping_tensors_fail_i5_with_both_names(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]},
        "b": {"dtype": "F16", "shape": [4], "data_offsets": [4, 12]},
    }
    path = raw_safetensors(tmp_path / "m.safetensors", header, bytes(12))
    start = 8 + len(json.dumps(header))
    results = by_name(check_invariants(path, ALL, ["f16"]))
    assert results["I-5"].outcome == "fail" and results["I-5"].unusable
    assert f"b [{start + 4}, {start + 12}) overlaps a [{start}, {start + 8}) by 4 bytes" in results["I-5"].reason
    assert results["I-5"].metrics["overlaps"] == 1
    assert results["I-4"].outcome == "pass"  # both byte ranges exist and are finite
    model = read_model(path)
    assert isinstance(model, ModelFile) and "invalid offset" in (model.library_error or "")


def test_truncated_file_fails_i5_and_i4_skips_the_cut_tensor(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    model = read_model(path)
    assert isinstance(model, ModelFile)
    last = max(model.tensors, key=lambda t: t.offset)
    size = path.stat().st_size
    os.truncate(path, size - 100)
    results = by_name(check_invariants(path, ALL, ["f16"]))
    assert results["I-5"].outcome == "fail" and results["I-5"].unusable
    assert (
        f"{last.name}: bytes [{last.offset}, {last.offset + last.nbytes}) run 100 bytes past the end of the file "
        f"({size - 100} bytes): truncated"
    ) in results["I-5"].reason
    assert results["I-4"].outcome == "skip" and last.name in results["I-4"].reason
    assert results["I-4"].metrics["tensors_scanned"] == 20
    assert results["I-2"].outcome == "pass" and results["I-3"].outcome == "pass"


def test_offset_past_eof_and_size_mismatch_fail_i5(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F16", "shape": [5], "data_offsets": [0, 8]},  # 5 F16 values need 10 bytes
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [1000, 1008]},
    }
    path = raw_safetensors(tmp_path / "m.safetensors", header, bytes(8))
    start = 8 + len(json.dumps(header))
    result = by_name(check_invariants(path, ALL, []))["I-5"]
    assert result.outcome == "fail"
    assert "a: F16 [5] needs 10 bytes, the header gives it 8" in result.reason
    assert f"b: starts at byte {start + 1000}, past the end of the file ({start + 8} bytes)" in result.reason
    assert result.metrics["size_mismatches"] == 1 and result.metrics["out_of_bounds"] == 1


def test_gap_and_trailing_bytes_fail_i5(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [6, 10]},
    }
    path = raw_safetensors(tmp_path / "m.safetensors", header, bytes(13))
    start = 8 + len(json.dumps(header))
    result = check_invariants(path, ["I-5"], [])[0]
    assert result.outcome == "fail"
    assert f"bytes [{start + 4}, {start + 6}) before b belong to no tensor" in result.reason
    assert "3 bytes after the last tensor's data belong to no tensor" in result.reason
    assert result.metrics["unaccounted_bytes"] == 5


def test_header_length_two_to_the_63_is_a_reason_not_an_allocation(tmp_path: Path) -> None:
    path = raw_safetensors(tmp_path / "m.safetensors", {"a": {"dtype": "F16", "shape": [1]}}, b"", length=2**63)
    failure = read_model(path)
    assert isinstance(failure, ReadFailure)
    size = path.stat().st_size
    assert failure.reason == (
        f"SafeTensors header: header length {2**63} exceeds the file: only {size - 8} bytes follow the "
        "8-byte length prefix"
    )
    results = check_invariants(path, ALL, ["f16"])
    assert [(r.invariant, r.outcome, r.unusable) for r in results] == [(i, "fail", True) for i in ALL]
    assert all(r.reason == failure.reason for r in results)
    assert check_invariants(path, [], []) == [
        InvariantResult(invariant="PARSE", outcome="fail", reason=failure.reason, unusable=True)
    ]


def test_header_over_the_library_limit(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 150_000_000))
    os.truncate(path, 200_000_000)  # sparse: costs no disk
    failure = read_model(path)
    assert isinstance(failure, ReadFailure)
    assert "header length 150000000 exceeds the safetensors limit of 100000000 bytes" in failure.reason


@pytest.mark.parametrize(
    ("header", "phrase"),
    [
        (b"[1, 2]", "the JSON header is list, expected an object"),
        (b"{not json", "the JSON header is not valid JSON: Expecting property name enclosed in double quotes"),
        (b'{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}, "a": {}}', "key 'a' appears twice"),
        (b'{"a": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 2]}}', "tensor 'a': unknown dtype 'Q4'"),
        (b'{"a": {"dtype": "F16", "shape": [true], "data_offsets": [0, 2]}}', "shape [True] is not a list"),
        (b'{"a": {"dtype": "F16", "shape": [1]}}', "tensor 'a': missing data_offsets"),
        (b'{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, -2]}}', "is not [begin, end] in bytes"),
        (b'{"__metadata__": {"k": 1}}', "__metadata__ must map strings to strings"),
        (b'{"a": NaN}', "the JSON header contains NaN"),
        (b"\xff\xfe{}", "the JSON header is not valid UTF-8 (byte 0)"),
    ],
)
def test_malformed_headers_are_read_failures(tmp_path: Path, header: bytes, phrase: str) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(2))
    failure = read_model(path)
    assert isinstance(failure, ReadFailure), failure
    assert phrase in failure.reason
    assert all(r.outcome == "fail" and r.unusable for r in check_invariants(path, ALL, []))


def test_tiny_and_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.safetensors"
    empty.write_bytes(b"")
    short = tmp_path / "s.safetensors"
    short.write_bytes(b"\x01\x02\x03")
    for path, size in ((empty, 0), (short, 3)):
        failure = read_model(path)
        assert isinstance(failure, ReadFailure)
        assert f"{size} bytes is too short for a SafeTensors header" in failure.reason
    assert isinstance(read_model(tmp_path / "absent.safetensors"), ReadFailure)
    assert "is a directory" in read_model(tmp_path).reason  # type: ignore[union-attr]


def test_shapes_must_match_config(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    write_config(tmp_path, {**TINY, "intermediate_size": 96, "num_hidden_layers": 3})
    result = by_name(check_invariants(path, ALL, ["f16"]))["I-2"]
    assert result.outcome == "fail"
    assert "model.layers.0.mlp.gate_proj.weight: expected [ff=96, hidden=64], found [128, 64]" in result.reason
    assert "config.json num_hidden_layers is 3, the file has 2 layers (missing [2])" in result.reason
    # 6 MLP matrices (3 per layer) and the layer count
    assert result.metrics["mismatches"] == 7


def test_grouped_query_heads_and_head_dim(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    write_config(tmp_path, {**TINY, "num_key_value_heads": 4})  # the file's k/v have 2 heads of 16
    result = check_invariants(path, ["I-2"], [])[0]
    assert "model.layers.1.self_attn.k_proj.weight: expected [k_out=64, hidden=64], found [32, 64]" in result.reason
    write_config(tmp_path, TINY, head_dim=8)  # q_proj is heads·head_dim = 4·16 in the file
    result = check_invariants(path, ["I-2"], [])[0]
    assert "model.layers.0.self_attn.q_proj.weight: expected [q_out=32, hidden=64], found [64, 64]" in result.reason


def test_expected_dims_from_the_caller(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    result = check_invariants(path, ["I-2"], [], ExpectedDims(hidden_size=128, vocab_size=96))[0]
    assert result.outcome == "fail"
    assert result.reason.endswith("expected hidden_size 128, config.json hidden_size is 64")
    (tmp_path / "config.json").unlink()
    skipped = check_invariants(path, ["I-2"], [])[0]
    assert skipped.outcome == "skip" and "no config.json beside the file" in skipped.reason
    given = ExpectedDims(
        hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128, vocab_size=96
    )
    assert check_invariants(path, ["I-2"], [], given)[0].outcome == "pass"
    wrong = check_invariants(path, ["I-2"], [], given.model_copy(update={"vocab_size": 100}))[0]
    assert "model.embed_tokens.weight: expected [vocab=100, hidden=64], found [96, 64]" in wrong.reason


def test_unreadable_config_fails_i2(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    (tmp_path / "config.json").write_text("{")
    result = check_invariants(path, ["I-2"], [])[0]
    assert result.outcome == "fail" and "config.json is not valid JSON" in result.reason


def test_declared_dtype(tmp_path: Path) -> None:
    path = tiny_safetensors(tmp_path)
    wrong = check_invariants(path, ["I-3"], ["bf16"])[0]
    assert wrong.outcome == "fail"
    assert "21 tensors stored F16, where bf16 was declared" in wrong.reason
    assert check_invariants(path, ["I-3"], ["BF16", "f16"])[0].outcome == "pass"  # any declared scheme
    skipped = check_invariants(path, ["I-3"], ["q4_k_m"])[0]
    assert skipped.outcome == "skip" and "none of the declared quantizations (q4_k_m) applies" in skipped.reason
    none = check_invariants(path, ["I-3"], [])[0]
    assert none.outcome == "skip" and none.reason == "no quantization declared; the file holds F16 21"


def test_norms_may_stay_f32_in_a_bf16_model(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    tensors = {"w": np.zeros((4, 4), np.float32), "norm": np.zeros(4, np.float32)}
    save_file(tensors, str(tmp_path / "m.safetensors"))
    result = check_invariants(tmp_path / "m.safetensors", ["I-3"], ["f16"])[0]
    assert result.outcome == "fail" and "1 tensor stored F32, where f16 was declared: w [4, 4]" in result.reason


def test_sharded_set_passes(tmp_path: Path) -> None:
    index = tiny_sharded(tmp_path)
    results = by_name(check_invariants(index, ALL, ["f16"]))
    assert outcomes(list(results.values())) == dict.fromkeys(ALL, "pass"), results
    assert "in 2 files" in results["I-5"].reason
    model = read_model(index)
    assert isinstance(model, ModelFile)
    assert [f.role for f in model.files] == ["index", "shard", "shard"]
    assert model.parameter_count == TINY_PARAMS
    digest = provenance(index)
    assert digest.tensor_count == 21 and digest.parameter_count == TINY_PARAMS
    assert len(digest.files) == 3 and digest.size == sum(f.size for f in digest.files)


def test_missing_shard_is_unusable(tmp_path: Path) -> None:
    index = tiny_sharded(tmp_path)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    failure = read_model(index)
    assert isinstance(failure, ReadFailure)
    # shard 2 holds layer 1 (9 tensors), lm_head and the final norm
    assert failure.reason == (
        "SafeTensors index: weight_map names missing shard file(s): model-00002-of-00002.safetensors "
        "(for 11 tensors, e.g. 'lm_head.weight')"
    )
    results = check_invariants(index, ALL, ["f16"])
    assert all(r.outcome == "fail" and r.unusable and "missing shard" in r.reason for r in results)


def test_index_disagreeing_with_shards_fails_i5(tmp_path: Path) -> None:
    index = tiny_sharded(tmp_path)
    data = json.loads(index.read_text())
    data["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"  # it is in shard 2
    data["weight_map"]["model.extra.weight"] = "model-00002-of-00002.safetensors"
    index.write_text(json.dumps(data))
    result = check_invariants(index, ["I-5"], [])[0]
    assert result.outcome == "fail"
    assert (
        "model-00002-of-00002.safetensors holds model.norm.weight, but the index maps it to "
        "model-00001-of-00002.safetensors" in result.reason
    )
    assert "the index maps model.extra.weight to model-00002-of-00002.safetensors, which holds no such tensor" in (
        result.reason
    )


def test_shard_escaping_the_directory_is_refused(tmp_path: Path) -> None:
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "../elsewhere.safetensors"}}))
    failure = read_model(index)
    assert isinstance(failure, ReadFailure) and "is not a file beside the index" in failure.reason
