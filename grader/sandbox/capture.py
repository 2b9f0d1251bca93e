"""What the child captures and sends back: capped output, the torch calls, returned values.

Bound to torch's own functions while the fork server starts, before any student code can patch them.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from grader.sandbox import wire

_type = type
_isinstance = isinstance
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_Module = torch.nn.Module
_issubclass, _tuple_len, _tuple_item = issubclass, tuple.__len__, tuple.__getitem__
_RECURRENT = (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)  # torch's own classes, not subclasses
_encode_tensor = wire.encode_tensor
# Every entry point that multiplies matrices (or vectors), by the name the tracer sees it under.
MATRIX_PRODUCTS = frozenset(
    {
        "mm", "matmul", "__matmul__", "__rmatmul__", "__imatmul__", "addmm", "addmm_", "bmm",
        "baddbmm", "baddbmm_", "einsum", "linear", "mv", "addmv", "addmv_", "dot", "inner",
        "tensordot", "chain_matmul", "addbmm", "addbmm_", "vdot", "multi_dot", "bilinear",
        "linalg_matmul", "linalg_multi_dot", "linalg_vecdot", "vecdot", "outer", "ger", "addr",
        "addr_", "kron", "matrix_power", "linalg_matrix_power", "_addmm_activation", "_sparse_mm",
        "sparse_mm", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
        "conv_transpose3d", "conv_tbc",
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


DISTURBED = "!tracer-disturbed"  # in a trace's counts: the tracer was tampered with mid-call
UNUSED = "!product-unused"  # in a trace's counts: products whose result no later call read
_stack_depth = torch._C._len_torch_function_stack
_stack_at = torch._C._get_function_stack_at
_modes_enabled = torch._C._is_torch_function_mode_enabled


class Recorder(TorchFunctionMode):
    """Counts the torch calls a function makes; matrix products with their operand shapes.

    The tallies live in closures, not on the object; the harness takes `report` before the
    call, and it marks the trace DISTURBED when the mode left its place on the stack, was
    switched off, had its recording function swapped, or its tallies disagree with a counter."""

    def __init__(self) -> None:
        super().__init__()
        counts: dict[str, int] = {}
        products: list[list[Any]] = []
        ticks = itertools.count()
        seen: dict[str, Any] = {"depth": -1, "intact": True, "unused": 0}
        pending: dict[int, Any] = {}  # id of a product's result not read yet -> its weak reference

        def record(func: Any, args: Any, kwargs: Any) -> bool:
            name = _name(func)
            counts[name] = counts.get(name, 0) + 1
            next(ticks)
            if pending:
                _mark_read(pending, args, kwargs)
            if name in MATRIX_PRODUCTS and len(products) < _TRACE_CAP:
                products.append([name, [list(a.shape) for a in args if _isinstance(a, _Tensor)]])
                return True
            return False

        def produced(result: Any) -> None:
            # A product's result freed before any call read it was a decoy: count it when freed.
            if _isinstance(result, _Tensor) and id(result) not in pending:
                key = id(result)
                pending[key] = weakref.ref(result, lambda _: _forget(key))

        def _forget(key: int) -> None:
            if pending.pop(key, None) is not None:
                seen["unused"] += 1

        def check(entering: bool) -> None:
            depth = _stack_depth()
            if entering:
                seen["depth"] = depth
            elif depth != seen["depth"] or _stack_at(depth - 1) is not self:
                seen["intact"] = False
            if not _modes_enabled():
                seen["intact"] = False

        def report() -> dict[str, Any]:
            tallied = dict(counts)
            own = (("_record", record), ("_check", check), ("_produced", produced))
            hooks = all(self.__dict__.get(name) is hook for name, hook in own)
            consistent = sum(tallied.values()) == next(ticks) and not _swapped(self)
            if not (hooks and seen["intact"] and consistent):
                tallied[DISTURBED] = 1
            if unused := seen["unused"] + len(pending):
                tallied[UNUSED] = unused
            return {"counts": tallied, "products": [list(p) for p in products]}

        self._record = record
        self._check = check
        self._produced = produced
        self.report = report

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        product = self._record(func, args, kwargs)
        result = func(*args, **(kwargs or {}))
        if product:
            self._produced(result)
        return result

    def __enter__(self) -> Recorder:
        entered = super().__enter__()  # type: ignore[no-untyped-call]
        self._check(True)
        return entered  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        self._check(False)
        super().__exit__(*exc)  # type: ignore[no-untyped-call]


def _mark_read(pending: dict[int, Any], args: Any, kwargs: Any) -> None:
    """Take the tensors a call reads (and those in its list arguments) off `pending`."""
    for arg in itertools.chain(args, (kwargs or {}).values()):
        items = arg if _type(arg) in (list, tuple) else (arg,)
        for item in items:
            ref = pending.get(id(item))
            if ref is not None and ref() is item:
                del pending[id(item)]


_METHODS = {
    name: Recorder.__dict__[name] for name in ("__torch_function__", "__enter__", "__exit__")
}


def _swapped(recorder: Recorder) -> bool:
    """Whether the Recorder class, or this recorder's type, no longer has its own methods."""
    kind = _type(recorder)
    return kind is not Recorder or any(kind.__dict__.get(n) is not m for n, m in _METHODS.items())


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
    if _issubclass(kind, tuple) and depth < 3 and _tuple_len(value) <= 16:  # a namedtuple
        items = [_tuple_item(value, i) for i in range(_tuple_len(value))]  # storage, not methods
        return {"t": "tuple", "items": [encode_value(v, depth + 1) for v in items]}
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
            "exact": kind in _RECURRENT, "config": config, "params": params}  # fmt: skip
