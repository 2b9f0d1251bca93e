"""The student notebook is the solution notebook without its solutions, and stays in step."""

from __future__ import annotations

import ast
import copy
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.assign import ASSIGNMENT_FILENAME, make_assignment, write_assignment
from grader.cli import main
from grader.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "rnn_forward" / "solution.ipynb"
ASSIGNMENT = ROOT / "assignment" / ASSIGNMENT_FILENAME
EXAMPLES = ROOT / "examples"

SIGNATURES = {
    "init_hidden": ["batch_size", "hidden_size"],
    "init_weights": ["input_size", "hidden_size", "seed"],
    "rnn_forward": ["x", "h0", "W_xh", "W_hh", "b_h"],
    "rnn_forward_fused": ["x", "h0", "W_xh", "W_hh", "b_h"],
    "to_nn_rnn": ["W_xh", "W_hh", "b_h"],
}
GOLDEN = torch.tensor(
    [
        [0.9123, -0.2853, -0.9747, 0.5142],
        [0.9988, 0.6723, -0.9996, -0.6054],
        [1.0000, 0.8938, -1.0000, 0.9218],
        [1.0000, 0.6597, -1.0000, 0.7797],
        [1.0000, 0.3970, -1.0000, 0.9115],
    ]
)
SOLUTION_FRAGMENTS = [
    "BEGIN SOLUTION",
    "END SOLUTION",
    "torch.cat([W_xh, W_hh]",
    "torch.stack(states",
    "rnn.weight_ih_l0.copy_",
    "torch.manual_seed(seed)\n",
]


def read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def is_instructor_only(cell: Any) -> bool:
    return "instructor-only" in cell.metadata.get("tags", [])


def definitions(notebook: Any) -> dict[str, Any]:
    """Namespace after running the code cells made only of imports and function definitions."""
    namespace: dict[str, Any] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        body = ast.parse(cell.source).body
        if body and all(isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef) for n in body):
            exec(compile(cell.source, f"<cell {cell.id}>", "exec"), namespace)
    return namespace


def course_case(functions: dict[str, Any], forward: str) -> torch.Tensor:
    """Hidden states h_1..h_5 of the course notebook's case computed by `functions[forward]`."""
    x = torch.arange(1.0, 6.0).reshape(1, 5, 1)
    h0 = functions["init_hidden"](1, 4)
    output, h_n = functions[forward](x, h0, *functions["init_weights"](1, 4, seed=0))
    assert torch.equal(h_n, output[:, -1])
    return output[0]


