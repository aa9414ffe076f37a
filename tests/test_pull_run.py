"""G0-PULL in a run: without --model-path the playbook's hf_repo is pulled (a local fake of the Hub, never
the internet), judged, and used; offline it comes from the Hugging Face cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, aprqa, write_playbook
from fake_hf_hub import closed_port_url, running

from aprqa_action.store.evidence import read_evidence

QUALITY_GATE = ROOT / "playbooks" / "examples" / "quality-gate.playbook.yaml"
REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"


def g0_pull(out: Path) -> tuple[str, str]:
    [item] = [i for i in read_evidence(out / "evidence.json").items if i.gate_id == "G0-PULL"]
    return item.outcome, item.reason


@pytest.mark.engine
def test_pull_then_run_then_run_offline_from_the_cache(tmp_path: Path, smollm2: Path) -> None:
    files = {"SmolLM2-135M-Instruct.Q4_1.gguf": smollm2.read_bytes(), "README.md": b"# model\n"}
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    with running({REPO: files}) as hub:
        plan = aprqa("plan", QUALITY_GATE, env={**env, "HF_ENDPOINT": hub.url})
        assert plan.returncode == 0 and "G0-PULL" in plan.stdout  # plan never downloads
        assert hub.downloaded() == []
        done = aprqa("run", QUALITY_GATE, "--output-dir", tmp_path / "a", env={**env, "HF_ENDPOINT": hub.url})
        assert done.returncode == 0, done.stdout + done.stderr
        assert hub.downloaded() == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    outcome, reason = g0_pull(tmp_path / "a")
    assert outcome == "Corroborated" and REPO in reason
    provenance = read_evidence(tmp_path / "a" / "evidence.json").provenance["gguf"]
    assert provenance.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

    offline = {**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": closed_port_url()}
    done = aprqa("run", QUALITY_GATE, "--output-dir", tmp_path / "b", env=offline)
    assert done.returncode == 0, done.stdout + done.stderr
    assert g0_pull(tmp_path / "b")[0] == "Corroborated"


def test_an_unreachable_hub_fails_g0_with_the_reason(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path / "p.yaml")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": closed_port_url()}
    done = aprqa("run", playbook, "--output-dir", tmp_path / "out", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    outcome, reason = g0_pull(tmp_path / "out")
    assert outcome == "Falsified" and "cannot reach the Hub" in reason
    evidence = read_evidence(tmp_path / "out" / "evidence.json")
    assert evidence.verdict is not None and not evidence.verdict.gateways[0].passed


def test_a_model_path_skips_the_pull(tmp_path: Path, smollm2: Path) -> None:
    playbook = write_playbook(
        tmp_path / "p.yaml",
        engine={
            "name": "x",
            "formats": ["gguf"],
            "run": {"argv": ["{python}", "-c", 'print(\'{{"text": "4"}}\')'], "output": {"format": "json"}},
        },
    )
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    outcome, reason = g0_pull(tmp_path / "out")
    assert outcome == "Skipped" and reason.startswith("--model-path ")
