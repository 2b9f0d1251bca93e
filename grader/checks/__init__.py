"""Pure checks: observations of the student's code against the reference, one per stable id."""

from __future__ import annotations

from collections.abc import Callable

from grader.checks import forward, fused, initial, module
from grader.checks.common import Context, Verdict

CheckFunction = Callable[[Context], Verdict]

CHECKS: dict[str, CheckFunction] = {
    "init_hidden.shape": initial.init_hidden_shape,
    "init_hidden.values": initial.init_hidden_values,
    "init_weights.shape": initial.init_weights_shape,
    "init_weights.values": initial.init_weights_values,
    "rnn_forward.shape": forward.forward_shape,
    "rnn_forward.values": forward.forward_values("rnn_forward"),
    "rnn_forward_fused.values": forward.forward_values("rnn_forward_fused"),
    "rnn_forward_fused.structure": fused.fused_structure,
    "to_nn_rnn.module": module.module_check,
    "to_nn_rnn.parity": module.parity_check,
}

__all__ = ["CHECKS", "CheckFunction", "Context", "Verdict"]
