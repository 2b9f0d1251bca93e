"""The simple RNN's seeded inputs: the public cases students see, the hidden ones from a seed."""

import torch

from grader.cases import Case, CaseSet, derived_seed, generator
from grader.settings import HIDDEN_CASE_COUNT, PUBLIC_SEED

# h_1..h_5 the solution's demo prints (seed 0, x = 1..5, hidden 4), to 4 decimals: preflight.
GOLDEN = {1: (0.9123, -0.2853, -0.9747, 0.5142), 2: (0.9988, 0.6723, -0.9996, -0.6054),
          3: (1.0000, 0.8938, -1.0000, 0.9218), 4: (1.0000, 0.6597, -1.0000, 0.7797),
          5: (1.0000, 0.3970, -1.0000, 0.9115)}  # fmt: skip


def forward_case(name, x, h0, W_xh, W_hh, b_h):
    tensors = {"x": x, "h0": h0, "W_xh": W_xh, "W_hh": W_hh, "b_h": b_h}
    return Case(name=name, public=name.startswith(("public", "course")), tensors=tensors,
                hidden=W_hh.shape[0])  # fmt: skip


def course_case():
    """The course notebook's example: x = 1..5 as (1, 5, 1), hidden 4, seed 0, zero h0 and b_h."""
    draws = torch.Generator().manual_seed(0)
    x = torch.arange(1, 6, dtype=torch.float32).reshape(1, 5, 1)
    W_xh, W_hh = torch.randn(1, 4, generator=draws), torch.randn(4, 4, generator=draws)
    return forward_case("course", x, torch.zeros(1, 4), W_xh, W_hh, torch.zeros(4))


def random_case(name, dims, dtype, draws):
    """Random inputs of the given (batch, seq, input, hidden); non-zero h0 and b_h on purpose."""
    batch, seq, inputs, hidden = dims
    scale = hidden**-0.5  # keeps tanh out of saturation, where many bugs would hide

    def draw(*shape, factor=1.0):
        return (torch.randn(*shape, generator=draws, dtype=torch.float64) * factor).to(dtype)

    x, h0 = draw(batch, seq, inputs), draw(batch, hidden, factor=0.5)
    W_xh, W_hh = draw(inputs, hidden, factor=scale), draw(hidden, hidden, factor=scale)
    return forward_case(name, x, h0, W_xh, W_hh, draw(hidden, factor=0.5))


# How many init_hidden sizes and init_weights calls lead every case set as its public part.
PUBLIC_CALLS = 3
PUBLIC_DIMS = ((2, 3, 2, 3), (3, 4, 3, 2), (1, 6, 1, 5))
# Shapes every hidden set holds, so transposition, batch and length bugs always show.
HIDDEN_DIMS = ((3, 7, 2, 5), (4, 12, 5, 8), (2, 1, 3, 2))
# The course case, a float64 public case and the fixed hidden shapes (lengths 1 to 12) show how
# to_nn_rnn maps weights and how a forward is built; tracing costs as much as the call itself.
PROBE_CASES = (0, 2, 4, 5, 6)


def public_cases():
    """The cases a student sees: the course example and a few small random ones."""
    draws = torch.Generator().manual_seed(PUBLIC_SEED)
    dtypes = (torch.float32, torch.float64, torch.float32)
    forward = [course_case()]
    for index, (dims, dtype) in enumerate(zip(PUBLIC_DIMS, dtypes, strict=True), start=1):
        forward.append(random_case(f"public-{index}", dims, dtype, draws))
    return CaseSet(
        name="public",
        calls={
            "init_hidden": ((1, 4), (3, 2), (2, 7)),  # (batch, hidden)
            "init_weights": ((1, 4, 0), (3, 2, 1), (2, 5, 42)),  # (input, hidden, seed)
        },
        public_calls=PUBLIC_CALLS,
        forward=tuple(forward),
        probes=tuple(range(len(forward))),
    )


def full_cases(grading_seed):
    """Public cases plus hidden ones derived from every bit of the grading seed."""
    public = public_cases()
    hidden = [
        random_case(name, dims, dtype, generator(grading_seed, name))
        for name, dims, dtype in _hidden_plan(grading_seed)
    ]
    seeds = [derived_seed(grading_seed, f"init_weights-{i}") % (2**31 - 1) for i in range(1, 4)]
    return CaseSet(
        name="full",
        calls={
            "init_hidden": (*public.calls["init_hidden"], (4, 8), (1, 1)),
            "init_weights": (*public.calls["init_weights"], *((5, 8, s) for s in seeds)),
        },
        public_calls=PUBLIC_CALLS,
        forward=(*public.forward, *hidden),
        probes=PROBE_CASES,
    )


def _hidden_plan(grading_seed):
    """(name, dims, dtype) of each hidden case; random sizes come from the case's own seed."""
    dtypes = (torch.float32, torch.float64)
    for index in range(HIDDEN_CASE_COUNT):
        name = f"hidden-{index + 1}"
        if index < len(HIDDEN_DIMS):
            dims = HIDDEN_DIMS[index]
        else:
            dims = _random_dims(generator(grading_seed, f"{name}-dims"))
        yield name, dims, dtypes[index % 2]


def _random_dims(draws):
    """(batch 1-4, seq 1-12, input 1-5, hidden 1-8), as DESIGN.md §4 asks."""

    def pick(low, high):
        return int(torch.randint(low, high + 1, (1,), generator=draws))

    return pick(1, 4), pick(1, 12), pick(1, 5), pick(1, 8)
