"""Subprocess supervision: own process group, deadline, capped output, signal → outcome, no survivors.

Every engine process starts in a new session (its own process group). On timeout the whole group is
terminated (SIGTERM, then SIGKILL after a short grace); after any exit the group is killed again, which
also reaches a daemonized grandchild (its parent exited, but it stays in the group), and any descendant
that left the group (seen while sampling) is killed too, so nothing outlives its scenario.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psutil

DEFAULT_CAP = 1 << 20  # bytes kept per stream: half from the start, half from the end
KILL_GRACE_S = 1.0
SAMPLE_INTERVAL_S = 0.05
_CRASH_SIGNALS = {"SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "SIGFPE", "SIGKILL"}
_LIVE: set[SupervisedProcess] = set()  # started and not yet cleaned up: what a hard stop kills


# What a capped buffer puts where it dropped the middle of a stream: aprqa's words, never the engine's output.
# On a line of its own; DROPPED matches exactly its words (the count is never 0, in ASCII digits).
DROPPED_MARKER = "\n[... {} bytes dropped ...]\n"
DROPPED = re.compile(r"\[\.\.\. [1-9][0-9]* bytes dropped \.\.\.\]")


class CappedBuffer:
    """Keeps the first and the last `cap // 2` bytes of a stream and counts what was dropped between."""

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def write(self, data: bytes) -> None:
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        excess = len(self.tail) - self.tail_cap
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def getvalue(self) -> bytes:
        if self.dropped:
            marker = DROPPED_MARKER.format(self.dropped).encode()
            return bytes(self.head) + marker + bytes(self.tail)
        return bytes(self.head + self.tail)


@dataclass
class ProcessResult:
    argv: list[str]
    exit_code: int | None
    signal: str | None
    timed_out: bool
    panicked: bool
    stdout: bytes
    stderr: bytes
    duration_s: float
    peak_rss_bytes: int | None
    cancelled: bool = False
    spawn_error: str | None = None
    # A crash signal a wrapper shell reported as exit status 128+N (the process itself exited normally).
    wrapped_signal: str | None = None

    @property
    def crashed(self) -> bool:
        return self.signal is not None or self.panicked or self.wrapped_signal is not None

    def death_words(self) -> str:
        """How the process ended, for a reason: "killed by SIGSEGV", "exit code 137 (…)", "exit code 1"."""
        if self.signal is not None:
            words, notes = f"killed by {self.signal}", []
        elif self.wrapped_signal is not None:
            words, notes = f"exit code {self.exit_code}", [f"128 + {self.wrapped_signal}, reported by a wrapper"]
        else:
            return f"exit code {self.exit_code}"
        notes += [self.oom_hint()] if self.oom_hint() else []
        return words + (f" ({'; '.join(notes)})" if notes else "")

    def oom_hint(self) -> str:
        """For a SIGKILL death we did not cause: nothing tells the OOM killer's SIGKILL from another, so
        say it is likely and give the memory peak for the reader to judge; "" otherwise."""
        if "SIGKILL" not in (self.signal, self.wrapped_signal) or not self.peak_rss_bytes:
            return ""
        return f"likely the OOM killer; peak RSS {self.peak_rss_bytes / 2**20:.0f} MiB"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.spawn_error is None


def signal_name(exit_code: int | None) -> str | None:
    """The signal that ended a process: a negative return code, or 128+N as a shell wrapper reports it."""
    if exit_code is None:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128 if 128 < exit_code < 128 + 65 else 0
    if number <= 0:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


class SupervisedProcess:
    """A child process in its own group, with its output drained into capped buffers by threads."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cap: int = DEFAULT_CAP,
    ) -> None:
        self.argv = list(argv)
        self.started = time.monotonic()
        self.stdout = CappedBuffer(cap)
        self.stderr = CappedBuffer(cap)
        self.peak_rss = 0
        self.signalled = False  # we signalled its group: a death after that is our doing, not a crash
        self._known: dict[int, psutil.Process] = {}
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
        self.pgid = self.proc.pid  # start_new_session: the child leads its own group
        _LIVE.add(self)
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout), name="stdout", daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr), name="stderr", daemon=True),
        ]
        if stdin is not None:
            self._threads.append(threading.Thread(target=self._feed, args=(stdin,), name="stdin", daemon=True))
        for thread in self._threads:
            thread.start()
        self._track()

    @staticmethod
    def _drain(pipe, buffer: CappedBuffer) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError, ValueError):
            while chunk := pipe.read1(65536):
                buffer.write(chunk)

    def _feed(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(data)
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()

    def _track(self) -> None:
        """Remember every descendant and sample the tree's resident memory."""
        try:
            root = psutil.Process(self.proc.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        rss = 0
        for proc in tree:
            self._known.setdefault(proc.pid, proc)
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait_until(self, deadline: float, stop: threading.Event | None = None) -> bool:
        """Wait for exit until `deadline` (monotonic); True when it exited."""
        while True:
            self._track()
            if self.proc.poll() is not None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=min(SAMPLE_INTERVAL_S, remaining))
                return True

    def kill_all(self, grace_s: float = KILL_GRACE_S) -> None:
        """Terminate the group politely, then kill it and every descendant ever seen."""
        if self.proc.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s)
        self.signal_group(signal.SIGKILL)
        for proc in self._known.values():
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.pid != os.getpid():
                    proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=1.0)
        # A reader still blocked means some process we never saw (it left the group before a sample) holds
        # the pipe open. Closing a pipe under a blocked reader deadlocks on its lock, so such a pipe is left
        # to its daemon thread, which ends when that process does.
        pipes = {"stdout": self.proc.stdout, "stderr": self.proc.stderr, "stdin": self.proc.stdin}
        for thread in self._threads:
            pipe = pipes.get(thread.name)
            if pipe is not None and not thread.is_alive():
                with contextlib.suppress(OSError):
                    pipe.close()
        _LIVE.discard(self)

    def signal_group(self, sig: signal.Signals) -> None:
        self.signalled = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def result(self, *, timed_out: bool = False, cancelled: bool = False) -> ProcessResult:
        code = self.proc.returncode
        stderr = self.stderr.getvalue()
        killed_by_us = timed_out or cancelled  # our own SIGTERM/SIGKILL is not the engine crashing
        sig = None if killed_by_us else signal_name(code)
        wrapped = None
        if sig is not None and code is not None and code > 0:
            # An exit status, not a signal death: a wrapper saying its child died (137 = 128 + SIGKILL).
            wrapped = sig if sig in _CRASH_SIGNALS else None
            sig = None
        return ProcessResult(
            argv=self.argv,
            exit_code=code,
            signal=sig,
            timed_out=timed_out,
            cancelled=cancelled,
            panicked=not killed_by_us and (code == 101 or b"panicked at" in stderr),
            stdout=self.stdout.getvalue(),
            stderr=stderr,
            duration_s=time.monotonic() - self.started,
            peak_rss_bytes=self.peak_rss or None,
            wrapped_signal=wrapped,
        )


