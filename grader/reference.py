"""Reference answers for a case set, from the solution notebook's functions, in float64.

The functions come from the assignment's solution notebook (`load.py`), run trusted in the
grader's own process only; a zygote never holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from grader.cases import CaseSet, ForwardCase


@dataclass(frozen=True, kw_only=True)
class Expected:
    """Reference answers for one case set, computed once and shared by every submission."""

    hidden: tuple[torch.Tensor, ...]  # init_hidden, per (batch, hidden) size
    weights: tuple[
        tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...
    ]  # per (input, hidden, seed)
    forward: tuple[torch.Tensor, ...]  # float64 (batch, seq, hidden) per forward case


def expected_for(cases: CaseSet, solution: Mapping[str, Callable[..., Any]]) -> Expected:
    """Reference answers for every call the plan makes, from the solution's own functions."""
    state = torch.get_rng_state()  # init_weights seeds torch's global generator: put it back
    try:
        with torch.no_grad():
            return Expected(
                hidden=tuple(solution["init_hidden"](b, h) for b, h in cases.hidden_sizes),
                weights=tuple(
                    tuple(solution["init_weights"](i, h, seed)) for i, h, seed in cases.weight_sizes
                ),
                forward=tuple(_forward64(solution["rnn_forward"], c) for c in cases.forward),
            )
    finally:
        torch.set_rng_state(state)


def _forward64(function: Callable[..., Any], case: ForwardCase) -> torch.Tensor:
    """The solution's output for this case, its inputs in float64."""
    inputs = (case.x, case.h0, case.W_xh, case.W_hh, case.b_h)
    output: torch.Tensor = function(*(t.to(torch.float64) for t in inputs))[0]
    return output
