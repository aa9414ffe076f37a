"""Judging: evidence items from what a run observed (run.py, with the checks registered in
checks.py: integrity, scenarios, performance, parity and the oracles/), per-cell results (cells.py)
and the comparison with a baseline run (compare.py)."""
