"""Install a CUDA build of torch (pinned in pyproject's `engine-hf` extra) for SafeTensors on a GPU runner.

Why: which torch pip takes depends on the runner's indexes. PyPI's Linux wheel of the pin is a CUDA 13.0
build, but a CPU index configured on the runner (as on this project's CI machines, where the pin resolves to
2.13.0+cpu) wins over it, and a CPU torch fails every gpu SafeTensors cell. So the pin is installed with
PyTorch's CUDA index added to the configured ones (TORCH_INDEX_URL, default cu130; drivers older than 580
need https://download.pytorch.org/whl/cu126): its local version (+cu130) sorts above +cpu and above PyPI's
plain one, and torch's own dependencies still come from the configured indexes. The torch installed then has
to say it was built for CUDA, or this fails with one line saying what to set.

    python scripts/engine_torch.py             # replace a CPU torch in this interpreter's environment
    python scripts/engine_torch.py --dry-run   # say what it has and the pip commands it would run
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INDEX = "https://download.pytorch.org/whl/cu130"
# torch.version.cuda is None on a CPU build; asked in a child so a broken install is an answer, not a crash.
PROBE = "import json, torch; print(json.dumps([torch.__version__, torch.version.cuda]))"


def requirement() -> str:
    """torch's pin from the `engine-hf` extra."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    [pin] = [r for r in extras["engine-hf"] if r.startswith("torch")]
    return pin


def index_url() -> str:
    return os.environ.get("TORCH_INDEX_URL", "").strip() or DEFAULT_INDEX


def installed() -> tuple[str, str | None] | None:
    """(version, CUDA version or None) of the torch this interpreter imports; None when it imports none."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        return None
    version, cuda = json.loads(done.stdout.strip().splitlines()[-1])
    return str(version), (str(cuda) if cuda else None)


def describe(found: tuple[str, str | None] | None) -> str:
    if found is None:
        return "no torch"
    version, cuda = found
    return f"torch {version} (built for CUDA {cuda})" if cuda else f"torch {version} (a CPU build)"


def commands(found: tuple[str, str | None] | None) -> list[list[str]]:
    """The pip commands that replace `found` with a CUDA build; none when it is one already."""
    if found is not None and found[1]:
        return []
    pip = [sys.executable, "-m", "pip"]
    # The installed pin satisfies `torch==X` whatever its build, so a CPU one goes first.
    uninstall = [[*pip, "uninstall", "--quiet", "--yes", "torch"]] if found else []
    return [*uninstall, [*pip, "install", "--quiet", requirement(), "--extra-index-url", index_url()]]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--dry-run"]):
        print(__doc__, file=sys.stderr)
        return 2
    found = installed()
    todo = commands(found)
    if argv:
        print(f"{describe(found)}; would run:" if todo else f"{describe(found)}; nothing to do")
        for command in todo:
            print("  " + " ".join(command))
        return 0
    if todo:
        print(f"{describe(found)}: installing {requirement()} with {index_url()}", file=sys.stderr)
    for command in todo:
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            return done.returncode
    after = installed()
    if after is None or not after[1]:
        error = "::error title=aprqa install::" if os.environ.get("GITHUB_ACTIONS") == "true" else "error: "
        print(
            f"{error}asked for a CUDA torch and got {describe(after)} from {index_url()} and the configured indexes: "
            "set TORCH_INDEX_URL to PyTorch's index for your driver's CUDA (e.g. https://download.pytorch.org/whl/"
            "cu126), or leave the action input gpu empty for the CPU build",
            file=sys.stderr,
        )
        return 3
    print(describe(after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
