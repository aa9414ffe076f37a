"""The deep gates that run engines: reference-engine parity (F-PAR-ENGINE-*, against xllamacpp, llama.cpp's own
server) and quantization quality (F-PAR-PPL, the reference engine's perplexity of aprqa's text). Ratios are
hand-computed on recorded observations; one real run of each shows them end to end on the demo model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, aprqa, hostile_profile, make_scenario, write_playbook

from aprqa_action.errors import InputError
from aprqa_action.judge.run import judge
from aprqa_action.playbook import Playbook, load_playbook
from aprqa_action.records import EvidenceItem, Observation, Scenario

DEEP = {
    "model": {"hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct", "formats": ["gguf", "safetensors"]},
    "test_matrix": {
        "modalities": ["serve"], "backends": ["cpu"], "scenario_count": 3, "max_tokens": 24, "timeout_ms": 120000,
        "repeat_penalty": 1.0,
        "prompts": ["What is 2+2?", "Name the capital of France.", "Write a haiku about rain."],
    },
    "engine_parity": {"reference_engine": "xllamacpp", "formats": ["gguf"]},
    "perplexity": {},
}  # fmt: skip


def playbook(tmp_path: Path, **overrides: object) -> Playbook:
    return load_playbook(write_playbook(tmp_path / "p.yaml", **(DEEP | overrides))).playbook


def items(book: Playbook, scenarios: list[Scenario], seen: list[Observation], gate: str) -> list[EvidenceItem]:
    return [i for i in judge(book, {}, {}, scenarios, seen) if i.gate_id == gate]


def pair(index: int, ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[list[Scenario], list[Observation]]:
    """A serve scenario of ours and its engine_parity twin, with what each engine answered."""
    own = make_scenario(id=f"t:serve:cpu:gguf:{index:03d}", index=index, modality="serve")
    twin = own.model_copy(update={"id": f"t:parity:x:serve:cpu:gguf:{index:03d}", "purpose": "parity", "engine": "x"})
    return [own, twin], [
        Observation(scenario_id=own.id, status="ok", **ours),
        Observation(scenario_id=twin.id, status="ok", **theirs),
    ]


def test_engine_parity_ratios_by_hand(tmp_path: Path) -> None:
    book = playbook(tmp_path)
    scenarios, seen = [], []
    # ours: tok/s 90, 100, 120 (median 100), TTFT 30, 50, 40 (median 40); theirs: 100, 125, 150 (median 125),
    # TTFT 20, 10, 30 (median 20). tok/s 100 ÷ 125 = 0.80 ≥ 0.8; TTFT 40 ÷ 20 = 2.00 ≤ 3.
    for i, (a, b, ta, tb) in enumerate([(90, 100, 30, 20), (100, 125, 50, 10), (120, 150, 40, 30)]):
        s, o = pair(
            i,
            {"text": "It is 4.", "tok_per_sec": a, "ttft_ms": ta},
            {"text": "It is 4.", "tok_per_sec": b, "ttft_ms": tb},
        )
        scenarios += s
        seen += o
    [tps] = items(book, scenarios, seen, "F-PAR-ENGINE-TPS")
    assert (tps.outcome, tps.reason) == (
        "Corroborated",
        "tok/s ours 100.0 tok/s ÷ x 125.0 tok/s = 0.80 ≥ 0.8 (medians of 3 scenario(s))",
    )
    [ttft] = items(book, scenarios, seen, "F-PAR-ENGINE-TTFT")
    assert (ttft.outcome, ttft.metrics["ratio"]) == ("Corroborated", 2.0)
    texts = items(book, scenarios, seen, "F-PAR-ENGINE-TEXT")
    assert [t.outcome for t in texts] == ["Corroborated"] * 3
    strict = playbook(
        tmp_path, engine_parity={"reference_engine": "xllamacpp", "min_perf_ratio": 0.9, "max_ttft_ratio": 1.5}
    )
    [tps] = items(strict, scenarios, seen, "F-PAR-ENGINE-TPS")
    [ttft] = items(strict, scenarios, seen, "F-PAR-ENGINE-TTFT")
    assert (tps.outcome, ttft.outcome) == ("Falsified", "Falsified")
    assert ttft.reason == "TTFT ours 40.0 ms ÷ x 20.0 ms = 2.00 > 1.5 (medians of 3 scenario(s))"


def test_engine_parity_text_and_missing_answers(tmp_path: Path) -> None:
    book = playbook(tmp_path)
    scenarios, seen = pair(0, {"text": "The answer is 4."}, {"text": "The answer is four."})
    [text] = items(book, scenarios, seen, "F-PAR-ENGINE-TEXT")
    assert text.outcome == "Falsified"
    assert text.reason == "ours diverges from x at token 4 of the first 8: '4' vs 'four' (1 mismatching, tolerance 0)"
    [tps] = items(book, scenarios, seen, "F-PAR-ENGINE-TPS")  # neither engine reported tok/s
    assert (tps.outcome, tps.reason) == (
        "Skipped",
        "tok/s not compared: an engine did not report it (or not as a number > 0)",
    )
    # a hostile engine's own numbers: a negative TTFT would otherwise pass any ≤ bound
    scenarios, seen = pair(0, {"text": "4", "ttft_ms": -5.0}, {"text": "4", "ttft_ms": 20.0})
    [ttft] = items(book, scenarios, seen, "F-PAR-ENGINE-TTFT")
    assert ttft.outcome == "Skipped"
    seen[1] = Observation(scenario_id=seen[1].scenario_id, status="skipped", reason="engine x cannot run it")
    [text] = items(book, scenarios, seen, "F-PAR-ENGINE-TEXT")
    assert (text.outcome, text.reason) == ("Skipped", "not compared: no answer from x (skipped)")


def test_engine_parity_refuses_what_cannot_be_compared(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"engine_parity compares greedy answers"):
        playbook(tmp_path, test_matrix={**DEEP["test_matrix"], "temperature": 0.7})  # type: ignore[dict-item]
    with pytest.raises(InputError, match=r"engine_parity.modality run is not in test_matrix.modalities"):
        playbook(tmp_path, engine_parity={"reference_engine": "xllamacpp", "modality": "run"})
    with pytest.raises(InputError, match="unknown engine profile 'xlamacpp' \\(did you mean 'xllamacpp'\\?\\)"):
        playbook(tmp_path, engine_parity={"reference_engine": "xlamacpp"})


def scored(fmt: str, value: float | None, tokens: int | None = 463, status: str = "ok") -> tuple[Scenario, Observation]:
    s = make_scenario(id=f"t:perplexity:cpu:{fmt}", format=fmt, purpose="perplexity")
    facts = {"perplexity": value} if value is not None else {}
    return s, Observation(
        scenario_id=s.id, status=status, tokens=tokens, facts=facts, reason="" if status == "ok" else "exit code 1"
    )


def test_perplexity_ratio_by_hand(tmp_path: Path) -> None:
    book = playbook(tmp_path)  # reference: safetensors (declared), bound 1.10
    for quantized, outcome, reason in [
        (17.6, "Corroborated", "perplexity gguf 17.600 ÷ safetensors 16.000 = 1.100 ≤ 1.1 (463 tokens)"),
        (17.8, "Falsified", "perplexity gguf 17.800 ÷ safetensors 16.000 = 1.113 > 1.1 (463 tokens)"),
    ]:
        (a, oa), (b, ob) = scored("gguf", quantized), scored("safetensors", 16.0)
        [found] = items(book, [a, b], [oa, ob], "F-PAR-PPL")
        assert (found.outcome, found.reason, found.cell) == (outcome, reason, "gguf")
    (a, oa), (b, ob) = scored("gguf", 14.0), scored("safetensors", 16.0)  # 0.875 < 1 / 1.1 = 0.909
    [found] = items(book, [a, b], [oa, ob], "F-PAR-PPL")
    assert (found.outcome, found.reason) == (
        "Falsified",
        "perplexity gguf 14.000 ÷ safetensors 16.000 = 0.875 < 1/1.1: gguf is far better than its reference; "
        "is the safetensors file damaged? (463 tokens)",
    )
    (a, oa), (b, ob) = scored("gguf", 17.0, tokens=470), scored("safetensors", 16.0)
    [found] = items(book, [a, b], [oa, ob], "F-PAR-PPL")
    assert (found.outcome, found.reason) == (
        "Falsified",
        "gguf scored 470 tokens of aprqa's text, safetensors 463: not one tokenizer",
    )
    (a, oa), (b, ob) = scored("gguf", None, status="failed"), scored("safetensors", 16.0)
    [found] = items(book, [a, b], [oa, ob], "F-PAR-PPL")  # the engine under test failed to score the text
    assert (found.outcome, found.reason) == ("Falsified", "no perplexity from gguf (exit code 1)")
    (a, oa), (b, ob) = scored("gguf", None, status="skipped"), scored("safetensors", 16.0)
    [found] = items(book, [a, b], [oa, ob], "F-PAR-PPL")
    assert (found.outcome, found.reason) == ("Skipped", "not compared: no perplexity from gguf (exit code 1)")


# -- real engines ---------------------------------------------------------------------------------------------


def run_playbook(tmp: Path, model_path: Path, **overrides: object) -> dict[str, Any]:
    path = write_playbook(tmp / "p.yaml", **(DEEP | overrides))
    done = aprqa("run", path, "--model-path", model_path, "--output-dir", tmp / "out")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return json.loads((tmp / "out" / "evidence.json").read_text())


@pytest.fixture(scope="module")
def deep_run(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real run: the reference engine and xllamacpp serve the demo GGUF; the reference engine scores the
    perplexity of the GGUF and of its SafeTensors twin."""
    return run_playbook(tmp_path_factory.mktemp("deep"), smollm2)


