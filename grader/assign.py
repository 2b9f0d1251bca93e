"""The student notebook from the instructor's solution notebook.

In code cells every region between `### BEGIN SOLUTION` and `### END SOLUTION` becomes one
`raise NotImplementedError(...)` line naming the enclosing function; in other cells it becomes
`YOUR ANSWER HERE`. A marker is a line of its own: comment hashes, `BEGIN SOLUTION` or
`END SOLUTION` in any case and spacing, optional trailing hashes (`### BEGIN SOLUTION ###`).
Cells tagged `instructor-only` are dropped, outputs and solution-only metadata cleared.

It refuses (UsageError) rather than ship a solution: a notebook with no solution region, and any
"BEGIN SOLUTION" / "END SOLUTION" text left in the student notebook (a marker that is not a line
of its own, such as `x = 1  # BEGIN SOLUTION`), are errors. `make_assignment` works in memory;
`write_assignment` reads and writes the files.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from grader.errors import UsageError
from grader.load import SPEC_FILE, choose_assignment, find_assignment, load_spec

__all__ = [
    "ASSIGNMENT_FILENAME",
    "INSTRUCTOR_TAG",
    "make_assignment",
    "output_path",
    "write_assignment",
]

ASSIGNMENT_FILENAME = "rnn_forward.ipynb"  # the self-check's last guess at a notebook's name
INSTRUCTOR_TAG = "instructor-only"
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"
FALLBACK_NAME = "your code"

_BEGIN = re.compile(r"^\s*#*\s*BEGIN[\s_-]*SOLUTION[\s#]*$", re.IGNORECASE)
_END = re.compile(r"^\s*#*\s*END[\s_-]*SOLUTION[\s#]*$", re.IGNORECASE)
# Any marker-like text at all: what is left of it after stripping means a marker was missed.
_LEFTOVER = re.compile(r"(?:BEGIN|END)[\s_-]*SOLUTION", re.IGNORECASE)
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
# Cell metadata the students must not get: nbgrader's ids and grades, execution timings.
_SOLUTION_METADATA = ("nbgrader", "solution", "execution")
_SOLUTION_TAGS = frozenset({INSTRUCTOR_TAG, "solution"})


def make_assignment(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the student notebook made from `solution` (which is left untouched).

    UsageError when `solution` has no solution region, or when marker text would be left in the
    student notebook (a region the markers failed to delimit could ship its answer).
    """
    student = copy.deepcopy(solution)
    kept = [
        (number, cell)
        for number, cell in enumerate(student.cells, start=1)
        if INSTRUCTOR_TAG not in cell.get("metadata", {}).get("tags", [])
    ]
    has_region = any(_has_region(cell) for _, cell in kept)
    student.cells = [_student_cell(cell, number) for number, cell in kept]  # checks the markers
    if not has_region:
        raise UsageError(
            "no solution region found (lines `### BEGIN SOLUTION` ... `### END SOLUTION`):"
            " the student notebook would hold the whole solution, so nothing was written"
        )
    for (number, _), cell in zip(kept, student.cells, strict=True):
        _refuse_leftover_markers(cell, number)
    return student


def write_assignment(
    solution_path: Path, out: Path, *, verify: Callable[[Path], object] | None = None
) -> Path:
    """Write the student notebook made from `solution_path`; return its path.

    `out` ending in `.ipynb` is the file to write; anything else is a folder that gets the
    notebook the spec beside the solution names. `verify(solution_path)` runs once the student
    notebook is made and
    before anything is written (the kernel preflight: slow, so after the cheap refusals).
    """
    solution_path = Path(solution_path)
    target = output_path(Path(out), solution_path)
    student = make_assignment(_read_notebook(solution_path))
    if (solution_path.parent / SPEC_FILE).is_file():  # which assignment: check and batch read it
        student.metadata.setdefault("rnn_grader", {})["assignment"] = solution_path.parent.name
    try:
        nbformat.validate(student)
    except nbformat.ValidationError as exc:
        raise UsageError(
            f"{solution_path}: the student notebook is invalid: {exc.message}"
        ) from exc
    if target.resolve() == solution_path.resolve():
        raise UsageError(f"refusing to overwrite the solution notebook {solution_path}")
    if verify is not None:
        verify(solution_path)
    text = nbformat.writes(student).rstrip("\n") + "\n"  # type: ignore[no-untyped-call]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def output_path(out: Path, solution_path: Path) -> Path:
    """The file `write_assignment` writes for `--out out`: in a folder, the student notebook the
    assignment's spec names (the spec beside the solution, else that of the assignment it solves),
    or for a loose `NAME_solution.ipynb`, `NAME.ipynb`."""
    if out.suffix.lower() == ".ipynb":
        return out
    folder = solution_path.parent
    if not (folder / SPEC_FILE).is_file():
        if solution_path.stem.endswith("_solution"):
            return out / (solution_path.stem.removesuffix("_solution") + ".ipynb")
        try:
            chosen = choose_assignment(solution_path.read_bytes())  # the one it solves
        except OSError:
            chosen = ""  # write_assignment says why it cannot be read
        if not chosen:
            return out / solution_path.name
        folder = find_assignment(chosen)
    return out / load_spec(folder).notebook


def _source(cell: nbformat.NotebookNode) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _has_region(cell: nbformat.NotebookNode) -> bool:
    return any(_BEGIN.match(line) for line in _source(cell).split("\n"))


def _refuse_leftover_markers(cell: nbformat.NotebookNode, number: int) -> None:
    """UsageError when marker text survived in the student's cell `number`."""
    for index, line in enumerate(_source(cell).split("\n"), start=1):
        if _LEFTOVER.search(line):
            raise UsageError(
                f"cell {number}, line {index}: {line.strip()[:80]!r} looks like a solution marker"
                " but is not one on a line of its own, so the region around it would ship;"
                " put `### BEGIN SOLUTION` and `### END SOLUTION` on lines by themselves"
            )


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
    lines = _source(cell).split("\n")
    cell.source = "\n".join(_strip_regions(lines, number, cell.cell_type == "code"))
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
