#!/usr/bin/env python3
"""Write a SafeTensors twin of a GGUF model, so that one model can be qualified in both formats.

    python scripts/make_safetensors_twin.py [--gguf models/smollm2-135m/model.gguf] [--out models/smollm2-135m]
    python scripts/make_safetensors_twin.py --perturb model.layers.0.mlp.down_proj.weight --scale 0.5 --out DIR

The GGUF is read with transformers' GGUF loader (`gguf_file=`, which dequantizes every tensor to float32) and
written next to it as a Hugging Face model directory: `model.safetensors`, `config.json`,
`generation_config.json` and the tokenizer files (with the GGUF's chat template). The weights stay float32:
they are the exact dequantized values, so the twin computes what the GGUF encodes rather than a re-rounded copy.

Why not `save_pretrained`: transformers refuses to serialize a GGUF-loaded model ("quantized … not
serializable"). The weights are therefore written with `safetensors` directly (tied tensors once, under the
name transformers loads them by) and the config without its `quantization_config`, which would otherwise
make transformers look for a GGUF file on load.

A rerun is cheap: `safetensors-twin.json` records the GGUF's sha256 and the sha256 of every file written; when
it still matches, nothing is redone (`--force` redoes it).

`--perturb TENSOR --scale S` writes a deliberately damaged twin to `--out` (which must be another directory):
a copy of the clean twin (made first, next to the GGUF, if it is missing) with one weight tensor multiplied by
S. The format-parity tests use it to show that a SafeTensors file which differs from its GGUF is caught.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GGUF = ROOT / "models" / "smollm2-135m" / "model.gguf"
MANIFEST = "safetensors-twin.json"
WEIGHTS = "model.safetensors"
# Bumped whenever what this script writes changes, so that older twins are remade.
MAKER_VERSION = 1


class TwinError(Exception):
    """A problem the user can fix (a missing file, a wrong option); printed without a traceback."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _quiet_transformers() -> None:
    # Local files only: this script must never reach for the Hugging Face Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF dequantizer's own progress bar (plain tqdm)
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def _manifest_matches(out: Path, expected: dict[str, Any]) -> bool:
    """True when `out` holds a twin made from the same source by this version of the script, unaltered."""
    try:
        recorded = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or any(recorded.get(k) != v for k, v in expected.items()):
        return False
    files = recorded.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        return False
    return all((out / name).is_file() and sha256(out / name) == digest for name, digest in files.items())


def _publish(staging: Path, out: Path, source: dict[str, Any]) -> None:
    """Move the staged files into `out`, the manifest last: an interrupted run leaves no matching manifest."""
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    files: dict[str, str] = {}
    for path in sorted(staging.iterdir()):
        files[path.name] = sha256(path)
        path.chmod(0o644)  # staged under a private temporary directory; the twin is an ordinary model file
        os.replace(path, out / path.name)
    manifest = {**source, "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _unshared_state_dict(model: Any) -> dict[str, Any]:
    """The model's tensors with each shared storage once. SafeTensors cannot store aliases; of a tied pair
    (lm_head.weight → model.embed_tokens.weight) the source is kept, as transformers itself saves it."""
    state = model.state_dict()
    tied = getattr(model, "_tied_weights_keys", None)
    targets = set(tied) if isinstance(tied, dict) else set()
    groups: dict[tuple[int, int], list[str]] = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        groups.setdefault(key, []).append(name)
    tensors: dict[str, Any] = {}
    for names in groups.values():
        keep = sorted(names, key=lambda n: (n in targets, n.startswith("lm_head"), n))[0]
        tensors[keep] = state[keep].detach().contiguous()
    return tensors


def _drop_load_options(path: Path) -> None:
    """transformers saves the options the tokenizer was loaded with (local_files_only, is_local) into its
    config; they describe this script's loading, not the model, and would pin every later load to them."""
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    for key in ("local_files_only", "is_local"):
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def make_twin(gguf: Path, out: Path, *, force: bool = False) -> bool:
    """Write the SafeTensors twin of `gguf` into `out`. False when an up-to-date twin was already there."""
    if not gguf.is_file():
        raise TwinError(f"GGUF file not found: {gguf} (run `make models` first)")
    source = {"maker_version": MAKER_VERSION, "gguf": gguf.name, "gguf_sha256": sha256(gguf)}
    if not force and _manifest_matches(out, source):
        return False
    _quiet_transformers()
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="gguf-") as src, tempfile.TemporaryDirectory(prefix="twin-") as tmp:
        # The GGUF alone in a directory: a twin already beside it (config.json, tokenizer.json) must not be
        # what transformers reads instead of the GGUF's own metadata.
        (Path(src) / gguf.name).symlink_to(gguf.resolve())
        try:
            tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                src, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
            )
        except Exception as exc:  # transformers raises ValueError/OSError/KeyError for unsupported GGUFs
            raise TwinError(f"transformers cannot load {gguf}: {type(exc).__name__}: {exc}") from None
        staging = Path(tmp)
        save_file(_unshared_state_dict(model), str(staging / WEIGHTS), metadata={"format": "pt"})
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # it names the GGUF: loading the twin would look for that file
        config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        _drop_load_options(staging / "tokenizer_config.json")
        _publish(staging, out, source)
    return True


