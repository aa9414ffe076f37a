"""EDGE: the playbook's `edge:` section, the edge scenarios the plan makes, the model facts they rest on, and
the judgements of boundary prompts, leakage and determinism — by hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_scenario, write_playbook

from aprqa_action.checks import Run
from aprqa_action.contracts.vocab import model_text_facts
from aprqa_action.engines import load_profile
from aprqa_action.errors import InputError
from aprqa_action.execute import render
from aprqa_action.judge.edge import boundary_item, determinism_item, leak_in, leak_items
from aprqa_action.plan import build_plan
from aprqa_action.plan.edge import ARGV_LIMIT, HTTP_PROBES, boundary_prompt
from aprqa_action.playbook import BOUNDARY_CASES, load_playbook
from aprqa_action.records import BackendProbe, Observation, ResolvedModel

ROOT = Path(__file__).resolve().parent.parent
CERTIFY = ROOT / "playbooks" / "examples" / "smollm2-135m-certify.playbook.yaml"
CPU = {"cpu": BackendProbe(backend="cpu", available=True, reason="always")}


def _model(context: int | None = 8192, special: list[str] | None = None) -> ResolvedModel:
    return ResolvedModel(
        format="gguf",
        path="/m/model.gguf",
        how="given",
        reason="given",
        context_length=context,
        special_tokens=special or ["<|im_end|>"],
    )


def _plan(tmp_path: Path, edge: dict[str, object], modalities: list[str], context: int | None = 8192, **matrix):  # type: ignore[no-untyped-def]
    test_matrix = {"modalities": modalities, "backends": ["cpu"], "scenario_count": 2, "timeout_ms": 30000, **matrix}
    playbook = load_playbook(write_playbook(tmp_path / "p.yaml", edge=edge, test_matrix=test_matrix)).playbook
    return build_plan(playbook, load_profile("reference"), {"gguf": _model(context)}, CPU)


# --- model facts, read from the real files ---------------------------------------------------------------


def test_model_facts_come_from_the_real_files(smollm2: Path, gemma_base: Path) -> None:
    context, special = model_text_facts(smollm2, "gguf")
    assert context == 8192  # llama.context_length
    assert special[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # its control tokens, in id order
    context, special = model_text_facts(smollm2.parent / "model.safetensors", "safetensors")
    assert context == 8192  # config.json max_position_embeddings
    assert "<|im_end|>" in special  # tokenizer.json added_tokens, special
    context, special = model_text_facts(gemma_base, "gguf")
    assert context == 32768
    assert "<end_of_turn>" in special and not any("unused" in t for t in special)  # 6,242 placeholders left out


def test_model_facts_of_an_unreadable_file_are_empty(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 32)
    assert model_text_facts(bad, "gguf") == (None, [])
    assert model_text_facts(tmp_path / "missing.gguf", "gguf") == (None, [])


# --- the plan ----------------------------------------------------------------------------------------------


def test_the_plan_puts_each_cells_edge_scenarios_after_its_matrix(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {}, ["run", "serve"])
    ids = [s.id for s in plan.scenarios]
    run_edge = [s for s in plan.scenarios if s.purpose == "edge" and s.modality == "run"]
    serve_edge = [s for s in plan.scenarios if s.purpose == "edge" and s.modality == "serve"]
    assert [s.probe for s in run_edge] == [*BOUNDARY_CASES, "determinism"]
    assert [s.probe for s in serve_edge][-10:] == ["determinism", *(f"http:{p}" for p in HTTP_PROBES)]
    assert HTTP_PROBES[-1] == "shutdown"  # it ends the server: last
    # the run cell's two matrix scenarios, then its edge scenarios, then the serve cell's
    assert ids.index("t:edge:run:cpu:gguf:empty") == 2
    assert ids.index("t:serve:cpu:gguf:000") == 2 + len(run_edge)
    # same group as the matrix: in serve one server answers the matrix and then the edge cases (A → B → A)
    assert {s.group for s in serve_edge} == {plan.scenarios[ids.index("t:serve:cpu:gguf:000")].group}
    determinism = next(s for s in run_edge if s.probe == "determinism")
    first = plan.scenarios[0]
    assert (determinism.prompt, determinism.seed, determinism.max_tokens) == (first.prompt, first.seed, 32)


def test_boundary_prompts_by_hand() -> None:
    model = _model(context=1000)
    assert boundary_prompt("empty", model, 16) == ("", 16, 0)
    assert boundary_prompt("over-context", model, 16) == ("Summarise:", 16, 2 * 1000 + 16)  # " hello" × N
    assert boundary_prompt("in-context", model, 16) == ("Summarise:", 16, 1000 - 64 - 16)  # room: template, answer
    assert boundary_prompt("max-tokens-1", model, 16)[1] == 1  # type: ignore[index]
    assert boundary_prompt("max-tokens-huge", model, 16)[1] == 1_000_000  # type: ignore[index]
    special, _, _ = boundary_prompt("special-tokens", model, 16)  # type: ignore[misc]
    assert "<|im_start|>system" in special and special.endswith("<|im_end|>")  # the model's own, too
    assert "\n" not in special and "\n" not in boundary_prompt("unicode", model, 16)[0]  # type: ignore[index]
    assert boundary_prompt("over-context", _model(context=None), 16) == "the model file does not say its context length"


def test_a_prompt_too_long_for_one_argument_is_skipped_in_run_not_in_serve(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"boundary": ["over-context"], "protocol": False}, ["run", "serve"], context=100_000)
    over = {s.modality: s for s in plan.scenarios if s.probe == "over-context"}
    assert len(over["run"].full_prompt.encode()) > ARGV_LIMIT
    assert len(over["run"].prompt) < 100  # the evidence keeps the prompt's start and the count of " hello"
    assert "longer than one command-line argument may be (128 KiB)" in (over["run"].skip_reason or "")
    assert over["serve"].skip_reason is None  # a request body carries it


def test_edge_switches_formats_and_modalities(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        {"boundary": ["empty"], "determinism": False, "protocol": False, "modalities": ["serve"]},
        ["run", "serve"],
    )
    assert [s.id for s in plan.scenarios if s.purpose == "edge"] == ["t:edge:serve:cpu:gguf:empty"]
    plan = _plan(tmp_path, {"formats": ["gguf"], "boundary": [], "determinism": False, "protocol": False}, ["run"])
    assert not [s for s in plan.scenarios if s.purpose == "edge"]


@pytest.mark.parametrize(
    ("edge", "message"),
    [
        ({"modalities": ["chat"]}, "edge.modalities chat is not in test_matrix.modalities"),
        ({"formats": ["safetensors"]}, "edge.formats safetensors is not in model.formats"),
        ({"boundry": []}, "boundry"),
        ({"boundary": ["empty", "huge"]}, "huge"),
        ({"concurrency": 1}, "concurrency"),
    ],
)
def test_edge_keys_are_checked(tmp_path: Path, edge: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        load_playbook(write_playbook(tmp_path / "p.yaml", edge=edge))
    assert "p.yaml:" in str(raised.value)  # file:line


# --- sampling parity -------------------------------------------------------------------------------------


def test_declared_sampling_reaches_every_modality(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"boundary": [], "protocol": False}, ["run", "chat"], repeat_penalty=1.0, top_k=40)
    first = plan.scenarios[0]
    assert first.sampling == {"top_k": 40, "repeat_penalty": 1.0}
    profile = load_profile("reference")
    argv = render(profile.run.argv, first, profile)  # type: ignore[union-attr]
    assert argv[-4:] == ["--top-k", "40", "--repeat-penalty", "1.0"]


def test_sampling_an_engine_cannot_pass_is_refused_before_running(tmp_path: Path) -> None:
    test_matrix = {"modalities": ["run"], "backends": ["cpu"], "timeout_ms": 30000, "repeat_penalty": 1.0}
    playbook = load_playbook(write_playbook(tmp_path / "p.yaml", test_matrix=test_matrix)).playbook
    with pytest.raises(InputError, match=r"engine apr cannot pass repeat_penalty to its run command"):
        build_plan(playbook, load_profile("apr"), {"gguf": _model()}, CPU)


# --- judging ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prompt", "found"),
    [
        ("Four.<|im_end|>", "What is 2+2?", ("<|im_end|>", 5)),
        ("You wrote <|im_end|>.", "say <|im_end|>", None),  # an echo of the prompt is no leak
        ("<s>old</s> new", "html?", None),  # HTML strikethrough
        ("done</s>", "q", ("</s>", 4)),
        ("ĠTheĠcat", "q", ("BPE artefact 'Ġ'", 0)),
        ("Il-Ġenerali", "q", None),  # one Maltese letter is not an artefact
        ("line<0x0A>next", "q", ("byte token <0x0A>", 4)),
        ("<reponame>x", "q", ("<reponame>", 0)),  # the model's own control token
        ("Four.", "What is 2+2?", None),
    ],
)
def test_leaks_by_hand(text: str, prompt: str, found: tuple[str, int] | None) -> None:
    assert leak_in(text, prompt, ["<reponame>"]) == found


def _run(playbook_edge: dict[str, object], tmp_path: Path, scenarios, observations) -> Run:  # type: ignore[no-untyped-def]
    playbook = load_playbook(write_playbook(tmp_path / "p.yaml", edge=playbook_edge)).playbook
    return Run(
        playbook=playbook,
        models={"gguf": _model()},
        problems={},
        scenarios=scenarios,
        observations={o.scenario_id: o for o in observations},
        per_file=[],
    )


def test_leakage_is_one_item_per_cell_quoting_the_first_leak(tmp_path: Path) -> None:
    a, b = make_scenario(index=0), make_scenario(index=1, id="t:run:cpu:gguf:001")
    seen = [
        Observation(scenario_id=a.id, status="ok", text="Four."),
        Observation(scenario_id=b.id, status="ok", text="Red, green<|im_end|><|im_start|>user"),
    ]
    [leak] = leak_items(_run({}, tmp_path, [a, b], seen))
    assert (leak.id, leak.outcome, leak.category) == ("F-EDGE-LEAK:gguf/cpu/run", "Falsified", "EDGE")
    assert leak.reason == "<|im_end|> in the answer of t:run:cpu:gguf:001 at offset 10"
    assert "<|im_end|>" in (leak.excerpt or "")


def _edge(probe: str, modality: str = "run"):  # type: ignore[no-untyped-def]
    return make_scenario(id=f"t:edge:{modality}:cpu:gguf:{probe}", purpose="edge", probe=probe, modality=modality)


@pytest.mark.parametrize(
    ("probe", "modality", "seen", "outcome", "reason"),
    [
        ("unicode", "run", {"status": "ok", "text": "👋 hi", "tokens": 3}, "Corroborated", "answered (3 tokens)"),
        ("empty", "chat", {"status": "ok", "text": ""}, "Corroborated", "no answer to an empty prompt, and no error"),
        ("unicode", "run", {"status": "ok", "text": " "}, "Falsified", "exit 0 with no answer"),
        ("empty", "serve", {"status": "ok", "text": ""}, "Falsified", "an empty 200"),
        ("unicode", "run", {"status": "ok", "text": "a\ufffdb"}, "Falsified", "invalid UTF-8 (U+FFFD) at offset 1"),
        (
            "over-context",
            "run",
            {"status": "failed", "reason": "exit code 1: too long", "exit_code": 1, "stderr_tail": "too long"},
            "Corroborated",
            "refused cleanly: exit code 1: too long",
        ),
        (
            "over-context",
            "serve",
            {"status": "failed", "reason": "POST answered 400", "facts": {"http_status": 400, "json_body": True}},
            "Corroborated",
            "refused cleanly: HTTP 400 with a JSON error",
        ),
        (
            "over-context",
            "serve",
            {"status": "failed", "reason": "POST answered 500", "facts": {"http_status": 500, "json_body": True}},
            "Falsified",
            "POST answered 500 (a 5xx)",
        ),
        (
            "over-context",
            "serve",
            {"status": "failed", "reason": "POST answered 400", "facts": {"http_status": 400, "json_body": False}},
            "Falsified",
            "POST answered 400 (not a 4xx with a JSON error body)",
        ),
        ("max-tokens-1", "run", {"status": "crashed", "reason": "killed by SIGSEGV"}, "Crashed", "killed by SIGSEGV"),
        ("max-tokens-huge", "run", {"status": "timeout", "reason": "killed after"}, "Timeout", "killed after"),
    ],
)
def test_boundary_judgements_by_hand(
    probe: str, modality: str, seen: dict[str, object], outcome: str, reason: str
) -> None:
    s = _edge(probe, modality)
    judged = boundary_item(s, Observation.model_validate({"scenario_id": s.id, **seen}))
    assert (judged.gate_id, judged.outcome, judged.reason) == (f"F-EDGE-{probe.upper()}", outcome, reason)


def test_determinism_compares_with_the_cells_first_scenario(tmp_path: Path) -> None:
    first, again = make_scenario(), _edge("determinism")
    same = _run({}, tmp_path, [first, again], [Observation(scenario_id=first.id, status="ok", text="Four.")])
    judged = determinism_item(same, again, Observation(scenario_id=again.id, status="ok", text="Four."))
    assert (judged.gate_id, judged.outcome) == ("F-DET-REPEAT", "Corroborated")
    judged = determinism_item(same, again, Observation(scenario_id=again.id, status="ok", text="Five."))
    assert judged.outcome == "Falsified"
    assert "differs from t:run:cpu:gguf:000 at character 1: 'our.' then 'ive.'" in judged.reason
    serve = _edge("determinism", "serve")
    judged = determinism_item(same, serve, Observation(scenario_id=serve.id, status="ok", text="x"))
    assert (judged.gate_id, judged.outcome) == ("F-DET-ISOLATION", "Skipped")  # no serve matrix answer
