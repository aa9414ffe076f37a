"""docs/ is generated from the code where it can be, so it cannot drift: the committed pages are current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_parts_of_the_docs_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "60"},  # a narrow terminal must not change the pages
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\((?!https?://|#)([^)#\s]+)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: {target}"


def test_the_readme_sample_comment_is_what_aprqa_report_renders_from_the_demo_evidence(tmp_path: Path) -> None:
    sample = ROOT / "docs" / "sample" / "evidence.json"
    done = subprocess.run(
        [Path(sys.executable).parent / "aprqa", "report", sample, "--output-dir", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- generated: sample -->\n", 1)[1].split("<!-- end generated -->", 1)[0]
    assert block.encode() == (tmp_path / "comment.md").read_bytes()
    assert "smollm2-135m-demo" in block  # the demo's, not some other evidence
