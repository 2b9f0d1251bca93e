"""Seeded inputs: the public cases students see and the hidden ones derived from a grading seed.

Cases never come from files a student could read; each is a pure function of a seed. Each hidden
case draws from its own generator, seeded by HMAC-SHA-256 of the whole grading seed and the case's
name: torch's CPU generator keeps only 32 bits of a seed, so one shared generator let anyone who
saw a hidden input brute-force it and predict every other case. Now recovering one case's
generator seed reveals neither the secret nor any other case.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from grader.settings import HIDDEN_CASE_COUNT, PUBLIC_SEED, seed_from_text

__all__ = [
    "CaseSet",
    "ForwardCase",
    "course_case",
    "derived_seed",
    "full_cases",
    "public_cases",
    "random_case",
    "seed_from_text",
]


@dataclass(frozen=True, kw_only=True)
class ForwardCase:
    """Inputs for one rnn_forward / rnn_forward_fused / to_nn_rnn call."""

    name: str  # e.g. "course", "public-2", "hidden-5"; hidden names reveal nothing
    public: bool  # shown in self-check and feedback
    x: torch.Tensor  # (batch, seq, input) in the case's dtype, on CPU
    h0: torch.Tensor  # (batch, hidden)
    W_xh: torch.Tensor  # (input, hidden)
    W_hh: torch.Tensor  # (hidden, hidden)
    b_h: torch.Tensor  # (hidden,)

    @property
    def dtype(self) -> str:
        return str(self.x.dtype).removeprefix("torch.")

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """(batch, seq, input, hidden)."""
        batch, seq, inputs = self.x.shape
        return batch, seq, inputs, self.W_hh.shape[0]


@dataclass(frozen=True, kw_only=True)
class CaseSet:
    """Every input the grader feeds the student's functions for one grade."""

    name: str  # "public" or "full"
    calls: dict[str, tuple[tuple[int, ...], ...]]  # function -> its calls' plain-number arguments
    public_calls: int  # how many leading calls of each of those are public
    forward: tuple[ForwardCase, ...]  # for rnn_forward and rnn_forward_fused
    probes: tuple[int, ...]  # indices into forward: to_nn_rnn runs on these, and they are traced

    @property
    def id(self) -> str:
        """Fingerprint of the exact inputs: changes when the grading seed does."""
        digest = hashlib.sha256(repr((*self.calls.values(), self.probes)).encode())
        for case in self.forward:
            for tensor in (case.x, case.h0, case.W_xh, case.W_hh, case.b_h):
                digest.update(repr(tensor.tolist()).encode())
        return digest.hexdigest()[:16]


def course_case() -> ForwardCase:
    """The course notebook's example: x = 1..5 as (1, 5, 1), hidden 4, seed 0, zero h0 and b_h."""
    generator = torch.Generator().manual_seed(0)
    return ForwardCase(
        name="course",
        public=True,
        x=torch.arange(1, 6, dtype=torch.float32).reshape(1, 5, 1),
        h0=torch.zeros(1, 4),
        W_xh=torch.randn(1, 4, generator=generator),
        W_hh=torch.randn(4, 4, generator=generator),
        b_h=torch.zeros(4),
    )


def random_case(
    name: str, dims: tuple[int, int, int, int], dtype: torch.dtype, generator: torch.Generator
) -> ForwardCase:
    """Random inputs of the given (batch, seq, input, hidden); non-zero h0 and b_h on purpose."""
    batch, seq, inputs, hidden = dims
    scale = hidden**-0.5  # keeps tanh out of saturation, where many bugs would hide

    def draw(*shape: int, factor: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator, dtype=torch.float64) * factor).to(dtype)

    return ForwardCase(
        name=name,
        public=name.startswith("public"),
        x=draw(batch, seq, inputs),
        h0=draw(batch, hidden, factor=0.5),
        W_xh=draw(inputs, hidden, factor=scale),
        W_hh=draw(hidden, hidden, factor=scale),
        b_h=draw(hidden, factor=0.5),
    )


# How many init_hidden sizes and init_weights calls lead every case set as its public part.
PUBLIC_CALLS = 3
PUBLIC_DIMS: tuple[tuple[int, int, int, int], ...] = ((2, 3, 2, 3), (3, 4, 3, 2), (1, 6, 1, 5))
# Shapes every hidden set holds, so transposition, batch and length bugs always show.
HIDDEN_DIMS: tuple[tuple[int, int, int, int], ...] = ((3, 7, 2, 5), (4, 12, 5, 8), (2, 1, 3, 2))


# The course case, a float64 public case and the fixed hidden shapes (lengths 1 to 12) show how
# to_nn_rnn maps weights and how a forward is built; tracing costs as much as the call itself.
PROBE_CASES: tuple[int, ...] = (0, 2, 4, 5, 6)


def public_cases() -> CaseSet:
    """The cases a student sees: the course example and a few small random ones."""
    generator = torch.Generator().manual_seed(PUBLIC_SEED)
    dtypes = (torch.float32, torch.float64, torch.float32)
    forward = [course_case()]
    for index, (dims, dtype) in enumerate(zip(PUBLIC_DIMS, dtypes, strict=True), start=1):
        forward.append(random_case(f"public-{index}", dims, dtype, generator))
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


def full_cases(grading_seed: int) -> CaseSet:
    """Public cases plus hidden ones derived from every bit of the grading seed."""
    public = public_cases()
    hidden = [
        random_case(name, dims, dtype, _generator(grading_seed, name))
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


def derived_seed(grading_seed: int, purpose: str) -> int:
    """A 64-bit seed for one use (`purpose`), as HMAC-SHA-256 keyed by the whole grading seed."""
    key = str(grading_seed).encode("ascii")  # every digit of an integer of any size
    digest = hmac.new(key, purpose.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def _generator(grading_seed: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(grading_seed, purpose))


def _hidden_plan(grading_seed: int) -> Iterator[tuple[str, tuple[int, int, int, int], torch.dtype]]:
    """(name, dims, dtype) of each hidden case; random sizes come from the case's own seed."""
    dtypes = (torch.float32, torch.float64)
    for index in range(HIDDEN_CASE_COUNT):
        name = f"hidden-{index + 1}"
        if index < len(HIDDEN_DIMS):
            dims = HIDDEN_DIMS[index]
        else:
            dims = _random_dims(_generator(grading_seed, f"{name}-dims"))
        yield name, dims, dtypes[index % 2]


def _random_dims(generator: torch.Generator) -> tuple[int, int, int, int]:
    """(batch 1-4, seq 1-12, input 1-5, hidden 1-8), as DESIGN.md §4 asks."""

    def pick(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    return pick(1, 4), pick(1, 12), pick(1, 5), pick(1, 8)
