"""Diagnostics and progress of the commands on stderr: the `auditor` logger's lines, and one
progress display for long work (`run`, `tabulate`, `regress`).

On a terminal the display is a live rich bar with the log lines printed above it; otherwise each
unit of work (or each `every`-th) gets a plain line `[####----] done/total  text`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

LOG = logging.getLogger("auditor")
BAR_WIDTH = 20
_live: list[Progress] = []  # the bar being shown, if any


class _Stderr(logging.Handler):
    """Each record as one line on the current stderr, above the live bar if there is one."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if _live:
                _live[-1].console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                print(line, file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


@contextmanager
def logging_to_stderr(level: int = logging.INFO) -> Iterator[None]:
    """Send the `auditor` logger's records, bare, to stderr for the block."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = LOG.level, LOG.propagate
    LOG.addHandler(handler)
    LOG.setLevel(level)
    LOG.propagate = False
    try:
        yield
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(saved[0])
        LOG.propagate = saved[1]


class ProgressDisplay:
    """`total` units of work, `done` of them before it starts. `advance(text)` counts one; on a
    terminal the bar moves (and a text is logged above it when `every` is 1), elsewhere a plain
    line is logged for every `every`-th unit and the last; without a text it tells the time
    spent and left."""

    def __init__(self, label: str, total: int, done: int = 0, every: int = 1) -> None:
        self.label, self.total, self.done, self.every = label, total, done, max(1, every)
        self.started, self.first = time.monotonic(), done
        self._bar: Progress | None = None

    def __enter__(self) -> ProgressDisplay:
        if sys.stderr.isatty() and LOG.isEnabledFor(logging.INFO):
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=Console(file=sys.stderr), transient=True)
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.done)
            self._bar.start()
            _live.append(self._bar)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            _live.remove(self._bar)
            self._bar.stop()
            self._bar = None

    def count(self, n: int) -> None:
        """Units finished elsewhere (by other runners)."""
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def advance(self, text: str = "") -> None:
        self.count(1)
        if self._bar is not None:
            if text and self.every == 1:
                LOG.info("%s", text)
            return
        if self.done % self.every == 0 or self.done >= self.total:
            filled = round(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            LOG.info("[%s] %d/%d  %s", bar, self.done, self.total, text or self._times())

    def _times(self) -> str:
        elapsed = time.monotonic() - self.started
        here = self.done - self.first
        left = elapsed / here * (self.total - self.done) if here else 0.0
        return (f"{self.label}, {elapsed:.0f} s"
                + (f", about {left:.0f} s left" if self.done < self.total else ""))
