"""The Qwen2.5-Coder-Instruct playbooks: 5 sizes × 5 tiers, named qwen2.5-coder-{size}-{tier}.playbook.yaml.

Each validates, follows its tier's conventions (the seed's: smoke = SafeTensors, run, cpu, 3 scenarios;
quick = 10 scenarios; mvp = the 18-cell matrix; standard between mvp and full; full = quantization ladder,
100 scenarios, every invariant) and its size's (outside the MVP tier timeouts grow with the model; expected
dimensions from the public configs), and expands into a plan. The MVP tier is the seed's MVP playbook at every
size: 18 cells, seed 42, 180 s, ≥ 5 tok/s CPU and ≥ 50 tok/s GPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import ROOT, aprqa

from aprqa_action.pipeline import prepare
from aprqa_action.playbook import DEFAULT_TIMEOUT_MS, Playbook, load_playbook
from aprqa_action.records.axes import Format

MODELS = ROOT / "playbooks" / "models"
SIZES = ["0.5b", "1.5b", "3b", "7b", "14b"]
TIERS = ["smoke", "quick", "mvp", "standard", "full"]
CATEGORY = {"0.5b": "tiny", "1.5b": "small", "3b": "small", "7b": "medium", "14b": "large"}
# hidden, layers, heads, kv heads, intermediate, vocab of each Qwen2.5-Coder-*-Instruct config.json
DIMS = {
    "0.5b": (896, 24, 14, 2, 4864, 151936),
    "1.5b": (1536, 28, 12, 2, 8960, 151936),
    "3b": (2048, 36, 16, 2, 11008, 151936),
    "7b": (3584, 28, 28, 4, 18944, 152064),
    "14b": (5120, 48, 40, 8, 13824, 152064),
}
ALL_FORMATS = {Format.SAFETENSORS, Format.APR, Format.GGUF}
LADDER = ["f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]
CASES = [(size, tier) for size in SIZES for tier in TIERS]


def path_of(size: str, tier: str) -> Path:
    return MODELS / f"qwen2.5-coder-{size}-{tier}.playbook.yaml"


def playbook(size: str, tier: str) -> Playbook:
    return load_playbook(path_of(size, tier)).playbook


def label(size: str) -> str:
    return size.upper()


def cells(pb: Playbook) -> int:
    return len(pb.test_matrix.modalities) * len(pb.test_matrix.backends) * len(pb.model.formats)


def test_there_are_exactly_the_25() -> None:
    found = sorted(p.name for p in MODELS.glob("qwen2.5-coder-*.playbook.yaml"))
    assert found == sorted(path_of(size, tier).name for size, tier in CASES)


def test_aprqa_validate_accepts_all_of_them() -> None:
    done = aprqa("validate", *[path_of(size, tier) for size, tier in CASES])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok — ") == 25


@pytest.mark.parametrize(("size", "tier"), CASES)
def test_common_conventions(size: str, tier: str) -> None:
    pb = playbook(size, tier)
    assert pb.name == f"qwen2.5-coder-{size}-{tier}"
    repo = f"Qwen/Qwen2.5-Coder-{label(size)}-Instruct"
    assert pb.model.hf_repo == (repo + "-GGUF" if tier == "quick" else repo)
    assert pb.model.size_category == CATEGORY[size]
    assert pb.engine == "apr"
    assert pb.test_matrix.seed == 42
    assert pb.failure_policy == "collect_all"
    types = [o.type for o in pb.oracles]
    assert types[:2] == ["arithmetic", "garbage"]  # everywhere
    assert ("code_syntax" in types) == (tier in ("standard", "full"))
    if tier != "mvp":  # the MVP tier has the seed's 180 s at every size (test_mvp_is_the_seeds_18_cells)
        assert pb.timeout_ms >= DEFAULT_TIMEOUT_MS[CATEGORY[size]]
    # every tier judges arithmetic: at least one prompt has an expression the arithmetic oracle evaluates
    assert any(any(c.isdigit() for c in p.prompt) for p in pb.test_matrix.prompt_specs)


@pytest.mark.parametrize("size", SIZES)
def test_smoke(size: str) -> None:
    pb = playbook(size, "smoke")
    assert pb.model.formats == [Format.SAFETENSORS]
    assert [str(m) for m in pb.test_matrix.modalities] == ["run"]
    assert [str(b) for b in pb.test_matrix.backends] == ["cpu"]
    assert (cells(pb), pb.test_matrix.scenario_count, len(pb.test_matrix.prompt_specs)) == (1, 3, 3)
    assert pb.profile_ci is None
    assert pb.contract_tests is not None and "I-4" not in pb.contract_tests.invariants  # headers only


@pytest.mark.parametrize("size", SIZES)
def test_quick(size: str) -> None:
    pb = playbook(size, "quick")
    assert pb.model.formats == [Format.GGUF] and pb.model.quantizations == ["q4_k_m"]
    assert (cells(pb), pb.test_matrix.scenario_count, len(pb.test_matrix.prompt_specs)) == (1, 10, 10)
    assert pb.profile_ci is None


@pytest.mark.parametrize("size", SIZES)
def test_mvp_is_the_seeds_18_cells(size: str) -> None:
    pb = playbook(size, "mvp")
    reference = playbook("7b", "mvp")
    assert set(pb.model.formats) == ALL_FORMATS and pb.model.quantizations == ["q4_k_m"]
    assert (cells(pb), pb.test_matrix.scenario_count) == (18, 1)
    assert pb.test_matrix.prompts is None  # the default "What is 2+2?", as the seed
    assert pb.oracles == reference.oracles
    assert pb.profile_ci is not None and reference.profile_ci is not None
    assert (pb.profile_ci.warmup, pb.profile_ci.measure) == (1, 2)
    assert set(pb.profile_ci.formats or []) == ALL_FORMATS and len(pb.profile_ci.backends or []) == 2
    # The seed's MVP parameters, the same at every size (not scaled: the tier is the seed's bar)
    assert pb.test_matrix.seed == 42 and pb.timeout_ms == 180_000
    floors = (pb.profile_ci.assertions.min_throughput_cpu, pb.profile_ci.assertions.min_throughput_gpu)
    assert floors == (5.0, 50.0)
    assert pb.profile_ci.assertions.max_p99_ms is None
    assert pb.contract_tests is not None and sorted(pb.contract_tests.invariants) == ["I-2", "I-3", "I-4", "I-5"]


def test_the_7b_mvp_has_the_seeds_expected_dimensions() -> None:
    pb = playbook("7b", "mvp")
    assert pb.contract_tests is not None and pb.contract_tests.expected is not None
    assert pb.contract_tests.expected.hidden_size == 3584  # the seed's anchor: hidden 3584, family qwen2


@pytest.mark.parametrize("tier", ["mvp", "standard", "full"])
@pytest.mark.parametrize("size", SIZES)
def test_format_parity_from_the_mvp_tier_up(size: str, tier: str) -> None:
    pb = playbook(size, tier)
    parity = pb.format_parity
    assert parity is not None and set(pb.model.formats) == ALL_FORMATS  # 3 formats: 2 compared with the reference
    assert parity.reference == Format.SAFETENSORS
    assert (
        [str(m) for m in parity.modalities] == ["run", "chat", "serve"] == [str(m) for m in pb.test_matrix.modalities]
    )
    assert (parity.first_tokens, parity.tolerance) == (8, 0)


@pytest.mark.parametrize("size", SIZES)
def test_no_format_parity_below_mvp(size: str) -> None:
    # smoke and quick have one format each: nothing to compare
    assert playbook(size, "smoke").format_parity is None and playbook(size, "quick").format_parity is None


@pytest.mark.parametrize("size", SIZES)
def test_standard_lies_between_mvp_and_full(size: str) -> None:
    mvp, standard, full = (playbook(size, t) for t in ("mvp", "standard", "full"))
    assert cells(standard) == 18 and set(standard.model.formats) == ALL_FORMATS
    assert mvp.test_matrix.scenario_count < standard.test_matrix.scenario_count < full.test_matrix.scenario_count
    assert standard.test_matrix.scenario_count == len(standard.test_matrix.prompt_specs) == 10
    assert mvp.test_matrix.max_tokens < standard.test_matrix.max_tokens < full.test_matrix.max_tokens
    assert mvp.profile_ci and standard.profile_ci and full.profile_ci
    assert mvp.profile_ci.measure < standard.profile_ci.measure < full.profile_ci.measure


@pytest.mark.parametrize("size", SIZES)
def test_full(size: str) -> None:
    pb = playbook(size, "full")
    assert (cells(pb), pb.test_matrix.scenario_count) == (18, 100)
    assert pb.model.quantizations[-len(LADDER) :] == LADDER  # the seed's ladder, after the SafeTensors' bf16
    assert pb.contract_tests is not None and sorted(pb.contract_tests.invariants) == ["I-2", "I-3", "I-4", "I-5"]
    assert pb.profile_ci is not None and (pb.profile_ci.warmup, pb.profile_ci.measure) == (3, 10)


@pytest.mark.parametrize("tier", ["standard", "full"])
@pytest.mark.parametrize("size", SIZES)
def test_coding_prompts_are_judged_by_code_syntax(size: str, tier: str) -> None:
    specs = playbook(size, tier).test_matrix.prompt_specs
    coding = [p for p in specs if "code_syntax" in (p.oracles or [])]
    arithmetic = [p for p in specs if "arithmetic" in (p.oracles or [])]
    assert len(coding) >= 5 and len(arithmetic) >= 5 and len(coding) + len(arithmetic) == len(specs)
    assert all("Python" in p.prompt or p.prompt.startswith("def ") for p in coding)
    assert not any(c.isdigit() for p in coding for c in p.prompt)  # nothing the arithmetic oracle could read


@pytest.mark.parametrize("size", SIZES)
def test_p99_ceiling_is_max_tokens_at_the_cpu_floor(size: str) -> None:
    for tier in ("standard", "full"):
        pb = playbook(size, tier)
        assert pb.profile_ci is not None
        assertions = pb.profile_ci.assertions
        assert assertions.min_throughput_cpu is not None and assertions.max_p99_ms is not None
        slowest = pb.test_matrix.max_tokens / assertions.min_throughput_cpu * 1000
        assert assertions.max_p99_ms == math.ceil(slowest / 10000) * 10000


@pytest.mark.parametrize("tier", [t for t in TIERS if t != "mvp"])
def test_timeouts_grow_with_the_model(tier: str) -> None:
    # Outside the MVP tier (the seed's fixed 180 s) a larger model gets more time: it answers slower.
    timeouts = [playbook(size, tier).timeout_ms for size in SIZES]
    assert timeouts == sorted(timeouts) and timeouts[-1] > timeouts[SIZES.index("7b")]


@pytest.mark.parametrize(("size", "tier"), CASES)
def test_expected_dimensions_are_the_public_configs(size: str, tier: str) -> None:
    pb = playbook(size, tier)
    assert pb.contract_tests is not None and pb.contract_tests.expected is not None
    e = pb.contract_tests.expected
    dims = (e.hidden_size, e.num_layers, e.num_heads, e.num_kv_heads, e.intermediate_size, e.vocab_size)
    assert dims == DIMS[size]


@pytest.mark.parametrize(("size", "tier"), CASES)
def test_plan_expands_each(size: str, tier: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a model and without network: every scenario is planned, and skipped for the pull that plan does
    not make (an empty Hugging Face cache)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    prepared = prepare(path_of(size, tier), None, None)
    pb, plan = prepared.loaded.playbook, prepared.plan
    assert len(plan.matrix) == cells(pb) * pb.test_matrix.scenario_count
    profile = pb.profile_ci
    runs = (
        (profile.warmup + profile.measure) * len(profile.formats or []) * len(profile.backends or []) if profile else 0
    )
    edge = [s for s in plan.scenarios if s.purpose == "edge"]
    assert len(plan.scenarios) == len(plan.matrix) + runs + len(edge)
    assert pb.edge is not None  # every tier declares its EDGE checks
    per_cell = (len(pb.edge.boundary) + pb.edge.determinism) * cells(pb)
    serve = (
        pb.edge.protocol * 9 * cells(pb) // len(pb.test_matrix.modalities)
        if "serve" in pb.test_matrix.modalities
        else 0
    )
    assert len(edge) == per_cell + serve
    assert len({s.id for s in plan.scenarios}) == len(plan.scenarios)
    assert all(s.timeout_ms == pb.timeout_ms for s in plan.scenarios)
    assert all(s.max_tokens == pb.test_matrix.max_tokens for s in plan.scenarios if s.purpose != "edge")
    assert {s.prompt for s in plan.matrix} == {p.prompt for p in pb.test_matrix.prompt_specs}  # every prompt asked
    assert all(s.skip_reason and s.skip_reason.startswith(f"G0-PULL: {pb.model.hf_repo}") for s in plan.scenarios)


@pytest.mark.parametrize("tier", TIERS)
def test_plan_cli_on_each_tier(tier: str, tmp_path: Path) -> None:
    done = aprqa("plan", path_of("0.5b", tier), "--json", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    matrix = [s for s in plan["scenarios"] if s["purpose"] == "matrix"]
    assert len(matrix) == {"smoke": 3, "quick": 10, "mvp": 18, "standard": 180, "full": 1800}[tier]