@pytest.mark.engine
def test_reference_engine_parity_holds_both_engines_answers(deep_run: dict[str, Any]) -> None:
    observed = {o["scenario_id"]: o for o in deep_run["observations"]}
    parity = [s for s in deep_run["scenarios"] if s["purpose"] == "parity"]
    assert [s["engine"] for s in parity] == ["xllamacpp"] * 3
    for s in parity:
        theirs = observed[s["id"]]
        ours = observed[s["id"].replace(":parity:xllamacpp:", ":")]
        assert theirs["status"] == ours["status"] == "ok"
        assert theirs["engine_version"].startswith("xllamacpp ") and not ours["engine_version"].startswith("xllamacpp")
        assert theirs["text"] and theirs["tok_per_sec"] > 0 and theirs["ttft_ms"] > 0
        assert ours["tok_per_sec"] > 0 and ours["ttft_ms"] > 0
    found = {i["gate_id"]: i for i in deep_run["items"] if i["gate_id"].startswith("F-PAR-ENGINE")}
    assert set(found) == {"F-PAR-ENGINE-TEXT", "F-PAR-ENGINE-TPS", "F-PAR-ENGINE-TTFT"}
    # one llama.cpp under two servers, greedy: the same words (any divergence is a finding, quoted)
    texts = [i for i in deep_run["items"] if i["gate_id"] == "F-PAR-ENGINE-TEXT"]
    assert all(i["outcome"] == "Corroborated" for i in texts), [i["reason"] for i in texts]
    for gate in ("F-PAR-ENGINE-TPS", "F-PAR-ENGINE-TTFT"):
        metrics = found[gate]["metrics"]
        assert metrics["ratio"] == pytest.approx(metrics["ours"] / metrics["reference"])
        assert found[gate]["outcome"] in ("Corroborated", "Falsified")  # judged, whatever this machine's speed
    # the reference engine's own failures do not count against the engine under test
    assert deep_run["verdict"]["counts"]["ok"] == 8  # 6 serve answers and 2 perplexities; xllamacpp's 3 are not ours


