"""`check_invariants`: run the requested tensor-contract invariants I-2..I-5 on one model file.

A file that cannot be parsed yields one failed result per requested invariant, carrying the parse reason and
`unusable=True` (the caller fails gateway G0); I-5 failures are `unusable` too, since the bytes the header
describes are not there. Each invariant runs in its own guard, so a bug in one is reported as that
invariant's failure and the others still run. Nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from aprqa_action.contracts.layout import check_layout
from aprqa_action.contracts.quant import check_quantization
from aprqa_action.contracts.reader import read_model
from aprqa_action.contracts.scan import check_finite
from aprqa_action.contracts.shapes import check_shapes
from aprqa_action.records.model_file import INVARIANTS, ExpectedDims, InvariantResult, ModelFile, ReadFailure

_NAME = re.compile(r"^\s*i-?([0-9]+)\s*$", re.IGNORECASE)


def canonical(name: str) -> str:
    """'i4', 'I4', 'I-4' → 'I-4'; anything else unchanged (and then reported as unknown)."""
    match = _NAME.match(str(name))
    return f"I-{int(match.group(1))}" if match else str(name)


def run_invariants(
    model: ModelFile | ReadFailure,
    invariants: Sequence[str],
    quantizations: Sequence[str],
    expected: ExpectedDims | None = None,
) -> list[InvariantResult]:
    names = list(dict.fromkeys(canonical(i) for i in invariants))
    if isinstance(model, ReadFailure):
        return [InvariantResult(invariant=n, outcome="fail", reason=model.reason, unusable=True) for n in names] or [
            InvariantResult(invariant="PARSE", outcome="fail", reason=model.reason, unusable=True)
        ]
    checks: dict[str, Callable[[], InvariantResult]] = {
        "I-2": lambda: check_shapes(model, expected),
        "I-3": lambda: check_quantization(model, list(quantizations)),
        "I-4": lambda: check_finite(model),
        "I-5": lambda: check_layout(model),
    }
    results = []
    for name in names:
        check = checks.get(name)
        if check is None:
            reason = f"unknown invariant {name!r} (known: {', '.join(INVARIANTS)})"
            results.append(InvariantResult(invariant=name, outcome="fail", reason=reason))
            continue
        try:
            results.append(check())
        except Exception as exc:  # a bug in one check must not hide the others or crash the caller
            reason = (
                "internal error while checking (a bug in aprqa, not a verdict on the file): "
                f"{type(exc).__name__}: {exc}"
            )
            results.append(InvariantResult(invariant=name, outcome="fail", reason=reason))
    return results


def check_invariants(
    path: str | Path,
    invariants: Sequence[str],
    quantizations: Sequence[str],
    expected: ExpectedDims | None = None,
) -> list[InvariantResult]:
    return run_invariants(read_model(path), invariants, quantizations, expected)
