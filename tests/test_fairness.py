"""Fair grades and true hints: one mistake costs its points once, and a hint is never a guess."""

from __future__ import annotations

import pytest
from fixtures.helpers import by_id, describe
from fixtures.submissions import FAIRNESS, MISTAKES, correct_cells, notebook

from grader import misconceptions
from grader.grading import grade_bytes
from grader.load import SOLUTIONS, load_sibling, load_spec
from grader.results import GradeResult, Outcome
from grader.sandbox.client import Sandbox
from grader.settings import DEFAULT_GRADING_SEED

RNN_CASES = load_sibling(SOLUTIONS / "rnn_forward" / "spec.py", "cases")  # its own cases
full_cases = RNN_CASES.full_cases

# Round-1 mistakes whose charges this file pins down, next to the fairness fixtures.
_ROUND_ONE = (
    "output-includes-h0",
    "last-step-dropped",
    "batch-of-one-only",
    "to-nn-rnn-untransposed",
)


@pytest.fixture(scope="module")
def graded(sandbox: Sandbox) -> dict[str, GradeResult]:
    cells = {name: correct_cells(**overrides) for name, overrides in FAIRNESS.items()}
    cells |= {name: MISTAKES[name].cells for name in _ROUND_ONE}
    return {
        name: grade_bytes(notebook(source), name=f"{name}.ipynb", sandbox=sandbox)
        for name, source in cells.items()
    }


def _lost(result: GradeResult) -> dict[str, float]:
    """Points of every check that did not get all of its points."""
    return {c.id: c.points for c in result.checks if c.points < c.max_points}


def _named(result: GradeResult, check_id: str) -> object:
    return by_id(result)[check_id].details.get("misconception")


