"""What the launchers of other engines' servers check of a model file before handing it over: llama.cpp only
logs why it cannot load a file ("Failed to init server"), and Ollama reads a FROM that is not an existing file
as a model *name* to pull from its registry."""

from __future__ import annotations

from pathlib import Path


def gguf_problem(path: Path) -> str | None:
    """Why `path` is not a readable GGUF file, as one line, or None."""
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except FileNotFoundError:
        return f"model file not found: {path}"
    except IsADirectoryError:
        return f"model is a directory, not a GGUF file: {path}"
    except OSError as exc:
        return f"cannot read the model file {path}: {exc.strerror or exc}"
    return None if magic == b"GGUF" else f"not a GGUF file (no GGUF magic): {path}"
