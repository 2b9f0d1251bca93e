"""What the child captures and sends back: capped output, the torch calls, returned values.

Bound to torch's own functions while the fork server starts, before any student code can patch them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from grader.sandbox import wire

_type = type
_isinstance = isinstance
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_Module = torch.nn.Module
_RNN = torch.nn.RNN
_encode_tensor = wire.encode_tensor
MATRIX_PRODUCTS = frozenset(
    {
        "mm", "matmul", "__matmul__", "__rmatmul__", "addmm", "addmm_", "bmm", "baddbmm",
        "einsum", "linear", "mv", "addmv", "dot", "inner", "tensordot", "chain_matmul",
        "addbmm", "vdot", "multi_dot", "bilinear",
    }
)  # fmt: skip
_MODULE_FIELDS = (
    "mode", "input_size", "hidden_size", "num_layers", "nonlinearity", "bias",
    "batch_first", "bidirectional", "dropout", "proj_size",
)  # fmt: skip
_TRACE_CAP = 5000


class CappedText:
    """A write-only text stream that keeps the first `cap` characters."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: object) -> int:
        text = str(text)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts = []
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output dropped ...]\n"
            self.dropped = 0
        return text


class Recorder(TorchFunctionMode):
    """Counts the torch calls a function makes; matrix products with their operand shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.products: list[list[Any]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = _name(func)
        self.counts[name] = self.counts.get(name, 0) + 1
        if name in MATRIX_PRODUCTS and len(self.products) < _TRACE_CAP:
            shapes = [list(a.shape) for a in args if _isinstance(a, _Tensor)]
            self.products.append([name, shapes])
        return func(*args, **(kwargs or {}))


_NAMES: dict[Any, str] = {}  # torch function -> name, filled while warming up in the fork server


def _name(func: Any) -> str:
    try:
        return _NAMES[func]
    except KeyError:
        name = _NAMES[func] = str(getattr(func, "__name__", "?"))
        return name
    except TypeError:  # an unhashable callable: look its name up every time
        return str(getattr(func, "__name__", "?"))


def encode_value(value: Any, depth: int = 0) -> dict[str, Any]:
    """Any returned object -> plain data; tensors must be exactly torch.Tensor (or Parameter)."""
    kind = _type(value)
    if kind is _Tensor or kind is _Parameter:
        return _encode_tensor(value)
    if kind in (tuple, list) and depth < 3 and len(value) <= 16:
        return {"t": kind.__name__, "items": [encode_value(v, depth + 1) for v in value]}
    if kind in (int, float, bool, str, _type(None)):
        return {"t": "scalar", "v": value if kind is not str else value[:200]}
    if _isinstance(value, _Module):
        return _encode_module(value, kind)
    return {"t": "other", "type": f"{kind.__module__}.{kind.__qualname__}",
            "tensor_subclass": issubclass(kind, _Tensor)}  # fmt: skip


def _encode_module(module: Any, kind: type) -> dict[str, Any]:
    config = {}
    for field in _MODULE_FIELDS:
        item = getattr(module, field, None)
        if _type(item) in (int, float, bool, str):
            config[field] = item
    params = {}
    for name, param in list(module.named_parameters())[:16]:
        if _isinstance(param, _Tensor):
            params[str(name)] = _encode_tensor(param)
    return {"t": "module", "type": f"{kind.__module__}.{kind.__qualname__}",
            "exact_rnn": kind is _RNN, "config": config, "params": params}  # fmt: skip