def perturb_twin(twin: Path, out: Path, tensor: str, scale: float, *, force: bool = False) -> bool:
    """Copy the twin in `twin` to `out` with the weight tensor `tensor` multiplied by `scale`.
    False when `out` already holds exactly that perturbation of that twin."""
    if twin.resolve() == out.resolve():
        raise TwinError("--out must be another directory than the clean twin's: a perturbed twin never replaces it")
    weights = twin / WEIGHTS
    if not weights.is_file():
        raise TwinError(f"no SafeTensors twin in {twin} ({WEIGHTS} is missing)")
    source = {
        "maker_version": MAKER_VERSION,
        "perturbed_from": str(twin.resolve()),
        "source_sha256": sha256(weights),
        "perturb": {"tensor": tensor, "scale": scale},
    }
    if not force and _manifest_matches(out, source):
        return False
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    if tensor not in tensors:
        close = difflib.get_close_matches(tensor, list(tensors), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; the file has {len(tensors)} tensors"
        raise TwinError(f"no tensor {tensor!r} in {weights}{hint}")
    if not tensors[tensor].is_floating_point():
        raise TwinError(f"tensor {tensor!r} is {tensors[tensor].dtype}, not a floating-point weight")
    tensors[tensor] = tensors[tensor] * scale
    with tempfile.TemporaryDirectory(prefix="twin-") as tmp:
        staging = Path(tmp)
        save_file(tensors, str(staging / WEIGHTS), metadata={"format": "pt"})
        for path in twin.iterdir():
            if path.is_file() and path.name not in {WEIGHTS, MANIFEST} and not path.name.endswith(".gguf"):
                shutil.copy2(path, staging / path.name)
        _publish(staging, out, source)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF, help="the GGUF model (default: %(default)s)")
    parser.add_argument(
        "--out", type=Path, help="where to write the twin (default: the GGUF's directory; required with --perturb)"
    )
    parser.add_argument("--perturb", metavar="TENSOR", help="write a twin with this weight tensor scaled")
    parser.add_argument("--scale", type=float, help="the factor for --perturb (e.g. 0.5)")
    parser.add_argument("--force", action="store_true", help="rewrite even when an up-to-date twin is present")
    args = parser.parse_args(argv)
    if (args.perturb is None) != (args.scale is None):
        parser.error("--perturb and --scale go together")
    clean = args.gguf.parent
    try:
        if args.perturb is None:
            out = args.out or clean
            print(f"{args.gguf} → {out}: SafeTensors twin (making it takes about a minute; an up-to-date one is kept)")
            wrote = make_twin(args.gguf, out, force=args.force)
            print(f"{out / WEIGHTS}: {'written' if wrote else 'present'}")
            return 0
        if args.out is None:
            parser.error("--perturb needs --out: the perturbed twin goes to another directory")
        if make_twin(args.gguf, clean):
            print(f"{clean / WEIGHTS}: written")
        wrote = perturb_twin(clean, args.out, args.perturb, args.scale, force=args.force)
        print(f"{args.out / WEIGHTS}: {'written' if wrote else 'present'} ({args.perturb} × {args.scale})")
        return 0
    except TwinError as exc:
        print(f"make_safetensors_twin: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
