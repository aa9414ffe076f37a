"""What a user installs: every package, the templates and the shipped playbooks, usable outside a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from report_fixtures import qualified

from aprqa_action.store.evidence import write_evidence

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name: ROOT / path for name, path in config["package-dir"].items()}
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "aprqa_action").rglob("__init__.py")}
    assert on_disk | set(mapped) == listed
    assert all((path / "__init__.py").is_file() for path in mapped.values())


def test_the_installed_wheel_lists_playbooks_and_renders_reports_anywhere(tmp_path: Path) -> None:
    """Built and installed as pip would (no checkout on the path), run from a directory with no playbooks/."""
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(ROOT), "-w", str(wheels)], check=True)
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site)}

    def aprqa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aprqa_action", *args], cwd=work, env=env, capture_output=True, text=True
        )

    listed = aprqa("list", "--tier", "mvp")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 5
    assert all(str(site / "aprqa_action" / "playbooks" / "models") in line for line in listed.stdout.splitlines())
    write_evidence(work / "run", qualified())
    done = aprqa("report", "run")
    assert done.returncode == 0, done.stderr
    assert (work / "run" / "summary.md").read_text().startswith("## 🟢 QUALIFIED")
