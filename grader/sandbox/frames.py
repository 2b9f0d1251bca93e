"""Length-prefixed JSON frames: the only thing that crosses between grader, zygote and child.

Importing this module costs no torch import, so the grader can start the zygote first.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from grader.errors import SandboxError
from grader.untrusted import loads

_HEADER = struct.Struct(">I")
MAX_DEPTH = 64  # nesting a frame may have: a peer may be a hostile child (ours need about 10)


class FrameTooLarge(SandboxError):
    """A peer announced a frame larger than the reader accepts."""


def write_frame(fd: int, message: dict[str, Any], body: bytes = b"") -> None:
    """Send one length-prefixed JSON message, optionally followed by an opaque body.

    A relay can then pass a large body on without parsing it (compact JSON has no raw newline).
    """
    payload = json.dumps(message, separators=(",", ":"), allow_nan=True).encode()
    if body:
        payload += b"\n" + body
    data = _HEADER.pack(len(payload)) + payload
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_exactly(fd: int, size: int) -> bytes:
    """Read size bytes or fewer at end of stream."""
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int) -> dict[str, Any] | None:
    """Read one message (its body, if any, ignored); None at end of stream."""
    parts = read_frame_parts(fd, limit)
    return None if parts is None else parts[0]


def read_frame_parts(fd: int, limit: int) -> tuple[dict[str, Any], bytes] | None:
    """Read one message and its body; None at end of stream. FrameTooLarge past limit bytes."""
    header = read_exactly(fd, _HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise FrameTooLarge(f"message of {size} bytes exceeds the {limit}-byte limit")
    payload = read_exactly(fd, size)
    if len(payload) < size:
        return None
    return split_frame(payload)


def split_frame(payload: bytes) -> tuple[dict[str, Any], bytes]:
    """A frame's JSON header and its opaque body (b"" when it has none)."""
    head, _, body = payload.partition(b"\n")
    return parse_frame(head), body


def parse_frame(payload: bytes) -> dict[str, Any]:
    """One frame's JSON, parsed as untrusted: ValueError when too deep, too long a number or
    invalid; its text comes back UTF-8 clean (no lone surrogates)."""
    message = loads(payload, max_depth=MAX_DEPTH)
    if not isinstance(message, dict):
        raise ValueError("a frame must hold a JSON object")
    return message
