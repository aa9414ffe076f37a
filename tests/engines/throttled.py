"""The reference engine made slower on purpose, for the baseline-comparison test: every generated token takes
100 ms longer, as a slower build of the engine would. Same CLI as `python -m aprqa_action.reference_engine`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import llama_cpp

from aprqa_action.reference_engine import cli as reference

DELAY_S = 0.1


def _slowed(original: Callable[..., Any]) -> Callable[..., Any]:
    def completion(*args: Any, **kwargs: Any) -> Any:
        chunks = original(*args, **kwargs)
        if not kwargs.get("stream"):
            return chunks

        def slow() -> Iterator[Any]:
            for chunk in chunks:
                time.sleep(DELAY_S)
                yield chunk

        return slow()

    return completion


llama_cpp.Llama.create_chat_completion = _slowed(llama_cpp.Llama.create_chat_completion)  # type: ignore[method-assign]

if __name__ == "__main__":
    raise SystemExit(reference.main())
