"""Reference answers from the solution's functions, and known mistakes replayed in float64.

The answers come from the assignment's solution notebook (`load.py`); `forward` and its `Variant`
knobs only replay mistakes. Only the grader's own process imports this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from grader.cases import CaseSet, ForwardCase

Activation = Literal["tanh", "relu", "sigmoid", "none"]


@dataclass(frozen=True, kw_only=True)
class Variant:
    """How a forward pass differs from the correct one (all defaults: the correct one)."""

    activation: Activation = "tanh"  # the nonlinearity applied to the pre-activation
    transpose_whh: bool = False  # uses W_hh.T instead of W_hh
    bias: bool = True  # adds b_h
    use_h0: bool = True  # starts from the given h0 (False: from zeros)
    pre_activation: bool = False  # returns the pre-activations instead of h_t
    swap_concat: bool = False  # fused: cat([h, x_t]) against cat([W_xh, W_hh])
    swap_weights: bool = False  # fused: cat([x_t, h]) against cat([W_hh, W_xh])


CORRECT = Variant()


def _activate(z: torch.Tensor, activation: Activation) -> torch.Tensor:
    if activation == "tanh":
        return torch.tanh(z)
    if activation == "relu":
        return torch.relu(z)
    if activation == "sigmoid":
        return torch.sigmoid(z)
    return z


def forward(
    x: torch.Tensor,
    h0: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    variant: Variant = CORRECT,
) -> torch.Tensor:
    """Hidden states h_1..h_T as (batch, seq, hidden), in float64."""
    x, h, w_xh, w_hh, b = (t.to(torch.float64) for t in (x, h0, W_xh, W_hh, b_h))
    if variant.transpose_whh:
        w_hh = w_hh.T
    if not variant.use_h0:
        h = torch.zeros_like(h)
    steps = []
    for t in range(x.shape[1]):
        z = _pre_activation(x[:, t], h, w_xh, w_hh, variant)
        if variant.bias:
            z = z + b
        h = _activate(z, variant.activation)
        steps.append(z if variant.pre_activation else h)
    return torch.stack(steps, dim=1) if steps else x.new_zeros(x.shape[0], 0, w_hh.shape[0])


def _pre_activation(
    x_t: torch.Tensor, h: torch.Tensor, w_xh: torch.Tensor, w_hh: torch.Tensor, variant: Variant
) -> torch.Tensor:
    if variant.swap_concat and w_xh.shape[0] + w_hh.shape[0] > 0:
        stacked = torch.cat([w_xh, w_hh], 0)
        return torch.cat([h, x_t], 1) @ stacked
    if variant.swap_weights and w_xh.shape[0] + w_hh.shape[0] > 0:
        return torch.cat([x_t, h], 1) @ torch.cat([w_hh, w_xh], 0)
    return x_t @ w_xh + h @ w_hh


def init_weights(
    input_size: int, hidden_size: int, seed: int, *, hidden_first: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The seeded draws: randn(input, hidden), randn(hidden, hidden), zeros(hidden).

    hidden_first=True replays the common mistake of drawing W_hh before W_xh.
    """
    generator = torch.Generator().manual_seed(seed)
    xh, hh = (input_size, hidden_size), (hidden_size, hidden_size)
    first = torch.randn(*(hh if hidden_first else xh), generator=generator)
    second = torch.randn(*(xh if hidden_first else hh), generator=generator)
    w_xh, w_hh = (second, first) if hidden_first else (first, second)
    return w_xh, w_hh, torch.zeros(hidden_size)


@functools.lru_cache(maxsize=64)
def _rnn(inputs: int, hidden: int) -> torch.nn.RNN:
    """One float64 nn.RNN per shape; every use overwrites all of its parameters first."""
    return torch.nn.RNN(inputs, hidden, batch_first=True).double()


_PARAMETERS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
_NN_RNN_MEMO: dict[tuple[bytes, ...], torch.Tensor] = {}  # exact inputs -> output


def nn_rnn_forward(
    params: dict[str, torch.Tensor], x: torch.Tensor, h0: torch.Tensor
) -> torch.Tensor:
    """Output of a fresh float64 nn.RNN(batch_first=True) loaded with the given parameters.

    Remembered by the exact bytes of every input: most students return the same parameters
    (an exact transpose), so a batch runs the module once per distinct set. Do not modify it.
    """
    weights = {name: params[name].to(torch.float64) for name in _PARAMETERS}
    x64, h64 = x.to(torch.float64), h0.to(torch.float64)
    every = (*weights.values(), x64, h64)
    key = tuple(repr(t.shape).encode() + t.detach().numpy().tobytes() for t in every)
    if (known := _NN_RNN_MEMO.get(key)) is not None:
        return known
    hidden, inputs = weights["weight_ih_l0"].shape
    module = _rnn(inputs, hidden)
    with torch.no_grad():
        for name, value in weights.items():
            getattr(module, name).copy_(value)  # all four, every time
        output: torch.Tensor = module(x64, h64.unsqueeze(0))[0]
    if len(_NN_RNN_MEMO) >= 4096:
        _NN_RNN_MEMO.clear()
    _NN_RNN_MEMO[key] = output
    return output


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
