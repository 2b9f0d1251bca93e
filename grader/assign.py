"""The student notebook from the instructor's solution notebook.

In code cells every region between `### BEGIN SOLUTION` and `### END SOLUTION` becomes one
`raise NotImplementedError(...)` line naming the enclosing function; in other cells it becomes
`YOUR ANSWER HERE`. Cells tagged `instructor-only` are dropped, outputs and solution-only metadata
cleared. `make_assignment` works in memory; `write_assignment` reads and writes the files.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from grader.errors import UsageError

__all__ = ["ASSIGNMENT_FILENAME", "INSTRUCTOR_TAG", "make_assignment", "write_assignment"]

ASSIGNMENT_FILENAME = "rnn_forward.ipynb"
INSTRUCTOR_TAG = "instructor-only"
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"
FALLBACK_NAME = "your code"

_BEGIN = re.compile(r"^\s*#+\s*BEGIN\s+SOLUTION\s*$")
_END = re.compile(r"^\s*#+\s*END\s+SOLUTION\s*$")
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
# Cell metadata the students must not get: nbgrader's ids and grades, execution timings.
_SOLUTION_METADATA = ("nbgrader", "solution", "execution")
_SOLUTION_TAGS = frozenset({INSTRUCTOR_TAG, "solution"})


def make_assignment(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the student notebook made from `solution` (which is left untouched)."""
    student = copy.deepcopy(solution)
    student.cells = [
        _student_cell(cell, number)
        for number, cell in enumerate(student.cells, start=1)
        if INSTRUCTOR_TAG not in cell.get("metadata", {}).get("tags", [])
    ]
    return student


def write_assignment(solution_path: Path, out_dir: Path) -> Path:
    """Write the student notebook made from `solution_path` to `out_dir`; return its path."""
    solution_path, target = Path(solution_path), Path(out_dir) / ASSIGNMENT_FILENAME
    student = make_assignment(_read_notebook(solution_path))
    try:
        nbformat.validate(student)
    except nbformat.ValidationError as exc:
        raise UsageError(
            f"{solution_path}: the student notebook is invalid: {exc.message}"
        ) from exc
    if target.resolve() == solution_path.resolve():
        raise UsageError(f"refusing to overwrite the solution notebook {solution_path}")
    text = nbformat.writes(student).rstrip("\n") + "\n"  # type: ignore[no-untyped-call]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at `path` as a validated nbformat 4 notebook, or a UsageError saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"solution notebook not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the solution notebook {path}: {exc}") from exc
    try:  # reader + convert + validate is nbformat.reads(as_version=4) without its error logging
        notebook = nbformat.convert(nbformat.reader.reads(text), 4)  # type: ignore[no-untyped-call]
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise UsageError(f"{path} is not a valid notebook: {exc.message}") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"{path} is not a Jupyter notebook: {exc}") from exc
    return notebook  # type: ignore[no-any-return]


def _student_cell(cell: nbformat.NotebookNode, number: int) -> nbformat.NotebookNode:
    """`cell` (number `number`, 1-based, of the solution) with its solution parts removed."""
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    cell.source = "\n".join(_strip_regions(source.split("\n"), number, cell.cell_type == "code"))
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in _SOLUTION_METADATA:
        cell.metadata.pop(key, None)
    tags = [tag for tag in cell.metadata.get("tags", []) if tag not in _SOLUTION_TAGS]
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)
    return cell


def _strip_regions(lines: list[str], number: int, code: bool) -> list[str]:
    """`lines` with each solution region replaced by its placeholder line."""
    kept: list[str] = []
    begin: int | None = None  # index of the BEGIN line of the open region
    for index, line in enumerate(lines):
        if _BEGIN.match(line):
            if begin is not None:
                raise UsageError(
                    f"cell {number}: BEGIN SOLUTION on line {index + 1} is nested in the region"
                    f" opened on line {begin + 1}"
                )
            begin = index
            kept.append(_placeholder(lines, index, code))
        elif _END.match(line):
            if begin is None:
                raise UsageError(f"cell {number}: END SOLUTION on line {index + 1} has no BEGIN")
            begin = None
        elif begin is None:
            kept.append(line)
    if begin is not None:
        raise UsageError(f"cell {number}: BEGIN SOLUTION on line {begin + 1} has no END SOLUTION")
    return kept


def _placeholder(lines: list[str], index: int, code: bool) -> str:
    """The line replacing the region that opens at `lines[index]`, at that line's indentation."""
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    if not code:
        return indent + ANSWER_PLACEHOLDER
    name = _enclosing_function(lines[:index], len(indent))
    return f'{indent}raise NotImplementedError("{name}: replace this line with your code")'


def _enclosing_function(before: list[str], indent: int) -> str:
    """Name of the nearest `def` above, indented less than the region; FALLBACK_NAME if none."""
    for line in reversed(before):
        match = _DEF.match(line)
        if match and len(match.group(1)) < indent:
            return match.group(2)
    return FALLBACK_NAME