def kill_live_groups() -> None:
    """SIGKILL every supervised group still running, now (a second SIGTERM/SIGINT: no grace period)."""
    for child in list(_LIVE):
        child.signal_group(signal.SIGKILL)


def run_process(
    argv: Sequence[str],
    *,
    timeout_s: float,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cap: int = DEFAULT_CAP,
    stop: threading.Event | None = None,
) -> ProcessResult:
    """Run one engine command to completion or deadline; never leaves a process behind."""
    try:
        child = SupervisedProcess(argv, stdin=stdin, env=env, cap=cap)
    except OSError as exc:
        return ProcessResult(
            argv=list(argv),
            exit_code=None,
            signal=None,
            timed_out=False,
            panicked=False,
            stdout=b"",
            stderr=b"",
            duration_s=0.0,
            peak_rss_bytes=None,
            spawn_error=f"cannot start {argv[0]!r}: {exc.strerror or exc}",
        )
    try:
        exited = child.wait_until(child.started + timeout_s, stop)
        # A hard stop (kill_live_groups) may kill it before the wait sees the stop: cancelled all the same.
        hard_stopped = child.signalled
    finally:
        child.kill_all()
    cancelled = stop is not None and stop.is_set() and (not exited or hard_stopped)
    return child.result(timed_out=not exited and not cancelled, cancelled=cancelled)
