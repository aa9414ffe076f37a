"""Baseline comparison: the noise-aware rule by hand, and two real runs — a throttled engine is flagged, a
rerun without change is not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, aprqa, write_playbook

from aprqa_action.engines import load_profile
from aprqa_action.evidence import read_evidence
from aprqa_action.report.compare import metric, threshold_for

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
    assert threshold_for("regression:25") == 25.0 and threshold_for("gateway") == 10.0


@pytest.mark.engine
def test_a_throttled_engine_is_flagged_and_a_rerun_is_not(tmp_path: Path, smollm2: Path) -> None:
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={
            "modalities": ["run", "chat"],
            "backends": ["cpu"],
            "scenario_count": 3,
            "max_tokens": 32,
            "prompts": ["What is 2+2?", "Name three colors.", "Name a prime."],
        },
    )
    throttled = load_profile("reference").model_dump(mode="json", exclude_none=True)
    throttled["name"] = "reference-throttled"
    argv = throttled["run"]["argv"]  # ["{python}", "-m", "aprqa_action.engines.reference", "run", ...]
    throttled["run"]["argv"] = [argv[0], str(THROTTLED), *argv[3:]]  # only the run cells get slower
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(throttled))

    def qualify(name: str, *extra: str | Path) -> tuple[int, str]:
        done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / name, *extra)
        return done.returncode, done.stdout + done.stderr

    # 25 %: this machine's run-to-run noise (other work on two cores) reaches 15 % in a cell now and then
    gate = ("--fail-on", "regression:25", "--baseline", tmp_path / "base")
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
    assert not any("chat" in line for line in slow.regressions)
    summary = (tmp_path / "slow" / "summary.md").read_text()
    assert "### Compared with the baseline" in summary and "tok/s gguf/cpu/run" in summary
    assert "tok/s gguf/cpu/run" in (tmp_path / "slow" / "comment.md").read_text()
