"""The layers of the pipeline are enforced by import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the package under `root`, ahead of the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],  # the contracts in root/pyproject.toml
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_contract_is_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "aprqa_action", tmp_path / "aprqa_action", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        # a stage that imports a later one
        (
            "plan/__init__.py",
            "from aprqa_action.report.view import build_view",
            "aprqa_action.plan -> aprqa_action.report.view",
        ),
        # a record that imports anything else of ours
        (
            "records/run.py",
            "from aprqa_action.errors import InputError",
            "aprqa_action.records.run -> aprqa_action.errors",
        ),
    ],
)
def test_an_import_against_the_layers_breaks_the_build(tmp_path: Path, module: str, added: str, broken: str) -> None:
    root = _copy(tmp_path)
    path = root / "aprqa_action" / module
    path.write_text(path.read_text() + f"\n{added}  # noqa: E402, F401\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout
    assert broken in done.stdout
