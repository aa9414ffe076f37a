"""Format parity: the same prompt at temperature 0 from each format agrees on the first K tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, aprqa, make_scenario, write_playbook

from aprqa_action.errors import InputError
from aprqa_action.judge.parity import compare_texts, parity_items, tokens
from aprqa_action.playbook import load_playbook
from aprqa_action.records import Observation, Scenario
from aprqa_action.store.evidence import read_evidence


def test_tokens_and_the_first_divergence_by_hand() -> None:
    assert tokens("The answer is 4.") == ["The", "answer", "is", "4", "."]
    assert compare_texts("The answer is 4.", "The answer is four.", 8) == (1, 4)
    assert compare_texts("The answer is 4.", "The answer is 4. Sure", 5) == (0, None)  # only the first K count
    assert compare_texts("a b c", "a b", 8) == (1, 3)  # one answer ends early


def playbook(tmp_path: Path, **parity: object):  # type: ignore[no-untyped-def]
    return load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            model={"hf_repo": "a/b", "formats": ["gguf", "safetensors"]},
            test_matrix={"modalities": ["run"], "backends": ["cpu"], "temperature": 0.0},
            format_parity=parity,
        )
    ).playbook


def scenario(fmt: str) -> Scenario:
    return make_scenario(id=f"p:run:cpu:{fmt}:000", format=fmt, max_tokens=8)


def test_items_compare_each_format_with_the_reference(tmp_path: Path) -> None:
    answers = [
        Observation(scenario_id="p:run:cpu:gguf:000", status="ok", text="The answer is 4."),
        Observation(scenario_id="p:run:cpu:safetensors:000", status="ok", text="The answer is four."),
    ]
    [item] = parity_items(playbook(tmp_path, first_tokens=8), [scenario("gguf"), scenario("safetensors")], answers)
    assert (item.gate_id, item.category, item.outcome) == ("F-REGR-PARITY", "REGR", "Falsified")
    assert (
        item.reason
        == "safetensors diverges from gguf at token 4 of the first 8: 'four' vs '4' (1 mismatching, tolerance 0)"
    )
    [item] = parity_items(playbook(tmp_path, first_tokens=3), [scenario("gguf"), scenario("safetensors")], answers)
    assert item.outcome == "Corroborated"
    [item] = parity_items(playbook(tmp_path, tolerance=1), [scenario("gguf"), scenario("safetensors")], answers)
    assert item.outcome == "Corroborated"
    missing = [answers[0], Observation(scenario_id="p:run:cpu:safetensors:000", status="crashed", reason="SIGSEGV")]
    [item] = parity_items(playbook(tmp_path), [scenario("gguf"), scenario("safetensors")], missing)
    assert item.outcome == "Skipped" and item.reason == "not compared: no answer from safetensors (crashed)"


def test_every_listed_modality_is_compared_within_itself(tmp_path: Path) -> None:
    # As the Qwen MVP playbooks declare it: 3 formats, SafeTensors the reference, run/chat/serve compared. Each
    # format's chat answer is compared with the reference's chat answer, never with its run answer.
    pb = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            model={"hf_repo": "a/b", "formats": ["safetensors", "apr", "gguf"]},
            test_matrix={"modalities": ["run", "chat", "serve"], "backends": ["cpu"], "temperature": 0.0},
            format_parity={"reference": "safetensors", "modalities": ["run", "chat"]},
        )
    ).playbook
    texts = {"run": "The answer is 4.", "chat": "2 + 2 = 4", "serve": "Four."}
    scenarios, answers = [], []
    for modality, text in texts.items():
        for fmt in ("safetensors", "apr", "gguf"):
            sid = f"p:{modality}:cpu:{fmt}:000"
            scenarios.append(make_scenario(id=sid, format=fmt, modality=modality, max_tokens=8))
            # gguf's chat answer diverges at its 3rd token; everything else agrees within its modality
            answer = "2 + 5 = 7" if (fmt, modality) == ("gguf", "chat") else text
            answers.append(Observation(scenario_id=sid, status="ok", text=answer))
    items = {i.id: i for i in parity_items(pb, scenarios, answers)}
    assert sorted(items) == [
        "F-REGR-PARITY:apr/cpu/chat:000",
        "F-REGR-PARITY:apr/cpu/run:000",
        "F-REGR-PARITY:gguf/cpu/chat:000",
        "F-REGR-PARITY:gguf/cpu/run:000",
    ]  # serve is not listed: not compared
    assert [items[k].outcome for k in sorted(items)] == ["Corroborated", "Corroborated", "Falsified", "Corroborated"]
    assert items["F-REGR-PARITY:gguf/cpu/chat:000"].reason == (
        "gguf diverges from safetensors at token 3 of the first 8: '5' vs '2' (2 mismatching, tolerance 0)"
    )


@pytest.mark.parametrize(
    ("model", "matrix", "message"),
    [
        ({"hf_repo": "a/b", "formats": ["gguf"]}, {}, "needs at least two"),
        ({"hf_repo": "a/b", "formats": ["gguf", "apr"]}, {"temperature": 0.7}, "temperature must be 0"),
    ],
)
def test_parity_needs_comparable_runs(tmp_path: Path, model: dict, matrix: dict, message: str) -> None:
    path = write_playbook(
        tmp_path / "p.yaml",
        model=model,
        test_matrix={"modalities": ["run"], "backends": ["cpu"], **matrix},
        format_parity={},
    )
    with pytest.raises(InputError, match=message):
        load_playbook(path)


@pytest.mark.engine
def test_a_perturbed_twin_fails_parity_at_the_diverging_token(tmp_path: Path, smollm2: Path) -> None:
    twin = smollm2.parent
    assert (twin / "model.safetensors").is_file(), "run `make models` (scripts/make_safetensors_twin.py)"
    broken = tmp_path / "broken"
    subprocess.run(
        [
            sys.executable,
            ROOT / "scripts" / "make_safetensors_twin.py",
            "--gguf",
            smollm2,
            "--perturb",
            "model.layers.0.mlp.down_proj.weight",
            "--scale",
            "0",
            "--out",
            broken,
        ],
        check=True,
        timeout=600,
    )
    (broken / "model.gguf").symlink_to(smollm2)  # side by side, as the sibling lookup expects
    path = write_playbook(
        tmp_path / "p.yaml",
        model={"hf_repo": "a/b", "formats": ["gguf", "safetensors"]},
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "prompts": ["What is 2+2?"], "max_tokens": 16},
        format_parity={"first_tokens": 8},
    )
    for name, directory in (("good", twin), ("bad", broken)):
        done = aprqa("run", path, "--model-path", directory / "model.gguf", "--output-dir", tmp_path / name)
        assert "Traceback" not in done.stderr
    [good] = [i for i in read_evidence(tmp_path / "good" / "evidence.json").items if i.gate_id == "F-REGR-PARITY"]
    assert good.outcome == "Corroborated"
    [bad] = [i for i in read_evidence(tmp_path / "bad" / "evidence.json").items if i.gate_id == "F-REGR-PARITY"]
    assert bad.outcome == "Falsified" and "safetensors diverges from gguf at token " in bad.reason


def backend_playbook(tmp_path: Path, backends: list[str] | None = None, **parity: object):  # type: ignore[no-untyped-def]
    return load_playbook(
        write_playbook(
            tmp_path / "b.yaml",
            model={"hf_repo": "a/b", "formats": ["gguf"]},
            test_matrix={"modalities": ["run"], "backends": backends or ["cpu", "gpu"], "temperature": 0.0},
            backend_parity=parity,
        )
    ).playbook


def test_cpu_gpu_parity_from_recorded_answers(tmp_path: Path) -> None:
    # Recorded observations: no GPU runs here, so the gpu answers are written as a GPU runner would record them.
    cpu = make_scenario(id="p:run:cpu:gguf:000", backend="cpu")
    gpu = make_scenario(id="p:run:gpu:gguf:000", backend="gpu")
    same = [
        Observation(scenario_id=cpu.id, status="ok", text="2 + 2 = 4. Four is the answer"),
        Observation(scenario_id=gpu.id, status="ok", text="2 + 2 = 4. Four is an answer"),
    ]
    [item] = parity_items(backend_playbook(tmp_path, first_tokens=8), [cpu, gpu], same)
    assert (item.gate_id, item.category, item.outcome, item.cell) == (
        "F-PAR-CPU-GPU",
        "REGR",
        "Corroborated",
        "gguf/gpu/run",
    )
    assert item.reason == "gpu agrees with cpu on the first 8 tokens"  # 2 + 2 = 4 . Four is
    [item] = parity_items(backend_playbook(tmp_path, first_tokens=9), [cpu, gpu], same)
    assert item.reason == "gpu diverges from cpu at token 9 of the first 9: 'an' vs 'the' (1 mismatching, tolerance 0)"
    skipped = [same[0], Observation(scenario_id=gpu.id, status="skipped", reason="no GPU: nvidia-smi not found")]
    [item] = parity_items(backend_playbook(tmp_path), [cpu, gpu], skipped)
    assert (item.outcome, item.reason) == ("Skipped", "not compared: no answer from gpu (skipped)")


def test_cpu_gpu_parity_needs_both_backends_at_temperature_0(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="backend_parity compares cpu with gpu: declare both backends"):
        backend_playbook(tmp_path, backends=["cpu"])
