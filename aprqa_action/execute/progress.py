"""Progress while the matrix runs: a live display on a terminal, one collapsible group per cell on GitHub
Actions (github/ writes the workflow commands), plain lines otherwise. Progress goes to stderr (GitHub's
workflow commands to stdout)."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aprqa_action.oneline import one_line
from aprqa_action.records import Observation, Scenario


def cell_name(scenario: Scenario) -> str:
    name = scenario.cell_name
    if scenario.purpose in ("warmup", "measure"):
        return f"{name} (profile_ci)"
    if scenario.purpose == "parity":
        return f"{name} (engine_parity: {scenario.engine})"
    return f"{scenario.format} (perplexity)" if scenario.purpose == "perplexity" else name


def describe(observation: Observation) -> str:
    perplexity = observation.facts.get("perplexity")
    if observation.status == "ok" and isinstance(perplexity, float):
        return f"ok (perplexity {perplexity:.3f} over {observation.tokens} tokens)"
    if observation.status == "ok" and observation.text is None and observation.facts:
        return "ok (probed)"  # a serve protocol probe: its facts are judged later
    if observation.status == "ok":
        rate = f"{observation.tok_per_sec:.1f} tok/s" if observation.tok_per_sec else "tok/s n/a"
        latency = f", {observation.latency_ms:.0f} ms" if observation.latency_ms is not None else ""
        return f"ok ({observation.tokens if observation.tokens is not None else '?'} tokens, {rate}{latency})"
    return f"{observation.status}: {one_line(observation.reason)}"  # the reason may quote the engine


class Reporter(Protocol):
    def begin(self, total: int) -> None: ...
    def cell(self, name: str, scenarios: int) -> None: ...
    def done(self, scenario: Scenario, observation: Observation) -> None: ...
    def end_cell(self) -> None: ...
    def close(self) -> None: ...


class Groups(Protocol):
    """Folds the log into one collapsible group per cell (github.commands.WorkflowCommands on Actions)."""

    def group(self, title: str) -> None: ...
    def endgroup(self) -> None: ...


QUIET, NORMAL, VERBOSE = -1, 0, 1
PASSING = ("ok", "skipped", "not_run")  # what --quiet leaves out


def details(observation: Observation) -> list[str]:
    """--verbose: the command that ran and, for a scenario that did not pass, the end of what it printed."""
    lines = [f"command: {one_line(' '.join(observation.command))}"] if observation.command else []
    if observation.status not in PASSING:
        tail = (observation.stderr_tail or observation.stdout_tail).strip()
        if tail:
            lines.append(f"output: {one_line(tail[-500:])}")
    return lines


class LineReporter:
    """Plain lines; with `groups` (on GitHub Actions) each cell is a collapsible group."""

    def __init__(self, stream: TextIO, groups: Groups | None = None, verbosity: int = NORMAL) -> None:
        self.stream = stream
        self.groups = groups
        self.verbosity = verbosity
        self.count = 0
        self.total = 0

    def begin(self, total: int) -> None:
        self.total = total

    def cell(self, name: str, scenarios: int) -> None:
        if self.verbosity == QUIET:
            return
        title = f"{name} ({scenarios} scenario{'s' if scenarios != 1 else ''})"
        if self.groups is not None:
            self.groups.group(title)
        else:
            print(f"== {title}", file=self.stream, flush=True)

    def done(self, scenario: Scenario, observation: Observation) -> None:
        self.count += 1
        if self.verbosity == QUIET and observation.status in PASSING:
            return
        lines = [f"[{self.count}/{self.total}] {one_line(scenario.id)}: {describe(observation)}"]
        if self.verbosity == VERBOSE:
            lines += [f"    {line}" for line in details(observation)]
        print("\n".join(lines), file=self.stream, flush=True)

    def end_cell(self) -> None:
        if self.groups is not None and self.verbosity != QUIET:
            self.groups.endgroup()

    def close(self) -> None:
        pass


class LiveReporter:
    """A progress bar with the current cell, and one line per finished scenario above it."""

    def __init__(self, console: Console, verbosity: int = NORMAL) -> None:
        self.console = console
        self.verbosity = verbosity
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("starting", total=0)

    def begin(self, total: int) -> None:
        self.progress.update(self.task, total=total)
        self.progress.start()

    def cell(self, name: str, scenarios: int) -> None:
        self.progress.update(self.task, description=name)

    def done(self, scenario: Scenario, observation: Observation) -> None:
        style = {"ok": "green", "skipped": "dim", "not_run": "dim"}.get(observation.status, "red")
        line = f"[{style}]{escape(scenario.id)}[/]: {escape(describe(observation))}"
        if self.verbosity == VERBOSE:
            line += "".join(f"\n    {escape(detail)}" for detail in details(observation))
        if self.verbosity != QUIET or observation.status not in PASSING:
            self.progress.console.print(line, highlight=False)
        self.progress.advance(self.task)

    def end_cell(self) -> None:
        pass

    def close(self) -> None:
        self.progress.stop()


def make_reporter(groups: Groups | None = None, verbosity: int = NORMAL) -> Reporter:
    """`groups`: on GitHub Actions, the workflow commands that fold each cell (on stdout, where they work)."""
    if groups is not None:
        return LineReporter(sys.stdout, groups, verbosity)
    if sys.stderr.isatty():
        return LiveReporter(Console(stderr=True), verbosity)
    return LineReporter(sys.stderr, verbosity=verbosity)
