"""Known mistakes, replayed on the reference: when a wrong answer matches one, name it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from grader import reference
from grader.cases import ForwardCase
from grader.compare import allclose
from grader.reference import Variant
from grader.settings import TOLERANCES


@dataclass(frozen=True, kw_only=True)
class Misconception:
    """A mistake students make and what it does to the output."""

    name: str  # short id, stable for analytics
    hint: str  # what to look at, without giving the code away
    replay: Callable[[ForwardCase], torch.Tensor]  # the output that mistake produces
    fused_only: bool = False  # only meaningful for rnn_forward_fused


def _variant(**changes: object) -> Callable[[ForwardCase], torch.Tensor]:
    variant = Variant(**changes)  # type: ignore[arg-type]
    return lambda c: reference.forward(c.x, c.h0, c.W_xh, c.W_hh, c.b_h, variant)


def _with_h0(case: ForwardCase) -> torch.Tensor:
    states = reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h)
    return torch.cat([case.h0.to(torch.float64).unsqueeze(1), states], dim=1)


def _shifted(case: ForwardCase) -> torch.Tensor:
    return _with_h0(case)[:, :-1]


def _dropped_last(case: ForwardCase) -> torch.Tensor:
    return reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h)[:, :-1]


def _time_first(case: ForwardCase) -> torch.Tensor:
    return reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h).transpose(0, 1)


def _first_row(case: ForwardCase) -> torch.Tensor:
    return reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h)[:1]


KNOWN: tuple[Misconception, ...] = (
    Misconception(name="whh-transposed", replay=_variant(transpose_whh=True),
                  hint="W_hh looks transposed: with row-vector states the recurrence is h @ W_hh"),
    Misconception(name="bias-missing", replay=_variant(bias=False),
                  hint="the bias b_h is never added to the pre-activation"),
    Misconception(name="relu", replay=_variant(activation="relu"),
                  hint="this looks like relu: the simple RNN squashes with tanh"),
    Misconception(name="sigmoid", replay=_variant(activation="sigmoid"),
                  hint="this looks like sigmoid: the simple RNN squashes with tanh"),
    Misconception(name="no-activation", replay=_variant(activation="none"),
                  hint="no nonlinearity is applied: each h_t should go through tanh"),
    Misconception(name="pre-activation", replay=_variant(pre_activation=True),
                  hint="the stored states are the values before tanh; store h_t after it"),
    Misconception(name="h0-ignored", replay=_variant(use_h0=False),
                  hint="the given h0 is ignored: the first step must start from h0, not zeros"),
    Misconception(name="output-includes-h0", replay=_with_h0,
                  hint="output starts with h0: it should hold h_1..h_T, not the initial state"),
    Misconception(name="output-shifted", replay=_shifted,
                  hint="output is one step behind (h_0..h_{T-1}): it should hold h_1..h_T"),
    Misconception(name="last-step-dropped", replay=_dropped_last,
                  hint="output lacks its last step h_T: it should hold all seq_len steps"),
    Misconception(name="time-first-output", replay=_time_first,
                  hint="output is time-first: stack the steps along dim 1 (batch-first)"),
    Misconception(name="batch-of-one-only", replay=_first_row,
                  hint="only the first sequence comes back: keep every row of the batch"),
    Misconception(name="concat-order-swapped", replay=_variant(swap_concat=True), fused_only=True,
                  hint="cat([h, x_t]) does not line up with cat([W_xh, W_hh]): same order in both"),
    Misconception(name="fused-weights-swapped", replay=_variant(swap_weights=True),
                  fused_only=True,
                  hint="cat([W_hh, W_xh]) does not line up with cat([x_t, h]): same order in both"),
)  # fmt: skip


# Mistakes recognised from shapes, types or structure rather than by replaying values.
HINTS: dict[str, str] = {
    "hard-coded-length": "output has as many steps whatever x's length: one per step of x",
    "overwrites-argument": "an argument was modified in place: build new tensors instead",
    "ignores-input-dtype": "output does not follow x's dtype/device: tensors made inside must"
    " take x's (x.new_zeros(...), dtype=x.dtype)",
    "builtin-rnn": "built-in recurrent kernels (nn.RNN, GRU/LSTM and their cells, torch.rnn_tanh)"
    " do not run while grading: write the recurrence yourself; to_nn_rnn may build an nn.RNN,"
    " but not run it",
    "fused-two-products": "two products per step: multiply cat([x_t, h]) by cat([W_xh, W_hh]) once",
    "init-weights-order": "W_hh was drawn before W_xh: the order of the randn calls matters",
    "nn-linear-layout": "a weight is in nn.Linear's (out, in) layout; here W_xh is (input, hidden)",
    "init-hidden-fixed-rows": "the number of rows stays the same whatever batch_size is",
    "nn-rnn-untransposed": "nn.RNN stores weight_ih_l0 as (hidden, input): copy W_xh.T and W_hh.T",
    "nn-rnn-bias-hh": "nn.RNN adds bias_ih_l0 and bias_hh_l0: b_h in one, zeros in the other",
    "nn-rnn-not-batch-first": "the module must take (batch, seq, feature): batch_first=True",
    "nn-rnn-default-dtype": "nn.RNN is float32 unless told: build it with"
    " nn.RNN(..., dtype=W_xh.dtype), or call .to(W_xh.dtype) / .double() on it",
    "copy-into-parameter-with-grad": "copying into a parameter needs autograd off: wrap the"
    " copy_ calls in `with torch.no_grad():`, or assign rnn.weight_ih_l0 = nn.Parameter(...)",
}


@dataclass(frozen=True, kw_only=True)
class KnownError:
    """An exception that one known mistake raises (its text comes from torch, not from us)."""

    name: str  # the mistake's id, in HINTS
    exception: str  # the exception's type name, as the sandbox reports it
    starts: str  # how the exception's message begins


KNOWN_ERRORS: tuple[KnownError, ...] = (
    KnownError(
        name="builtin-rnn",
        exception="RuntimeError",
        starts="built-in recurrent kernels are disabled while grading",  # sandbox.kernels.MESSAGE
    ),
    KnownError(
        name="copy-into-parameter-with-grad",
        exception="RuntimeError",
        starts="a leaf Variable that requires grad is being used in an in-place operation",
    ),
)


def exception_type(error: str) -> str:
    """The exception's type name in an error as the child reports it ("Type: message")."""
    return error.partition(": ")[0]


