"""The layers of the pipeline are enforced by import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_a_stage_that_imports_a_later_one_breaks_the_build(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    plan = root / "aprqa_action" / "plan" / "__init__.py"
    plan.write_text(plan.read_text() + "\nfrom aprqa_action.report.view import build_view  # noqa: E402, F401\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout
    assert "aprqa_action.plan -> aprqa_action.report.view" in done.stdout


def test_a_record_that_imports_a_stage_breaks_the_build(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    run = root / "aprqa_action" / "records" / "run.py"
    run.write_text(run.read_text() + "\nfrom aprqa_action.errors import InputError  # noqa: E402, F401\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout
    assert "aprqa_action.records.run -> aprqa_action.errors" in done.stdout
