"""The publish action's trusted playbook: its `playbook` file, or the one the action ships for `model` and `tier`
— the step's script as publish/action.yml has it, run with the env GitHub would give it and this venv's aprqa
standing in for the one the action installs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT


def trusted(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess, str]:
    [step] = [
        s
        for s in yaml.safe_load((ROOT / "publish" / "action.yml").read_text())["runs"]["steps"]
        if s.get("id") == "trusted"
    ]
    venv = tmp_path / "runner" / "aprqa-publish-venv" / "bin"
    venv.mkdir(parents=True, exist_ok=True)
    for name, target in (("aprqa", Path(sys.executable).parent / "aprqa"), ("python", Path(sys.executable))):
        if not (venv / name).exists():
            (venv / name).symlink_to(target)
    output = tmp_path / "output"
    output.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "GITHUB_OUTPUT": str(output),
        **{f"APRQA_{k.upper()}": v for k, v in {"playbook": "", "model": "", "tier": "", **inputs}.items()},
    }
    done = subprocess.run(["bash", "-c", step["run"]], capture_output=True, text=True, timeout=120, env=env)
    return done, output.read_text()


def test_model_and_tier_name_the_shipped_playbook(tmp_path: Path) -> None:
    done, output = trusted(tmp_path, model="qwen2.5-coder-7b", tier="mvp")
    assert done.returncode == 0, done.stderr + done.stdout
    [line] = output.splitlines()
    assert line.startswith("playbook=") and line.endswith("/playbooks/models/qwen2.5-coder-7b-mvp.playbook.yaml")
    assert Path(line.removeprefix("playbook=")).is_file()


def test_a_playbook_file_is_passed_on_as_it_is(tmp_path: Path) -> None:
    done, output = trusted(tmp_path, playbook="playbooks/mine.playbook.yaml")
    assert (done.returncode, output) == (0, "playbook=playbooks/mine.playbook.yaml\n")
    done, output = trusted(tmp_path)
    assert (done.returncode, output) == (0, "playbook=\n")  # the evidence's own playbook names it


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ({"model": "qwen2.5-coder-7b"}, "model and tier: both, as aprqa list shows them"),
        ({"model": "x\n::warning::y", "tier": "mvp"}, "model and tier: both, as aprqa list shows them"),
        ({"model": "no-such-model", "tier": "mvp"}, "no shipped playbook for model no-such-model, tier mvp"),
        ({"playbook": "p.yaml", "model": "m", "tier": "mvp"}, "give either playbook or model and tier, not both"),
        ({"playbook": "p.yaml\nother=x"}, "playbook: one path, no newline"),
    ],
    ids=["tier missing", "injection", "unknown model", "both", "newline"],
)
def test_bad_inputs_are_one_error_line_and_no_output(tmp_path: Path, inputs: dict[str, str], error: str) -> None:
    done, output = trusted(tmp_path, **inputs)
    assert (done.returncode, output) == (2, "")
    [line] = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert line.startswith(f"::error title=aprqa publish::{error}")
