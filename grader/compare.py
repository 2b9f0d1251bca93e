"""How a student's numbers are compared with the reference: torch.allclose's rule, made cheap.

Grading compares thousands of tiny tensors; numpy does it in a third of torch's per-call time.
"""

from __future__ import annotations

import numpy as np
import torch

_NUMPY_FLOATS = frozenset({torch.float32, torch.float64})


def allclose(actual: torch.Tensor, expected: torch.Tensor, *, rtol: float, atol: float) -> bool:
    """|actual - expected| <= atol + rtol * |expected| everywhere; NaN never matches."""
    if actual.shape != expected.shape:
        return False
    ours, theirs = as_float64(actual), as_float64(expected)
    return bool((np.abs(ours - theirs) <= atol + rtol * np.abs(theirs)).all())


def as_float64(tensor: torch.Tensor) -> np.ndarray:
    """A float64 numpy view or copy of a CPU tensor of any real dtype."""
    if tensor.dtype not in _NUMPY_FLOATS:
        tensor = tensor.to(torch.float64)  # bfloat16, half, ints and bools have no cheap view
    return tensor.detach().numpy().astype(np.float64, copy=False)
