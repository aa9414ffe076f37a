"""`read_model`: the one entry point that turns a path into a ModelFile or a ReadFailure — never an exception.

The format is decided by content first (the GGUF magic), then by name (`.gguf`, `*.json` for a sharded
SafeTensors index, anything else as a SafeTensors file), so a misnamed file is still read for what it is.
"""

from __future__ import annotations

from pathlib import Path

from aprqa_action.contracts.gguf_reader import MAGIC, read_gguf
from aprqa_action.contracts.safetensors_reader import read_safetensors
from aprqa_action.records.model_file import ModelFile, ReadFailure


def read_model(path: str | Path) -> ModelFile | ReadFailure:
    name = str(path)
    try:
        target = Path(path)
        if target.is_dir():
            return ReadFailure(
                path=name,
                reason="is a directory: give the model file (.gguf, .safetensors or .safetensors.index.json)",
            )
        if not target.is_file():
            return ReadFailure(path=name, reason="no such file")
        with open(target, "rb") as handle:
            head = handle.read(4)
        if head == MAGIC or target.name.lower().endswith(".gguf"):
            return read_gguf(target)
        return read_safetensors(target)
    except OSError as exc:
        return ReadFailure(path=name, reason=f"cannot read: {exc.strerror or exc}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a reader bug (or a library panic) must be a reason, never a crash
        return ReadFailure(
            path=name, reason=f"internal error while reading (a bug in aprqa): {type(exc).__name__}: {exc}"
        )
