"""Numbers the student's code chooses never reach a report of a grade that ran hidden cases.

A call can find the hidden inputs in its own process and spell them in what it returns: an
output off by 1 + x/100 (step errors, |error|, got values), a shape of (0, 996045, ...), weights
of the wrong size. Here the student spells fixed markers through the same channels instead, so
the test can tell whether any of them came back.
"""

from __future__ import annotations

import base64
import sys

import pytest
import torch
from fixtures.submissions import correct_cells, notebook

from grader.grading import GradeOptions, Grader
from grader.report import RENDERERS, render
from grader.results import CheckResult, GradeResult, Outcome
from grader.sandbox.client import Sandbox
from grader.settings import seed_from_text
from grader.withhold import mask_numbers, withhold_numbers

OFFSET = 0.731946  # what every step of rnn_forward is off by: its step errors and |error|
SIZE = 864213  # a dimension of the shapes the student returns
MARKERS = ("731946", "0.7319", "0.732", str(SIZE))

SPELLER = {
    "rnn_forward": f"""\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_xh + h @ W_hh + b_h)
        states.append(h + {OFFSET})
    return torch.stack(states, dim=1), h + {OFFSET}
""",
    "rnn_forward_fused": f"""\
def rnn_forward_fused(x, h0, W_xh, W_hh, b_h):
    return torch.empty(0, {SIZE}, 1, dtype=x.dtype), torch.empty(0)
""",
    "init_hidden": f"""\
def init_hidden(batch_size, hidden_size):
    return torch.full((batch_size, hidden_size), {OFFSET})
""",
    "init_weights": f"""\
def init_weights(input_size, hidden_size, seed=0):
    return torch.empty(0, {SIZE}), torch.empty({SIZE}, 0), torch.empty(2, {SIZE})
""",
}


@pytest.fixture(scope="module")
def spelled(sandbox: Sandbox) -> tuple[GradeResult, GradeResult]:
    """The speller graded with hidden cases, and by the self-check (public cases only)."""
    submission = notebook(correct_cells(**SPELLER))
    results = []
    for public_only in (False, True):
        options = GradeOptions(
            assignment="rnn_forward",
            public_only=public_only,
            grading_seed=seed_from_text("numbers"),
        )
        with Grader(options, sandbox) as grader:
            results.append(grader.grade_bytes(submission, name="speller.ipynb"))
    return results[0], results[1]


# The red team's a9 and a11: a public call finds the hidden inputs in its process (gc) and spells
# their first values as its step errors (1 + x/100) and as the sizes of a shape.
PUBLIC_SHAPES = "{(1, 5, 1), (2, 3, 2), (3, 4, 3), (1, 6, 1)}"
FINDER = f"""\
def _hidden():
    import gc
    found = [t for t in gc.get_objects() if isinstance(t, torch.Tensor) and t.dim() == 3
             and t.is_floating_point() and tuple(t.shape) not in {PUBLIC_SHAPES}]
    return max(found, key=lambda t: t.numel()).flatten()
"""
EXFILTRATOR = {
    "rnn_forward": f"""\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_xh + h @ W_hh + b_h)
        states.append(h)
    out = torch.stack(states, dim=1)
    if tuple(x.shape) in {PUBLIC_SHAPES}:
        spelled = 1 + _hidden()[: x.shape[1]].to(out.dtype) / 100
        out = out.clone()
        out[0, : len(spelled), 0] += spelled
    return out, out[:, -1]


{FINDER}""",
    "rnn_forward_fused": """\
def rnn_forward_fused(x, h0, W_xh, W_hh, b_h):
    sizes = [int((float(v) + 100) * 1e4) for v in _hidden()[:2]]
    return torch.empty(0, *sizes), torch.empty(0)
""",
}


def _spellings(x: torch.Tensor) -> set[str]:
    """How a9 and a11 spell a hidden input's first values."""
    values = x.flatten()[:6].tolist()
    return {f"{1 + v / 100:.6f}"[:6] for v in values} | {
        str(int((v + 100) * 1e4)) for v in values[:2]
    }


