"""The self-check cell at the end of the student notebook: `check_notebook()`.

It grades the notebook *file* exactly as `python -m grader check` does (same extraction, same
sandbox, public cases only: nothing here knows a grading seed), so the student must save the
notebook first. The returned `SelfCheck` shows itself as an HTML table in Jupyter
(`_repr_html_`) and as the text report in a terminal (`__str__` / `__repr__`).

Which file: the path given, else the notebook the kernel runs (VS Code's `__vsc_ipynb_file__`
in the kernel's namespace, then Jupyter Server's `JPY_SESSION_NAME`), else an assignment's
notebook (`rnn_forward.ipynb`, `lstm_forward.ipynb`) in the working directory.
"""

from __future__ import annotations

import datetime
import html
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.assign import ASSIGNMENT_FILENAME
from grader.report import jupyter, text
from grader.results import GradeResult

if TYPE_CHECKING:
    from grader.sandbox.client import Sandbox

__all__ = [
    "JUPYTER_HINT",
    "SELFCHECK_METADATA",
    "VSCODE_HINT",
    "SelfCheck",
    "check_notebook",
    "find_notebook",
]

VSCODE_HINT = "__vsc_ipynb_file__"  # set in the kernel's namespace by VS Code's Jupyter extension
JUPYTER_HINT = "JPY_SESSION_NAME"  # set in the kernel's environment by Jupyter Server 2
SELFCHECK_METADATA = "rnn_grader_selfcheck"  # output metadata key: {"score": [points, max]}


@dataclass(frozen=True, kw_only=True, repr=False)
class SelfCheck:
    """The outcome of one self-check, shown by Jupyter as HTML and by a terminal as text."""

    notebook: Path  # the file graded, or looked for
    result: GradeResult | None  # None when there was no file to grade
    saved_at: float | None = None  # the file's modification time (seconds since the epoch)
    problem: str | None = None  # why nothing was graded

    @property
    def score(self) -> float:
        return 0.0 if self.result is None else self.result.score

    def _header(self) -> str:
        if self.saved_at is None:
            return f"Self-check of {self.notebook}"
        saved = datetime.datetime.fromtimestamp(self.saved_at).strftime("%H:%M:%S on %Y-%m-%d")
        return f"Self-check of {self.notebook}, as saved at {saved}"

    def _repr_html_(self) -> str:
        header = f'<p style="margin:2px 0;font-family:sans-serif">{html.escape(self._header())}</p>'
        if self.result is None:
            problem = html.escape(self.problem or "nothing was graded")
            return f'{header}<p style="color:#cf222e"><strong>{problem}</strong></p>'
        return header + "\n" + jupyter.render(self.result)

    def _repr_mimebundle_(
        self, include: object = None, exclude: object = None
    ) -> tuple[dict[str, str], dict[str, object]]:
        """HTML and text, plus the score as metadata: `assign` reads it to know the check passed."""
        score = None if self.result is None else [self.result.score, self.result.max_score]
        data = {"text/html": self._repr_html_(), "text/plain": str(self)}
        return data, {SELFCHECK_METADATA: {"score": score}}

    def __str__(self) -> str:
        if self.result is None:
            return f"{self._header()}\n{self.problem or 'nothing was graded'}\n"
        return f"{self._header()}\n{text.render(self.result)}"

    def __repr__(self) -> str:
        return str(self)


def check_notebook(
    path: str | os.PathLike[str] | None = None, *, sandbox: Sandbox | None = None
) -> SelfCheck:
    """Grade the saved notebook on the public cases; `sandbox` reuses a running fork server."""
    from grader.grading import GradeOptions, Grader  # imports torch: only when checking
    from grader.load import choose_assignment
    from grader.settings import MAX_NOTEBOOK_BYTES

    notebook = find_notebook(path)
    if not notebook.is_file():
        return SelfCheck(notebook=notebook, result=None, problem=_not_found(notebook))
    saved_at = notebook.stat().st_mtime
    with notebook.open("rb") as file:  # never more than a notebook may be
        assignment = choose_assignment(file.read(MAX_NOTEBOOK_BYTES + 1))
    if not assignment:
        return SelfCheck(notebook=notebook, result=None, saved_at=saved_at, problem=_undecided())
    with Grader(GradeOptions(public_only=True, assignment=assignment), sandbox) as grader:
        result = grader.grade_path(notebook)
    return SelfCheck(notebook=notebook, result=result, saved_at=saved_at)


def find_notebook(path: str | os.PathLike[str] | None = None) -> Path:
    """The notebook to check: `path`, else the running notebook's file, else the default."""
    if path is not None:
        return Path(path).expanduser()
    from grader.load import assignment_names

    named = (Path(f"{name}.ipynb") for name in assignment_names())  # as assign names them
    return next((p for p in (*_hints(), *named) if p.is_file()), Path(ASSIGNMENT_FILENAME))


def _hints() -> Iterator[Path]:
    """Where the editor says the running notebook is, most reliable first."""
    vscode = getattr(sys.modules.get("__main__"), VSCODE_HINT, None)
    if isinstance(vscode, str) and vscode.endswith(".ipynb"):
        yield Path(vscode)
    session = os.environ.get(JUPYTER_HINT, "")
    if session.endswith(".ipynb"):
        # Absolute, or relative to the server's root; the kernel starts in the notebook's folder.
        yield Path(session) if Path(session).is_absolute() else Path(Path(session).name)


def _undecided() -> str:
    from grader.load import assignment_names

    return (
        "this notebook does not say which assignment it is (its metadata lost"
        " `rnn_grader.assignment`) and its functions match none or several of: "
        + ", ".join(assignment_names())
    )


def _not_found(notebook: Path) -> str:
    where = "" if notebook.is_absolute() else f" in {Path.cwd()}"
    return (
        f"{notebook} was not found{where}. Save the notebook first (File > Save); if it has"
        f' another name, pass it: check_notebook("your_notebook.ipynb").'
    )
