"""Validate a YAML document against a pydantic model; every error is reported as file:line:col: key.path."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from aprqa_action.documents.yaml_source import YamlDocument
from aprqa_action.errors import InputError

M = TypeVar("M", bound=BaseModel)
_NO_TYPE = FieldInfo(annotation=None)


class AtKey(ValueError):
    """A validator's error about a key below the model it validates (a rule across several keys): raised
    with the path of the key most to blame, so the error points at that key's line, not at the model's."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def validate_document(model: type[M], document: YamlDocument) -> M:
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        described = [_printable(_describe(model, document, error)) for error in exc.errors()]
        raise InputError("\n".join(sorted(described, key=_line_order))) from None


def _printable(line: str) -> str:
    """Keys and values come from the user's file: a newline could forge another error line, an ESC drive the
    terminal. Control characters are shown escaped, and so is every other character that prints as nothing
    or as something else (a no-break space, a bidi override, an unassigned code point: str.isprintable)."""

    def escaped(char: str) -> str:
        code = ord(char)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return "".join(char if char.isprintable() else escaped(char) for char in line)


def _line_order(line: str) -> tuple[int, int]:
    where = line.split(": ", 1)[0].rsplit(":", 2)
    number, column = ([int(p) for p in where[1:] if p.isdigit()] + [0, 0])[:2]
    return number, column


def _describe(root: type[BaseModel], document: YamlDocument, error: Any) -> str:
    raw_loc = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, AtKey):
        raw_loc += cause.path
    loc = _data_path(document.data, raw_loc, missing=error["type"] == "missing")
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        parent = _model_at(root, raw_loc[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        message = "unknown key"
        close = difflib.get_close_matches(str(raw_loc[-1]), allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        if allowed:
            message += f"; allowed here: {', '.join(allowed)}"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{document.where(loc)}: {dotted}: {message}"


def _data_path(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[str | int, ...]:
    """Drop the parts of a pydantic error location that are not in the document (union tags)."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_map = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_map or in_list:
            node = node[part]
            path.append(part)
        elif missing and isinstance(node, dict) and i == len(loc) - 1:
            path.append(part)  # a missing key: it is reported against its parent mapping
    return tuple(path)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _model_at(root: type[BaseModel], raw_loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class of the mapping at a pydantic error location, to list its allowed keys."""
    candidates: list[type[BaseModel]] = [root]
    for part in raw_loc:
        if isinstance(part, int):
            continue
        fields = [m.model_fields[part] for m in candidates if part in m.model_fields]
        if fields:
            candidates = [m for f in fields for m in _models_in(f.annotation)]
        else:  # a discriminated-union tag, e.g. the oracle `type`
            tagged = [m for m in candidates if part in get_args(m.model_fields.get("type", _NO_TYPE).annotation)]
            candidates = tagged or candidates
    return candidates[0] if len(candidates) == 1 else None
