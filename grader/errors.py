"""Every exception the grader raises on purpose.

GraderError                      base of all of ours
├── SubmissionError              the student's fault: still yields a report (exit 2)
│   └── NotebookError            not JSON, not a notebook, unsupported nbformat, no code
├── InternalError                ours: a bug or a broken installation (exit 3)
│   └── SandboxError             the sandbox machinery itself failed (not the student code)
└── UsageError                   bad command line or API arguments (exit 4)
    └── SolutionError            the instructor's solution notebook fails its preflight
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class of every error the grader raises on purpose."""


class SubmissionError(GraderError):
    """A fault in the submission: it is reported and scored, never raised to the user."""


class NotebookError(SubmissionError):
    """The file cannot be read as a gradable Jupyter notebook."""

    def __init__(self, reason: str, *, cell: int | None = None) -> None:
        """`cell` counts code cells from 1, as the student does (not the JSON index)."""
        super().__init__(reason if cell is None else f"code cell {cell}: {reason}")
        self.reason = reason
        self.cell = cell


class InternalError(GraderError):
    """A fault of the grader itself."""


class SandboxError(InternalError):
    """The sandbox could not be started or stopped answering for reasons not caused by a child."""


class UsageError(GraderError):
    """Bad arguments from the command line or the Python API."""


class SolutionError(UsageError):
    """The solution notebook does not run, or does not give the course's values, in a kernel."""
