"""Matrix expansion: stable ids, seeds honoured, skips with reasons."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, aprqa, write_playbook

from aprqa_action.engines import load_profile
from aprqa_action.plan import build_plan, engine_seed, format_plan, prompt_order
from aprqa_action.playbook import load_playbook
from aprqa_action.records import BackendProbe, ResolvedModel
from aprqa_action.records.axes import Backend, Format

MVP = ROOT / "playbooks" / "models" / "qwen2.5-coder-7b-mvp.playbook.yaml"
CPU = BackendProbe(backend=Backend.CPU, available=True, reason="always available")
NO_GPU = BackendProbe(backend=Backend.GPU, available=False, reason="no GPU: test machine")
GPU = BackendProbe(backend=Backend.GPU, available=True, reason="1 CUDA device(s)")


def _models(*formats: str, missing: tuple[str, ...] = ()) -> dict[Format, ResolvedModel]:
    return {
        Format(f): ResolvedModel(
            format=f,
            path=None if f in missing else f"/m/model.{f}",
            how="missing" if f in missing else "given",
            reason="no file" if f in missing else "given",
        )
        for f in formats
    }


def test_mvp_playbook_plans_to_18_cells_in_seed_order() -> None:
    playbook = load_playbook(MVP).playbook
    plan = build_plan(
        playbook,
        load_profile("apr"),
        _models("safetensors", "apr", "gguf"),
        {Backend.CPU: CPU, Backend.GPU: GPU},
    )
    assert len(plan.matrix) == 18
    assert len({s.id for s in plan.scenarios}) == len(plan.scenarios)
    # edge (every check): 8 boundary prompts + determinism per run and chat cell, + 9 protocol probes in serve
    edge = [s for s in plan.scenarios if s.purpose == "edge"]
    assert len(edge) == 6 * 9 + 6 * 9 + 6 * 18
    # profile_ci: warmup 1 + measure 2 per (format, backend), run modality, after the matrix
    rest = [s for s in plan.scenarios if s.purpose != "edge"]
    assert [s.purpose for s in rest[18:21]] == ["warmup", "measure", "measure"]
    assert len(rest) == 18 + 3 * 6
    # modality → backend → format → index, as the seed loops
    assert [s.id for s in plan.matrix[:4]] == [
        "qwen2.5-coder-7b-mvp:run:cpu:safetensors:000",
        "qwen2.5-coder-7b-mvp:run:cpu:apr:000",
        "qwen2.5-coder-7b-mvp:run:cpu:gguf:000",
        "qwen2.5-coder-7b-mvp:run:gpu:safetensors:000",
    ]
    assert plan.matrix[-1].id == "qwen2.5-coder-7b-mvp:serve:gpu:gguf:000"
    assert plan.scenarios[-1].id == "qwen2.5-coder-7b-mvp:profile:gpu:safetensors:measure-01"
    # no model file here: the two context cases cannot be sized
    assert all(s.skip_reason is None for s in rest)
    assert {s.skip_reason for s in edge} == {None, "the model file does not say its context length"}
    assert all(s.timeout_ms == 180000 for s in plan.scenarios)
    assert all(s.prompt == "What is 2+2?" for s in rest)


def test_plan_cli_lists_18_cells_without_a_model_path() -> None:
    done = aprqa("plan", MVP, "--json", env={"HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent/hf"})
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert len([s for s in plan["scenarios"] if s["purpose"] == "matrix"]) == 18
    assert all(
        s["skip_reason"].startswith("G0-PULL: Qwen/Qwen2.5-Coder-7B-Instruct is not in the Hugging Face cache")
        for s in plan["scenarios"]
    )


def test_gpu_cells_are_skipped_with_the_probe_reason(tmp_path: Path) -> None:
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run", "serve"], "backends": ["cpu", "gpu"], "scenario_count": 2},
        )
    ).playbook
    plan = build_plan(playbook, load_profile("reference"), _models("gguf"), {Backend.CPU: CPU, Backend.GPU: NO_GPU})
    skipped = [s for s in plan.scenarios if s.skip_reason]
    assert {s.backend for s in skipped} == {"gpu"} and len(skipped) == 4
    assert all(s.skip_reason == "no GPU: test machine" for s in skipped)
    assert len(plan.runnable) == 4


def test_missing_format_and_engine_limits_are_skip_reasons(tmp_path: Path) -> None:
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            model={"hf_repo": "a/b", "formats": ["safetensors", "apr", "gguf"]},
        )
    ).playbook
    plan = build_plan(
        playbook,
        load_profile("reference"),
        _models("safetensors", "apr", "gguf", missing=("safetensors",)),
        {Backend.CPU: CPU},
    )
    reasons = {s.format: s.skip_reason for s in plan.scenarios}
    assert reasons["safetensors"] == "no file"
    assert reasons["apr"] == "engine reference cannot run apr (it runs gguf, safetensors)"
    assert reasons["gguf"] is None


def test_engine_without_a_mode_skips_that_modality(tmp_path: Path) -> None:
    profile = load_profile("reference").model_copy(update={"chat": None})
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run", "chat"], "backends": ["cpu"]},
        )
    ).playbook
    plan = build_plan(playbook, profile, _models("gguf"), {Backend.CPU: CPU})
    assert [s.skip_reason for s in plan.scenarios] == [None, "engine reference has no chat mode"]


def _plan_for_seed(tmp_path: Path, seed: int):  # type: ignore[no-untyped-def]
    playbook = load_playbook(
        write_playbook(
            tmp_path / f"p{seed}.yaml",
            test_matrix={
                "modalities": ["run", "chat"],
                "backends": ["cpu"],
                "scenario_count": 6,
                "seed": seed,
                "prompts": ["p0", "p1", "p2", "p3", "p4", "p5"],
            },
        )
    ).playbook
    return build_plan(playbook, load_profile("reference"), _models("gguf"), {Backend.CPU: CPU})


def test_same_seed_same_prompts_and_engine_seeds_other_seed_changes_them(tmp_path: Path) -> None:
    a, b, c = _plan_for_seed(tmp_path, 42), _plan_for_seed(tmp_path, 42), _plan_for_seed(tmp_path, 7)
    pairs = lambda plan: [(s.id, s.prompt, s.seed) for s in plan.scenarios]  # noqa: E731
    assert pairs(a) == pairs(b)
    assert [s.prompt for s in a.scenarios] != [s.prompt for s in c.scenarios]
    assert [s.seed for s in a.scenarios] != [s.seed for s in c.scenarios]
    # every prompt of the set is used once per cell, and cells agree on prompt and seed per index
    run = [s for s in a.scenarios if s.modality == "run"]
    chat = [s for s in a.scenarios if s.modality == "chat"]
    assert sorted(s.prompt for s in run) == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert [(s.prompt, s.seed) for s in run] == [(s.prompt, s.seed) for s in chat]


def test_seed_helpers_are_deterministic_and_in_range() -> None:
    assert prompt_order(42, 5, 2) == prompt_order(42, 5, 2)
    assert sorted(set(prompt_order(1, 9, 3))) == [0, 1, 2]
    assert engine_seed(42, 0) == engine_seed(42, 0) != engine_seed(42, 1)
    assert all(0 <= engine_seed(s, i) < 2**31 for s in range(20) for i in range(20))


def test_multi_line_prompts_are_not_piped_to_a_line_based_chat(tmp_path: Path) -> None:
    prompts = ["What is 2+2?", "def f():\n    return 1\n/quit", "What is 3+3?\n"]  # a YAML `|` block ends in \n
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run", "chat"], "backends": ["cpu"], "scenario_count": 3, "prompts": prompts},
        )
    ).playbook
    plan = build_plan(playbook, load_profile("reference"), _models("gguf"), {Backend.CPU: CPU})
    reasons = {(s.modality, s.prompt): s.skip_reason for s in plan.scenarios}
    assert reasons[("chat", prompts[1])] == "chat modality sends one line per turn; prompt has 3 lines"
    assert reasons[("chat", prompts[0])] is None and reasons[("chat", prompts[2])] is None
    assert all(reasons[("run", p)] is None for p in prompts)  # run passes the prompt as one argument
    # an engine that takes the chat prompt as an argument, not one line per turn on stdin, runs it
    argv_chat = load_profile("reference").model_copy(
        update={"chat": load_profile("reference").run.model_copy(update={"stdin": None})}  # type: ignore[union-attr]
    )
    assert all(
        s.skip_reason is None for s in build_plan(playbook, argv_chat, _models("gguf"), {Backend.CPU: CPU}).scenarios
    )
    shown = format_plan(load_playbook(tmp_path / "p.yaml"), plan, "Skipped: --model-path given")
    assert "skip: chat modality sends one line per turn; prompt has 3 lines" in shown


def test_plan_prints_the_cell_and_scenario_counts() -> None:
    done = aprqa("plan", MVP, env={"HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent/hf"})
    assert done.returncode == 0, done.stderr
    # 3 formats × 2 backends × 3 modalities; scenario_count 1 → 18 matrix, profile_ci (1 warmup + 2 measure)
    # per (format, backend) → 3 × 6 = 18; edge: 9 per run and chat cell, 18 per serve cell → 216
    counts = "scenarios: 252 (18 matrix + 216 edge + 18 profile_ci)"
    assert f"\ncells: 18 (format × backend × modality = 3 × 2 × 3), {counts}\n" in done.stdout
