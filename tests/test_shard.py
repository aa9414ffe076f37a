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

from aprqa_action.errors import InputError
from aprqa_action.evidence import read_evidence
from aprqa_action.records import Scenario
from aprqa_action.shard import deal, parse_only, parse_shard, select, units, weight


def scenario(i: int, modality: str, backend: str, skipped: bool, purpose: str = "matrix") -> Scenario:
    return make_scenario(
        id=f"p:{modality}:{backend}:gguf:{i:04d}:{purpose}",
        index=i,
        modality=modality,
        backend=backend,
        skip_reason="no GPU" if skipped else None,
        purpose=purpose,
    )


plans = st.lists(
    st.tuples(st.sampled_from(["run", "chat", "serve"]), st.sampled_from(["cpu", "gpu"]), st.booleans()),
    max_size=60,
).map(lambda rows: [scenario(i, m, b, s) for i, (m, b, s) in enumerate(rows)])


@settings(max_examples=200, deadline=None)
@given(scenarios=plans, n=st.integers(min_value=1, max_value=16))
def test_shards_are_disjoint_cover_everything_and_are_balanced(scenarios: list[Scenario], n: int) -> None:
    shards = deal(scenarios, n)
    ids = [s.id for shard in shards for s in shard]
    assert sorted(ids) == sorted(s.id for s in scenarios) and len(ids) == len(set(ids))
    loads = [sum(map(weight, shard)) for shard in shards]
    heaviest = max((sum(map(weight, u)) for u in units(scenarios)), default=0)
    assert max(loads) - min(loads) <= heaviest
    assert deal(scenarios, n) == shards  # deterministic


def test_weights_by_hand() -> None:
    assert [
        weight(scenario(0, m, b, False))
        for m, b in [("run", "cpu"), ("serve", "cpu"), ("chat", "gpu"), ("serve", "gpu")]
    ] == [2, 3, 4, 6]
    assert weight(scenario(0, "serve", "gpu", True)) == 0


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
    assert missing.returncode == 2 and "missing shard(s) 2/3" in missing.stderr
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
