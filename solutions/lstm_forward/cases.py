"""The LSTM's seeded inputs: the public cases students see, the hidden ones from a seed."""

import torch

from grader.cases import Case, CaseSet, derived_seed, generator
from grader.settings import HIDDEN_CASE_COUNT, PUBLIC_SEED

# h_1..h_5 the solution's demo prints (seed 0, x = 1..5, hidden 4), to 4 decimals: preflight.
GOLDEN = {1: (0.0404, -0.1564, 0.1101, 0.0513), 2: (0.0538, -0.2261, 0.3249, 0.0982),
          3: (0.0491, -0.2516, 0.4712, 0.0857), 4: (0.0465, -0.2572, 0.4928, 0.0519),
          5: (0.0499, -0.2559, 0.4339, 0.0285)}  # fmt: skip

NAMES = ("x", "h0", "c0", "W_xh", "W_hh", "b")


def forward_case(name, *tensors):
    named = dict(zip(NAMES, tensors, strict=True))
    public = name.startswith(("public", "course"))
    return Case(name=name, public=public, tensors=named, hidden=named["h0"].shape[1])


def course_case():
    """The notebook's example: x = 1..5 as (1, 5, 1), hidden 4, seed 0, zero h0, c0 and b."""
    draws = torch.Generator().manual_seed(0)
    x = torch.arange(1, 6, dtype=torch.float32).reshape(1, 5, 1)
    W_xh, W_hh = torch.randn(1, 16, generator=draws), torch.randn(4, 16, generator=draws)
    return forward_case("course", x, torch.zeros(1, 4), torch.zeros(1, 4), W_xh, W_hh,
                        torch.zeros(16))  # fmt: skip


def random_case(name, dims, dtype, draws):
    """Random inputs of (batch, seq, input, hidden); non-zero h0, c0 and b on purpose."""
    batch, seq, inputs, hidden = dims
    scale = hidden**-0.5  # keeps the gates out of saturation, where many bugs would hide

    def draw(*shape, factor=1.0):
        return (torch.randn(*shape, generator=draws, dtype=torch.float64) * factor).to(dtype)

    x, h0, c0 = draw(batch, seq, inputs), draw(batch, hidden, factor=0.5), draw(batch, hidden)
    W_xh, W_hh = draw(inputs, 4 * hidden, factor=scale), draw(hidden, 4 * hidden, factor=scale)
    return forward_case(name, x, h0, c0, W_xh, W_hh, draw(4 * hidden, factor=0.5))


PUBLIC_CALLS = 3
PUBLIC_DIMS = ((2, 3, 2, 3), (3, 4, 3, 2), (1, 6, 1, 5))
HIDDEN_DIMS = ((3, 7, 2, 5), (4, 12, 5, 8), (2, 1, 3, 2))
PROBE_CASES = (0, 2, 4, 5, 6)  # traced, and where to_nn_lstm runs


def public_cases():
    draws = torch.Generator().manual_seed(PUBLIC_SEED)
    dtypes = (torch.float32, torch.float64, torch.float32)
    forward = [course_case()]
    for index, (dims, dtype) in enumerate(zip(PUBLIC_DIMS, dtypes, strict=True), start=1):
        forward.append(random_case(f"public-{index}", dims, dtype, draws))
    calls = {"init_state": ((1, 4), (3, 2), (2, 7)),
             "init_weights": ((1, 4, 0), (3, 2, 1), (2, 5, 42))}  # fmt: skip
    return CaseSet(name="public", calls=calls, public_calls=PUBLIC_CALLS, forward=tuple(forward),
                   probes=tuple(range(len(forward))))  # fmt: skip


def full_cases(grading_seed):
    public = public_cases()
    dtypes = (torch.float32, torch.float64)
    hidden = []
    for index in range(HIDDEN_CASE_COUNT):
        name = f"hidden-{index + 1}"
        dims = HIDDEN_DIMS[index] if index < len(HIDDEN_DIMS) else _random_dims(grading_seed, name)
        hidden.append(random_case(name, dims, dtypes[index % 2], generator(grading_seed, name)))
    seeds = [derived_seed(grading_seed, f"init_weights-{i}") % (2**31 - 1) for i in range(1, 4)]
    weights = (*public.calls["init_weights"], *((5, 8, s) for s in seeds))
    calls = {"init_state": (*public.calls["init_state"], (4, 8), (1, 1)), "init_weights": weights}
    return CaseSet(name="full", calls=calls, public_calls=PUBLIC_CALLS,
                   forward=(*public.forward, *hidden), probes=PROBE_CASES)  # fmt: skip


def _random_dims(grading_seed, name):
    """(batch 1-4, seq 1-12, input 1-5, hidden 1-8) from the case's own seed."""
    draws = generator(grading_seed, f"{name}-dims")
    return tuple(int(torch.randint(low, high + 1, (1,), generator=draws))
                 for low, high in ((1, 4), (1, 12), (1, 5), (1, 8)))  # fmt: skip
