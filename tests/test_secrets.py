"""The grading secret stays secret: hidden cases need all of it, and reports never carry them."""

from __future__ import annotations

import base64
import sys

import pytest
import torch
from fixtures.submissions import correct_cells, notebook

from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_sibling
from grader.report import RENDERERS, render
from grader.results import GradeResult
from grader.sandbox.client import Sandbox
from grader.settings import seed_from_text

RNN_CASES = load_sibling(SOLUTIONS / "rnn_forward" / "spec.py", "cases")  # its own cases
full_cases = RNN_CASES.full_cases

SECRET = "correct horse battery staple, and then some"


def _hidden_inputs(seed: int) -> list[torch.Tensor]:
    return [case.x for case in full_cases(seed).forward if not case.public]


def _same_cases(first: int, second: int) -> bool:
    a, b = _hidden_inputs(first), _hidden_inputs(second)
    return all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("bits", [32, 63, 64, 128])
def test_secrets_that_share_their_low_bits_give_different_hidden_cases(bits: int) -> None:
    low = seed_from_text(SECRET) % 2**bits
    assert not _same_cases(low, low + 2**bits)
    assert full_cases(low).id != full_cases(low + 2**bits).id


def test_every_character_of_the_secret_changes_the_hidden_cases() -> None:
    # A long numeric secret too: only its low 63 bits used to count, so its first digits did not.
    for secret in (SECRET, "7" * 250, "1" + "0" * 150):
        seed = seed_from_text(secret)
        for position in range(0, len(secret), 7):
            changed = secret[:position] + chr(ord(secret[position]) ^ 1) + secret[position + 1 :]
            assert not _same_cases(seed, seed_from_text(changed)), (secret[:20], position)


def test_secret_text_of_any_length_or_alphabet_is_accepted() -> None:
    for secret in ("x", "9" * 5_000, "ünïcödé \udcff секрет", "a" * 100_000):
        seed = seed_from_text(secret)
        assert seed == seed_from_text(f"  {secret}\n")  # a seed file's newline does not count
        assert full_cases(seed).id == full_cases(seed).id


# --- hidden inputs never reach what a student sees ------------------------------------------

# Student code that smuggles its input out through every text channel it controls: exception
# messages, a made-up exception class, printed output, a made-up returned type, a fake location.
# rnn_forward is right on the public shapes, so the first failure a report quotes is a hidden one.
SMUGGLER = {
    "rnn_forward": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    print("x is", x.tolist(), "code", _code(x))
    if tuple(x.shape) in {(1, 5, 1), (2, 3, 2), (3, 4, 3), (1, 6, 1)}:
        h, states = h0, []
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ W_xh + h @ W_hh + b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
    raise ValueError(f"{x.tolist()} code {_code(x)}")


def _code(x):
    return "Q" + "".join(f"{int(abs(v) * 1e6) % 1000000:06d}" for v in x.flatten()[:3].tolist())
""",
    "rnn_forward_fused": """\
SEEN = []


def rnn_forward_fused(x, h0, W_xh, W_hh, b_h):
    # Its public calls come after rnn_forward's hidden ones, which live on in the same process.
    import gc
    SEEN.extend(_code(t) for t in gc.get_objects() if isinstance(t, torch.Tensor) and t.dim() == 3)
    raise type(_code(x), (Exception,), {})("seen " + " ".join(SEEN))
""",
    "to_nn_rnn": """\
def to_nn_rnn(W_xh, W_hh, b_h):
    code = "Q" + "".join(f"{int(abs(v) * 1e6) % 1000000:06d}" for v in W_xh.flatten()[:3].tolist())
    exec(compile("\\n" * 40 + f"raise KeyError({code!r})", f"<cell {code[1:9]}>", "exec"))
""",
    "init_weights": """\
def init_weights(input_size, hidden_size, seed=0):
    return type("S" + str(seed), (), {})()
""",
}


def _codes(tensor: torch.Tensor) -> set[str]:
    """How the smuggler spells a tensor: its digit code and the repr of its first value."""
    values = tensor.flatten()[:3].tolist()
    digits = "".join(f"{int(abs(v) * 1e6) % 1000000:06d}" for v in values)
    return {digits, digits[:8], repr(values[0])}


@pytest.fixture(scope="module")
def smuggled(sandbox: Sandbox) -> tuple[GradeResult, set[str], GradeResult]:
    """The smuggler graded with hidden cases (and the codes of those), and by the self-check."""
    submission = notebook(correct_cells(**SMUGGLER))
    with Grader(GradeOptions(assignment="rnn_forward", public_only=True), sandbox) as grader:
        self_check = grader.grade_bytes(submission, name="smuggler.ipynb")
    options = GradeOptions(assignment="rnn_forward", grading_seed=seed_from_text(SECRET))
    with Grader(options, sandbox) as grader:
        result = grader.grade_bytes(submission, name="smuggler.ipynb")
        hidden = set()
        for case in grader.cases.forward:
            if not case.public:
                hidden |= _codes(case.x) | _codes(case["W_xh"])
        hidden |= {f"S{size[2]}" for size in grader.cases.calls["init_weights"][3:]}
    return result, hidden, self_check


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")
@pytest.mark.parametrize("fmt", [*sorted(RENDERERS), "github", "notebook", "notebook-html"])
def test_hidden_inputs_never_reach_a_report_when_the_student_prints_or_raises_them(
    fmt: str, smuggled: tuple[GradeResult, set[str], GradeResult]
) -> None:
    result, hidden, self_check = smuggled
    rendered = _shown(result, fmt)
    leaked = sorted(code for code in hidden if code in rendered)
    assert not leaked, f"{fmt} report quotes hidden inputs: {leaked[:3]}"
    assert "withheld" in rendered
    # The self-check runs public cases only: there the student sees their own messages and prints.
    shown = _shown(self_check, fmt)
    assert "withheld" not in shown and "seen Q" in shown


def _shown(result: GradeResult, fmt: str) -> str:
    """What a reader of the report sees (the Classroom result is base64 of JSON)."""
    text = render(result, fmt)
    return base64.b64decode(text).decode() if fmt == "classroom" else text


HALVED = {
    "rnn_forward": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_xh + h @ W_hh + b_h)
        states.append(h / 2)
    return torch.stack(states, dim=1), h / 2
""",
}


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")
def test_a_grade_with_hidden_cases_lists_none_of_the_students_output_values(
    sandbox: Sandbox,
) -> None:
    # A public call's output could spell hidden inputs it found in memory, so only the self-check
    # plots the student's hidden states.
    submission = notebook(correct_cells(**HALVED))
    listed = {}
    for public_only in (True, False):
        options = GradeOptions(
            assignment="rnn_forward", public_only=public_only, grading_seed=seed_from_text(SECRET)
        )
        with Grader(options, sandbox) as grader:
            result = grader.grade_bytes(submission, name="halved.ipynb")
        values = next(c for c in result.checks if c.id == "rnn_forward.values")
        listed[public_only] = {"actual", "trajectory"} & set(values.details)
        assert ("<figure" in render(result, "html")) is public_only
    assert listed == {True: {"actual", "trajectory"}, False: set()}
