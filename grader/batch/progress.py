"""Batch progress as text: a redrawn bar on a terminal, periodic plain lines in CI logs.

The batch library only calls a callback with `batch.Progress`; the CLI builds a `ProgressPrinter`
on stderr and passes its `update` method, so nothing below the CLI prints.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from grader.settings import BATCH_PROGRESS_SECONDS

if TYPE_CHECKING:
    from grader.batch.run import BatchSummary, Progress

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1  # a terminal bar is redrawn at most this often


def rate_and_eta(progress: Progress) -> tuple[float, float | None]:
    """Submissions per second so far, and seconds left at that rate (None before any is done)."""
    if progress.done == 0 or progress.elapsed <= 0:
        return 0.0, None
    rate = progress.done / progress.elapsed
    return rate, max(progress.total - progress.done, 0) / rate


def bar_line(progress: Progress) -> str:
    """`[#####-----]  120/500  12.3/s  ETA 0:31  (42 already graded)`."""
    total = max(progress.total, 1)
    filled = int(BAR_WIDTH * min(progress.done / total, 1.0))
    rate, eta = rate_and_eta(progress)
    parts = [
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}]",
        f"{progress.done}/{progress.total}",
        f"{rate:.1f}/s",
        f"ETA {_clock(eta)}",
    ]
    if progress.skipped:
        parts.append(f"({progress.skipped} already graded)")
    if progress.failed:
        parts.append(f"{progress.failed} grader failures")
    return "  ".join(parts)


def plain_line(progress: Progress) -> str:
    """A log line: `graded 120/500 (24%), 12.3/s, ETA 0:31, 42 already graded`."""
    rate, eta = rate_and_eta(progress)
    share = progress.done / progress.total if progress.total else 1.0
    line = f"graded {progress.done}/{progress.total} ({share:.0%}), {rate:.1f}/s, ETA {_clock(eta)}"
    if progress.skipped:
        line += f", {progress.skipped} already graded"
    return line + (f", {progress.failed} grader failures" if progress.failed else "")


def final_line(summary: BatchSummary, out: str) -> str:
    """The one-line summary printed when a batch ends."""
    rate = summary.graded / summary.grading_seconds if summary.grading_seconds > 0 else 0.0
    head = "interrupted" if summary.interrupted else "done"
    line = (
        f"{head}: {summary.students} students, {summary.graded} graded, {summary.skipped} "
        f"already graded, {summary.failed} grader failures, {summary.ungradable} ungradable, "
        f"{len(summary.problems)} files skipped or unreadable in {summary.seconds:.1f} s "
        f"({rate:.1f}/s)"
    )
    if summary.interrupted:
        return line + f"; graded work is kept in {out}: run again to resume"
    return line + f"; see {out}/summary.md and {out}/grades.csv"


class ProgressPrinter:
    """Writes progress to a stream: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool, every: float | None = None) -> None:
        self.stream = stream
        self.tty = tty
        default = REDRAW_SECONDS if tty else BATCH_PROGRESS_SECONDS
        self.every = default if every is None else every
        self.last = float("-inf")
        self.drawn = False

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase == "grading" and now - self.last < self.every:
            return
        self.last = now
        if progress.phase in ("starting", "exporting"):
            self._line(f"{progress.phase}...")
        elif progress.phase == "grading" and self.tty:
            self.stream.write("\r" + bar_line(progress) + "\x1b[K")
            self.drawn = True
        elif progress.phase == "grading":
            self._line(plain_line(progress))
        elif self.drawn:  # done: leave the full bar on screen
            self.stream.write("\r" + bar_line(progress) + "\x1b[K\n")
            self.drawn = False
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False
        self.stream.write(text + "\n")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
