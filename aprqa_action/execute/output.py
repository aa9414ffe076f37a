"""Read what an engine printed: the generated text and its statistics, as the profile says."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from aprqa_action.engines.profile import JsonOutput, PerplexityOutput, TextOutput


@dataclass
class Parsed:
    text: str
    tokens: int | None = None
    tok_per_sec: float | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None
    load_ms: float | None = None
    used_gpu: bool | None = None


class OutputError(ValueError):
    """The engine's output does not have the shape its profile declares."""


def parse_output(spec: JsonOutput | TextOutput, stdout: str, stderr: str) -> Parsed:
    if isinstance(spec, JsonOutput):
        return _parse_json(spec, stdout)
    return _parse_text(spec, stdout, stderr)


def _last_json_object(stdout: str) -> dict[str, Any]:
    """The last JSON object on stdout: one line of its own, or pretty-printed from a line that opens with `{`
    (log lines before or after are allowed)."""
    decoder = json.JSONDecoder(strict=False)  # raw control characters are the oracle's to judge
    lines = stdout.splitlines(keepends=True)
    starts = [sum(map(len, lines[:i])) for i, line in enumerate(lines) if line.lstrip().startswith("{")]
    for start in reversed(starts):
        try:
            value, _ = decoder.raw_decode(stdout[start:].lstrip())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    excerpt = stdout.strip()[-200:] or "(nothing on stdout)"
    raise OutputError(f"no JSON object on stdout: {excerpt!r}")


def _checked(name: str, value: float) -> float:
    """A statistic an engine reports about itself (tokens, tok/s, times) is a finite number ≥ 0: Python's JSON
    reads NaN and Infinity, and a median, ratio or CV of them would pass or break every gate downstream."""
    if not 0 <= value < math.inf:
        raise OutputError(f"{name} is {value!r}, not a finite number ≥ 0")
    return value


def _number(data: dict[str, Any], key: str | None, kind: type) -> Any:
    if key is None or data.get(key) is None:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OutputError(f"field {key!r} is {value!r}, not a number")
    return kind(_checked(f"field {key!r}", value))


def _parse_json(spec: JsonOutput, stdout: str) -> Parsed:
    data = _last_json_object(stdout)
    text = data.get(spec.text)
    if not isinstance(text, str):
        raise OutputError(f"JSON output has no string field {spec.text!r} (keys: {', '.join(sorted(data))})")
    return Parsed(
        text=text,
        tokens=_number(data, spec.tokens, int),
        tok_per_sec=_number(data, spec.tok_per_sec, float),
        ttft_ms=_number(data, spec.ttft_ms, float),
        latency_ms=_number(data, spec.latency_ms, float),
        load_ms=_number(data, spec.load_ms, float),
        used_gpu=_flag(data, spec.used_gpu),
    )


def _flag(data: dict[str, Any], key: str | None) -> bool | None:
    if key is None or data.get(key) is None:
        return None
    if not isinstance(data[key], bool):
        raise OutputError(f"field {key!r} is {data[key]!r}, not true or false")
    return data[key]


def _search(pattern: str | None, *sources: str) -> str | None:
    if pattern is None:
        return None
    for source in sources:
        found = re.search(pattern, source)
        if found:
            return found.group(1)
    return None


def _parse_text(spec: TextOutput, stdout: str, stderr: str) -> Parsed:
    if spec.text is None:
        text = stdout.strip()
    else:
        found = re.search(spec.text, stdout, re.DOTALL)
        if not found:
            raise OutputError(f"stdout does not match the text pattern {spec.text!r}: {stdout.strip()[-200:]!r}")
        text = found.group(1).strip()
    tokens = _search(spec.tokens, stderr, stdout)
    rate = _search(spec.tok_per_sec, stderr, stdout)
    ttft = _search(spec.ttft_ms, stderr, stdout)
    latency = _search(spec.latency_ms, stderr, stdout)
    load = _search(spec.load_ms, stderr, stdout)
    scale = 1000.0 if spec.time_unit == "s" else 1.0  # times are recorded in milliseconds

    def number(value: str | None, unit: float = 1.0) -> float | None:
        return _checked("a statistic", float(value)) * unit if value is not None else None

    try:
        count = number(tokens)
        return Parsed(
            text=text,
            tokens=int(count) if count is not None else None,
            tok_per_sec=number(rate),
            ttft_ms=number(ttft, scale),
            latency_ms=number(latency, scale),
            load_ms=number(load, scale),
        )
    except ValueError as exc:
        raise OutputError(f"statistic is not a number: {exc}") from None


def parse_perplexity(spec: PerplexityOutput, stdout: str, stderr: str) -> tuple[float, int | None]:
    """(perplexity, tokens scored) as the engine printed them; a perplexity must be a finite number ≥ 1."""
    if spec.format == "json":
        data = _last_json_object(stdout)
        value, tokens = _number(data, spec.perplexity, float), _number(data, spec.tokens, int)
        if value is None:
            raise OutputError(f"JSON output has no number {spec.perplexity!r} (keys: {', '.join(sorted(data))})")
    else:
        found, counted = _search(spec.perplexity, stderr, stdout), _search(spec.tokens, stderr, stdout)
        if found is None:
            raise OutputError(f"no perplexity matching {spec.perplexity!r}: {stdout.strip()[-200:]!r}")
        try:
            value = float(found)
            tokens = int(_checked("tokens", float(counted))) if counted is not None else None
        except ValueError as exc:
            raise OutputError(f"statistic is not a number: {exc}") from None
    if not 1.0 <= value < float("inf"):  # exp of a mean negative log-likelihood: NaN, < 1 or ∞ is a broken engine
        raise OutputError(f"perplexity {value!r} is not a finite number ≥ 1")
    return value, tokens
