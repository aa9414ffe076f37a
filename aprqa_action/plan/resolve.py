"""Which model file each format of the matrix runs on.

`--model-path` may be a file or a directory. A file is used for its own format; the other formats are
looked up beside it by stem (`model.gguf` → `model.safetensors`, `model.apr`), then as the cleanest
candidate in that directory. A format with no file is not an error: its cells are Skipped with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from aprqa_action.contracts.vocab import model_text_facts
from aprqa_action.errors import InputError
from aprqa_action.records import ResolvedModel
from aprqa_action.records.axes import EXTENSIONS, Format, format_of

_SHARD = re.compile(r"-\d{5}-of-\d{5}\.safetensors$")


def missing_models(formats: list[Format], reason: str) -> dict[Format, ResolvedModel]:
    return {f: ResolvedModel(format=f, path=None, how="missing", reason=reason) for f in formats}


def resolve_models(
    formats: list[Format], model_path: str | Path, quantizations: list[str]
) -> dict[Format, ResolvedModel]:
    path = Path(model_path)
    if not path.exists():
        raise InputError(f"--model-path {path}: no such file or directory")
    if path.is_dir():
        return {f: _candidate(f, path, quantizations, anchor=None) for f in formats}
    given = format_of(path.name)
    if given is None:
        known = ", ".join(ext for exts in EXTENSIONS.values() for ext in exts)
        raise InputError(f"--model-path {path}: unknown model file type (expected one of {known})")
    resolved = {}
    for fmt in formats:
        if fmt == given:
            resolved[fmt] = ResolvedModel(format=fmt, path=str(path), how="given", reason="the given file")
        else:
            resolved[fmt] = _sibling(fmt, path, quantizations)
    return resolved


def _stem(name: str) -> str:
    fmt = format_of(name)
    for ext in EXTENSIONS.get(fmt, ()) if fmt else ():
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _sibling(fmt: Format, anchor: Path, quantizations: list[str]) -> ResolvedModel:
    stem = _stem(anchor.name)
    for ext in EXTENSIONS[fmt]:
        candidate = anchor.with_name(stem + ext)
        if candidate.is_file():
            return ResolvedModel(
                format=fmt, path=str(candidate), how="sibling", reason=f"sibling of {anchor.name} by stem"
            )
    return _candidate(fmt, anchor.parent, quantizations, anchor=anchor)


def _quant_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _candidate(fmt: Format, directory: Path, quantizations: list[str], anchor: Path | None) -> ResolvedModel:
    files = [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
    matching = [p for p in files if format_of(p.name) == fmt]
    if fmt == Format.SAFETENSORS:
        indexed = [p for p in matching if p.name.endswith(".index.json")]
        # Shards are parts of the model named by an index; alone they are not a loadable model.
        matching = indexed or [p for p in matching if not _SHARD.search(p.name)]
    if not matching:
        looked = f"{anchor.name} by stem and " if anchor else ""
        exts = " or ".join(f"*{e}" for e in EXTENSIONS[fmt])
        return ResolvedModel(
            format=fmt,
            path=None,
            how="missing",
            reason=f"no {fmt} file: looked for {looked}{exts} in {directory}",
        )
    wanted = [_quant_key(q) for q in quantizations]

    def cleanliness(p: Path) -> tuple[bool, bool, int, str]:
        matches_quant = any(q in _quant_key(p.name) for q in wanted)
        canonical = _stem(p.name) == "model"
        return (not matches_quant, not canonical, len(p.name), p.name)

    best = min(matching, key=cleanliness)
    others = len(matching) - 1
    why = "the only" if not others else f"the cleanest of {len(matching)}"
    return ResolvedModel(format=fmt, path=str(best), how="candidate", reason=f"{why} {fmt} file in {directory}")


def with_text_facts(models: dict[Format, ResolvedModel]) -> dict[Format, ResolvedModel]:
    """The models with their context length and special tokens, read from the files (the edge checks' input)."""
    described = {}
    for fmt, model in models.items():
        if model.path is not None:
            context, special = model_text_facts(model.path, fmt)
            model = model.model_copy(update={"context_length": context, "special_tokens": special})
        described[fmt] = model
    return described
