"""What a function returns is declared in the spec: nested final states, several zero tensors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_assignment
from grader.results import GradeResult, Outcome
from grader.sandbox.client import Sandbox
from grader.spec import result_names, result_text

FORWARD_RETURN = "return torch.stack(states, dim=1), h\\n"
INIT_RETURN = "return torch.zeros(batch_size, hidden_size)\\n"


def _rewritten(text: str, *, nested: bool, pair: bool) -> str:
    """The RNN solution's source, returning (output, (h_n, c_n)) and init_hidden's (h0, c0)."""
    if nested:
        text = text.replace(FORWARD_RETURN, FORWARD_RETURN.replace(", h\\n", ", (h, 0 * h)\\n"))
    if pair:
        both = "return torch.zeros(batch_size, hidden_size), torch.zeros(batch_size, hidden_size)"
        text = text.replace(INIT_RETURN, both + "\\n")
    return text


@pytest.fixture(scope="module")
def stateful(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The RNN folder, declaring a cell state beside h_n and an initial (h0, c0)."""
    folder = tmp_path_factory.mktemp("stateful") / "stateful_rnn"
    shutil.copytree(SOLUTIONS / "rnn_forward", folder)
    spec = (folder / "spec.py").read_text(encoding="utf-8")
    spec = spec.replace('"results": ("output", "h_n")', '"results": ("output", ("h_n", "c_n"))')
    spec = spec.replace('returns="tensor"', 'returns="tensor", results=("h0", "c0")')
    (folder / "spec.py").write_text(spec, encoding="utf-8")
    solution = (folder / "solution.ipynb").read_text(encoding="utf-8")
    assert FORWARD_RETURN in solution and INIT_RETURN in solution
    (folder / "solution.ipynb").write_text(_rewritten(solution, nested=True, pair=True))
    return folder


def _grade(folder: Path, sandbox: Sandbox, *, nested: bool, pair: bool) -> GradeResult:
    solution = (SOLUTIONS / "rnn_forward" / "solution.ipynb").read_text(encoding="utf-8")
    data = _rewritten(solution, nested=nested, pair=pair).encode()
    options = GradeOptions(public_only=True)
    with Grader(options, sandbox=sandbox, assignment=load_assignment(folder)) as grader:
        return grader.grade_bytes(data)


def _outcomes(result: GradeResult) -> dict[str, Outcome]:
    return {check.id: check.outcome for check in result.checks}


def test_declared_results_read_as_code_writes_them() -> None:
    assert result_text(("output", ("h_n", "c_n"))) == "(output, (h_n, c_n))"
    assert result_names(("output", ("h_n", "c_n"))) == ("output", "h_n", "c_n")


def test_nested_final_states_and_a_pair_of_zero_states_earn_full_marks(
    stateful: Path, sandbox: Sandbox
) -> None:
    result = _grade(stateful, sandbox, nested=True, pair=True)
    assert result.score == result.max_score, [(c.id, c.message) for c in result.checks]


def test_a_flat_pair_is_not_the_declared_nesting(stateful: Path, sandbox: Sandbox) -> None:
    result = _grade(stateful, sandbox, nested=False, pair=True)
    shape = next(c for c in result.checks if c.id == "rnn_forward.shape")
    assert shape.outcome is not Outcome.PASSED
    assert "(output, (h_n, c_n))" in shape.message
    assert _outcomes(result)["init_hidden.shape"] is Outcome.PASSED


def test_one_zero_tensor_is_not_the_declared_pair(stateful: Path, sandbox: Sandbox) -> None:
    result = _grade(stateful, sandbox, nested=True, pair=False)
    outcomes = _outcomes(result)
    assert outcomes["init_hidden.shape"] is not Outcome.PASSED
    assert outcomes["init_hidden.values"] is not Outcome.PASSED
    assert outcomes["rnn_forward.values"] is Outcome.PASSED
    shape = next(c for c in result.checks if c.id == "init_hidden.shape")
    assert "(h0, c0)" in shape.message
