"""A class at once: find -> who is who -> which assignment -> skip what is graded -> workers ->
gradebook -> exports.

The main process lists and hashes the files, tells which assignment grades each (its metadata,
else --assignment, else the functions it defines), feeds warm workers (`pool.py`), and alone writes
the gradebook, one transaction per finished submission, so killing it at any moment loses nothing
it had recorded. Workers grade; this process only stores and exports, and imports torch only when
a notebook's assignment must be told from its functions (the specs import it), while the workers
start.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.batch.discover import Listing, Origin, Reader, SourceProblem, list_source
from grader.batch.exports import Exports, write_exports, write_student_reports
from grader.batch.gradebook import GRADEBOOK_NAME, Gradebook, Key
from grader.batch.planned import Planned, plan
from grader.batch.pool import WORKER_COMMAND, Finished, Identity, Pool
from grader.batch.students import Roster, Submission, roster
from grader.errors import UsageError
from grader.results import GradeResult, result_from_dict
from grader.settings import (
    BATCH_WORKER_SLACK_SECONDS,
    DEFAULT_GRADING_SEED,
    DEFAULT_LIMITS,
    Limits,
    default_workers,
)


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """How to grade a class."""

    out: Path  # folder for the gradebook, reports and exports
    workers: int = field(default_factory=default_workers)  # worker processes
    regrade: bool = False  # grade again what the gradebook already holds
    device: str = "cpu"  # cpu, cuda[:N] or auto (resolved in the workers)
    grading_seed: int = DEFAULT_GRADING_SEED  # derives the hidden cases
    limits: Limits = DEFAULT_LIMITS  # sandbox limits per submission
    worker_command: tuple[str, ...] = WORKER_COMMAND  # how to start a worker (tests fake it)
    # The assignment of a notebook whose metadata names none ("": told from its functions).
    assignment: str = ""
    reports: tuple[str, ...] | None = None  # report formats written per student (None: all)


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where a batch is, for a progress display."""

    phase: str  # "starting", "grading", "exporting" or "done"
    done: int  # submissions finished in this run
    total: int  # submissions to grade in this run
    skipped: int  # already in the gradebook, not graded again
    failed: int  # submissions the grader itself could not grade
    elapsed: float  # seconds since grading began
    student: str = ""  # the student finished last


@dataclass(frozen=True, kw_only=True)
class BatchSummary:
    """What a batch did."""

    students: int  # students found in the source
    graded: int  # submissions graded in this run
    skipped: int  # already graded, kept
    failed: int  # submissions the grader itself failed on (listed in the summary)
    ungradable: int  # graded submissions that could not be read as notebooks
    set_aside: int  # students' extra notebooks that were not graded
    problems: tuple[SourceProblem, ...]  # containers and files that could not be read
    interrupted: bool  # stopped by Ctrl-C; the gradebook keeps what was graded
    seconds: float  # wall clock for the whole batch
    grading_seconds: float  # wall clock from the first job sent to the last result
    exports: Exports | None  # files written, None when interrupted


def run_batch(
    source: Path, options: BatchOptions, progress: Callable[[Progress], None] = lambda _: None
) -> BatchSummary:
    """Grade every student in `source` (a folder or a zip) into `options.out`."""
    began = time.monotonic()
    with Reader() as reader:
        listing = class_listing(source, reader)
        options.out.mkdir(parents=True, exist_ok=True)
        progress(Progress(phase="starting", done=0, total=0, skipped=0, failed=0, elapsed=0.0))
        with Gradebook(options.out / GRADEBOOK_NAME) as book:
            return _grade_class(listing, reader, book, options, progress, began)


def class_listing(source: Path, reader: Reader) -> Listing:
    """The notebooks of a class; UsageError when `source` is not a class or holds none."""
    if not source.exists():
        raise UsageError(f"no such file or folder: {source}")
    if not source.is_dir():
        try:
            reader.archive(Origin(path=source))
        except OSError as exc:
            hint = " (to grade one notebook, use `python -m grader grade`)"
            raise UsageError(
                f"{source} is not a class: `batch` takes a folder or a zip of notebooks, and"
                f" this is not a readable zip ({exc})" + hint * source.name.endswith(".ipynb")
            ) from exc
    listing = list_source(source, reader)
    if not listing.notebooks:
        problems = "; ".join(f"{p.path}: {p.reason}" for p in listing.problems[:5])
        raise UsageError(
            f"no notebooks (*.ipynb) found in {source}" + (f" ({problems})" if problems else "")
        )
    return listing


def _grade_class(
    listing: Listing,
    reader: Reader,
    book: Gradebook,
    options: BatchOptions,
    progress: Callable[[Progress], None],
    began: float,
) -> BatchSummary:
    class_roster = roster(listing, reader)
    run = _Run(book, reader, options, progress)
    run.grade(list(class_roster.submissions))
    exports = None
    if not run.interrupted:
        _report(progress, run, "exporting")
        exports = write_exports(book, options.out, roster=class_roster, formats=options.reports,
                                asked=options.assignment)  # fmt: skip
    _report(progress, run, "done")
    return _summary(class_roster, run, exports, time.monotonic() - began)


