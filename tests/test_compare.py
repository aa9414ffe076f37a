"""Baseline comparison: the noise-aware rule by hand, and two real runs — a throttled engine is flagged, a
rerun without change is not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, aprqa, write_playbook
from report_fixtures import NO_GPU, Builder, qualified

from aprqa_action.engines import load_profile
from aprqa_action.errors import InputError
from aprqa_action.judge.compare import apply_policy, compare, flagged, metric, with_baseline
from aprqa_action.records import CellDelta, Comparison, Evidence, MetricDelta, ResolvedModel
from aprqa_action.records.axes import Backend, Format, Modality
from aprqa_action.score import parse_fail_on
from aprqa_action.store.evidence import read_evidence, write_evidence

THROTTLED = ROOT / "tests" / "engines" / "throttled.py"


def test_a_drop_beyond_threshold_and_spread_is_a_regression() -> None:
    # medians 41 → 30.5: −25.6 %; the spread is max(42 − 40, 31 − 30) = 2 < |−10.5|
    delta = metric([40.0, 42.0], [30.0, 31.0], 10.0, higher_is_better=True)
    assert (delta.before, delta.after, delta.change_pct, delta.noise, delta.flagged) == (
        41.0,
        30.5,
        -25.61,
        2.0,
        "regression",
    )


def test_a_change_inside_the_spread_is_noise() -> None:
    # medians 50 → 35.5: −29 %, but the baseline's own measurements spread over 20 > 14.5
    assert metric([40.0, 60.0], [35.0, 36.0], 10.0, higher_is_better=True).flagged is None


def test_a_change_below_the_threshold_is_not_flagged() -> None:
    assert metric([50.0], [46.0], 10.0, higher_is_better=True).flagged is None  # −8 %
    assert metric([50.0], [44.0], 10.0, higher_is_better=True).flagged == "regression"  # −12 %, no spread


def test_latency_up_is_worse_and_down_is_better() -> None:
    assert metric([100.0], [130.0], 10.0, higher_is_better=False).flagged == "regression"
    assert metric([100.0], [70.0], 10.0, higher_is_better=False).flagged == "improvement"


def test_thresholds_from_the_policy() -> None:
    assert parse_fail_on("regression:25").threshold_pct == 25.0 and parse_fail_on("gateway").threshold_pct == 10.0


@pytest.mark.engine
def test_a_throttled_engine_is_flagged_and_a_rerun_is_not(tmp_path: Path, smollm2: Path) -> None:
    """Real runs: the same engine again is not a regression; one whose every token takes 100 ms longer (a
    4× slower build) is. Only run cells: a chat cell's latency includes its prompt's evaluation, which other
    work on two cores has stretched 8× between two identical runs; no test may depend on a quiet machine."""
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={
            "modalities": ["run"],
            "backends": ["cpu"],
            "scenario_count": 3,
            "max_tokens": 32,
            "prompts": ["What is 2+2?", "Name three colors.", "Name a prime."],
        },
    )
    throttled = load_profile("reference").model_dump(mode="json", exclude_none=True)
    throttled["name"] = "reference-throttled"
    argv = throttled["run"]["argv"]  # ["{python}", "-m", "aprqa_action.reference_engine", "run", ...]
    throttled["run"]["argv"] = [argv[0], str(THROTTLED), *argv[3:]]
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(throttled))

    def qualify(name: str, *extra: str | Path) -> tuple[int, str]:
        done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / name, *extra)
        return done.returncode, done.stdout + done.stderr

    # 50 %: far above a quiet machine's run-to-run noise (≤ 15 % in a cell), far below the throttle's −75 % tok/s
    gate = ("--fail-on", "regression:50", "--baseline", tmp_path / "base")
    assert qualify("base")[0] == 0
    code, log = qualify("again", *gate)
    assert code == 0, log
    again = read_evidence(tmp_path / "again" / "evidence.json").comparison
    assert again is not None and again.regressions == [], again.regressions

    code, log = qualify("slow", "--engine", tmp_path / "slow.yaml", *gate)
    assert code == 1 and "regression against the baseline" in log
    slow = read_evidence(tmp_path / "slow" / "evidence.json").comparison
    assert slow is not None
    assert any(line.startswith("↓") and "tok/s gguf/cpu/run" in line for line in slow.regressions), slow.regressions
    summary = (tmp_path / "slow" / "summary.md").read_text()
    assert "### Compared with the baseline" in summary and "tok/s gguf/cpu/run" in summary
    assert "tok/s gguf/cpu/run" in (tmp_path / "slow" / "comment.md").read_text()


def run_of(name: str = "p", **cells: tuple[str, float | None]) -> Evidence:
    """An evidence with one scenario per given cell (`run_cpu=("pass", 40.0)`): pass, fail (an arithmetic
    oracle falsifies the answer) or skip. Built with the shared report builder; the verdict is the real one."""
    b = Builder(name)
    b.integrity(Format.GGUF, "Corroborated", f"models/{name}/model.gguf: header parses")
    for key, (outcome, rate) in cells.items():
        modality, backend = key.split("_")
        s = b.scenario(Modality(modality), Backend(backend), Format.GGUF, 0, prompt_index=0)
        if outcome == "pass":
            b.passing(s, rate or 0.0)
        elif outcome == "fail":
            oracles = [("F-QUAL-ARITH", "Falsified", "expected 4 (2+2, ±0.01) in the answer; its numbers: 5")]
            b.answered(s, "2 + 2 = 5", rate or 0.0, tokens=11, oracles=oracles)  # type: ignore[arg-type]
        else:
            b.skipped(s, NO_GPU)
    model = ResolvedModel(format=Format.GGUF, path=f"models/{name}/model.gguf", how="given", reason="the given file")
    return b.evidence(version="1.0.0", gpu=False, models={Format.GGUF: model})


def test_compare_names_gateway_changes_cell_flips_and_missing_cells() -> None:
    baseline = run_of(run_cpu=("pass", 40.0), chat_cpu=("pass", 40.0), run_gpu=("pass", 90.0))
    current = run_of(run_cpu=("fail", 40.0), chat_cpu=("skip", None))
    c = compare(current, baseline, source="base.json", threshold_pct=10.0)
    assert [(d.cell, d.before, d.after) for d in c.cells] == [
        ("gguf/cpu/run", "pass", "fail"),
        ("gguf/cpu/chat", "pass", "skip"),
        ("gguf/gpu/run", "pass", None),
    ]
    assert c.gateways == [("G4", True, False)]  # the one judged answer is falsified; G1–G3 still pass
    assert c.mqs_before is not None and c.mqs_after is not None
    mqs = [f"MQS {c.mqs_before} → {c.mqs_after} ({c.mqs_after - c.mqs_before:+d})"]
    dropped = (c.mqs_before - c.mqs_after) / c.mqs_before * 100 >= 10.0
    assert c.regressions == [
        "G4 quality: pass → FAIL",
        *(mqs if dropped else []),
        "gguf/cpu/run: pass → fail",
        "gguf/cpu/chat: pass → skip (not tested in this run)",
        "gguf/gpu/run: pass → not in this run",
    ]
    assert c.improvements == [] and c.baseline.startswith("base.json (2026-11-02 14:30 UTC)")
    back = compare(baseline, current, source="x", threshold_pct=10.0)
    assert "G4 quality: FAIL → pass" in back.improvements and "gguf/cpu/run: fail → pass" in back.improvements
    assert compare(baseline, baseline, source="x").regressions == []


def comparison(mqs: tuple[int, int], rates: tuple[float, float], noise: float = 0.0) -> Comparison:
    change = round((rates[1] - rates[0]) / rates[0] * 100, 2)
    return Comparison(
        baseline="base",
        threshold_pct=10.0,
        mqs_before=mqs[0],
        mqs_after=mqs[1],
        grade_before="C-",
        grade_after="C-",
        gateways=[],
        cells=[
            CellDelta(
                cell="gguf/cpu/run",
                before="pass",
                after="pass",
                tok_per_sec=MetricDelta(before=rates[0], after=rates[1], change_pct=change, noise=noise),
                latency_ms=MetricDelta(before=None, after=None, change_pct=None, noise=0.0),
            )
        ],
        regressions=[],
        improvements=[],
    )


def test_the_percentage_applies_to_mqs_and_measurements() -> None:
    c = comparison((700, 640), (40.0, 34.0))  # MQS −60 = −8.57 % of 700; tok/s −15 %
    tps = "↓ 15 % tok/s gguf/cpu/run (40.0 → 34.0)"
    assert flagged(c, 10.0) == ([tps], [])
    assert flagged(c, 5.0) == (["MQS 700 → 640 (-60)", tps], [])
    assert flagged(c, 20.0) == ([], [])
    assert flagged(comparison((700, 640), (40.0, 34.0), noise=7.0), 5.0) == (["MQS 700 → 640 (-60)"], [])  # 6 < 7
    assert flagged(comparison((600, 700), (40.0, 46.0)), 10.0) == (
        [],
        ["MQS 600 → 700 (+100)", "↑ 15 % tok/s gguf/cpu/run (40.0 → 46.0)"],
    )


def test_the_regression_policy_judges_at_its_own_percentage() -> None:
    verdict = qualified().verdict
    assert verdict is not None and verdict.qualified
    c = comparison((700, 700), (40.0, 34.0))
    assert apply_policy(verdict, c, parse_fail_on("regression:20")).qualified  # −15 % is inside 20 %
    assert apply_policy(verdict, c, parse_fail_on("gateway")).qualified  # no regression policy: informative only
    failed = apply_policy(verdict, c, parse_fail_on("regression:10"))
    assert not failed.qualified
    assert failed.policy_reason == "regression against the baseline: ↓ 15 % tok/s gguf/cpu/run (40.0 → 34.0)"


def test_a_baseline_of_another_playbook_is_refused_and_a_changed_one_is_named() -> None:
    current = run_of(run_cpu=("pass", 40.0))
    with pytest.raises(InputError, match="its playbook is 'other', not 'p'"):
        with_baseline(current, run_of("other", run_cpu=("pass", 40.0)), "b.json", parse_fail_on("gateway"))
    changed = current.model_copy(update={"playbook": current.playbook.model_copy(update={"sha256": "0" * 64})})
    compared = with_baseline(changed, current, "b.json", parse_fail_on("gateway"))
    assert compared.comparison is not None
    assert compared.comparison.baseline.endswith("note: the playbook changed (sha256 9f2c4e1b7a0d → 000000000000)")


def test_report_and_publish_compare_with_a_baseline_through_the_cli(tmp_path: Path) -> None:
    write_evidence(tmp_path / "base", run_of(run_cpu=("pass", 40.0), chat_cpu=("pass", 40.0)))
    write_evidence(tmp_path / "now", run_of(run_cpu=("fail", 40.0), chat_cpu=("pass", 40.0)))
    write_evidence(tmp_path / "other", run_of("other", run_cpu=("pass", 40.0)))
    done = aprqa("report", tmp_path / "now", "--baseline", tmp_path / "base", "--output-dir", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "### Compared with the baseline" in summary and "gguf/cpu/run: pass → fail" in summary
    assert "gguf/cpu/run: pass → fail" in (tmp_path / "r" / "comment.md").read_text()
    refused = aprqa("report", tmp_path / "now", "--baseline", tmp_path / "other", "--output-dir", tmp_path / "x")
    assert refused.returncode == 2 and "its playbook is 'other'" in refused.stderr
    assert "Traceback" not in refused.stderr

    # publish without a token or a pull request: it only writes the job summary (GITHUB_STEP_SUMMARY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "step.md")
    argv = ["publish", str(tmp_path / "now"), "--baseline", str(tmp_path / "base"), "--status", "false"]
    published = subprocess.run(
        [sys.executable, "-m", "aprqa_action", *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert published.returncode == 0, published.stderr
    step = (tmp_path / "step.md").read_text()
    assert "### Compared with the baseline" in step and "gguf/cpu/run: pass → fail" in step


def test_a_regression_policy_without_a_baseline_is_a_usage_error(tmp_path: Path, smollm2: Path) -> None:
    playbook = write_playbook(tmp_path / "p.yaml")
    done = aprqa("run", playbook, "--model-path", smollm2, "--fail-on", "regression:10", "--output-dir", tmp_path)
    assert done.returncode == 2 and "give --baseline EVIDENCE" in done.stderr
    assert not (tmp_path / "evidence.json").exists()
