"""Seeds and prompt order: `test_matrix.seed` drives both, so every cell asks the same prompt with the same seed
at the same index."""

from __future__ import annotations

import hashlib
import random


def engine_seed(seed: int, index: int) -> int:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF  # engines take a signed 32-bit seed


def prompt_order(seed: int, count: int, prompts: int) -> list[int]:
    """Which prompt of the set each scenario index uses: a seeded shuffle, cycled."""
    order = list(range(prompts))
    random.Random(seed).shuffle(order)
    return [order[i % prompts] for i in range(count)]
