"""Notebooks run for real, in a Jupyter kernel with a fresh temporary home: the solution must
run before `assign` releases it, and the student's experience (every cell, the self-check cell)
is what a student sees. Each test starts a kernel (a few seconds), so all are marked slow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from grader import cli
from grader.assign import ASSIGNMENT_FILENAME
from grader.errors import SolutionError
from grader.execute import execute
from grader.preflight import verify_solution
from grader.selfcheck import SELFCHECK_METADATA

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "rnn_forward" / "solution.ipynb"
ASSIGNMENT = ROOT / "assignment" / ASSIGNMENT_FILENAME
_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s+SOLUTION\b.*$")


def _defined(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def filled_in(name: str = "rnn_forward", **edits: tuple[str, str]) -> nbformat.NotebookNode:
    """Assignment `name`'s student notebook with each stub replaced by the solution's function;
    `edits` maps a function to one (old, new) text replacement in it, to plant a mistake."""
    solution = {
        function: "\n".join(line for line in cell.source.split("\n") if not _MARKER.match(line))
        for cell in nbformat.read(ROOT / "solutions" / name / "solution.ipynb", as_version=4).cells
        if cell.cell_type == "code"
        for function in _defined(cell.source)
    }
    student = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    for cell in student.cells:
        for function in _defined(cell.source) if "NotImplementedError" in cell.source else ():
            old, new = edits.get(function, ("", ""))
            cell.source = solution[function].replace(old, new) if old else solution[function]
    return student


def _run(
    notebook: nbformat.NotebookNode,
    folder: Path,
    *,
    allow_errors: bool = False,
    name: str = ASSIGNMENT_FILENAME,
) -> nbformat.NotebookNode:
    path = folder / name
    nbformat.write(notebook, path)  # the self-check grades the saved file
    return execute(notebook, path=path, allow_errors=allow_errors).notebook


def _selfcheck(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    (output,) = [o for o in notebook.cells[-1].outputs if o.output_type == "execute_result"]
    return output


def _errors(notebook: nbformat.NotebookNode) -> list[str]:
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    return [o.ename for o in outputs if o.output_type == "error"]


# --- the student's experience, for each assignment ---------------------------------------------

# Assignment -> (its forward function, one planted mistake, words of the hint it must get).
MISTAKES = {
    "rnn_forward": ("rnn_forward", ("h @ W_hh", "h @ W_hh.T"), "W_hh looks transposed"),
    "lstm_forward": ("lstm_forward", ("torch.tanh(g)", "torch.sigmoid(g)"), "not sigmoid"),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_the_completed_student_notebook_runs_and_its_self_check_gives_full_marks(
    tmp_path: Path, name: str
) -> None:
    run = _run(filled_in(name), tmp_path, name=f"{name}.ipynb")
    assert _errors(run) == []
    output = _selfcheck(run)
    assert output.metadata[SELFCHECK_METADATA]["score"] == [100, 100]
    assert "Self-check: 100 / 100" in output.data["text/html"]
    assert f"<code>{MISTAKES[name][0]}.values</code>" in output.data["text/html"]
    assert "Score: 100 / 100" in output.data["text/plain"]


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_the_stub_runs_with_errors_and_its_self_check_shows_zero_not_implemented(
    tmp_path: Path, name: str
) -> None:
    stub = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    run = _run(stub, tmp_path, allow_errors=True, name=f"{name}.ipynb")
    assert "NotImplementedError" in _errors(run)
    output = _selfcheck(run)  # the kernel survived to run the last cell
    assert output.metadata[SELFCHECK_METADATA]["score"] == [0, 100]
    assert "not implemented" in output.data["text/plain"]
    assert "Self-check: 0 / 100" in output.data["text/html"]


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_notebook_with_one_known_mistake_shows_its_hint_in_the_self_check(
    tmp_path: Path, name: str
) -> None:
    function, edit, hint = MISTAKES[name]
    run = _run(filled_in(name, **{function: edit}), tmp_path, name=f"{name}.ipynb")
    output = _selfcheck(run)
    score, _ = output.metadata[SELFCHECK_METADATA]["score"]
    assert score < 100
    assert hint in output.data["text/plain"]
    assert hint in output.data["text/html"]


def test_a_renamed_notebook_is_checked_by_the_assignment_its_metadata_names(
    tmp_path: Path,
) -> None:
    run = _run(filled_in("lstm_forward"), tmp_path, name="my homework (1).ipynb")
    output = _selfcheck(run)
    assert output.metadata[SELFCHECK_METADATA]["score"] == [100, 100]
    assert "<code>lstm_forward.values</code>" in output.data["text/html"]


# --- the solution must run before it is released -----------------------------------------------


def _solution_with(tmp_path: Path, old: str, new: str) -> Path:
    notebook = nbformat.read(SOLUTION, as_version=4)
    changed = [cell for cell in notebook.cells if old in cell.source]
    assert changed, f"{old!r} is not in the solution"
    changed[0].source = changed[0].source.replace(old, new, 1)
    path = tmp_path / "solution.ipynb"
    nbformat.write(notebook, path)
    return path


def test_the_solution_passes_its_preflight() -> None:
    run = verify_solution(SOLUTION)
    assert _errors(run.notebook) == []


def test_assign_refuses_a_solution_whose_cell_raises_and_names_the_cell(tmp_path: Path) -> None:
    path = _solution_with(tmp_path, "print(x)", "print(x); 1 / 0")
    with pytest.raises(SolutionError, match=r"code cell 2 \(`data = torch.tensor.*ZeroDivision"):
        verify_solution(path)
    assert cli.main(["assign", str(path), "--out", str(tmp_path / "out")]) == 4
    assert not (tmp_path / "out").exists()


def test_assign_refuses_a_solution_whose_demo_states_differ_from_the_golden_values(
    tmp_path: Path,
) -> None:
    demo = "= init_weights(input_size, hidden_size, seed=0)"
    path = _solution_with(tmp_path, demo, demo.replace("seed=0", "seed=1"))
    with pytest.raises(SolutionError, match=r"printed h1 = .* course notebook's value"):
        verify_solution(path)


def test_assign_refuses_a_solution_whose_self_check_is_not_full_marks(tmp_path: Path) -> None:
    # Two products per step: the values stay right, so only the fused structure check fails.
    two_products = "(torch.cat([x[:, t], h], 1) @ W) @ torch.eye(W.shape[1], dtype=W.dtype)"
    path = _solution_with(tmp_path, "torch.cat([x[:, t], h], 1) @ W", two_products)
    with pytest.raises(SolutionError, match=r"self-check in code cell \d+ .* reports 95 / 100"):
        verify_solution(path)


def test_assign_no_execute_skips_the_kernel(tmp_path: Path) -> None:
    path = _solution_with(tmp_path, "print(x)", "print(x); 1 / 0")
    out = tmp_path / "student.ipynb"
    assert cli.main(["assign", str(path), "--out", str(out), "--no-execute"]) == 0
    assert out.is_file()