class _Run:
    """The grading loop's state: what is left, what failed, what the gradebook got."""

    def __init__(
        self,
        book: Gradebook,
        reader: Reader,
        options: BatchOptions,
        progress: Callable[[Progress], None],
    ) -> None:
        self.book, self.reader, self.options, self.progress = book, reader, options, progress
        self.todo: list[Planned] = []
        self.done = self.skipped = self.failed = self.ungradable = 0
        self.interrupted = False
        self.started = self.finished = time.monotonic()
        self.last = ""

    def grade(self, submissions: list[Submission]) -> None:
        if not submissions:
            return
        config = {
            "device": self.options.device,
            "seed": self.options.grading_seed,
            "limits": self.options.limits.__dict__,
        }
        silence = self.options.limits.submission_seconds + BATCH_WORKER_SLACK_SECONDS
        workers = min(self.options.workers, len(submissions))
        with Pool(
            config=config,
            workers=workers,
            silence_limit=silence,
            command=self.options.worker_command,
        ) as pool:
            # Read, hash and tell assignments while the workers import torch.
            planned = [plan(s, self.reader, self.options.assignment) for s in submissions]
            identities = pool.start(sorted({p.assignment for p in planned} - {""}))
            self.todo = self._new_work(planned, identities)
            self.started = time.monotonic()
            try:
                for end in pool.run(range(len(self.todo)), self._payload):
                    if end is not None:
                        planned_one = self.todo[end.job_id]
                        self._record(planned_one, end, identities[planned_one.assignment])
                    _report(self.progress, self, "grading")
            except KeyboardInterrupt:
                self.interrupted = True
                pool.close(now=True)
            self.finished = time.monotonic()

    def _new_work(self, planned: list[Planned], identities: dict[str, Identity]) -> list[Planned]:
        """What still needs grading; what is graded already becomes the students' current."""
        keys = {p.submission.student: _key(p, identities[p.assignment]) for p in planned}
        existing = {} if self.options.regrade else self.book.graded(keys.values())
        kept = [p for p in planned if keys[p.submission.student] in existing]
        self.book.point(
            (
                p.submission.student,
                p.submission.name,
                p.submission.late,
                existing[keys[p.submission.student]],
            )
            for p in kept
        )
        self.skipped = len(kept)
        return [p for p in planned if keys[p.submission.student] not in existing]

    def _payload(self, job_id: int) -> dict[str, Any]:
        """A worker's job: the bytes (read again, not kept in memory) or why there are none."""
        planned = self.todo[job_id]
        reports = self.options.reports
        job = {"type": "job", "name": planned.submission.found.label, "render": True,
               "formats": None if reports is None else list(reports),
               "assignment": planned.assignment, "undecided": planned.undecided}  # fmt: skip
        reason = planned.unreadable
        if not reason:
            try:
                data = self.reader.read(planned.submission.found.origin)
            except OSError as exc:
                reason = str(exc)
            else:
                return {**job, "data": base64.b64encode(data).decode("ascii")}
        return {**job, "unreadable": reason}

    def _record(self, planned: Planned, end: Finished, identity: Identity) -> None:
        """Store one end in the gradebook (one transaction), then write the worker's reports."""
        submission = planned.submission
        if end.result is None:
            self.failed += 1
            graded = failure_result(identity, submission.found.label, planned.sha256, end.error)
        else:
            graded = result_from_dict(end.result)
            self.ungradable += graded.ungradable is not None
        submission_id = self.book.record(
            graded,
            student=submission.student,
            name=submission.name,
            late=submission.late,
            file=submission.found.label,
            replace=self.options.regrade,
            assignment=planned.assignment,
        )
        if end.reports:  # written after the commit: a kill in between leaves them to the export
            write_student_reports(self.options.out, submission.student, end.reports)
            self.book.mark_reports_written(submission.student, submission_id)
        self.done += 1
        self.last = submission.student


def failure_result(identity: Identity, name: str, sha256: str, error: str) -> GradeResult:
    """The result for a submission the grader itself failed on: every check an internal error."""
    reason = f"the grader failed on this submission: {error}"
    data = dict(identity.template)
    data["submission"] = {"path": name, "sha256": sha256}
    data["ungradable"] = reason
    data["checks"] = [
        {
            **check,
            "points": 0.0,
            "outcome": "error",
            "message": f"ungradable: {reason}",
            "details": {"internal": True},
        }
        for check in data["checks"]
    ]
    return result_from_dict(data)


def _key(planned: Planned, identity: Identity) -> Key:
    return Key(
        student=planned.submission.student,
        sha256=planned.sha256,
        grader_version=identity.grader_version,
        case_set_id=identity.case_set_id,
        assignment=planned.assignment,
    )


def _report(progress: Callable[[Progress], None], run: _Run, phase: str) -> None:
    progress(
        Progress(
            phase=phase,
            done=run.done,
            total=len(run.todo),
            skipped=run.skipped,
            failed=run.failed,
            elapsed=time.monotonic() - run.started,
            student=run.last,
        )
    )


def _summary(
    class_roster: Roster, run: _Run, exports: Exports | None, seconds: float
) -> BatchSummary:
    return BatchSummary(
        students=len(class_roster.submissions),
        graded=run.done,
        skipped=run.skipped,
        failed=run.failed,
        ungradable=run.ungradable,
        set_aside=len(class_roster.set_aside),
        problems=class_roster.problems,
        interrupted=run.interrupted,
        seconds=round(seconds, 3),
        grading_seconds=round(run.finished - run.started, 3),
        exports=exports,
    )
