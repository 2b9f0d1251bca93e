"""The solution must run before it is released: executed top to bottom in a real Jupyter kernel.

`verify_solution` refuses (SolutionError, naming the cell) when a cell raises or times out, when
the demo cells print hidden states that differ from the course notebook's golden values, or when
the self-check cell does not report full marks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.errors import SolutionError
from grader.execute import Execution, KernelUnavailable, code_cell_label, execute
from grader.selfcheck import SELFCHECK_METADATA

__all__ = ["golden_states", "verify_solution"]

# A demo line such as "h3 = tensor([ 1.0000,  0.8938, -1.0000,  0.9218])".
_STATE_LINE = re.compile(r"^h(\d+)\s*=\s*tensor\(\[+([^\]]*)\]")
_TOLERANCE = 6e-5  # printed to 4 decimals


def verify_solution(path: Path, *, timeout: int = 120) -> Execution:
    """Run the solution notebook at `path`; SolutionError unless it passes every preflight."""
    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:  # missing, unreadable, not JSON, not a notebook
        raise SolutionError(f"cannot read the solution notebook {path}: {exc}") from exc
    try:
        run = execute(notebook, path=path, timeout=timeout)
    except KernelUnavailable as exc:
        raise SolutionError(
            f"cannot run {path} in a Jupyter kernel ({exc}); install ipykernel"
            " (pip install ipykernel), or pass --no-execute to skip this check"
        ) from exc
    # First: a wrong value explains later errors.
    for problem in _golden_problems(run.notebook, golden_states(path)):
        raise SolutionError(f"{path}: {problem}")
    if run.failure is not None:
        failure = run.failure
        raise SolutionError(f"{path}: {failure.label} failed: {failure.error}")
    _require_full_marks(path, run.notebook)
    return run


def golden_states(path: Path) -> Mapping[int, tuple[float, ...]]:
    """The h_t declared by the spec beside the solution, else by the assignment it solves."""
    from grader.load import SPEC_FILE, choose_assignment, find_assignment, load_spec

    if (path.parent / SPEC_FILE).is_file():
        return load_spec(path.parent).golden
    try:
        name = choose_assignment(path.read_bytes())
    except OSError:
        return {}
    return load_spec(find_assignment(name)).golden if name else {}


def _golden_problems(
    notebook: NotebookNode, golden: Mapping[int, tuple[float, ...]]
) -> Iterator[str]:
    """Printed hidden states h_t that differ from the golden values."""
    for index, line in _printed_lines(notebook):
        match = _STATE_LINE.match(line.strip())
        if not match or int(match.group(1)) not in golden:
            continue
        step, want = int(match.group(1)), golden[int(match.group(1))]
        got = _numbers(match.group(2))
        if got is None or len(got) != len(want) or _differ(got, want):
            yield (
                f"{code_cell_label(notebook, index)} printed h{step} = {match.group(2).strip()},"
                f" but the course notebook's value is {list(want)}"
            )


def _printed_lines(notebook: NotebookNode) -> Iterator[tuple[int, str]]:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                for line in str(output.get("text", "")).splitlines():
                    yield index, line


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        return None


def _differ(got: list[float], want: tuple[float, ...]) -> bool:
    return any(abs(a - b) > _TOLERANCE for a, b in zip(got, want, strict=True))


def _require_full_marks(path: Path, notebook: NotebookNode) -> None:
    scores = list(_selfcheck_scores(notebook))
    if not scores:
        raise SolutionError(
            f"{path}: no self-check output: the notebook must end with a cell that calls"
            " check_notebook()"
        )
    index, score = scores[-1]
    if score is None or score[0] < score[1]:
        shown = "nothing graded" if score is None else f"{score[0]:g} / {score[1]:g}"
        raise SolutionError(
            f"{path}: the self-check in {code_cell_label(notebook, index)} reports {shown},"
            " not full marks"
        )


def _selfcheck_scores(notebook: NotebookNode) -> Iterator[tuple[int, list[float] | None]]:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            mark = output.get("metadata", {}).get(SELFCHECK_METADATA)
            if isinstance(mark, dict):
                score = mark.get("score")
                yield index, [float(s) for s in score] if isinstance(score, list) else None