def error_mistake(error: str) -> str | None:
    """The known mistake that raises this exception ("Type: message" as the child reports it)."""
    exception, _, message = error.partition(": ")
    for known in KNOWN_ERRORS:
        if exception == known.exception and message.startswith(known.starts):
            return known.name
    return None


def step_offset(case: ForwardCase, output: torch.Tensor) -> int:
    """Where h_1 sits in a batch-first output: 1 when an extra first step equals h0, else 0."""
    steps = case.x.shape[1]
    if output.dim() != 3 or output.shape[1] != steps + 1 or output.shape[0] != case.h0.shape[0]:
        return 0
    tol = TOLERANCES[case.dtype]
    return 1 if allclose(output[:, 0], case.h0, rtol=tol.rtol, atol=tol.atol) else 0


def hint_for(name: str) -> str:
    """The hint of a known mistake, replayed or structural."""
    for mistake in KNOWN:
        if mistake.name == name:
            return mistake.hint
    return HINTS[name]


def tag(details: dict[str, Any], name: str | None) -> dict[str, Any]:
    """Name a recognised mistake in a check's details (first one wins); scoring adds its hint."""
    if name is not None and "misconception" not in details:
        details["misconception"] = name
    return details


def diagnose(case: ForwardCase, actual: torch.Tensor, *, fused: bool) -> Misconception | None:
    """The known mistake that reproduces `actual` on this case, if exactly one kind does."""
    correct, replays = _replays(case)
    tol = TOLERANCES[case.dtype]
    got = actual.to(torch.float64)
    found = []
    for mistake, replay in zip(KNOWN, replays, strict=True):
        if mistake.fused_only and not fused:
            continue
        if replay.shape != got.shape or replay.numel() == 0:
            continue  # an empty replay matches an empty answer without establishing anything
        if allclose(replay, correct, rtol=tol.rtol, atol=tol.atol):
            continue  # this case cannot tell the mistake apart from the right answer
        if allclose(got, replay, rtol=tol.rtol, atol=tol.atol):
            found.append(mistake)
    return found[0] if len(found) == 1 else None  # two that fit: this case cannot tell which


# Case -> (the case, the right answer, each known mistake's answer): a batch replays once per case.
_REPLAYS: dict[int, tuple[ForwardCase, torch.Tensor, tuple[torch.Tensor, ...]]] = {}


def _replays(case: ForwardCase) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    held = _REPLAYS.get(id(case))
    if held is None or held[0] is not case:  # holding the case keeps its id from being reused
        if len(_REPLAYS) >= 256:
            _REPLAYS.clear()
        correct = reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h)
        held = (case, correct, tuple(mistake.replay(case) for mistake in KNOWN))
        _REPLAYS[id(case)] = held
    return held[1], held[2]
