"""Sharding and merging: disjoint balanced shards for any n, a merge equal to the unsharded run, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, aprqa, hostile_profile, make_scenario, write_playbook
from hypothesis import given, settings
from hypothesis import strategies as st
from report_fixtures import partially_skipped

from aprqa_action.engines import load_profile
from aprqa_action.errors import InputError
from aprqa_action.plan import build_plan
from aprqa_action.plan.shard import deal, parse_only, parse_shard, select, units, weight
from aprqa_action.playbook import load_playbook
from aprqa_action.records import BackendProbe, ResolvedModel, Scenario, Selection
from aprqa_action.records.axes import Backend, Format
from aprqa_action.report.markdown import render_comment, render_summary
from aprqa_action.store.evidence import read_evidence


def scenario(i: int, modality: str, backend: str, skipped: bool, purpose: str = "matrix") -> Scenario:
    return make_scenario(
        id=f"p:{modality}:{backend}:gguf:{i:04d}:{purpose}",
        index=i,
        modality=modality,
        backend=backend,
        skip_reason="no GPU" if skipped else None,
        purpose=purpose,
    )


def with_profiles(rows: list[tuple[str, str, bool]], groups: list[tuple[str, int, bool]]) -> list[Scenario]:
    """A plan as plan.py orders it: the matrix rows, then each (backend, size, skipped) profile_ci group."""
    matrix = [scenario(i, m, b, s) for i, (m, b, s) in enumerate(rows)]
    profile = [
        make_scenario(
            id=f"p:profile:{backend}:gguf:{g:02d}-{purpose}-{k:02d}",
            index=k,
            backend=backend,
            skip_reason="no GPU" if skipped else None,
            purpose=purpose,
        )
        for g, (backend, size, skipped) in enumerate(groups)
        for k, purpose in enumerate(["warmup"] + ["measure"] * size)
    ]
    return matrix + profile


plans = st.builds(
    with_profiles,
    st.lists(
        st.tuples(st.sampled_from(["run", "chat", "serve"]), st.sampled_from(["cpu", "gpu"]), st.booleans()),
        max_size=60,
    ),
    st.lists(
        st.tuples(st.sampled_from(["cpu", "gpu"]), st.integers(1, 4), st.booleans()),
        max_size=2,
        unique_by=lambda g: g[0],
    ),
)
ONLY = st.sampled_from([None, {"backend": ["cpu"]}, {"backend": ["gpu"]}, {"modality": ["serve", "run"]}])


def loads_balanced(scenarios: list[Scenario], shards: list[list[Scenario]]) -> None:
    ids = [s.id for shard in shards for s in shard]
    assert sorted(ids) == sorted(s.id for s in scenarios) and len(ids) == len(set(ids))
    loads = [sum(map(weight, shard)) for shard in shards]
    heaviest = max((sum(map(weight, u)) for u in units(scenarios)), default=0)
    assert max(loads) - min(loads) <= heaviest
    for unit in units(scenarios):  # a profile_ci group is never split
        assert sum(any(s.id == unit[0].id for s in shard) for shard in shards) == 1
        assert all(any(s in shard for s in unit) <= all(s in shard for s in unit) for shard in shards)


@settings(max_examples=200, deadline=None)
@given(scenarios=plans, n=st.integers(min_value=1, max_value=16), only=ONLY)
def test_shards_are_disjoint_cover_everything_and_are_balanced(
    scenarios: list[Scenario], n: int, only: dict[str, list[str]] | None
) -> None:
    if only is not None:  # --only first, then the shards of what it selects, as `aprqa run` does
        values = {str(getattr(s, key)) for s in scenarios for key in only}
        if not all(v in values for vs in only.values() for v in vs):
            with pytest.raises(InputError, match="the plan has no"):  # a typo is an error, not an empty run
                select(scenarios, (1, n), only)
            return
        chosen, _ = select(scenarios, None, only)
        shards = [select(scenarios, (i, n), only)[0] for i in range(1, n + 1)]
        loads_balanced(chosen, shards)
        return
    shards = deal(scenarios, n)
    loads_balanced(scenarios, shards)
    assert deal(scenarios, n) == shards  # deterministic


@settings(max_examples=100, deadline=None)
@given(scenarios=plans, n=st.integers(min_value=1, max_value=8))
def test_a_hosts_skips_do_not_move_scenarios_between_shards(scenarios: list[Scenario], n: int) -> None:
    # The same plan on a runner that can run everything: only skip reasons differ, never the deal.
    runnable = [s.model_copy(update={"skip_reason": None}) for s in scenarios]
    assert [[s.id for s in shard] for shard in deal(scenarios, n)] == [
        [s.id for s in shard] for shard in deal(runnable, n)
    ]


def test_weights_by_hand() -> None:
    assert [
        weight(scenario(0, m, b, False))
        for m, b in [("run", "cpu"), ("serve", "cpu"), ("chat", "gpu"), ("serve", "gpu")]
    ] == [2, 3, 4, 6]
    assert weight(scenario(0, "serve", "gpu", True)) == 6  # skipped on this host, maybe not on another runner


def test_shards_are_the_same_on_a_cpu_runner_and_a_gpu_runner(tmp_path: Path) -> None:
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run", "chat", "serve"], "backends": ["cpu", "gpu"], "scenario_count": 3},
            profile_ci={"enabled": True},
        )
    ).playbook
    models = {Format.GGUF: ResolvedModel(format=Format.GGUF, path="/m/model.gguf", how="given", reason="given")}
    cpu = BackendProbe(backend=Backend.CPU, available=True, reason="always available")
    probes = [
        BackendProbe(backend=Backend.GPU, available=False, reason="no GPU: test machine"),
        BackendProbe(backend=Backend.GPU, available=True, reason="1 CUDA device(s)"),
    ]
    plans = [
        build_plan(playbook, load_profile("reference"), models, {Backend.CPU: cpu, Backend.GPU: gpu}).scenarios
        for gpu in probes
    ]
    assert any(s.skip_reason for s in plans[0]) and not any(s.skip_reason for s in plans[1])
    for only in (None, {"backend": ["gpu"]}, {"modality": ["serve"]}):
        for n in (2, 3, 5):
            on_cpu = [[s.id for s in select(plans[0], (i, n), only)[0]] for i in range(1, n + 1)]
            on_gpu = [[s.id for s in select(plans[1], (i, n), only)[0]] for i in range(1, n + 1)]
            assert on_cpu == on_gpu, (only, n)
            # shard 1/n on the cpu runner and 2/n.. on the gpu runner: together exactly the selection
            mixed = on_cpu[0] + [sid for shard in on_gpu[1:] for sid in shard]
            assert sorted(mixed) == sorted(s.id for s in select(plans[0], None, only)[0])


def test_a_profile_group_stays_in_one_shard() -> None:
    group = [scenario(i, "run", "cpu", False, "warmup" if i == 0 else "measure") for i in range(3)]
    shards = deal([scenario(9, "run", "cpu", False), *group], 3)
    assert any(shard == group for shard in shards)


def test_only_filters_before_sharding() -> None:
    plan = [scenario(i, m, b, False) for i, (m, b) in enumerate([("run", "cpu"), ("run", "gpu"), ("serve", "cpu")])]
    chosen, selection = select(plan, None, parse_only("backend=cpu"))
    assert [s.modality for s in chosen] == ["run", "serve"]
    assert selection.plan_ids == [s.id for s in plan] and selection.label == "backend=cpu"


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/1001"])
def test_bad_shards(text: str) -> None:
    with pytest.raises(InputError):
        parse_shard(text)


@pytest.mark.parametrize("text", ["quant=q4", "backend", "backend="])
def test_bad_filters(text: str) -> None:
    with pytest.raises(InputError):
        parse_only(text)


def test_a_filter_value_the_plan_does_not_have_is_an_error() -> None:
    plan = [scenario(i, m, "cpu", False) for i, m in enumerate(["run", "serve"])]
    with pytest.raises(InputError, match=r"no backend 'cpux' \(its backends: cpu\); did you mean backend=cpu\?"):
        select(plan, None, parse_only("backend=cpux"))
    with pytest.raises(InputError, match="no backend 'gpu'"):  # declared nowhere in this plan
        select(plan, (1, 2), parse_only("backend=gpu"))
    with pytest.raises(InputError, match="no format 'apr'"):
        select(plan, None, parse_only("modality=run,format=apr"))


def test_a_filter_selecting_nothing_is_an_error_but_an_empty_shard_is_not() -> None:
    plan = [scenario(0, "run", "cpu", False), scenario(1, "serve", "gpu", False)]
    with pytest.raises(InputError, match="selects no scenario"):
        select(plan, None, parse_only("modality=run,backend=gpu"))
    chosen, selection = select(plan, (2, 2), parse_only("backend=cpu"))  # one scenario, two shards
    assert chosen == [] and selection.is_part


def test_cli_rejects_a_typo_in_only_before_running(tmp_path: Path, smollm2: Path) -> None:
    done = aprqa("run", DEMO, "--model-path", smollm2, "--only", "backend=cpux", "--output-dir", tmp_path / "o")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "did you mean backend=cpu?" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o" / "evidence.json").exists()  # refused before anything ran


def run_shard(tmp_path: Path, name: str, *args: str | Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "aprqa_action", "run", *map(str, args), "--output-dir", str(tmp_path / name)]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def essence(path: Path) -> dict:
    evidence = read_evidence(path)
    assert evidence.verdict is not None
    v = evidence.verdict
    return {
        "mqs": v.mqs,
        "grade": v.grade,
        "status": v.status,
        "qualified": v.qualified,
        "gateways": [(g.id, g.passed) for g in v.gateways],
        "categories": [(c.category, c.passed, c.judged, c.skipped) for c in v.categories],
        "outcomes": sorted((i.id, i.outcome) for i in evidence.items),
        "scenarios": [s.id for s in evidence.scenarios],
    }


@pytest.mark.engine
def test_the_demo_in_three_shards_merges_to_the_unsharded_verdict(tmp_path: Path, smollm2: Path) -> None:
    procs = [run_shard(tmp_path, f"s{i}", DEMO, "--model-path", smollm2, "--shard", f"{i}/3") for i in (1, 2, 3)]
    for proc in procs:  # three processes at once, as three runners would
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr
    whole = run_shard(tmp_path, "whole", DEMO, "--model-path", smollm2)
    assert whole.communicate(timeout=900) and whole.returncode == 0
    shards = [read_evidence(tmp_path / f"s{i}" / "evidence.json") for i in (1, 2, 3)]
    assert sum(len(s.scenarios) for s in shards) == len(read_evidence(tmp_path / "whole" / "evidence.json").scenarios)
    done = aprqa("merge", *(tmp_path / f"s{i}" for i in (1, 2, 3)), "-o", tmp_path / "merged")
    assert done.returncode == 0, done.stderr
    assert essence(tmp_path / "merged" / "evidence.json") == essence(tmp_path / "whole" / "evidence.json")
    assert (tmp_path / "merged" / "summary.md").is_file() and (tmp_path / "merged" / "junit.xml").is_file()


def hostile_shards(tmp_path: Path, smollm2: Path, n: int, **overrides: object) -> list[Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={"modalities": ["run", "chat"], "backends": ["cpu"], "scenario_count": 3},
        engine=hostile_profile("ok"),
        **overrides,
    )
    for i in range(1, n + 1):
        done = aprqa(
            "run", playbook, "--model-path", smollm2, "--shard", f"{i}/{n}", "--output-dir", tmp_path / f"s{i}"
        )
        assert done.returncode == 0, done.stderr
    return [tmp_path / f"s{i}" for i in range(1, n + 1)]


def test_merge_refuses_missing_and_duplicated_shards(tmp_path: Path, smollm2: Path) -> None:
    s1, s2, s3 = hostile_shards(tmp_path, smollm2, 3)
    missing = aprqa("merge", s1, s3, "-o", tmp_path / "m")
    assert missing.returncode == 2 and "missing shard 2/3:" in missing.stderr
    twice = aprqa("merge", s1, s2, s2, s3, "-o", tmp_path / "m")
    assert twice.returncode == 2 and "is in both" in twice.stderr
    assert aprqa("merge", s1, s2, s3, "-o", tmp_path / "m").returncode == 0


def test_merge_refuses_another_playbook_or_model(tmp_path: Path, smollm2: Path, gemma_base: Path) -> None:
    s1, _ = hostile_shards(tmp_path / "a", smollm2, 2)
    _, other_playbook = hostile_shards(tmp_path / "b", smollm2, 2, description="changed")
    done = aprqa("merge", s1, other_playbook, "-o", tmp_path / "m")
    assert done.returncode == 2 and "different playbooks" in done.stderr
    playbook = tmp_path / "a" / "p.yaml"
    other_model = tmp_path / "c"
    assert (
        aprqa("run", playbook, "--model-path", gemma_base, "--shard", "2/2", "--output-dir", other_model).returncode
        == 0
    )
    done = aprqa("merge", s1, other_model, "-o", tmp_path / "m")
    assert done.returncode == 2 and "different models" in done.stderr


def test_an_empty_shard_is_qualified(tmp_path: Path, smollm2: Path) -> None:
    playbook = write_playbook(tmp_path / "p.yaml", engine=hostile_profile("ok"))  # one scenario, three shards
    done = aprqa("run", playbook, "--model-path", smollm2, "--shard", "3/3", "--output-dir", tmp_path / "s3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "s3" / "evidence.json").read_text())["scenarios"] == []


def test_a_shards_summary_puts_the_part_on_its_own_line() -> None:
    evidence = partially_skipped()
    plan_ids = [s.id for s in evidence.scenarios] + ["smollm2-135m-ci:chat:cpu:gguf:009"]
    part = Selection(shard_index=1, shard_count=2, only={"backend": ["cpu"]}, plan_ids=plan_ids)
    for text in (render_summary(evidence.model_copy(update={"selection": part})), render_comment(evidence)):
        lines = text.splitlines()
        run = next(i for i, line in enumerate(lines) if line.startswith("- **Run:**"))
        assert lines[run].endswith("8 ok, 16 skipped"), lines[run]  # nothing glued to the Run line
    summary = render_summary(evidence.model_copy(update={"selection": part})).splitlines()
    run = next(i for i, line in enumerate(summary) if line.startswith("- **Run:**"))
    assert summary[run + 1] == (
        "- **Part of the plan:** shard 1/2, backend=cpu — 24 of 25 scenarios; the verdict covers this part only "
        "(`aprqa merge` judges the whole)"
    )
    assert summary[run + 2].startswith("- **Not executed:** 6 of 8 cells")
    assert summary[run + 3].startswith("- **Playbook:**")
