"""The axes of the qualification matrix."""

from enum import StrEnum


class Format(StrEnum):
    SAFETENSORS = "safetensors"
    APR = "apr"
    GGUF = "gguf"


class Backend(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class Modality(StrEnum):
    RUN = "run"
    CHAT = "chat"
    SERVE = "serve"


# File extensions per format; a sharded SafeTensors model is found by its index file.
EXTENSIONS: dict[Format, tuple[str, ...]] = {
    Format.SAFETENSORS: (".safetensors.index.json", ".safetensors"),
    Format.APR: (".apr",),
    Format.GGUF: (".gguf",),
}


def format_of(name: str) -> Format | None:
    lowered = name.lower()
    for fmt, exts in EXTENSIONS.items():
        if lowered.endswith(exts):
            return fmt
    return None


def cell_label(fmt: str, backend: str, modality: str) -> str:
    """A matrix cell as people read it and evidence names it: `gguf/cpu/run`."""
    return f"{fmt}/{backend}/{modality}"
