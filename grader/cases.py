"""What a case is, for any assignment: named input tensors, and the set of them one grade runs.

Each assignment declares its own cases (a `cases.py` beside its spec, DESIGN.md §7); the engine
only knows their shape. Cases never come from files a student could read; each is a pure function
of a seed. `derived_seed` gives each hidden case its own seed, by HMAC-SHA-256 of the whole
grading seed and the case's name: torch's CPU generator keeps only 32 bits of a seed, so one
shared generator let anyone who saw a hidden input brute-force it and predict every other case.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

import torch

__all__ = ["Case", "CaseSet", "derived_seed", "generator"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Case:
    """Inputs for one call of each forward-style function: tensors named as its parameters."""

    name: str  # e.g. "course", "public-2", "hidden-5"; hidden names reveal nothing
    public: bool  # shown in self-check and feedback
    tensors: Mapping[str, torch.Tensor]  # parameter -> tensor on CPU; "x" is (batch, seq, input)
    hidden: int  # the hidden size

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    @property
    def x(self) -> torch.Tensor:
        """The input sequence, batch-first."""
        return self.tensors["x"]

    @property
    def dtype(self) -> str:
        return str(self.x.dtype).removeprefix("torch.")

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """(batch, seq, input, hidden)."""
        batch, seq, inputs = self.x.shape
        return batch, seq, inputs, self.hidden


@dataclass(frozen=True, kw_only=True)
class CaseSet:
    """Every input the grader feeds the student's functions for one grade."""

    name: str  # "public" or "full"
    calls: dict[str, tuple[tuple[int, ...], ...]]  # function -> its calls' plain-number arguments
    public_calls: int  # how many leading calls of each of those are public
    forward: tuple[Case, ...]  # for the functions that take tensors
    probes: tuple[int, ...]  # indices into forward: module functions run on these; traced

    @property
    def id(self) -> str:
        """Fingerprint of the exact inputs: changes when the grading seed does."""
        digest = hashlib.sha256(repr((*self.calls.values(), self.probes)).encode())
        for case in self.forward:
            for tensor in case.tensors.values():
                digest.update(repr(tensor.tolist()).encode())
        return digest.hexdigest()[:16]


def derived_seed(grading_seed: int, purpose: str) -> int:
    """A 64-bit seed for one use (`purpose`), as HMAC-SHA-256 keyed by the whole grading seed."""
    key = str(grading_seed).encode("ascii")  # every digit of an integer of any size
    digest = hmac.new(key, purpose.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def generator(grading_seed: int, purpose: str) -> torch.Generator:
    """A generator of its own for one use of the grading seed."""
    return torch.Generator().manual_seed(derived_seed(grading_seed, purpose))