def rounded_equal(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    return torch.allclose(actual.detach().round(decimals=4), expected, rtol=0, atol=1e-6)


def notebook_of(*cells: Any) -> Any:
    kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return new_notebook(cells=list(cells), metadata={"kernelspec": kernelspec})


# --- the committed student notebook ---------------------------------------------------------


@pytest.mark.parametrize("name", ["rnn_forward", "lstm_forward"])
def test_committed_assignment_is_what_write_assignment_produces(tmp_path: Path, name: str) -> None:
    written = write_assignment(ROOT / "solutions" / name / "solution.ipynb", tmp_path / "out")
    assert written == tmp_path / "out" / f"{name}.ipynb"
    committed = ROOT / "assignment" / f"{name}.ipynb"
    assert written.read_bytes() == committed.read_bytes(), "run: python tools/make_examples.py"


@pytest.mark.parametrize("name", ["rnn_forward", "lstm_forward"])
def test_the_student_notebook_names_its_assignment_in_its_metadata(name: str) -> None:
    committed = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    assert committed.metadata["rnn_grader"]["assignment"] == name


def test_assignment_writing_is_deterministic(tmp_path: Path) -> None:
    first = write_assignment(SOLUTION, tmp_path / "a").read_bytes()
    assert write_assignment(SOLUTION, tmp_path / "b").read_bytes() == first
    assert first.endswith(b"}\n")


@pytest.mark.parametrize("fragment", SOLUTION_FRAGMENTS)
def test_student_notebook_holds_no_solution_code(fragment: str) -> None:
    assert fragment not in ASSIGNMENT.read_text(encoding="utf-8")


def test_student_notebook_is_the_solution_without_instructor_only_cells() -> None:
    solution, student = read(SOLUTION), read(ASSIGNMENT)
    dropped = [cell.id for cell in solution.cells if is_instructor_only(cell)]
    assert dropped, "the solution should have instructor-only cells to drop"
    assert [c.id for c in student.cells] == [c.id for c in solution.cells if c.id not in dropped]
    assert not any(is_instructor_only(cell) for cell in student.cells)
    assert "Instructor note" not in ASSIGNMENT.read_text(encoding="utf-8")


def test_student_notebook_has_no_outputs() -> None:
    for cell in read(ASSIGNMENT).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", SIGNATURES)
def test_each_graded_function_is_defined_and_raises_not_implemented(name: str) -> None:
    function = definitions(read(ASSIGNMENT))[name]
    assert list(inspect.signature(function).parameters) == SIGNATURES[name]
    with pytest.raises(NotImplementedError, match=f"^{name}: replace this line with your code$"):
        function(*[None] * len(SIGNATURES[name]))


def test_stub_example_is_the_assignment() -> None:
    assert (EXAMPLES / "stub.ipynb").read_bytes() == ASSIGNMENT.read_bytes()


# --- the solution and the examples ------------------------------------------------------------


def test_solution_notebook_stores_no_outputs() -> None:
    for cell in read(SOLUTION).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("forward", ["rnn_forward", "rnn_forward_fused"])
def test_solution_reproduces_the_course_golden_values(forward: str) -> None:
    assert rounded_equal(course_case(definitions(read(SOLUTION)), forward), GOLDEN)


def test_solution_nn_rnn_reproduces_the_course_golden_values() -> None:
    functions = definitions(read(SOLUTION))
    weights = functions["init_weights"](1, 4, seed=0)
    rnn = functions["to_nn_rnn"](*weights)
    assert type(rnn) is torch.nn.RNN and rnn.batch_first
    output, h_n = rnn(torch.arange(1.0, 6.0).reshape(1, 5, 1), torch.zeros(1, 1, 4))
    assert rounded_equal(output[0], GOLDEN) and rounded_equal(h_n[0, 0], GOLDEN[-1])


def test_solution_follows_the_input_dtype() -> None:
    functions = definitions(read(SOLUTION))
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    weights = [w.double() for w in functions["init_weights"](2, 3, seed=1)]
    h0 = torch.randn(2, 3, dtype=torch.float64)
    output, h_n = functions["rnn_forward"](x, h0, *weights)
    fused, _ = functions["rnn_forward_fused"](x, h0, *weights)
    module_output, _ = functions["to_nn_rnn"](*weights)(x, h0.unsqueeze(0))
    assert output.dtype == h_n.dtype == torch.float64 and output.shape == (2, 3, 3)
    assert torch.allclose(fused, output) and torch.allclose(module_output, output)


def test_correct_example_reproduces_the_golden_values() -> None:
    functions = definitions(read(EXAMPLES / "correct.ipynb"))
    for forward in ("rnn_forward", "rnn_forward_fused"):
        assert rounded_equal(course_case(functions, forward), GOLDEN)


def test_buggy_example_goes_wrong_from_the_second_step() -> None:
    hidden = course_case(definitions(read(EXAMPLES / "buggy-whh-transposed.ipynb")), "rnn_forward")
    assert rounded_equal(hidden[0], GOLDEN[0]) and not rounded_equal(hidden[1], GOLDEN[1])


# --- make_assignment on small notebooks built in memory -------------------------------------


def region(*body: str, indent: str = "    ") -> str:
    lines = ["### BEGIN SOLUTION", *body, "### END SOLUTION"]
    return "\n".join(indent + line for line in lines)


def test_region_becomes_a_raise_at_its_indentation_naming_the_enclosing_function() -> None:
    source = "def outer(a):\n    def helper():\n        pass\n" + region("return a")
    student = make_assignment(notebook_of(new_code_cell(source)))
    assert student.cells[0].source == (
        "def outer(a):\n    def helper():\n        pass\n"
        '    raise NotImplementedError("outer: replace this line with your code")'
    )


def test_region_outside_any_function_falls_back_to_your_code() -> None:
    student = make_assignment(notebook_of(new_code_cell("x = 1\n" + region("y = 2", indent=""))))
    assert student.cells[0].source.endswith(
        'raise NotImplementedError("your code: replace this line with your code")'
    )


def test_markdown_region_becomes_your_answer_here() -> None:
    cell = new_markdown_cell("Why?\n\n" + region("Because.", indent="") + "\n\nNext.")
    assert make_assignment(notebook_of(cell)).cells[0].source == "Why?\n\nYOUR ANSWER HERE\n\nNext."


def test_outputs_and_solution_only_metadata_are_cleared() -> None:
    cell = new_code_cell(
        "print(1)", execution_count=3, outputs=[new_output("stream", name="stdout", text="1\n")]
    )
    cell.metadata.update(
        nbgrader={"grade_id": "x"},
        execution={"iopub.status.idle": "2024-01-01T00:00:00Z"},
        tags=["graded", "solution"],
    )
    student = make_assignment(notebook_of(cell, new_code_cell(region("x = 1")))).cells[0]
    assert student.outputs == [] and student.execution_count is None
    assert dict(student.metadata) == {"tags": ["graded"]}


def test_instructor_only_cells_are_dropped_and_the_input_is_untouched() -> None:
    secret = new_code_cell("assert True", metadata={"tags": ["instructor-only"]})
    solution = notebook_of(new_markdown_cell("hi"), secret, new_code_cell(region("x = 1")))
    before = copy.deepcopy(solution)
    student = make_assignment(solution)
    assert [c.cell_type for c in student.cells] == ["markdown", "code"]
    assert solution == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def f():\n    ### BEGIN SOLUTION\n    return 1",
            r"cell 2: BEGIN SOLUTION on line 2 has no END",
        ),
        (region("### BEGIN SOLUTION", "x = 1"), r"cell 2: BEGIN SOLUTION on line 2 is nested"),
        ("x = 1\n### END SOLUTION", r"cell 2: END SOLUTION on line 2 has no BEGIN"),
    ],
    ids=["begin-without-end", "nested-begin", "end-without-begin"],
)
def test_unbalanced_markers_raise_usage_error_naming_the_cell(source: str, message: str) -> None:
    solution = notebook_of(new_markdown_cell("intro"), new_code_cell(source))
    with pytest.raises(UsageError, match=message):
        make_assignment(solution)


