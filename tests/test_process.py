"""Process supervision on real misbehaving processes (tests/engines/hostile.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
from conftest import HOSTILE

from aprqa_action.execute.process import CappedBuffer, ProcessResult, run_process, signal_name


def hostile(*args: str) -> list[str]:
    return [sys.executable, str(HOSTILE), *args]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_hang_is_a_timeout_and_the_group_is_gone(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = run_process(hostile("grandchildren", str(pidfile)), timeout_s=1.5)
    assert result.timed_out and not result.crashed and result.signal is None
    leader = int(pidfile.read_text())
    # the leader, its children and grandchildren shared its process group; none survives
    survivors = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == leader and not gone(p.pid)]
    assert not survivors
    assert result.duration_s <= 1.5 + 2  # the acceptance bound: killed within timeout + 2 s
    assert b"loading" in result.stdout


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_sigsegv_is_a_crash_with_the_signal_name() -> None:
    result = run_process(hostile("segv"), timeout_s=30)
    assert result.signal == "SIGSEGV" and result.crashed and not result.timed_out
    assert result.stdout.startswith(b"partial output")


def test_exit_101_is_a_panic() -> None:
    result = run_process(hostile("panic"), timeout_s=30)
    assert result.exit_code == 101 and result.panicked and result.crashed and result.signal is None
    assert b"panicked at src/main.rs" in result.stderr


def test_plain_failure_is_neither_crash_nor_timeout() -> None:
    result = run_process(hostile("fail"), timeout_s=30)
    assert result.exit_code == 1 and not result.crashed and not result.timed_out and not result.ok


def test_output_is_capped_and_keeps_both_ends() -> None:
    result = run_process(hostile("flood", str(8 << 20)), timeout_s=60, cap=1 << 16)
    assert result.ok
    assert len(result.stdout) < (1 << 16) + 100
    assert b"bytes dropped" in result.stdout
    assert result.stdout.rstrip().endswith(b'"tok_per_sec": 10.0}')  # the tail (the JSON answer) survives


def test_invalid_utf8_and_nul_survive_as_bytes() -> None:
    result = run_process(hostile("bad-bytes"), timeout_s=30)
    assert b"\xff\xfe\x00" in result.stdout and b"\xc3\x28" in result.stderr


def test_stdin_is_delivered() -> None:
    result = run_process(hostile("echo-stdin"), timeout_s=30, stdin=b"What is 2+2?\n")
    assert b'"text": "What is 2+2?"' in result.stdout


def test_missing_program_is_a_spawn_error_not_an_exception() -> None:
    result = run_process(["/nonexistent/engine", "run"], timeout_s=5)
    assert result.spawn_error and "cannot start" in result.spawn_error and not result.ok


def test_sigkill_death_says_likely_oom_with_the_peak() -> None:
    result = run_process(hostile("oom-killed"), timeout_s=30)
    assert result.signal == "SIGKILL" and result.crashed and result.peak_rss_bytes
    mib = f"{result.peak_rss_bytes / 2**20:.0f}"
    assert result.death_words() == f"killed by SIGKILL (likely the OOM killer; peak RSS {mib} MiB)"


def test_exit_137_from_a_wrapper_is_an_exit_code_not_a_signal() -> None:
    result = run_process(hostile("exit-137"), timeout_s=30)
    assert result.exit_code == 137 and result.signal is None and result.wrapped_signal == "SIGKILL"
    assert result.crashed and not result.timed_out


def _result(**fields: object) -> ProcessResult:
    values: dict[str, object] = {
        "argv": ["engine"],
        "exit_code": None,
        "signal": None,
        "timed_out": False,
        "panicked": False,
        "stdout": b"",
        "stderr": b"",
        "duration_s": 1.0,
        "peak_rss_bytes": None,
    }
    return ProcessResult(**{**values, **fields})  # type: ignore[arg-type]


def test_death_words_hand_computed() -> None:
    mib300 = 300 * 2**20 + 2**19 - 1  # 300.49… MiB: rounds to 300
    assert _result(exit_code=-9, signal="SIGKILL", peak_rss_bytes=mib300).death_words() == (
        "killed by SIGKILL (likely the OOM killer; peak RSS 300 MiB)"
    )
    assert _result(exit_code=-9, signal="SIGKILL").death_words() == "killed by SIGKILL"  # peak unknown: no hint
    assert _result(exit_code=-11, signal="SIGSEGV", peak_rss_bytes=mib300).death_words() == "killed by SIGSEGV"
    assert _result(exit_code=137, wrapped_signal="SIGKILL", peak_rss_bytes=3 << 30).death_words() == (
        "exit code 137 (128 + SIGKILL, reported by a wrapper; likely the OOM killer; peak RSS 3072 MiB)"
    )
    assert _result(exit_code=139, wrapped_signal="SIGSEGV", peak_rss_bytes=mib300).death_words() == (
        "exit code 139 (128 + SIGSEGV, reported by a wrapper)"
    )
    assert _result(exit_code=1, peak_rss_bytes=mib300).death_words() == "exit code 1"


def test_signal_names() -> None:
    assert signal_name(-11) == "SIGSEGV"
    assert signal_name(137) == "SIGKILL"  # a shell wrapper reports 128 + 9
    assert signal_name(0) is None and signal_name(1) is None and signal_name(None) is None


def test_capped_buffer_arithmetic() -> None:
    buffer = CappedBuffer(10)
    for chunk in (b"abc", b"defgh", b"ijklmnop"):
        buffer.write(chunk)
    assert bytes(buffer.head) == b"abcde" and bytes(buffer.tail) == b"lmnop" and buffer.dropped == 6


def test_stop_event_cancels_without_calling_it_a_timeout() -> None:
    import threading

    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    started = time.monotonic()
    result = run_process(hostile("hang"), timeout_s=60, stop=stop)
    timer.cancel()
    assert result.cancelled and not result.timed_out and result.signal is None
    assert time.monotonic() - started < 30  # cancelled, not left to its 60 s timeout
