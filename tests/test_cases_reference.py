"""The inputs and the reference: seeded, reproducible, and faithful to the course notebook."""

from __future__ import annotations

import pytest
import torch

from grader.cases import Case
from grader.load import SOLUTIONS, load_assignment, load_sibling
from grader.misconceptions import Replays
from grader.settings import seed_from_text

RNN_CASES = load_sibling(SOLUTIONS / "rnn_forward" / "spec.py", "cases")  # its own cases
course_case = RNN_CASES.course_case
full_cases = RNN_CASES.full_cases
public_cases = RNN_CASES.public_cases

GOLDEN = torch.tensor(
    [
        [0.9123, -0.2853, -0.9747, 0.5142],
        [0.9988, 0.6723, -0.9996, -0.6054],
        [1.0000, 0.8938, -1.0000, 0.9218],
        [1.0000, 0.6597, -1.0000, 0.7797],
        [1.0000, 0.3970, -1.0000, 0.9115],
    ],
    dtype=torch.float64,
)


RNN = load_assignment(SOLUTIONS / "rnn_forward")


def _forward(case: Case) -> torch.Tensor:
    inputs = (case.x, case["h0"], case["W_xh"], case["W_hh"], case["b_h"])
    output: torch.Tensor = RNN.reference["rnn_forward"](*(t.double() for t in inputs))[0]
    return output


def test_reference_reproduces_the_course_notebook_to_four_decimals() -> None:
    states = _forward(course_case())
    assert states.shape == (1, 5, 4)
    assert torch.equal(states[0].round(decimals=4), GOLDEN)


def test_course_weights_are_init_weights_with_seed_zero() -> None:
    case = course_case()
    w_xh, w_hh, b_h = RNN.reference["init_weights"](1, 4, 0)
    assert torch.equal(w_xh, case["W_xh"]) and torch.equal(w_hh, case["W_hh"])
    assert torch.equal(b_h, torch.zeros(4))


def _params(case: Case) -> dict[str, torch.Tensor]:
    return {
        "weight_ih_l0": case["W_xh"].T.clone(),
        "weight_hh_l0": case["W_hh"].T.clone(),
        "bias_ih_l0": case["b_h"].clone(),
        "bias_hh_l0": torch.zeros_like(case["b_h"]),
    }


def test_nn_rnn_with_transposed_weights_matches_the_reference() -> None:
    case = full_cases(3).forward[-1]
    known = Replays(RNN.spec, RNN.reference)
    assert torch.allclose(known.module_output(_params(case), case.x, case["h0"]), _forward(case))


def test_remembered_nn_rnn_outputs_follow_every_input_exactly() -> None:
    case = full_cases(3).forward[4]
    known, params = Replays(RNN.spec, RNN.reference), _params(case)
    first = known.module_output(params, case.x, case["h0"])
    again = known.module_output({k: v.clone() for k, v in params.items()}, case.x, case["h0"])
    assert torch.equal(first, again)
    for name in params:  # one changed number anywhere gives a different, freshly run answer
        changed = {**params, name: params[name].contiguous().clone()}
        changed[name].view(-1)[0] += 0.25
        other = known.module_output(changed, case.x, case["h0"])
        assert not torch.allclose(other, first)
    other_h0 = known.module_output(params, case.x, case["h0"] + 0.25)
    assert not torch.allclose(other_h0, first)


def test_mistake_replays_are_computed_once_per_case_and_stay_right() -> None:
    case = full_cases(3).forward[5]
    known = Replays(RNN.spec, RNN.reference)
    relu = next(out for m, out in known.replayed(case, "rnn_forward")[1] if m.id == "relu")
    for _ in range(2):
        found = known.diagnose(case, relu.to(torch.float32), "rnn_forward")
        assert found is not None and found.id == "relu"
    assert len(known._held) == 1  # one entry for the case and function


def test_public_cases_are_the_same_every_time() -> None:
    assert public_cases().id == public_cases().id
    assert public_cases().forward[0].name == "course"


def test_hidden_cases_follow_the_grading_seed() -> None:
    assert full_cases(1).id == full_cases(1).id
    assert full_cases(1).id != full_cases(2).id
    assert public_cases().id != full_cases(1).id


def test_hidden_cases_cover_the_contract_ranges() -> None:
    cases = [c for c in full_cases(11).forward if not c.public]
    assert len(cases) == 10
    assert {c.dtype for c in cases} == {"float32", "float64"}
    for case in cases:
        batch, seq, inputs, hidden = case.dims
        assert 1 <= batch <= 4 and 1 <= seq <= 12 and 1 <= inputs <= 5 and 1 <= hidden <= 8
        assert bool(case["h0"].ne(0).any()) and bool(case["b_h"].ne(0).any())
    assert any(c.dims[0] > 1 and c.dims[2] != c.dims[3] and c.dims[1] != 5 for c in cases)


def test_probe_cases_span_both_dtypes_and_the_fixed_hidden_shapes() -> None:
    cases = full_cases(11)
    chosen = [cases.forward[i] for i in cases.probes]
    assert chosen[0].name == "course"
    assert {c.dtype for c in chosen} == {"float32", "float64"}
    assert {c.name for c in chosen} >= {"hidden-1", "hidden-2", "hidden-3"}
    assert all(c.dims[2] != c.dims[3] for c in chosen[1:])  # a forgotten transpose shows in shapes
    assert public_cases().probes == tuple(range(len(public_cases().forward)))


@pytest.mark.parametrize("function", ["rnn_forward", "rnn_forward_fused"])
def test_every_replayed_mistake_changes_the_answer_on_a_hidden_shape(function: str) -> None:
    case = full_cases(5).forward[4]  # (3, 7, 2, 5): rectangular, batched, non-zero h0 and b_h
    right, replays = Replays(RNN.spec, RNN.reference).replayed(case, function)
    assert len(replays) >= 12
    for mistake, wrong in replays:
        assert wrong.shape != right.shape or not torch.allclose(right, wrong), mistake.id


def test_secret_seed_text_maps_to_a_stable_integer() -> None:
    assert seed_from_text("42\n") == 42
    assert seed_from_text("correct horse") == seed_from_text("correct horse ")
    assert seed_from_text("correct horse") != seed_from_text("battery staple")
