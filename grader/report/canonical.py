"""The canonical JSON result (DESIGN.md §6): the stored form every other format can be rebuilt from.

It keeps the result's text as it is (bounded by `GradeResult.to_dict`); only `##[` is written
with a JSON escape, so printing the file in CI cannot run a workflow command.

Named `canonical` rather than `json` so it does not shadow the standard library module.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

from grader.report.inert import json_safe
from grader.results import GradeResult

# Strict JSON has no NaN or Infinity; details (max error of a diverging student) often do. They
# are written as these strings, the tokens JavaScript and Python use, so `float(s)` reads them back.
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def strict_json(value: Any) -> Any:
    """A copy of `value` that `json.dumps(..., allow_nan=False)` accepts.

    Non-finite floats become "NaN" / "Infinity" / "-Infinity", tuples become lists, mapping keys
    become strings, numeric scalars (numpy, torch) become plain numbers, anything else its `str`.
    """
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else NON_FINITE[str(number)]
    if isinstance(value, Mapping):
        return {str(key): strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return str(value)


def render(result: GradeResult) -> str:
    """`result` as indented, strict JSON in schema order, ending in a newline."""
    data = strict_json(result.to_dict())
    return json_safe(json.dumps(data, indent=2, sort_keys=False, allow_nan=False)) + "\n"
