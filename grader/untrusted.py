"""Untrusted JSON and text -> plain Python values at a bounded, linear cost.

Everything that crosses into the grader from outside (a student's notebook, a sandboxed child's
results) is parsed here: nesting depth is measured before `json.loads` runs, integers are capped
before they are converted, and lone surrogates become U+FFFD, so nothing downstream (reports,
SQLite, files, `ast`) can choke on them. Importing this module costs no torch import.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

__all__ = ["JSONLimitError", "clean_text", "loads", "nesting"]

MAX_INTEGER_DIGITS = 100  # longer JSON integers are refused, not converted (a 256-bit seed has 78)
# A JSON string, escapes included; one never closed runs to the end of the input. Every match
# attempt that starts at a quote succeeds on its greedy path, so the scan is linear: a pattern
# that can fail would rescan the rest of the input from every later quote.
_STRING = re.compile(rb'"[^"\\]*(?:\\.?[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 and -1 as signed bytes
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONLimitError(ValueError):
    """Valid-looking JSON that exceeds what the grader accepts (too deep, too long a number)."""


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD: always encodable as UTF-8."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def nesting(data: bytes) -> int:
    """How deeply arrays and objects nest in `data` (brackets inside strings do not count)."""
    skeleton = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(memoryview(skeleton).cast("b")), default=0)


def loads(data: bytes | str, *, max_depth: int) -> Any:
    """json.loads for hostile input: JSONLimitError past `max_depth` levels or on a huge integer,
    json.JSONDecodeError (a ValueError) on invalid JSON; strings come back UTF-8 clean."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    depth = nesting(raw)
    if depth > max_depth:
        raise JSONLimitError(f"the JSON nests {depth} levels deep; at most {max_depth} are read")
    value = json.loads(data, parse_int=_integer)
    return _clean(value) if _SURROGATE_ESCAPE.search(raw) else value


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise JSONLimitError(
            f"a JSON number has {len(digits)} digits; at most {MAX_INTEGER_DIGITS} are read"
        )
    return int(digits)


def _clean(value: Any) -> Any:
    """Lone surrogates out of every string; the depth was bounded before parsing."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _clean(item) for key, item in value.items()}
    return value
