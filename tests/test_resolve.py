"""Model file resolution: the given file, siblings by stem, the cleanest candidate, skip reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from aprqa_action.errors import InputError
from aprqa_action.plan.resolve import missing_models, resolve_models
from aprqa_action.records.axes import Format

ALL = [Format.SAFETENSORS, Format.APR, Format.GGUF]


def touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"x")


def test_given_file_and_siblings_by_stem(tmp_path: Path) -> None:
    touch(tmp_path, "qwen.gguf", "qwen.safetensors", "qwen.apr", "other.apr")
    resolved = resolve_models(ALL, tmp_path / "qwen.gguf", [])
    assert resolved[Format.GGUF].how == "given"
    assert resolved[Format.SAFETENSORS].path == str(tmp_path / "qwen.safetensors")
    assert resolved[Format.SAFETENSORS].how == "sibling"
    assert resolved[Format.APR].path == str(tmp_path / "qwen.apr")  # the stem wins over other.apr


def test_falls_back_to_the_cleanest_candidate(tmp_path: Path) -> None:
    touch(tmp_path, "m.gguf", "model-f16.apr", "model.apr", "model-q4_k_m.apr")
    resolved = resolve_models(ALL, tmp_path / "m.gguf", ["q4_k_m"])
    assert resolved[Format.APR].path == str(tmp_path / "model-q4_k_m.apr")  # the declared quantization first
    assert resolved[Format.APR].how == "candidate"
    assert "cleanest of 3" in resolved[Format.APR].reason
    resolved = resolve_models(ALL, tmp_path / "m.gguf", [])
    assert resolved[Format.APR].path == str(tmp_path / "model.apr")  # then the canonical name


def test_directory_mode_and_quantization_spelling(tmp_path: Path) -> None:
    touch(tmp_path, "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf", "Qwen2.5-Coder-7B-Instruct-Q8_0.gguf")
    resolved = resolve_models([Format.GGUF], tmp_path, ["q4_k_m"])
    assert resolved[Format.GGUF].path.endswith("Q4_K_M.gguf")


def test_sharded_safetensors_resolve_to_the_index(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    )
    resolved = resolve_models([Format.SAFETENSORS], tmp_path, [])
    assert resolved[Format.SAFETENSORS].path == str(tmp_path / "model.safetensors.index.json")
    (tmp_path / "model.safetensors.index.json").unlink()
    resolved = resolve_models([Format.SAFETENSORS], tmp_path, [])
    assert resolved[Format.SAFETENSORS].path is None  # shards without their index are not a model


def test_missing_format_is_a_skip_with_the_reason(tmp_path: Path) -> None:
    touch(tmp_path, "model.gguf", ".hidden.apr")
    resolved = resolve_models(ALL, tmp_path / "model.gguf", [])
    assert resolved[Format.APR].path is None
    assert resolved[Format.APR].reason == f"no apr file: looked for model.gguf by stem and *.apr in {tmp_path}"


def test_bad_paths_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        resolve_models(ALL, tmp_path / "nope.gguf", [])
    touch(tmp_path, "weights.bin")
    with pytest.raises(InputError, match="unknown model file type"):
        resolve_models(ALL, tmp_path / "weights.bin", [])


def test_missing_models_carry_the_reason() -> None:
    resolved = missing_models(ALL, "G0-PULL: offline")
    assert all(r.path is None and r.how == "missing" and r.reason == "G0-PULL: offline" for r in resolved.values())
