"""Misconception fingerprints: the grader names the real mistake, and never a wrong one."""

from __future__ import annotations

import pytest

from grader.grading import grade_bytes
from grader.results import GradeResult
from grader.sandbox.client import Sandbox
from tests.fixtures.submissions import MISTAKES, notebook

# The misconception id each known-mistake fixture must be diagnosed as (None: no fingerprint).
EXPECTED: dict[str, str | None] = {
    "whh-transposed": "whh-transposed",
    "missing-bias": "bias-missing",
    "relu-activation": "relu",
    "sigmoid-activation": "sigmoid",
    "no-activation": "no-activation",
    "output-includes-h0": "output-includes-h0",
    "last-step-dropped": "last-step-dropped",
    "pre-activations-returned": "pre-activation",
    "h0-ignored": "h0-ignored",
    "batch-of-one-only": "batch-of-one-only",
    "hard-coded-length": "hard-coded-length",
    "overwrites-h0": "overwrites-argument",
    "buffer-ignores-dtype": "ignores-input-dtype",
    "builtin-rnn-in-forward": "builtin-rnn",
    "fused-concat-swapped": "concat-order-swapped",
    "fused-two-matmuls": "fused-two-products",
    "to-nn-rnn-untransposed": "nn-rnn-untransposed",
    "to-nn-rnn-random-bias-hh": "nn-rnn-bias-hh",
    "to-nn-rnn-not-batch-first": "nn-rnn-not-batch-first",
    "init-weights-whh-drawn-first": "init-weights-order",
    "init-hidden-course-bug": "init-hidden-fixed-rows",
}
# A mistake can also show through a second, consistent fingerprint on another check.
ALSO_ACCEPTED: dict[str, set[str]] = {
    "last-step-dropped": {"output-shifted"},
    "output-includes-h0": {"output-shifted"},
}


def _named(result: GradeResult) -> set[str]:
    return {str(c.details["misconception"]) for c in result.checks if "misconception" in c.details}


@pytest.fixture(scope="module")
def diagnosed(sandbox: Sandbox) -> dict[str, set[str]]:
    return {
        name: _named(grade_bytes(notebook(m.cells), name=f"{name}.ipynb", sandbox=sandbox))
        for name, m in MISTAKES.items()
    }


def test_every_known_mistake_fixture_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MISTAKES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_wrong_mistake_is_ever_named(name: str, diagnosed: dict[str, set[str]]) -> None:
    allowed = {EXPECTED[name]} | ALSO_ACCEPTED.get(name, set())
    assert diagnosed[name] <= allowed, f"{name}: named {diagnosed[name]}"


def test_the_real_mistake_is_named_for_at_least_80_percent(diagnosed: dict[str, set[str]]) -> None:
    hits = [name for name, want in EXPECTED.items() if want in diagnosed[name]]
    missed = sorted(set(EXPECTED) - set(hits))
    assert len(hits) / len(EXPECTED) >= 0.8, f"missed: {missed}"


def test_correct_submissions_name_no_mistake(sandbox: Sandbox) -> None:
    from tests.fixtures.submissions import correct_cells

    assert _named(grade_bytes(notebook(correct_cells()), sandbox=sandbox)) == set()