@pytest.fixture(scope="module")
def exfiltrated(sandbox: Sandbox) -> tuple[GradeResult, set[str]]:
    options = GradeOptions(assignment="rnn_forward", grading_seed=seed_from_text("numbers"))
    with Grader(options, sandbox) as grader:
        result = grader.grade_bytes(notebook(correct_cells(**EXFILTRATOR)), name="a9.ipynb")
        hidden = [case.x for case in grader.cases.forward if not case.public]
    return result, set().union(*(_spellings(x) for x in hidden))


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")
@pytest.mark.parametrize("fmt", [*sorted(RENDERERS), "github", "notebook", "notebook-html"])
def test_hidden_inputs_spelled_as_step_errors_or_shapes_never_reach_a_report(
    fmt: str, exfiltrated: tuple[GradeResult, set[str]]
) -> None:
    result, spellings = exfiltrated
    shown = _shown(result, fmt)
    assert not sorted(s for s in spellings if s in shown), f"{fmt} spells hidden inputs"


def _shown(result: GradeResult, fmt: str) -> str:
    text = render(result, fmt)
    return base64.b64decode(text).decode() if fmt == "classroom" else text


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")
@pytest.mark.parametrize("fmt", [*sorted(RENDERERS), "github", "notebook", "notebook-html"])
def test_numbers_the_student_returns_never_reach_a_report_of_a_hidden_grade(
    fmt: str, spelled: tuple[GradeResult, GradeResult]
) -> None:
    full, self_check = spelled
    shown = _shown(full, fmt)
    assert not [m for m in MARKERS if m in shown], f"{fmt} quotes the student's numbers"
    # The self-check quotes them: there they can only spell public inputs.
    assert any(m in _shown(self_check, fmt) for m in MARKERS)


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")
def test_a_hidden_grade_still_names_the_case_step_and_unit_that_diverge(
    spelled: tuple[GradeResult, GradeResult],
) -> None:
    full, self_check = spelled
    values = next(c for c in full.checks if c.id == "rnn_forward.values")
    assert {"case", "step", "unit"} <= set(values.details)
    assert not {"step_errors", "abs_error", "expected", "actual"} & set(values.details)
    assert "matches on 0 of" in values.message and "first divergence" in values.message
    checked = next(c for c in self_check.checks if c.id == "rnn_forward.values")
    assert checked.details["step_errors"][0] == pytest.approx(OFFSET, abs=1e-4)


@pytest.mark.parametrize(
    ("message", "kept", "gone"),
    [
        ("case a: output has shape (0, 996045, 3), expected (1, 5, 4)", "(1, 5, 4)", "996045"),
        ("hidden case 2: output has shape (3, 9), expected (3, 7, 5)", "hidden case 2", "7, 5"),
        ("init_hidden(3, 5) returned shape (5, 3); expected (3, 5)", "init_hidden(3, 5)", "(5, 3)"),
        ("case a: weight_ih_l0 is (3, 4), expected (4, 3)", "(4, 3)", "(3, 4)"),
        ("case a: hidden_size=996045, expected 3", "hidden_size", "996045"),
        ("case a: 37 matrix products for 5 time steps (7.4 per step)", "5 time steps", "37"),
        ("case a: outputs differ by up to 996 (worst at step 2, unit 1)", "step 2, unit 1", "996"),
        ("step 1, unit 0 (expected 0.7616, got 1.7576), |error| 0.996", "step 1", "0.996"),
        ("case a: h_n differs from h_5 by up to 1.5e-05", "h_5", "1.5e"),
        ("h_t matches on 59 of 60 (case, step) pairs", "59 of 60", "(withheld)"),
        ("case a: output shape (0, 996045) cannot be compared", "cannot", "996045"),
    ],
)
def test_messages_keep_grader_facts_and_lose_the_students_numbers(
    message: str, kept: str, gone: str
) -> None:
    masked = mask_numbers(message)
    assert kept in masked and gone not in masked


def test_a_hidden_grade_keeps_only_the_graders_facts_among_the_details() -> None:
    check = CheckResult(
        id="rnn_forward.values",
        points=0.0,
        max_points=2.0,
        outcome=Outcome.FAILED,
        message="h_t matches on 0 of 5 (case, step) pairs; first divergence: case a, |error| 0.99",
        details={"case": "case a", "step": 1, "unit": 0, "abs_error": 0.996046,
                 "step_errors": [0.996046], "misconception": "m", "hint": "h",
                 "notes": ["case a: output has shape (0, 996045), expected (1, 5, 4)"]},
    )  # fmt: skip
    kept = withhold_numbers(check)
    assert set(kept.details) == {"case", "step", "unit", "misconception", "hint", "notes"}
    assert "996045" not in str(kept.details) and "0.99" not in kept.message
    assert "withheld" in kept.message
