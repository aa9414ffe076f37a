"""The public API's promises: names, order, guards — nothing raises, everything is a result with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from contracts_fixtures import private_cache_fixture, tiny_gguf  # noqa: F401 - pytest fixtures, registered by import

from aprqa_action import contracts
from aprqa_action.contracts import KNOWN_QUANTIZATIONS, check_invariants, invariants


def test_names_are_canonicalised_deduplicated_and_kept_in_order(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "m.gguf")
    results = check_invariants(path, ["i5", "I4", "I-5", "I-9"], [])
    assert [(r.invariant, r.outcome) for r in results] == [("I-5", "pass"), ("I-4", "pass"), ("I-9", "fail")]
    assert results[2].reason == "unknown invariant 'I-9' (known: I-2, I-3, I-4, I-5)"
    assert check_invariants(path, [], []) == []


def test_a_bug_in_one_check_is_that_checks_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(invariants, "check_shapes", broken)
    results = check_invariants(tiny_gguf(tmp_path / "m.gguf"), ["I-2", "I-5"], [])
    assert results[0].outcome == "fail" and not results[0].unusable
    assert results[0].reason.endswith("(a bug in aprqa, not a verdict on the file): ZeroDivisionError: boom")
    assert results[1].outcome == "pass"


def test_a_layer_missing_a_tensor(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "m.gguf", drop=frozenset({"blk.1.attn_k.weight"}))
    (result,) = check_invariants(path, ["I-2"], [])
    assert result.outcome == "fail"
    assert result.reason == (
        "1 shape problem against GGUF metadata (llama.*): layers [1] lack blk.N.attn_k.weight, present in the "
        "other 1 layer"
    )


def test_fused_gate_up_architectures(tmp_path: Path) -> None:
    # phi3 stores ffn_up as [2·ff, hidden] (gate and up fused): not an [ff, hidden] mismatch.
    fused = {f"blk.{i}.ffn_up.weight": np.zeros((256, 64), np.float32) for i in range(2)}
    drop = frozenset(f"blk.{i}.ffn_gate.weight" for i in range(2))
    path = tiny_gguf(tmp_path / "phi3.gguf", arch="phi3", overrides=fused, drop=drop)
    (result,) = check_invariants(path, ["I-2"], [])
    assert result.outcome == "pass", result.reason
    assert result.metrics["tensors_unmatched"] == 2
    path = tiny_gguf(tmp_path / "llama.gguf", overrides=fused, drop=drop)
    (result,) = check_invariants(path, ["I-2"], [])
    assert "blk.0.ffn_up.weight: expected [ff=128, hidden=64] (ne [64, 128]), found [256, 64]" in result.reason


def test_public_surface() -> None:
    assert {"read_model", "check_invariants", "provenance", "inspect", "inspect_text"} <= set(contracts.__all__)
    assert {"q4_k_m", "q4_1", "q8_0", "f16", "bf16", "f32", "q5_k_m", "q6_k"} <= set(KNOWN_QUANTIZATIONS)
