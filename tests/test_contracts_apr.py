"""The APR engine-only path through `aprqa run`: an APR file's contract items are Skipped with the reason
(integrity.APR_UNKNOWN), G0 still checks its container, and its cells still run through the engine.

The engine is a real process: a tiny Python script named by an inline profile, which reads the model file it
is given (so the test can tell that the APR file itself reached the engine) and answers as a JSON line.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, write_playbook

from aprqa_action.judge.integrity import APR_UNKNOWN
from aprqa_action.store.evidence import read_evidence

# The engine: "2 + 2 = 4", and the first 4 bytes of the file it was given, so the answer proves which file it read.
ENGINE = """
import json, sys
model, prompt = sys.argv[1], sys.argv[2]
with open(model, "rb") as handle:
    magic = handle.read(4)
text = f"2 + 2 = 4. I read {len(prompt)} characters of prompt from a file starting {magic!r}."
print(json.dumps({"text": text, "tokens_generated": 20, "tok_per_sec": 40.0}))
"""


def apr_file(path: Path) -> Path:
    """An APR v2 file as aprender's format crate lays it out: magic "APR\\0", version 2.0, flags, tensor count,
    metadata offset/size, tensor-index and data offsets (little-endian), checksum and reserved bytes to 64,
    then JSON metadata, an index and 64-byte-aligned data, every region inside the file."""
    metadata = json.dumps({"architecture": "llama", "name": "tiny"}).encode()
    index_at = 64 + len(metadata)
    data_at = (index_at + 32 + 63) // 64 * 64
    header = b"APR\x00" + bytes([2, 0]) + struct.pack("<HI", 0, 1)
    header += struct.pack("<QIQQ", 64, len(metadata), index_at, data_at) + bytes(4 + 20)
    assert len(header) == 64
    body = metadata + bytes(data_at - index_at) + bytes(256)
    path.write_bytes(header + body)
    return path


def test_apr_contracts_are_skipped_with_the_reason_and_its_cells_run_through_the_engine(tmp_path: Path) -> None:
    model = apr_file(tmp_path / "model.apr")
    engine = tmp_path / "engine.py"
    engine.write_text(ENGINE)
    profile = {
        "name": "tiny-apr",
        "formats": ["apr"],
        "run": {
            "argv": ["{python}", str(engine), "{model}", "{prompt}"],
            "output": {"format": "json", "text": "text", "tokens": "tokens_generated", "tok_per_sec": "tok_per_sec"},
        },
    }
    playbook = write_playbook(
        tmp_path / "p.yaml",
        model={"hf_repo": "org/model", "formats": ["apr"]},
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "scenario_count": 2, "timeout_ms": 30000},
        engine=profile,
        oracles=[{"type": "arithmetic", "config": {"tolerance": 0.01}}],
        contract_tests={"invariants": ["I-2", "I-3", "I-4", "I-5"]},
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "aprqa_action", "run", playbook, "--model-path", model, "--output-dir", out],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert "Traceback" not in done.stderr, done.stderr
    evidence = read_evidence(out / "evidence.json")
    items = {i.id: i for i in evidence.items}

    # The contract items: one per declared invariant, Skipped, each with APR_UNKNOWN as the reason.
    contracts = [i for i in evidence.items if i.gate_id.startswith("F-CONTRACT-")]
    assert sorted(i.id for i in contracts) == [f"F-CONTRACT-I{n}:apr" for n in (2, 3, 4, 5)]
    assert all(i.outcome == "Skipped" and i.reason == APR_UNKNOWN for i in contracts)
    assert "checked by the engine only" in APR_UNKNOWN

    # G0 checked what the container fixes (the magic, the header's offsets) and passed.
    g0 = items["G0-INTEGRITY:apr"]
    assert g0.outcome == "Corroborated" and g0.reason.startswith(f"{model}: APR magic and 64-byte v2 header present")

    # The cells ran through the engine, on this very file, and were judged.
    assert [s.format for s in evidence.scenarios] == ["apr", "apr"]
    for observation in evidence.observations:
        assert observation.status == "ok", observation.reason
        assert observation.text is not None and "from a file starting b'APR\\x00'" in observation.text
        assert str(model) in " ".join(observation.command or [])
    for index in ("000", "001"):
        for gate in ("G1-LOAD", "G2-INFERENCE", "G3-STABILITY", "F-QUAL-ARITH"):
            assert items[f"{gate}:t:run:cpu:apr:{index}"].outcome == "Corroborated"
    assert evidence.verdict is not None and all(g.passed for g in evidence.verdict.gateways)
    assert done.returncode == 0, done.stdout + done.stderr
