"""A JSON object validated into a record as it is parsed: its big arrays element by element, so neither the
text nor a tree of Python dicts of the whole document is ever held (a 90 MB evidence file would hold both).

ijson's C backend (yajl) gives the parse events; the per-event work — nesting depth, where a top-level value
ends, building each element — is a chain of C iterators, so Python runs once per top-level key and once per
element, not once per event. Elements are validated from Python objects (python mode), which accepts what
JSON mode accepts for the values JSON has, with records that forbid unknown keys as before.

What the streaming parser refuses (malformed text, numbers beyond 64 bits, nesting deeper than MAX_DEPTH) is
NotStreamable: the caller hands those files to pydantic's own JSON parser, which decided them before and says
where the text is wrong.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from itertools import accumulate, count, repeat, takewhile, tee
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import ijson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

M = TypeVar("M", bound=BaseModel)

# Deeper nesting is left to pydantic's parser, which refuses past 200 levels; a record is ~10 deep.
MAX_DEPTH = 100
_BACKEND = ijson.get_backend(ijson.backend)
_DEPTH_CHANGE = {("start_map", None): 1, ("start_array", None): 1, ("end_map", None): -1, ("end_array", None): -1}
_WITHIN_DEPTH = tuple(range(MAX_DEPTH + 1))  # indexing it past MAX_DEPTH raises IndexError
_END = {"start_map": "end_map", "start_array": "end_array"}
_event = itemgetter(0)
_NO_PREFIX = ("",)


class NotStreamable(Exception):
    """The streaming parser refused the text; model_validate_json decides it."""


class _Sink:
    """The target an ijson coroutine sends each value it built to."""

    def __init__(self, send: Any) -> None:
        self.send = send


def validate_streaming(path: Path, model: type[M], streamed: Mapping[str, type[BaseModel]]) -> M:
    """`model` from the JSON object in `path`, as `model.model_validate_json` would give it, with each element
    of the arrays named in `streamed` validated into its record as soon as it is parsed.

    Raises ValidationError (every error of the file, located as model_validate_json locates them) or
    NotStreamable."""
    collected: list[InitErrorDetails] = []
    enabled = gc.isenabled()
    gc.disable()  # tens of thousands of acyclic records: the collector would rescan them over and over
    try:
        with path.open("rb") as handle:
            fields = _fields(ijson.basic_parse(handle, use_float=True), streamed, collected)
    except (ijson.JSONError, IndexError, StopIteration):  # IndexError: nested deeper than MAX_DEPTH
        raise NotStreamable from None
    finally:
        if enabled:
            gc.enable()
    try:
        validated = model.model_validate(fields)
    except ValidationError as exc:
        collected.extend(_details(exc.errors(), ()))
    if collected:
        # In the model's field order, as model_validate_json reports them (a stable sort: file order within).
        order = {name: position for position, name in enumerate(model.model_fields)}
        collected.sort(key=lambda error: order.get(next(iter(error["loc"]), ""), len(order)))
        # input_type "json": the messages a JSON document gets ("an object", not "a dictionary or instance of").
        raise ValidationError.from_exception_data(model.__name__, collected, input_type="json")
    return validated


def _fields(
    events: Iterable[tuple[str, Any]], streamed: Mapping[str, type[BaseModel]], collected: list[InitErrorDetails]
) -> dict[str, Any]:
    """The top-level object's values: a streamed array as the list of its valid records, others as parsed.

    From basic_parse's events, not parse's: the dotted prefixes parse keeps cost memory quadratic in the
    nesting depth (40 KB of nested arrays take 1 GB), so the depth is counted here and bounded."""
    kinds, events = tee(events)
    depths = map(_WITHIN_DEPTH.__getitem__, accumulate(map(_DEPTH_CHANGE.get, kinds, repeat(0))))
    located = zip(events, depths, strict=True)  # ((event, value), depth after it)
    (event, _), _ = next(located)
    if event != "start_map":
        raise NotStreamable  # not an object: pydantic says what it is
    fields: dict[str, Any] = {}
    for (event, key), _ in located:
        if event == "end_map":
            break
        (kind, value), _ = next(located)
        if kind not in _END:
            fields[key] = value
            continue
        # The events up to the one closing this value, which alone brings the depth back to 1; as the
        # (prefix, event, value) an ijson builder takes, the prefix matched only where a value starts.
        end = (_END[kind], None)
        inside = map(tuple.__add__, repeat(_NO_PREFIX), map(_event, takewhile((end, 1).__ne__, located)))
        if kind == "start_array" and key in streamed:
            fields[key] = _records(key, streamed[key], inside, collected)
        else:
            built: list[Any] = []
            builder = _BACKEND.items_basecoro(_Sink(built.append), "")
            builder.send(("", kind, None))
            deque(map(builder.send, inside), maxlen=0)
            builder.send(("", *end))
            fields[key] = built[0]
    deque(located, maxlen=0)  # the end of the text: trailing garbage is an error
    return fields


def _records(
    key: str, record: type[BaseModel], inside: Iterator[tuple[str, str, Any]], collected: list[InitErrorDetails]
) -> list[BaseModel]:
    """The valid records of the array `key`; the errors of the others, located in the file, to `collected`."""
    records: list[BaseModel] = []
    position = count()

    def take(element: Any) -> None:
        index = next(position)
        try:
            records.append(record.model_validate(element))
        except ValidationError as exc:
            collected.extend(_details(exc.errors(), (key, index)))

    builder = _BACKEND.items_basecoro(_Sink(take), "")
    deque(map(builder.send, inside), maxlen=0)
    return records


def _details(errors: list[ErrorDetails], where: tuple[str | int, ...]) -> Iterator[InitErrorDetails]:
    """Errors of a part, as errors of the whole document (their locations prefixed with where the part is)."""
    for error in errors:
        detail: InitErrorDetails = {"type": error["type"], "loc": (*where, *error["loc"]), "input": error["input"]}
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        try:
            ValidationError.from_exception_data("", [detail])
        except (KeyError, TypeError, ValueError):  # a custom error type: its message as it was rendered
            detail["type"] = PydanticCustomError(error["type"], error["msg"])
            detail.pop("ctx", None)
        yield detail
