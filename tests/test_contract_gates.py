"""Tensor contracts in a run: G0 from the readers, F-CONTRACT items per invariant, provenance in the evidence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import hostile_profile, write_playbook

from aprqa_action.contracts import ModelFile, read_model
from aprqa_action.execute.progress import LineReporter
from aprqa_action.pipeline import run
from aprqa_action.records import Evidence, RunOptions

SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def qualify(tmp_path: Path, model: Path, **contracts: object) -> Evidence:
    playbook = write_playbook(
        tmp_path / "p.yaml",
        model={"hf_repo": "a/b", "formats": ["gguf"], "quantizations": ["q4_1"]},
        engine=hostile_profile("ok"),  # the engine is not what these tests judge
        contract_tests={"invariants": ["I-2", "I-3", "I-4", "I-5"], **contracts},
    )
    with (tmp_path / "log").open("w") as log:
        return run(
            RunOptions(playbook=playbook, model_path=model, output_dir=tmp_path / "out"), reporter=LineReporter(log)
        )


def contract(evidence: Evidence) -> dict[str, tuple[str, str]]:
    return {i.gate_id: (i.outcome, i.reason) for i in evidence.items if i.gate_id.startswith("F-CONTRACT")}


def test_the_real_file_passes_every_invariant_and_its_provenance_is_recorded(tmp_path: Path, smollm2: Path) -> None:
    evidence = qualify(tmp_path, smollm2, expected={"hidden_size": 576, "num_layers": 30, "vocab_size": 49152})
    found = contract(evidence)
    assert list(found) == ["F-CONTRACT-I2", "F-CONTRACT-I3", "F-CONTRACT-I4", "F-CONTRACT-I5"]
    assert all(outcome == "Corroborated" for outcome, _ in found.values())
    prov = evidence.provenance["gguf"]
    assert (prov.sha256, prov.size, prov.tensor_count, prov.parameter_count) == (
        SMOLLM2_SHA256,
        98362432,
        272,
        134515008,
    )
    assert prov.quantization == "q4_1"


def test_an_expected_dimension_that_differs_falsifies_i2(tmp_path: Path, smollm2: Path) -> None:
    outcome, reason = contract(qualify(tmp_path, smollm2, expected={"hidden_size": 999}))["F-CONTRACT-I2"]
    assert outcome == "Falsified" and "999" in reason and "576" in reason


def _copy(model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model.gguf"
    shutil.copyfile(model, target)
    return target


def test_a_nan_block_scale_falsifies_i4_but_the_file_stays_usable(tmp_path: Path, smollm2: Path) -> None:
    model = _copy(smollm2, tmp_path)
    parsed = read_model(model)
    assert isinstance(parsed, ModelFile)
    tensor = next(t for t in parsed.tensors if t.dtype == "Q4_1")
    with model.open("r+b") as handle:  # the first block's fp16 scale d := NaN (0x7E00, little-endian)
        handle.seek(tensor.offset)
        handle.write(b"\x00\x7e")
    evidence = qualify(tmp_path, model)
    outcome, reason = contract(evidence)["F-CONTRACT-I4"]
    assert outcome == "Falsified" and tensor.name in reason
    assert evidence.verdict is not None and evidence.verdict.gateways[0].passed  # G0 is about usability


@pytest.mark.parametrize("cut", [1, 4096])
def test_a_truncated_file_fails_g0_and_no_cell_runs(tmp_path: Path, smollm2: Path, cut: int) -> None:
    model = _copy(smollm2, tmp_path)
    with model.open("r+b") as handle:
        handle.truncate(model.stat().st_size - cut)
    evidence = qualify(tmp_path, model)
    assert evidence.verdict is not None
    g0 = evidence.verdict.gateways[0]
    assert not g0.passed and "I-5" in g0.reason
    assert all(o.status == "skipped" and o.reason.startswith("G0 integrity failed") for o in evidence.observations)
    assert contract(evidence)["F-CONTRACT-I5"][0] == "Falsified"
