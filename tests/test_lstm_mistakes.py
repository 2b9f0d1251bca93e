"""The LSTM assignment's known mistakes: each costs exactly its checks and is named with its hint.

Every mistake is recognised from structured facts its spec declares (replays, variants, moved
final states, declared exception openings); the hints are the LSTM's own. One Grader per kind of
grade serves the whole module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch
from fixtures.helpers import below_full, by_id, describe
from fixtures.lstm_submissions import (
    LSTM_BUILTINS,
    LSTM_CORRECT,
    LSTM_MISTAKES,
    LSTM_STYLES,
    lstm_correct_cells,
)
from fixtures.submissions import notebook

from grader import misconceptions
from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_spec
from grader.report import text
from grader.results import GradeResult, Outcome
from grader.sandbox.client import Sandbox
from grader.spec import Mistake, Replay, Spec

LSTM = SOLUTIONS / "lstm_forward"
VALUES = ("lstm_forward.values", "lstm_forward_fused.values")


@pytest.fixture(scope="module")
def grader(sandbox: Sandbox) -> Iterator[Grader]:
    """Full grades: public and hidden cases, as `grade` and `batch` run them."""
    with Grader(GradeOptions(assignment="lstm_forward"), sandbox) as grader:
        yield grader


@pytest.fixture(scope="module")
def checker(sandbox: Sandbox) -> Iterator[Grader]:
    """The self-check: public cases only, messages kept."""
    with Grader(GradeOptions(assignment="lstm_forward", public_only=True), sandbox) as grader:
        yield grader


def _grade(grader: Grader, cells: list[str]) -> GradeResult:
    return grader.grade_bytes(notebook(cells), name="lstm_forward.ipynb")


def _flat(words: str) -> str:
    return " ".join(words.split())


@pytest.mark.parametrize("style", sorted(LSTM_STYLES))
def test_every_correct_lstm_style_scores_full_marks(grader: Grader, style: str) -> None:
    result = _grade(grader, lstm_correct_cells(**LSTM_STYLES[style]))
    assert (result.score, result.max_score) == (100, 100), describe(result)


@pytest.mark.parametrize("name", sorted(LSTM_MISTAKES))
def test_an_lstm_mistake_costs_exactly_its_checks_and_is_named_with_its_hint(
    grader: Grader, name: str
) -> None:
    mistake = LSTM_MISTAKES[name]
    result = _grade(grader, lstm_correct_cells(**mistake.overrides))
    assert below_full(result) == mistake.failing, describe(result)
    named = {c.details.get("misconception") for c in result.checks if c.id in mistake.failing}
    assert mistake.misconception in named, describe(result)
    hint = grader.assignment.spec.hint(mistake.misconception)
    assert _flat(hint) in _flat(text.render(result)), "the report shows the hint"


def test_at_least_15_single_lstm_mistakes_of_every_function_are_named() -> None:
    spec = load_spec(LSTM)
    assert len(LSTM_MISTAKES) >= 15
    assert {m.misconception for m in LSTM_MISTAKES.values()} <= {m.id for m in spec.mistakes}
    changed = {function for m in LSTM_MISTAKES.values() for function in m.overrides}
    assert changed == set(spec.function_names)


@pytest.mark.parametrize("name", sorted(LSTM_BUILTINS))
@pytest.mark.parametrize("function", ["lstm_forward", "lstm_forward_fused"])
def test_a_built_in_lstm_gets_no_value_credit(grader: Grader, name: str, function: str) -> None:
    source = LSTM_BUILTINS[name].replace("def lstm_forward(", f"def {function}(", 1)
    result = _grade(grader, lstm_correct_cells(**{function: source}))
    values = by_id(result)[f"{function}.values"]
    assert values.points == 0, describe(result)
    assert values.details.get("misconception") == "builtin-rnn", describe(result)
    other = next(v for v in VALUES if v != f"{function}.values")
    assert by_id(result)[other].points == by_id(result)[other].max_points, describe(result)


def test_the_self_check_of_a_built_in_lstm_says_nothing_of_the_rnn(checker: Grader) -> None:
    result = _grade(checker, lstm_correct_cells(lstm_forward=LSTM_BUILTINS["nn-lstm-cell"]))
    report = text.render(result)
    assert by_id(result)["lstm_forward.values"].points == 0, describe(result)
    assert "disabled while grading" in report
    for rnn_only in ("to_nn_rnn", "nn.RNN", "rnn_forward", "torch.tanh)"):
        assert rnn_only not in report, rnn_only


def test_lstm_hints_use_the_lstms_names_never_the_rnns() -> None:
    for mistake in load_spec(LSTM).mistakes:
        for rnn_only in ("nn.RNN", "to_nn_rnn", "rnn_forward", "init_hidden", "b_h", "simple RNN"):
            assert rnn_only not in mistake.hint, (mistake.id, rnn_only)


def test_the_lstm_spec_stays_under_150_lines() -> None:
    assert len((LSTM / "spec.py").read_text().splitlines()) < 150


# --- exception mistakes: each spec declares its own ---

_NO_GRAD_MISSING = LSTM_CORRECT["to_nn_lstm"].replace(
    "    with torch.no_grad():\n", "    if True:  # autograd left on\n"
)


def test_copying_into_an_lstms_parameters_with_grad_is_named_from_the_lstm_spec(
    grader: Grader,
) -> None:
    assert "no_grad" not in _NO_GRAD_MISSING
    result = _grade(grader, lstm_correct_cells(to_nn_lstm=_NO_GRAD_MISSING))
    assert below_full(result) == {"to_nn_lstm.module", "to_nn_lstm.parity"}, describe(result)
    for check_id in ("to_nn_lstm.module", "to_nn_lstm.parity"):
        check = by_id(result)[check_id]
        assert check.outcome is Outcome.ERROR
        assert check.details["misconception"] == "copy-into-parameter-with-grad"
        assert check.details["hint"] == grader.assignment.spec.hint(check.details["misconception"])


def _without_raises(spec: Spec, mistake_id: str) -> Spec:
    mistakes = tuple(
        dataclasses.replace(m, raises="") if m.id == mistake_id else m for m in spec.mistakes
    )
    return dataclasses.replace(spec, mistakes=mistakes)


@pytest.mark.parametrize("assignment", ["rnn_forward", "lstm_forward"])
def test_an_exception_is_a_mistake_only_when_the_spec_declares_its_opening(
    assignment: str,
) -> None:
    spec = load_spec(SOLUTIONS / assignment)
    words = "a leaf Variable that requires grad is being used in an in-place operation."
    leaf = f"RuntimeError: {words}"
    assert misconceptions.error_mistake(leaf, spec) == "copy-into-parameter-with-grad"
    undeclared = _without_raises(spec, "copy-into-parameter-with-grad")
    assert misconceptions.error_mistake(leaf, undeclared) is None
    declared_elsewhere = dataclasses.replace(
        undeclared,
        mistakes=(
            *undeclared.mistakes,
            Mistake(id="my-own", hint="h", raises="ValueError: too many values to unpack"),
        ),
    )
    own = "ValueError: too many values to unpack (expected 2)"
    assert misconceptions.error_mistake(own, declared_elsewhere) == "my-own"
    assert misconceptions.error_mistake(own, spec) is None


# --- the structured facts the new LSTM mistakes are declared with ---


def test_transpose_blocks_transposes_each_square_gate_block_of_w_hh() -> None:
    blocks = [torch.randn(3, 3, dtype=torch.float64) for _ in range(4)]
    changed = misconceptions._changed_input("transpose-blocks", torch.cat(blocks, dim=1))
    assert torch.equal(changed, torch.cat([b.T for b in blocks], dim=1))
    square = torch.randn(3, 3)
    assert torch.equal(misconceptions._changed_input("transpose-blocks", square), square.T)


def test_a_states_replay_is_a_reordering_of_declared_names_and_nothing_else() -> None:
    assert Replay(states={"h_n": "c_n", "c_n": "h_n"}).states["h_n"] == "c_n"
    with pytest.raises(ValueError, match="reordering"):
        Replay(states={"h_n": "c_n"})
    with pytest.raises(ValueError, match="one"):
        Replay(states={"h_n": "c_n", "c_n": "h_n"}, output="drop-last")


def test_swapped_final_states_are_told_apart_only_when_h_n_and_c_n_differ(grader: Grader) -> None:
    case = next(c for c in grader.cases.forward if c.public and float(c["c0"].abs().sum()) > 0)
    finals = grader.known.finals(case, "lstm_forward")
    swapped = {"h_n": finals["c_n"], "c_n": finals["h_n"]}
    named = grader.known.diagnose_states(case, swapped, "lstm_forward")
    assert named is not None and named.id == "h-n-c-n-swapped"
    assert grader.known.diagnose_states(case, finals, "lstm_forward") is None
    same = {"h_n": finals["h_n"], "c_n": finals["h_n"]}
    assert grader.known.diagnose_states(case, same, "lstm_forward") is None


@pytest.mark.parametrize("assignment", ["rnn_forward", "lstm_forward"])
def test_every_declared_exception_opening_survives_a_hidden_grade(assignment: str) -> None:
    declared = [m.raises for m in load_spec(SOLUTIONS / assignment).mistakes if m.raises]
    assert declared
    for opening in declared:
        assert misconceptions.quotable(f"{opening}: with details") == opening
    own = "ValueError: too many values to unpack"
    assert misconceptions.quotable(f"{own} (expected 2)") is None
    assert misconceptions.quotable(f"{own} (expected 2)", (*declared, own)) == own
