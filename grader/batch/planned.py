"""A student's file as the batch plans it: read, hashed, and the assignment that grades it told.

The assignment is the one the notebook's metadata names first, then the batch's `--assignment`,
then the one whose functions it defines (`grader.load.choose_assignment`); a notebook none of these
decides is graded as ungradable, with the reason `undecided_reason` gives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from grader.batch.discover import Reader
from grader.batch.students import Submission
from grader.errors import NotebookError
from grader.load import assignment_names, choose_assignment
from grader.notebook import load_notebook


@dataclass(frozen=True, kw_only=True)
class Planned:
    """A student's file, read, hashed and its assignment told."""

    submission: Submission  # who and which file
    sha256: str  # of the bytes ("" when empty or unreadable, as in the single-grade path)
    unreadable: str  # why the bytes could not be read ("" when they could)
    assignment: str  # which assignment grades it ("": none could be told)
    undecided: str = ""  # why no assignment could be told ("" when one was)


def plan(submission: Submission, reader: Reader, given: str) -> Planned:
    """Read, hash and tell the assignment: metadata first, then `given`, then the functions."""
    try:
        data = reader.read(submission.found.origin)
    except OSError as exc:
        chosen = choose_assignment(b"", given, metadata_first=True)
        return Planned(submission=submission, sha256="", unreadable=str(exc), assignment=chosen)
    digest = hashlib.sha256(data).hexdigest() if data else ""
    chosen = choose_assignment(data, given, metadata_first=True)
    return Planned(submission=submission, sha256=digest, unreadable="", assignment=chosen,
                   undecided="" if chosen else undecided_reason(data))  # fmt: skip


def undecided_reason(data: bytes) -> str:
    """Why a notebook no assignment is told for is ungradable: why it cannot be read, if it
    cannot, else that nothing in it names an assignment, and which there are."""
    try:
        load_notebook(data)
    except NotebookError as exc:
        return exc.reason
    names = ", ".join(assignment_names()) or "none"
    return (f"no assignment could be told for this notebook: its metadata names none and it"
            f" defines the functions of none, or of several equally (there are: {names});"
            f" grade it with --assignment NAME")  # fmt: skip
