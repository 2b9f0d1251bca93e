"""Known mistakes, replayed on the reference: when a wrong answer matches one, name it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from grader import reference
from grader.cases import ForwardCase
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
                  hint="output is one step behind: store h_t after computing it, not before"),
    Misconception(name="last-step-dropped", replay=_dropped_last,
                  hint="the last time step is missing: loop over all seq_len steps"),
    Misconception(name="concat-order-swapped", replay=_variant(swap_concat=True), fused_only=True,
                  hint="cat([h, x_t]) does not line up with cat([W_xh, W_hh]): same order in both"),
)  # fmt: skip


def diagnose(case: ForwardCase, actual: torch.Tensor, *, fused: bool) -> Misconception | None:
    """The known mistake that reproduces `actual` on this case, if exactly one kind does."""
    correct = reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h)
    tol = TOLERANCES[case.dtype]
    got = actual.to(torch.float64)
    for mistake in KNOWN:
        if mistake.fused_only and not fused:
            continue
        replay = mistake.replay(case)
        if replay.shape != got.shape:
            continue
        if replay.shape == correct.shape and torch.allclose(
            replay, correct, rtol=tol.rtol, atol=tol.atol
        ):
            continue  # this case cannot tell the mistake apart from the right answer
        if torch.allclose(got, replay, rtol=tol.rtol, atol=tol.atol):
            return mistake
    return None