@pytest.mark.engine
def test_perplexity_of_the_gguf_and_its_twin(deep_run: dict[str, Any]) -> None:
    [item] = [i for i in deep_run["items"] if i["gate_id"] == "F-PAR-PPL"]
    assert item["outcome"] == "Corroborated", item["reason"]
    # measured here: GGUF Q4_1 16.27, its dequantized twin 16.30 on 463 tokens (the same weights: ratio ≈ 1)
    assert 5 < item["metrics"]["perplexity"] < 60 and 0.95 < item["metrics"]["ratio"] < 1.05
    assert item["reason"].endswith("≤ 1.1 (463 tokens)")


@pytest.mark.engine
def test_a_perturbed_twin_fails_the_perplexity_bound(smollm2: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    subprocess.run(
        [sys.executable, ROOT / "scripts" / "make_safetensors_twin.py", "--gguf", smollm2,
         "--perturb", "model.layers.0.mlp.down_proj.weight", "--scale", "0.5", "--out", broken],
        check=True, timeout=600,
    )  # fmt: skip
    (broken / "model.gguf").symlink_to(smollm2)
    light = {"modalities": ["run"], "backends": ["cpu"], "scenario_count": 1, "max_tokens": 4, "timeout_ms": 120000}
    # measured here: the damaged twin 40.67 ÷ the GGUF 16.27 = 2.50
    evidence = run_playbook(tmp_path, broken / "model.gguf", test_matrix=light, engine_parity=None,
                            perplexity={"reference": "gguf"})  # fmt: skip
    [item] = [i for i in evidence["items"] if i["gate_id"] == "F-PAR-PPL"]
    assert (item["outcome"], item["cell"]) == ("Falsified", "safetensors")
    assert item["metrics"]["ratio"] > 2 and item["reason"].endswith("> 1.1 (463 tokens)")


# -- what can go wrong: engines without the mode, hostile numbers, a reference engine that crashes, forgery -----


def test_an_engine_without_a_perplexity_mode_is_skipped_with_the_reason(smollm2: Path, tmp_path: Path) -> None:
    engine = hostile_profile("ok") | {"formats": ["gguf", "safetensors"]}
    light = {"modalities": ["run"], "backends": ["cpu"], "scenario_count": 1, "timeout_ms": 30000}
    evidence = run_playbook(tmp_path, smollm2, engine=engine, test_matrix=light, engine_parity=None)
    [item] = [i for i in evidence["items"] if i["gate_id"] == "F-PAR-PPL"]
    assert item["outcome"] == "Skipped"
    assert "engine hostile does not say how it computes perplexity (no `perplexity` in its profile)" in item["reason"]


def test_a_crashing_reference_engine_is_not_the_engine_under_test_s_crash(smollm2: Path, tmp_path: Path) -> None:
    crashy = hostile_profile("ok", serve="die-mid-request") | {"name": "crashy"}
    serve = {"modalities": ["serve"], "backends": ["cpu"], "scenario_count": 2, "timeout_ms": 30000}
    evidence = run_playbook(
        tmp_path, smollm2, engine=hostile_profile("ok", serve="ok"), test_matrix=serve, perplexity=None,
        engine_parity={"reference_engine": crashy},
    )  # fmt: skip
    observed = {o["scenario_id"]: o["status"] for o in evidence["observations"]}
    assert next(observed[s["id"]] for s in evidence["scenarios"] if s["purpose"] == "parity") == "crashed"
    verdict = evidence["verdict"]
    assert [g["passed"] for g in verdict["gateways"]] == [True] * 5
    assert verdict["counts"].get("crashed", 0) == 0 and verdict["mqs"] > 0
    texts = [i for i in evidence["items"] if i["gate_id"] == "F-PAR-ENGINE-TEXT"]
    assert texts and all(i["outcome"] == "Skipped" and "crashy (crashed)" in i["reason"] for i in texts)


def test_a_matrix_crash_relabelled_parity_still_fails_g3(tmp_path: Path) -> None:
    # A fork controls its artifacts: the sample evidence with one matrix answer turned into a crash, and that
    # scenario relabelled as a reference engine's, merged as a publisher would merge a shard.
    data = json.loads((ROOT / "docs" / "sample" / "evidence.json").read_text())
    victim = next(s for s in data["scenarios"] if s["purpose"] == "matrix" and s["backend"] == "cpu")
    victim |= {"purpose": "parity", "engine": "xllamacpp"}
    seen = next(o for o in data["observations"] if o["scenario_id"] == victim["id"])
    seen |= {"status": "crashed", "reason": "killed by SIGSEGV", "signal": "SIGSEGV", "text": None}
    forged = tmp_path / "forged" / "evidence.json"
    forged.parent.mkdir()
    forged.write_text(json.dumps(data))
    done = aprqa("merge", forged, "-o", tmp_path / "merged")
    assert done.returncode == 1, done.stdout + done.stderr
    merged = json.loads((tmp_path / "merged" / "evidence.json").read_text())
    g3 = next(g for g in merged["verdict"]["gateways"] if g["id"] == "G3")
    assert not g3["passed"] and "SIGSEGV" in g3["reason"]


def test_an_engine_s_impossible_numbers_are_unreadable_output() -> None:
    from aprqa_action.engines.profile import JsonOutput, PerplexityOutput
    from aprqa_action.execute.output import OutputError, parse_output, parse_perplexity

    spec = JsonOutput(format="json", tokens="tokens", tok_per_sec="tok_per_sec")
    for bad in (
        '{"text": "4", "tok_per_sec": NaN}',
        '{"text": "4", "tok_per_sec": -3}',
        '{"text": "4", "tokens": Infinity}',
    ):
        with pytest.raises(OutputError, match="not a finite number ≥ 0"):
            parse_output(spec, bad, "")
    assert parse_output(spec, '{"text": "4", "tokens": 1, "tok_per_sec": 12.5}', "").tok_per_sec == 12.5
    for bad in ('{"perplexity": NaN}', '{"perplexity": 0.5}', '{"perplexity": 5, "tokens": NaN}'):
        with pytest.raises(OutputError):
            parse_perplexity(PerplexityOutput(tokens="tokens"), bad, "")
