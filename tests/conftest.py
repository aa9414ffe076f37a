from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from aprqa_action.records import Scenario

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
HOSTILE = Path(__file__).parent / "engines" / "hostile.py"
DEMO = ROOT / "playbooks" / "examples" / "smollm2-135m-demo.playbook.yaml"


def _model(name: str) -> Path:
    path = MODELS / name / "model.gguf"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make models` (scripts/fetch_models.py) first")
    return path


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return _model("smollm2-135m")


@pytest.fixture(scope="session")
def gemma_base() -> Path:
    return _model("gemma3-270m-base")


def aprqa(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user (or the action) would."""
    return subprocess.run(
        [sys.executable, "-m", "aprqa_action", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def make_scenario(**fields: object) -> Scenario:
    """A Scenario for unit tests: a run/cpu/gguf scenario of "What is 2+2?" unless `fields` say otherwise."""
    values: dict[str, object] = {
        "index": 0,
        "modality": "run",
        "backend": "cpu",
        "format": "gguf",
        "model_path": "/m/model.gguf",
        "prompt": "What is 2+2?",
        "prompt_index": 0,
        "seed": 1,
        "temperature": 0.0,
        "max_tokens": 32,
        "timeout_ms": 1000,
    }
    values.update(fields)
    values.setdefault("id", f"t:{values['modality']}:{values['backend']}:{values['format']}:{values['index']:03d}")
    return Scenario.model_validate(values)


def write_playbook(path: Path, **overrides: object) -> Path:
    """A small valid playbook; keyword arguments replace top-level keys (None removes one)."""
    data: dict[str, object] = {
        "name": "t",
        "version": "1.0.0",
        "model": {"hf_repo": "org/model", "formats": ["gguf"]},
        "test_matrix": {"modalities": ["run"], "backends": ["cpu"], "scenario_count": 1, "timeout_ms": 30000},
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def hostile_profile(mode: str, *, serve: str | None = None, **extra: object) -> dict[str, object]:
    """An inline engine profile whose run/chat modes are `hostile.py MODE` and serve `hostile.py serve-X`."""
    process = {
        "argv": ["{python}", str(HOSTILE), mode, *map(str, extra.pop("args", []))],
        "output": {
            "format": "json",
            "text": "text",
            "tokens": "tokens_generated",
            "tok_per_sec": "tok_per_sec",
        },
    }
    profile: dict[str, object] = {
        "name": "hostile",
        "formats": ["gguf"],
        "run": process,
        "chat": dict(process),
    }
    if serve is not None:
        profile["serve"] = {
            "argv": ["{python}", str(HOSTILE), f"serve-{serve}", "{port}"],
            "health": {"path": "/health", "contains": "healthy"},
            **extra,
        }
    return profile


@pytest.fixture(autouse=True)
def no_stray_processes():
    """Every test must leave no child process behind."""
    yield
    me = psutil.Process()
    leftovers = [p for p in me.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for proc in leftovers:
        proc.kill()
    assert not leftovers, f"processes outlived the test: {[p.cmdline() for p in leftovers]}"


def repository_copy(tmp_path: Path, remote: str) -> Path:
    """The project as a checkout would see it (tracked and new files, nothing ignored), as its own git repo
    whose origin is github.com/<remote> (act reads the repository's name from it)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    repo = tmp_path / "repo"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "remote", "add", "origin", f"https://github.com/{remote}.git"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=repo, check=True)
    return repo
