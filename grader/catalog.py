"""The ten stable check ids and their points (DESIGN.md §3). Reports and gradebooks key on them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    """A check's identity and weight."""

    id: str  # stable id, "<function>.<aspect>"
    points: float  # points available
    title: str  # short human description


CATALOG: tuple[CheckSpec, ...] = (
    CheckSpec(id="init_hidden.shape", points=2, title="init_hidden returns (batch, hidden)"),
    CheckSpec(id="init_hidden.values", points=3, title="init_hidden is all zeros, floating point"),
    CheckSpec(id="init_weights.shape", points=4, title="init_weights returns the three shapes"),
    CheckSpec(id="init_weights.values", points=6, title="init_weights matches the seeded draws"),
    CheckSpec(id="rnn_forward.shape", points=10, title="rnn_forward output and h_n shapes"),
    CheckSpec(id="rnn_forward.values", points=30, title="rnn_forward hidden states, step by step"),
    CheckSpec(id="rnn_forward_fused.values", points=15, title="rnn_forward_fused hidden states"),
    CheckSpec(id="rnn_forward_fused.structure", points=5, title="one matrix product per time step"),
    CheckSpec(id="to_nn_rnn.module", points=5, title="to_nn_rnn returns the right nn.RNN"),
    CheckSpec(id="to_nn_rnn.parity", points=20, title="nn.RNN from the parameters matches"),
)

FUNCTIONS: tuple[str, ...] = (
    "init_hidden",
    "init_weights",
    "rnn_forward",
    "rnn_forward_fused",
    "to_nn_rnn",
)

SPECS: dict[str, CheckSpec] = {spec.id: spec for spec in CATALOG}
MAX_SCORE = sum(spec.points for spec in CATALOG)
