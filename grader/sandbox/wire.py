"""What crosses between grader and child: JSON frames, tensors as raw bytes.

Nothing here can run code when decoded: no pickle, no torch.load, only json and a checked buffer.
Both sides import this module; the decoders validate everything because one side is hostile.
"""

from __future__ import annotations

import base64
import ctypes
import json
from dataclasses import dataclass
from typing import Any

import torch

from grader.sandbox.frames import parse_frame, read_frame, split_frame, write_frame

__all__ = [
    "DTYPES",
    "CallBytes",
    "call_bytes",
    "decode_tensor",
    "encode_tensor",
    "parse_frame",
    "read_frame",
    "split_frame",
    "tensors_from_buffer",
    "write_frame",
]

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_ITEMSIZES = {dtype: torch.empty((), dtype=dtype).element_size() for dtype in DTYPES.values()}
# Bound before any student code runs in the child, so patching torch.Tensor later changes nothing.
_detach = torch.Tensor.detach
_to = torch.Tensor.to
_contiguous = torch.Tensor.contiguous
_numel = torch.Tensor.numel
_element_size = torch.Tensor.element_size
_data_ptr = torch.Tensor.data_ptr
_string_at = ctypes.string_at
_isinstance = isinstance
_b64encode = base64.b64encode


def encode_tensor(tensor: torch.Tensor) -> dict[str, Any]:
    """A plain tensor as a JSON-safe record (the caller has checked it is a plain Tensor)."""
    cpu = _contiguous(_to(_detach(tensor), "cpu"))
    size = _numel(cpu) * _element_size(cpu)
    raw = _string_at(_data_ptr(cpu), size) if size else b""
    return {
        "t": "tensor",
        "dtype": _NAMES.get(cpu.dtype, str(cpu.dtype)),
        "shape": list(cpu.shape),
        "device": str(tensor.device),
        "data": _b64encode(raw).decode("ascii"),
    }


def decode_tensor(record: dict[str, Any], max_elements: int) -> torch.Tensor:
    """Rebuild a tensor from an untrusted record, checking dtype, shape and byte count."""
    dtype = DTYPES.get(str(record.get("dtype")))
    if dtype is None:
        raise ValueError(f"unsupported dtype {record.get('dtype')!r}")
    shape = record.get("shape")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError("malformed shape")
    if len(shape) > 8:
        raise ValueError(f"{len(shape)} dimensions is more than the 8 accepted")
    if any(n > max_elements for n in shape):  # even with a zero elsewhere: strides would overflow
        raise ValueError(f"a dimension exceeds the {max_elements} elements accepted")
    numel = 1
    for n in shape:
        numel *= n
    if numel > max_elements:
        raise ValueError(f"tensor of {numel} elements exceeds the {max_elements} accepted")
    raw = base64.b64decode(str(record.get("data", "")), validate=True)
    if len(raw) != numel * _ITEMSIZES[dtype]:
        raise ValueError("tensor byte count does not match its shape")
    try:
        if not raw:
            return torch.empty(shape, dtype=dtype)
        # The bytearray is a private copy the tensor keeps alive: no clone needed.
        return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    except (RuntimeError, OverflowError) as exc:  # whatever torch refuses is the child's fault
        raise ValueError(f"tensor cannot be rebuilt: {exc}") from exc


_ALIGN = 64  # each input tensor starts on a cache line of the child's buffer


@dataclass(frozen=True, kw_only=True)
class CallBytes:
    """One call as the grader sends it to a child: JSON for its shape, raw bytes for its tensors."""

    meta: bytes  # JSON object without its opening brace; tensors as {"t", "dtype", "shape", "at"}
    data: bytes  # the tensors' raw bytes, each padded to _ALIGN; "at" counts from here


def call_bytes(function: str, args: tuple[Any, ...], trace: bool) -> CallBytes:
    """Split a call's wire records into JSON and one block of raw bytes (done once per call)."""
    records, data = [], bytearray()
    for arg in args:
        if isinstance(arg, dict) and arg.get("t") == "tensor":
            raw = base64.b64decode(str(arg["data"]))
            records.append({"t": "tensor", "dtype": arg["dtype"], "shape": arg["shape"],
                            "at": len(data)})  # fmt: skip
            data += raw + bytes(-len(raw) % _ALIGN)
        else:
            records.append(arg)
    meta = json.dumps({"function": function, "args": records, "trace": trace},
                      separators=(",", ":")).encode()  # fmt: skip
    return CallBytes(meta=meta[1:], data=bytes(data))


def tensors_from_buffer(
    args: list[Any], buffer: bytearray, base: int, max_elements: int
) -> list[Any]:
    """A call's arguments, tensors as views of the child's private buffer (bounds checked)."""
    out = []
    for arg in args:
        if not (_isinstance(arg, dict) and arg.get("t") == "tensor"):
            out.append(arg)
            continue
        dtype, shape = DTYPES[str(arg["dtype"])], [int(n) for n in arg["shape"]]
        numel = 1
        for n in shape:
            numel *= n
        start = base + int(arg["at"])
        if numel > max_elements or start < 0 or start + numel * _ITEMSIZES[dtype] > len(buffer):
            raise ValueError("an input tensor does not fit its buffer")
        if numel == 0:
            out.append(torch.empty(shape, dtype=dtype))
            continue
        flat = torch.frombuffer(buffer, dtype=dtype, count=numel, offset=start)
        out.append(flat.reshape(shape))
    return out
