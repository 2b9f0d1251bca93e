"""Notebook bytes -> its code cells, numbered as a student counts them, at a bounded cost.

A notebook is untrusted input: it is parsed with a depth and number limit (`grader.untrusted`),
its text is made UTF-8 clean, and its code is capped, so every file gives either code cells or a
NotebookError whose reason a student can act on. Nothing here executes or compiles anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from grader.errors import NotebookError
from grader.results import Problem
from grader.settings import (
    MAX_CODE_CELLS,
    MAX_CODE_CHARS,
    MAX_NOTEBOOK_BYTES,
    MAX_NOTEBOOK_DEPTH,
)
from grader.untrusted import JSONLimitError, loads

QUOTE_CHARS = 60  # how much of a cell's first line a location quotes
# A line only Python source starts with: a script saved under the notebook's name.
_PYTHON_LINE = re.compile(
    r"^(?:import \w|from [\w.]+ import |def \w|class \w|@\w|if __name__)", re.M
)


@dataclass(frozen=True, kw_only=True)
class Notebook:
    """The code cells of a readable notebook."""

    cells: tuple[tuple[int, str], ...]  # (code cell number, 1-based among code cells; source)
    problems: tuple[Problem, ...]  # oddities that did not stop grading


def load_notebook(data: bytes) -> Notebook:
    """Parse notebook bytes; NotebookError if they cannot be graded at all."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    if not data.strip():
        raise NotebookError("the file is empty")
    try:
        text = data.decode("utf-8-sig")  # a BOM from a Windows editor is harmless
    except UnicodeDecodeError as exc:
        raise NotebookError(f"not a notebook: the file is not UTF-8 text ({exc.reason})") from None
    try:
        raw = loads(text, max_depth=MAX_NOTEBOOK_DEPTH)
    except JSONLimitError as exc:
        raise NotebookError(f"not a notebook the grader reads: {exc}") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(not_json(text, exc)) from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise NotebookError("not a notebook: the JSON has no 'cells' list")
    if raw.get("nbformat") != 4:
        raise NotebookError(
            f"unsupported notebook format (nbformat {_shown(raw.get('nbformat'))}): open and"
            " save it with Jupyter 4 or newer to convert it to nbformat 4"
        )
    return _code_cells(raw)


def not_json(text: str, exc: json.JSONDecodeError) -> str:
    """Why text that fails to parse is not a notebook: another kind of file, or a cut-off one."""
    start = text.lstrip()[:1]
    if start not in ("{", "["):
        if _PYTHON_LINE.search(text, 0, 100_000):
            return (
                "this looks like a Python file, not a Jupyter notebook (.ipynb, which is"
                " JSON): upload the .ipynb file that Jupyter saves"
            )
        if start == "<":
            return "this looks like an HTML or XML file, not a Jupyter notebook (.ipynb)"
        return "not a notebook: the file is text but not JSON, as an .ipynb file is"
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return (
            f"not a notebook: invalid JSON that stops in the middle, at line {exc.lineno}, column"
            f" {exc.colno}; the file looks truncated (an interrupted upload or save)"
        )
    return f"not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"


def first_line(source: str) -> str:
    """A cell's first non-blank line, shortened: how a student recognises the cell."""
    line = next((line.strip() for line in source.split("\n", 20) if line.strip()), "")
    return line if len(line) <= QUOTE_CHARS else line[: QUOTE_CHARS - 1] + "…"


def _code_cells(raw: dict[str, Any]) -> Notebook:
    cells = raw.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("not a valid notebook: 'cells' is not a list")
    out: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if len(out) == MAX_CODE_CELLS:
            raise NotebookError(f"the notebook has more than {MAX_CODE_CELLS:,} code cells")
        number, source = len(out) + 1, _source(cell.get("source", ""))
        if source is None:
            problems.append(
                Problem(
                    message="this cell's source is not text; it was skipped",
                    cell=number,
                    severity="error",
                )
            )
        out.append((number, source or ""))
    if not out:
        raise NotebookError("the notebook has no code cells")
    size = sum(len(source) for _, source in out)
    if size > MAX_CODE_CHARS:
        raise NotebookError(
            f"the notebook holds {size:,} characters of code; the grader reads"
            f" at most {MAX_CODE_CHARS:,}"
        )
    return Notebook(cells=tuple(out), problems=tuple(problems))


def _source(value: Any) -> str | None:
    """A cell's source as one string (Jupyter stores a list of lines); None when it is not text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 20 else text[:19] + "…"
