"""Throughput of the full I-2..I-5 contract scan, next to a plain `numpy.isfinite` pass over the same bytes.

Generates, in a temporary directory (or under --dir) that is removed afterwards:
  * an F16 SafeTensors file of at least --gb GB (llama-shaped, written by `safetensors.numpy.save_file`,
    random finite values) with its config.json;
  * a Q4_K GGUF of about --gguf-mb MB (written by `gguf.GGUFWriter`: random quant bytes, valid fp16 d/dmin).
Each file is read once to warm the page cache, then timed (best of --repeat) through
`check_invariants(path, ["I-2", "I-3", "I-4", "I-5"], [quant])` and through a chunked `np.isfinite` pass over
its data section viewed as float16. Both numbers come from the same run, so their ratio is meaningful on any
machine; the target is ≥ 4 GB/s for the full scan, page-cached.

    .venv/bin/python benchmarks/contract_scan.py [--dir DIR] [--gb 2.0] [--gguf-mb 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter
from safetensors.numpy import save_file

from aprqa_action.contracts import ModelFile, check_invariants, read_model

ALL = ["I-2", "I-3", "I-4", "I-5"]
T = TypeVar("T")
CHUNK = 1 << 20  # float16 values per isfinite chunk (2 MB): the baseline streams too, like the scan


def _random_f16(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # Random bit patterns with exponent bit 14 cleared: every value is finite, |x| < 2.
    bits = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16) & np.uint16(0xBFFF)
    return bits.view(np.float16)


def write_safetensors(directory: Path, gigabytes: float) -> tuple[Path, str]:
    hidden, heads, kv, inter, vocab = 4096, 32, 8, 11008, 32000
    head_dim = hidden // heads
    per_layer = 2 * (hidden * hidden + kv * head_dim * hidden) + 3 * inter * hidden + 2 * hidden
    fixed = 2 * vocab * hidden + hidden
    layers = max(1, -(-int(gigabytes * 1e9 / 2 - fixed) // per_layer))
    rng = np.random.default_rng(0)
    tensors = {
        "model.embed_tokens.weight": _random_f16(rng, (vocab, hidden)),
        "lm_head.weight": _random_f16(rng, (vocab, hidden)),
        "model.norm.weight": _random_f16(rng, (hidden,)),
    }
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors |= {
            p + "input_layernorm.weight": _random_f16(rng, (hidden,)),
            p + "post_attention_layernorm.weight": _random_f16(rng, (hidden,)),
            p + "self_attn.q_proj.weight": _random_f16(rng, (hidden, hidden)),
            p + "self_attn.k_proj.weight": _random_f16(rng, (kv * head_dim, hidden)),
            p + "self_attn.v_proj.weight": _random_f16(rng, (kv * head_dim, hidden)),
            p + "self_attn.o_proj.weight": _random_f16(rng, (hidden, hidden)),
            p + "mlp.gate_proj.weight": _random_f16(rng, (inter, hidden)),
            p + "mlp.up_proj.weight": _random_f16(rng, (inter, hidden)),
            p + "mlp.down_proj.weight": _random_f16(rng, (hidden, inter)),
        }
    path = directory / "model.safetensors"
    save_file(tensors, str(path))
    config = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": inter,
        "vocab_size": vocab,
    }
    (directory / "config.json").write_text(json.dumps(config))
    return path, "f16"


def _q4_k(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Random Q4_K blocks (144 bytes per 256 values) whose d and dmin are finite fp16 in [0, 0.01)."""
    blocks = rng.integers(0, 256, size=(rows * cols // 256, 144), dtype=np.uint8)
    scales = (rng.random((blocks.shape[0], 2)) * 0.01).astype(np.float16)
    blocks[:, 0:4] = scales.view(np.uint8).reshape(-1, 4)
    return blocks.reshape(rows, cols // 256 * 144)


def write_gguf(directory: Path, megabytes: float) -> tuple[Path, str]:
    hidden, heads, kv, inter, vocab = 2048, 16, 4, 5632, 32000
    head_dim = hidden // heads
    per_layer = (2 * hidden * hidden + 2 * kv * head_dim * hidden + 3 * inter * hidden) * 144 // 256
    layers = max(1, round((megabytes * 1e6 - 2 * vocab * hidden * 144 / 256) / per_layer))
    rng = np.random.default_rng(1)
    path = directory / "model.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.embedding_length", hidden)
    writer.add_uint32("llama.block_count", layers)
    writer.add_uint32("llama.attention.head_count", heads)
    writer.add_uint32("llama.attention.head_count_kv", kv)
    writer.add_uint32("llama.feed_forward_length", inter)
    writer.add_file_type(15)  # LlamaFileType.MOSTLY_Q4_K_M
    writer.add_array("tokenizer.ggml.tokens", [f"<t{i}>" for i in range(vocab)])
    q4k = GGMLQuantizationType.Q4_K
    writer.add_tensor("token_embd.weight", _q4_k(rng, vocab, hidden), raw_dtype=q4k)
    writer.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("output.weight", _q4_k(rng, vocab, hidden), raw_dtype=q4k)
    for i in range(layers):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", np.ones(hidden, np.float32))
        writer.add_tensor(b + "ffn_norm.weight", np.ones(hidden, np.float32))
        for name, rows, cols in (
            ("attn_q", hidden, hidden),
            ("attn_k", kv * head_dim, hidden),
            ("attn_v", kv * head_dim, hidden),
            ("attn_output", hidden, hidden),
            ("ffn_gate", inter, hidden),
            ("ffn_up", inter, hidden),
            ("ffn_down", hidden, inter),
        ):
            writer.add_tensor(f"{b}{name}.weight", _q4_k(rng, rows, cols), raw_dtype=q4k)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, "q4_k_m"


def warm(path: Path) -> None:
    buf = bytearray(64 << 20)
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buf):
            pass


def best(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def isfinite_pass(path: Path, start: int) -> bool:
    """The plain way: numpy.isfinite over the data section as float16, chunk by chunk over a memory map."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        values = np.frombuffer(buf, dtype=np.float16, offset=start, count=(len(buf) - start) // 2)
        finite = True  # every chunk, no early exit: the same work whatever the data
        for i in range(0, values.size, CHUNK):
            finite &= bool(np.isfinite(values[i : i + CHUNK]).all())
        del values
    return finite


def measure(label: str, path: Path, quant: str, repeat: int) -> dict[str, float]:
    warm(path)
    model = read_model(path)
    assert isinstance(model, ModelFile), model
    start = model.files[0].data_start or 0
    size = path.stat().st_size
    scan_time, results = best(repeat, lambda: check_invariants(path, ALL, [quant]))
    tracemalloc.start()  # one more, untimed run: tracemalloc slows every allocation it counts
    check_invariants(path, ALL, [quant])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    failed = [r for r in results if r.outcome != "pass"]
    if failed:
        print(f"{label}: the generated file did not pass: {failed}", file=sys.stderr)
        raise SystemExit(1)
    base_time, finite = best(repeat, lambda: isfinite_pass(path, start))
    return {
        "size_gb": size / 1e9,
        "scan_s": scan_time,
        "scan_gbps": size / scan_time / 1e9,
        "isfinite_s": base_time,
        "isfinite_gbps": size / base_time / 1e9,
        "ratio": base_time / scan_time,
        "peak_mb": peak / 1e6,
        "finite": float(bool(finite)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=None, help="where to create the temporary files")
    parser.add_argument("--gb", type=float, default=2.0, help="minimum size of the F16 SafeTensors file (GB)")
    parser.add_argument("--gguf-mb", type=float, default=300.0, help="approximate size of the Q4_K GGUF (MB)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (best is kept)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aprqa-contract-scan-", dir=args.dir))
    try:
        rows = []
        print(f"generating in {work} …", flush=True)
        (work / "st").mkdir()
        st_path, st_quant = write_safetensors(work / "st", args.gb)
        rows.append(("F16 SafeTensors", measure("safetensors", st_path, st_quant, args.repeat)))
        st_path.unlink()  # free the disk before the next file
        (work / "gguf").mkdir()
        gguf_path, gguf_quant = write_gguf(work / "gguf", args.gguf_mb)
        rows.append(("Q4_K GGUF", measure("gguf", gguf_path, gguf_quant, args.repeat)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"cpus {os.cpu_count()}, page-cached, best of {args.repeat}")
    head = ("file", "size", "I-2..I-5 scan", "numpy.isfinite pass", "scan/isfinite", "scan peak")
    print(f"{head[0]:<16} {head[1]:>8}  {head[2]:>22}  {head[3]:>22}  {head[4]:>13}  {head[5]:>9}")
    for label, r in rows:
        print(
            f"{label:<16} {r['size_gb']:>6.2f}GB  {r['scan_gbps']:>7.2f} GB/s ({r['scan_s']:>6.3f} s)  "
            f"{r['isfinite_gbps']:>7.2f} GB/s ({r['isfinite_s']:>6.3f} s)  {r['ratio']:>12.1f}x  "
            f"{r['peak_mb']:>6.1f} MB"
        )
    slowest = min(r["scan_gbps"] for _, r in rows)
    verdict = "met" if slowest >= 4 else "NOT met"
    print(f"target ≥ 4 GB/s for the full scan: {verdict} (slowest {slowest:.2f} GB/s)")
    print("(the GGUF isfinite column reads Q4_K blocks as float16: a bandwidth reference, not a check)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
