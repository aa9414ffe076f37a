"""Check that VERSION may be released from this checkout, and print the tags the release sets.

Usage: python scripts/release_check.py VERSION

VERSION must be semver (MAJOR.MINOR.PATCH), equal pyproject.toml's version, have its own `## [VERSION]`
section in CHANGELOG.md, and not be tagged yet (the tags git knows here). On success prints two lines,
`tag=vVERSION` and `major=vMAJOR`, for $GITHUB_OUTPUT; otherwise one `::error` line and exit 1.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def problems(version: str, root: Path, tags: set[str]) -> list[str]:
    if not SEMVER.fullmatch(version):
        return [f"version {version!r} is not MAJOR.MINOR.PATCH (e.g. 1.0.0, without a leading v)"]
    found = []
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    if declared != version:
        found.append(f"pyproject.toml says version {declared!r}: set it to {version!r} first")
    changelog = (root / "CHANGELOG.md").read_text()
    if not re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE):
        found.append(f"CHANGELOG.md has no '## [{version}]' section: move the Unreleased notes under it")
    if f"v{version}" in tags:
        found.append(f"v{version} is tagged already: releases are never re-tagged, release a new version")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    version = argv[0].strip()
    listed = subprocess.run(["git", "tag", "--list"], cwd=ROOT, capture_output=True, text=True, check=True)
    found = problems(version, ROOT, set(listed.stdout.split()))
    if found:
        # Folded to one line: the version comes from a workflow input.
        print("::error::cannot release: " + "; ".join(found).replace("\n", " ").replace("\r", " "))
        return 1
    print(f"tag=v{version}")
    print(f"major=v{version.split('.')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
