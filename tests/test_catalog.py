"""The shipped playbooks by model and tier: aprqa list, --model/--tier."""

from __future__ import annotations

import json

from conftest import aprqa

from aprqa_action.playbook.catalog import TIERS, entries


def test_every_qwen_model_has_every_tier_in_order_and_the_demo_model_a_smoke_tier() -> None:
    found = [(e.model, e.tier) for e in entries()]
    models = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-3b", "qwen2.5-coder-7b", "qwen2.5-coder-14b"]
    assert found == [(m, t) for m in models for t in TIERS] + [("smollm2-135m", "smoke")]


def test_list_filters_by_model_and_tier() -> None:
    done = aprqa("list", "--tier", "mvp")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 5 and all(" mvp " in line for line in done.stdout.splitlines())
    done = aprqa("list", "--tier", "smoke")
    assert [line.split()[0] for line in done.stdout.splitlines()][-1] == "smollm2-135m"
    done = aprqa("list", "--model", "qwen2.5-coder-7b")
    assert [line.split()[1] for line in done.stdout.splitlines()] == list(TIERS)


def test_plan_by_model_and_tier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    done = aprqa("plan", "--model", "qwen2.5-coder-7b", "--tier", "mvp", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["playbook"] == "qwen2.5-coder-7b-mvp"


def test_extras_are_what_the_playbooks_engine_needs_for_its_formats() -> None:
    done = aprqa("extras", "--model", "smollm2-135m", "--tier", "smoke")
    assert (done.returncode, done.stdout) == (0, "engine\n")
    assert aprqa("extras", "playbooks/examples/smollm2-135m-demo.playbook.yaml").stdout == "engine,engine-hf\n"
    assert aprqa("extras", "--model", "qwen2.5-coder-7b", "--tier", "mvp").stdout == "\n"  # apr: none of ours
    overridden = aprqa("extras", "--model", "qwen2.5-coder-7b", "--tier", "mvp", "--engine", "reference")
    assert overridden.stdout == "engine,engine-hf\n"  # gguf and safetensors (apr: none), as the profile lists them


def test_unknown_model_tier_or_both_forms_are_usage_errors() -> None:
    assert "known models: qwen2.5-coder-0.5b" in aprqa("plan", "--model", "llama", "--tier", "mvp").stderr
    assert aprqa("plan", "--model", "qwen2.5-coder-7b", "--tier", "nightly").returncode == 2
    both = aprqa("plan", "x.yaml", "--model", "qwen2.5-coder-7b", "--tier", "mvp")
    assert both.returncode == 2 and "not both" in both.stderr
    neither = aprqa("plan")
    assert neither.returncode == 2 and "--model and --tier" in neither.stderr
