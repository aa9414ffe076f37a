"""scripts/release_check.py: what the release workflow checks before it tags."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

SCRIPT = ROOT / "scripts" / "release_check.py"
spec = importlib.util.spec_from_file_location("release_check", SCRIPT)
assert spec and spec.loader
release_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release_check)


def checkout(tmp_path: Path, version: str, sections: list[str]) -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{version}"\n')
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n" + "".join(f"## [{s}]\n\n- x\n\n" for s in sections))
    return tmp_path


def test_the_repository_is_releasable_at_its_own_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert release_check.problems(version, ROOT, set()) == []
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_a_releasable_version_prints_its_tag_and_its_major_tag(tmp_path: Path) -> None:
    root = checkout(tmp_path, "1.2.3", ["Unreleased", "1.2.3", "1.2.2"])
    assert release_check.problems("1.2.3", root, {"v1.2.2", "v1"}) == []
    # The script checks its own checkout: this repository, at its version (the test above: releasable).
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([sys.executable, SCRIPT, version], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"tag=v{version}", f"major=v{version.split('.')[0]}"]


@pytest.mark.parametrize(
    ("version", "tags", "sections", "said"),
    [
        ("v1.0.0", set(), ["1.0.0"], "is not MAJOR.MINOR.PATCH"),
        ("1.0", set(), ["1.0"], "is not MAJOR.MINOR.PATCH"),
        ("1.0.0\n::warning::x", set(), ["1.0.0"], "is not MAJOR.MINOR.PATCH"),
        ("1.0.1", set(), ["1.0.1"], "pyproject.toml says version '1.0.0'"),
        ("1.0.0", set(), ["Unreleased"], "CHANGELOG.md has no '## [1.0.0]' section"),
        ("1.0.0", {"v1.0.0"}, ["1.0.0"], "v1.0.0 is tagged already"),
    ],
)
def test_a_version_that_cannot_be_released_says_why(
    tmp_path: Path, version: str, tags: set[str], sections: list[str], said: str
) -> None:
    root = checkout(tmp_path, "1.0.0", sections)
    found = release_check.problems(version, root, tags)
    assert len(found) == 1 and said in found[0], found


def test_the_refusal_is_one_error_line() -> None:
    done = subprocess.run([sys.executable, SCRIPT, "9.9.9\n::warning::forged"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("::error::cannot release: ")