def test_the_course_notebooks_float32_module_loses_the_module_points_once(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["to-nn-rnn-course-float32"]
    assert _lost(result) == {"to_nn_rnn.module": 0.0}, describe(result)
    module = by_id(result)["to_nn_rnn.module"]
    assert "float32" in module.message and "float64" in module.message
    assert "dtype=W_xh.dtype" in module.message, "the message names the fix"
    assert module.details["misconception"] == "nn-rnn-default-dtype"
    assert by_id(result)["to_nn_rnn.parity"].outcome is Outcome.PASSED, "parity at float32's tol"


def test_an_output_that_starts_with_h0_loses_only_the_shape_points(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["output-includes-h0"]
    assert _lost(result) == {"rnn_forward.shape": 0.0}, describe(result)
    assert _named(result, "rnn_forward.shape") == "output-includes-h0"


def test_an_output_sliced_short_of_its_last_step_loses_only_the_shape_points(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["output-without-last-step-sliced"]
    assert _lost(result) == {"rnn_forward.shape": 0.0}, describe(result)
    assert _named(result, "rnn_forward.shape") == "last-step-dropped"


def test_a_loop_one_step_short_loses_the_shape_points_and_only_the_case_it_crashes_on(
    graded: dict[str, GradeResult],
) -> None:
    lengths = [case.x.shape[1] for case in full_cases(DEFAULT_GRADING_SEED).forward]
    judged = sum(t - 1 for t in lengths if t > 1)  # every step present is right
    crashed = sum(t for t in lengths if t == 1)  # range(0) leaves nothing to stack
    result = graded["last-step-dropped"]
    values = round(30 * judged / (judged + crashed), 4)
    assert _lost(result) == {"rnn_forward.shape": 0.0, "rnn_forward.values": values}
    assert _named(result, "rnn_forward.shape") == "last-step-dropped"
    assert "raised RuntimeError" in by_id(result)["rnn_forward.values"].message  # text withheld


def test_only_the_first_sequence_back_loses_only_the_shape_points(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["batch-of-one-only"]
    assert _lost(result) == {"rnn_forward.shape": 0.0}, describe(result)
    assert _named(result, "rnn_forward.shape") == "batch-of-one-only"


def test_a_time_first_output_loses_the_shape_points_and_values_only_where_its_shape_is_right(
    graded: dict[str, GradeResult],
) -> None:
    dims = [case.dims for case in full_cases(DEFAULT_GRADING_SEED).forward]
    total = sum(seq for _, seq, _, _ in dims)
    square = sum(seq for batch, seq, _, _ in dims if batch == seq > 1)  # the right shape: values
    result = graded["output-time-first"]
    values = round(30 * (total - square) / total, 4)
    assert _lost(result) == {"rnn_forward.shape": 0.0, "rnn_forward.values": values}
    assert _named(result, "rnn_forward.shape") == "time-first-output"


def test_weights_drawn_in_nn_linear_layout_lose_only_the_shape_points(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["init-weights-linear-layout"]  # the seeded numbers, laid out (out, in)
    assert _lost(result) == {"init_weights.shape": 0.0}, describe(result)
    assert _named(result, "init_weights.shape") == "nn-linear-layout"


def test_a_module_stored_untransposed_costs_the_module_points_once(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["to-nn-rnn-untransposed"]
    assert _lost(result) == {"to_nn_rnn.module": 0.0}, describe(result)
    assert _named(result, "to_nn_rnn.module") == "nn-rnn-untransposed"


def test_swapped_weights_in_the_fused_variant_are_named(graded: dict[str, GradeResult]) -> None:
    result = graded["fused-weights-swapped"]
    assert _lost(result) == {"rnn_forward_fused.values": 0.0}, describe(result)
    check = by_id(result)["rnn_forward_fused.values"]
    assert check.details["misconception"] == "fused-weights-swapped"
    assert "cat([W_hh, W_xh])" in check.details["hint"]


def test_copying_into_parameters_without_no_grad_gets_the_no_grad_hint(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["to-nn-rnn-copy-without-no-grad"]
    assert _lost(result) == {"to_nn_rnn.module": 0.0, "to_nn_rnn.parity": 0.0}
    for check_id in ("to_nn_rnn.module", "to_nn_rnn.parity"):
        check = by_id(result)[check_id]
        assert check.outcome is Outcome.ERROR
        assert check.details["misconception"] == "copy-into-parameter-with-grad"
        assert "with torch.no_grad():" in check.details["hint"]


def test_the_leaf_variable_error_is_recognised_by_exception_type_and_torchs_words() -> None:
    words = "a leaf Variable that requires grad is being used in an in-place operation."
    spec = load_spec(SOLUTIONS / "rnn_forward")
    named = "copy-into-parameter-with-grad"
    assert misconceptions.error_mistake(f"RuntimeError: {words}", spec) == named
    assert misconceptions.error_mistake(f"ValueError: {words}", spec) is None
    assert misconceptions.error_mistake(f"RuntimeError: not {words}", spec) is None


def test_a_module_without_batch_first_fails_the_module_check(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["to-nn-rnn-batch-first-deleted"]
    assert _lost(result) == {"to_nn_rnn.module": 0.0}, describe(result)
    assert "batch_first" in by_id(result)["to_nn_rnn.module"].message


def test_a_mistake_is_never_read_from_the_graders_own_words(
    graded: dict[str, GradeResult],
) -> None:
    result = graded["to-nn-rnn-odd-nonlinearity"]  # its nonlinearity spells "batch_first=False"
    assert _lost(result) == {"to_nn_rnn.module": 0.0}, describe(result)
    assert _named(result, "to_nn_rnn.module") is None


@pytest.mark.parametrize(
    ("name", "check_id", "where"),
    [
        (
            "output-final-state-repeated",
            "rnn_forward.shape",
            ("case course", "expected (1, 5, 4)"),  # its own (1, 6, 4): the self-check
        ),
        ("to-nn-rnn-bias-doubled", "to_nn_rnn.parity", ("case", "differ by up to", "step")),
        ("init-weights-other-seed", "init_weights.values", ("init_weights(", "differs by up to")),
    ],
)
def test_an_unexplained_failure_says_where_and_by_how_much_and_no_cause(
    name: str, check_id: str, where: tuple[str, ...], graded: dict[str, GradeResult]
) -> None:
    result = graded[name]
    assert set(_lost(result)) == {check_id}, describe(result)
    check = by_id(result)[check_id]
    assert "hint" not in check.details and "misconception" not in check.details, check.details
    for words in where:
        assert words in check.message, check.message
