"""`aprqa qa MODEL`: the deep gates on one model file without a playbook. Its playbook is an ordinary one (checked
here against the schema); its table is computed from the evidence alone (the printed table and one rebuilt from
evidence.json are the same text); the real run on the demo model shares one engine run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import aprqa
from contracts_fixtures import rewrite_gguf

from aprqa_action.playbook import Playbook
from aprqa_action.playbook.qa import QaSettings, playbook_name, qa_playbook
from aprqa_action.records.axes import Format
from aprqa_action.report.qa_table import format_table, qa_rows
from aprqa_action.store.evidence import read_evidence


def test_the_qa_playbook_declares_every_deep_gate() -> None:
    settings = QaSettings(max_cv=0.1, min_perf_ratio=0.5, max_ppl_ratio=1.2)
    both = Playbook.model_validate(qa_playbook(Path("/m/model.gguf"), [Format.GGUF, Format.SAFETENSORS], settings))
    assert both.name == "qa-model-gguf"
    assert both.profile_ci is not None and both.profile_ci.assertions.max_throughput_cv == 0.1
    assert both.profile_ci.assertions.min_gpu_speedup == 2.0
    assert both.engine_parity is not None and both.engine_parity.min_perf_ratio == 0.5
    assert both.perplexity is not None and both.perplexity.max_ratio == 1.2
    assert both.perplexity_reference == Format.SAFETENSORS
    assert both.format_parity is not None and both.backend_parity is not None
    assert both.metadata_plausibility is not None and both.contract_tests is not None
    assert both.test_matrix.backends == ["cpu", "gpu"] and both.test_matrix.modalities == ["run", "serve"]
    # one file, no reference engine: nothing to compare formats or engines with, and no serve to run
    alone = qa_playbook(Path("/m/x.safetensors"), [Format.SAFETENSORS], QaSettings(reference_engine=None))
    one = Playbook.model_validate(alone)
    assert one.perplexity is None and one.format_parity is None and one.engine_parity is None
    assert one.test_matrix.modalities == ["run"]
    assert playbook_name(Path("/models/Qwen2.5 Coder (7B).Q4_K_M.gguf")) == "qa-qwen2-5-coder-7b-q4-k-m-gguf"


@pytest.fixture(scope="module")
def qa_run(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("qa")
    done = aprqa("qa", smollm2, "--output-dir", out, "--max-cv", "0.5", "--measure", "3", timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done, out


@pytest.mark.engine
def test_qa_on_the_demo_model_prints_the_table_of_its_evidence(qa_run: tuple[Any, Path]) -> None:
    done, out = qa_run
    evidence = read_evidence(out / "evidence.json")
    table = format_table(qa_rows(evidence))
    assert table in done.stdout  # what it printed is what the evidence says
    rows = {r.gate: r for r in qa_rows(evidence)}
    for gate in ("Tensor Contract", "Metadata Plausibility", "Golden Output", "Format Parity", "Perplexity Ratio"):
        assert rows[gate].status == "PASS", (gate, rows[gate])
    # no GPU here: both GPU gates are skipped with the reason, never passed
    assert rows["GPU Speedup"].status == rows["CPU/GPU Parity"].status == "SKIP"
    assert rows["GPU Speedup"].note.startswith("gpu not measured: no GPU")
    assert rows["CPU/GPU Parity"].note == "not compared: no answer from gpu (skipped)"
    tps = next(i for i in evidence.items if i.gate_id == "F-PERF-TPS-CPU")
    assert rows["Throughput"].measured == f"{tps.metrics['tok_per_sec']:.2f}" and rows["Throughput"].threshold == "5.00"
    ppl = next(i for i in evidence.items if i.gate_id == "F-PAR-PPL")
    assert rows["Perplexity Ratio"].measured == f"{ppl.metrics['ratio']:.2f}"
    assert rows["Engine Parity"].status == "PASS"  # llama.cpp under two servers, greedy: the same words
    assert rows["Engine Parity tok/s"].status in ("PASS", "FAIL")  # judged: this machine's speed decides
    written = yaml.safe_load((out / "qa.playbook.yaml").read_text())
    assert written["engine_parity"]["reference_engine"] == "xllamacpp"
    assert json.loads((out / "evidence.json").read_text())["playbook"]["name"] == "qa-model-gguf"


@pytest.mark.engine
def test_qa_fails_a_qwen2_file_with_llama_s_rope_base(smollm2: Path, tmp_path: Path) -> None:
    # the seed's Bug 210: a qwen2 file whose rope base is 10000, not 1,000,000
    model = rewrite_gguf(smollm2, tmp_path / "qwen2.gguf", {"qwen2.rope.freq_base": 10000.0}, arch="qwen2")
    done = aprqa(
        "qa", model, "--output-dir", tmp_path / "out", "--reference-engine", "none", "--warmup", "0",
        "--measure", "1", "--max-tokens", "4", timeout=600,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "| Metadata Plausibility | FAIL   | 7/8" in done.stdout
    assert "Metadata Plausibility: FAIL — rope theta 10000 outside [500000, 2e+07] for qwen2" in done.stdout
    assert "Traceback" not in done.stderr


def test_qa_refuses_what_is_no_model_file(tmp_path: Path) -> None:
    done = aprqa("qa", tmp_path / "missing.gguf")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"aprqa: error: aprqa qa {tmp_path / 'missing.gguf'}: no such file",
    )
    (tmp_path / "notes.txt").write_text("hello")
    done = aprqa("qa", tmp_path / "notes.txt")
    assert done.returncode == 2 and "not a GGUF, SafeTensors or APR model file" in done.stderr


@pytest.mark.engine
def test_qa_on_a_truncated_file_is_a_g0_failure_in_the_evidence(smollm2: Path, tmp_path: Path) -> None:
    model = tmp_path / "cut.gguf"
    model.write_bytes(smollm2.read_bytes()[:200_000])
    done = aprqa("qa", model, "--output-dir", tmp_path / "out", "--reference-engine", "none", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "| Tensor Contract       | FAIL" in done.stdout and "Traceback" not in done.stderr
    evidence = read_evidence(tmp_path / "out" / "evidence.json")
    [g0] = [i for i in evidence.items if i.gate_id == "G0-INTEGRITY"]
    assert g0.outcome == "Falsified"


def test_an_engine_that_is_not_installed_is_named_with_its_install_command() -> None:
    # what `aprqa qa` says when its default reference engine cannot run here (and leaves engine parity out)
    from aprqa_action.engines import load_profile
    from aprqa_action.execute import engine_problem
    from aprqa_action.records import Modality

    profile = load_profile("xllamacpp")
    broken = profile.model_copy(
        update={"requires": [r.model_copy(update={"modules": ["aprqa_no_such_module"]}) for r in profile.requires]}
    )
    assert engine_problem(profile, {(Modality.SERVE, "gguf")}) is None  # installed by make install
    problem = engine_problem(broken, {(Modality.SERVE, "gguf")})
    assert problem is not None and problem.endswith(
        "cannot import aprqa_no_such_module; install it: pip install -e '.[engine-parity]' "
        "(in the GitHub Action: the input extras: engine-parity)"
    )


def test_qa_leaves_out_a_default_reference_engine_that_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from aprqa_action import cli, execute

    assert cli.qa_reference(None) == ("xllamacpp", None)  # installed here
    assert cli.qa_reference("none") == (None, None)
    monkeypatch.setattr(execute, "engine_problem", lambda profile, needs: "engine xllamacpp: cannot import x")
    reference, note = cli.qa_reference(None)
    assert reference is None
    assert note == "note: no engine parity (engine xllamacpp: cannot import x; --reference-engine none says you know)"
    assert cli.qa_reference("xllamacpp") == ("xllamacpp", None)  # named: it runs, or the run stops (exit 3)