@pytest.mark.parametrize(
    ("begin", "end"),
    [
        ("### BEGIN SOLUTION ###", "### END SOLUTION ###"),
        ("#BEGIN SOLUTION #", "#END SOLUTION#"),
        ("# begin solution", "# end solution"),
        ("##  BEGIN   SOLUTION  ##  ", "## END_SOLUTION"),
        ("###BEGIN SOLUTION###", "### End Solution"),
    ],
    ids=["trailing-hashes", "no-space-one-hash", "lower-case", "wide-spacing", "title-case"],
)
def test_marker_variants_nbgrader_accepts_all_strip_the_solution(begin: str, end: str) -> None:
    source = f"def f(a):\n    {begin}\n    return a * 42\n    {end}"
    student = make_assignment(notebook_of(new_code_cell(source)))
    assert student.cells[0].source == (
        'def f(a):\n    raise NotImplementedError("f: replace this line with your code")'
    )


@pytest.mark.parametrize(
    "source",
    [
        "def f(a):\n    return a * 42  # BEGIN SOLUTION\n    ### END SOLUTION",
        "def f(a):\n    ### BEGIN SOLUTION: the answer\n    return a * 42\n    ### END SOLUTION",
        region("return a * 42") + "\n# BEGIN-SOLUTION x",
    ],
    ids=["marker-after-code", "marker-with-words", "stray-marker-after-region"],
)
def test_marker_text_left_in_the_student_notebook_is_refused(source: str) -> None:
    with pytest.raises(UsageError, match=r"looks like a solution marker|has no BEGIN"):
        make_assignment(notebook_of(new_code_cell(source)))


def test_a_notebook_without_solution_regions_is_refused() -> None:
    solution = notebook_of(new_code_cell("def f(a):\n    return a * 42"))
    with pytest.raises(UsageError, match="no solution region"):
        make_assignment(solution)


def test_a_region_only_in_an_instructor_only_cell_does_not_count() -> None:
    hidden = new_code_cell(region("x = 1"), metadata={"tags": ["instructor-only"]})
    with pytest.raises(UsageError, match="no solution region"):
        make_assignment(notebook_of(hidden, new_code_cell("def f(a):\n    return a * 42")))


# --- write_assignment's files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "not found"),
        (lambda path: path.write_text("not json", encoding="utf-8"), "not a Jupyter notebook"),
        (
            lambda path: path.write_text('{"cells": 1}', encoding="utf-8"),
            "is not a Jupyter notebook",
        ),
        (lambda path: path.write_bytes(b"\xff\xfe"), "cannot read"),
    ],
    ids=["missing", "not-json", "not-a-notebook", "not-utf8"],
)
def test_unreadable_solution_raises_usage_error(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "solution.ipynb"
    make(path)
    with pytest.raises(UsageError, match=message):
        write_assignment(path, tmp_path / "out")


def test_cli_assign_without_regions_exits_4_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = tmp_path / "solution.ipynb"
    nbformat.write(notebook_of(new_code_cell("def f(a):\n    return a * 42")), solution)
    assert main(["assign", str(solution), "--out", str(tmp_path / "out")]) == 4
    assert "no solution region" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_out_ending_in_ipynb_is_the_file_written(tmp_path: Path) -> None:
    written = write_assignment(SOLUTION, tmp_path / "hw" / "student.ipynb")
    assert written == tmp_path / "hw" / "student.ipynb" and written.is_file()
    assert written.read_bytes() == ASSIGNMENT.read_bytes()


def test_out_without_ipynb_is_a_folder_for_rnn_forward_ipynb(tmp_path: Path) -> None:
    assert write_assignment(SOLUTION, tmp_path / "x") == tmp_path / "x" / ASSIGNMENT_FILENAME


def test_write_assignment_refuses_to_overwrite_the_solution(tmp_path: Path) -> None:
    path = tmp_path / ASSIGNMENT_FILENAME
    path.write_bytes(SOLUTION.read_bytes())
    with pytest.raises(UsageError, match="overwrite"):
        write_assignment(path, tmp_path)
    assert path.read_bytes() == SOLUTION.read_bytes()
