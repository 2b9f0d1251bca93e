"""Length-prefixed JSON frames: the only thing that crosses between grader, fork server and child.

Importing this module costs no torch import, so the grader can start the fork server first.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from grader.errors import SandboxError

_HEADER = struct.Struct(">I")


class FrameTooLarge(SandboxError):
    """A peer announced a frame larger than the reader accepts."""


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Send one length-prefixed JSON message."""
    payload = json.dumps(message, separators=(",", ":"), allow_nan=True).encode()
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
    """Read one message; None at end of stream. FrameTooLarge past limit bytes."""
    header = read_exactly(fd, _HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise FrameTooLarge(f"message of {size} bytes exceeds the {limit}-byte limit")
    payload = read_exactly(fd, size)
    if len(payload) < size:
        return None
    return parse_frame(payload)


def parse_frame(payload: bytes) -> dict[str, Any]:
    message = json.loads(payload)
    if not isinstance(message, dict):
        raise ValueError("a frame must hold a JSON object")
    return message
