"""`aprqa merge` of parts run with different `--only` filters (the sharded example's layout): missing shards
named per filter, backends and hosts from every part, a part's comparison dropped and `--baseline` on the
merge, a lone part refused, and the refusals for other tool versions and plans. Real runs of the hostile
test engine; the gpu cells are Skipped on this machine (it has no GPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import aprqa, hostile_profile, write_playbook
from report_fixtures import backends, partially_skipped, qualified

from aprqa_action.records.axes import Backend
from aprqa_action.store.evidence import read_evidence
from aprqa_action.store.merge import _backends

PARTS = {"cpu-1": ("backend=cpu", "1/2"), "cpu-2": ("backend=cpu", "2/2"), "gpu-1": ("backend=gpu", "1/1")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, smollm2: Path) -> dict[str, Path]:
    """A whole run (the baseline) and the three parts of the sharded example, each compared with it."""
    root = tmp_path_factory.mktemp("merge")
    playbook = write_playbook(
        root / "p.yaml",
        test_matrix={"modalities": ["run", "chat"], "backends": ["cpu", "gpu"], "scenario_count": 2},
        engine=hostile_profile("ok"),
    )
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", root / "base")
    assert done.returncode == 0, done.stderr
    out = {"base": root / "base", "playbook": playbook}
    for name, (only, shard) in PARTS.items():
        argv = ["--only", only, "--shard", shard, "--baseline", root / "base", "--output-dir", root / name]
        done = aprqa("run", playbook, "--model-path", smollm2, *argv)
        assert done.returncode == 0, done.stderr
        out[name] = root / name
    return out


def test_missing_shards_are_named_per_filter(runs: dict[str, Path], tmp_path: Path) -> None:
    done = aprqa("merge", runs["cpu-1"], runs["gpu-1"], "-o", tmp_path / "m")
    assert done.returncode == 2 and "missing shard 2/2 of backend=cpu:" in done.stderr, done.stderr
    done = aprqa("merge", runs["cpu-1"], runs["cpu-2"], "-o", tmp_path / "m")
    # no gpu part at all: no shard count to name, but the cells no part's --only covers
    assert done.returncode == 2 and "no part's --only covers gguf/gpu/run, gguf/gpu/chat: 4 scenario(s)" in done.stderr
    assert not (tmp_path / "m" / "evidence.json").exists()


def test_the_merge_of_every_part_names_each_part_and_host(runs: dict[str, Path], tmp_path: Path) -> None:
    done = aprqa("merge", *(runs[n] for n in PARTS), "-o", tmp_path / "m")
    assert done.returncode == 0, done.stderr
    merged = read_evidence(tmp_path / "m" / "evidence.json")
    assert merged.selection is not None and not merged.selection.is_part
    assert [p.split(":", 1)[0] for p in merged.selection.parts] == [
        "shard 1/2, backend=cpu",
        "shard 2/2, backend=cpu",
        "shard 1/1, backend=gpu",
    ]
    summary = (tmp_path / "m" / "summary.md").read_text()
    assert "- **Hosts (merged from 3 parts):** shard 1/2, backend=cpu: " in summary
    assert "- **Host:**" not in summary  # one host line would stand for all three runners


def test_a_gpu_seen_by_any_part_is_available_in_the_merge(runs: dict[str, Path], tmp_path: Path) -> None:
    # This machine has no GPU: the gpu part's evidence is edited to say what a GPU runner's says (its probe
    # and host); the merge must take the GPU from it, not "no GPU" from the first (cpu) part.
    gpu_part = json.loads((runs["gpu-1"] / "evidence.json").read_text())
    gpu_part["backends"]["gpu"] = {
        "backend": "gpu",
        "available": True,
        "reason": "1 CUDA device(s)",
        "devices": ["GPU 0: NVIDIA L4"],
    }
    gpu_part["run"]["host"]["hostname"] = "gpu-runner-07"
    (tmp_path / "gpu.json").write_text(json.dumps(gpu_part))
    done = aprqa("merge", runs["cpu-1"], runs["cpu-2"], tmp_path / "gpu.json", "-o", tmp_path / "m")
    assert done.returncode == 0, done.stderr
    merged = read_evidence(tmp_path / "m" / "evidence.json")
    assert merged.backends[Backend.GPU].available and merged.backends[Backend.GPU].devices == ("GPU 0: NVIDIA L4",)
    assert merged.selection is not None
    assert merged.selection.parts[2].startswith("shard 1/1, backend=gpu: gpu-runner-07 (")
    assert merged.selection.parts[2].endswith("GPU: GPU 0: NVIDIA L4)")
    assert merged.selection.parts[0].endswith("GPU: none)")


def test_backends_are_unioned_by_hand() -> None:
    cpu_only, with_gpu = partially_skipped(), qualified()  # probed without and with a GPU
    assert not cpu_only.backends[Backend.GPU].available
    merged = _backends([cpu_only, with_gpu])
    assert merged[Backend.GPU] == backends(True)[Backend.GPU] and merged[Backend.CPU] == backends(False)[Backend.CPU]
    assert _backends([cpu_only, cpu_only])[Backend.GPU] == backends(False)[Backend.GPU]  # nobody had one


def test_a_parts_comparison_is_dropped_and_the_merge_compares_the_whole(runs: dict[str, Path], tmp_path: Path) -> None:
    part = read_evidence(runs["cpu-1"] / "evidence.json")
    assert part.comparison is not None  # shard 1/2 compared itself with the whole baseline
    parts = [runs[n] for n in PARTS]
    assert aprqa("merge", *parts, "-o", tmp_path / "plain").returncode == 0
    assert read_evidence(tmp_path / "plain" / "evidence.json").comparison is None
    done = aprqa("merge", *parts, "--baseline", runs["base"], "-o", tmp_path / "cmp")
    assert done.returncode == 0, done.stderr
    comparison = read_evidence(tmp_path / "cmp" / "evidence.json").comparison
    assert comparison is not None and comparison.gateways == []
    # latency is the engine process's wall time here, so only results are asserted, not timing lines
    assert not [line for line in comparison.regressions if "latency" not in line], comparison.regressions
    assert [(c.cell, c.before, c.after) for c in comparison.cells] == [
        ("gguf/cpu/run", "pass", "pass"),
        ("gguf/gpu/run", "skip", "skip"),
        ("gguf/cpu/chat", "pass", "pass"),
        ("gguf/gpu/chat", "skip", "skip"),
    ]
    assert "### Compared with the baseline" in (tmp_path / "cmp" / "summary.md").read_text()
    refused = aprqa("merge", *parts, "--fail-on", "regression:10", "-o", tmp_path / "r")
    assert refused.returncode == 2 and "give --baseline EVIDENCE" in refused.stderr
    gated = aprqa("merge", *parts, "--fail-on", "regression:1000", "--baseline", runs["base"], "-o", tmp_path / "g")
    assert gated.returncode == 0, gated.stderr  # 1000 %: no timing noise can be a regression


def test_a_lone_part_is_refused_and_a_lone_whole_run_merges(runs: dict[str, Path], tmp_path: Path) -> None:
    done = aprqa("merge", runs["cpu-2"], "-o", tmp_path / "m")
    assert done.returncode == 2, done.stderr
    assert "missing shard 1/2 of backend=cpu; no part's --only covers gguf/gpu/run, gguf/gpu/chat:" in done.stderr
    assert "a lone part of the plan" in done.stderr
    done = aprqa("merge", runs["base"], "-o", tmp_path / "whole")
    assert done.returncode == 0, done.stderr
    merged, base = read_evidence(tmp_path / "whole" / "evidence.json"), read_evidence(runs["base"] / "evidence.json")
    assert merged.verdict == base.verdict and merged.items == base.items


def test_merge_refuses_another_tool_version_or_plan(runs: dict[str, Path], tmp_path: Path) -> None:
    # Real shard evidence with one field changed, as an older aprqa or another plan would have written it.
    data = json.loads((runs["cpu-2"] / "evidence.json").read_text())
    data["run"]["tool_version"] = "0.0.1"
    (tmp_path / "old.json").write_text(json.dumps(data))
    done = aprqa("merge", runs["cpu-1"], tmp_path / "old.json", runs["gpu-1"], "-o", tmp_path / "m")
    assert done.returncode == 2 and "different tool versions" in done.stderr and "vs 0.0.1)" in done.stderr
    data = json.loads((runs["cpu-2"] / "evidence.json").read_text())
    data["selection"]["plan_ids"] = data["selection"]["plan_ids"][:-1]
    (tmp_path / "plan.json").write_text(json.dumps(data))
    done = aprqa("merge", runs["cpu-1"], tmp_path / "plan.json", runs["gpu-1"], "-o", tmp_path / "m")
    assert done.returncode == 2 and "different plans (8 scenarios vs 7 scenarios)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
