"""Extraction costs work linear in the number of statements, whatever the notebook's shape.

Work is counted, not timed: the Python lines executed (the grader's and the standard library's)
while one notebook is loaded and extracted. Four times the statements must cost about four times
the lines; a quadratic step costs sixteen times.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from fixtures.submissions import CORRECT, FUNCTIONS, correct_cells, notebook

from grader.extract import extract, load_notebook

READS_S = CORRECT["init_hidden"].replace("hidden_size)\n", "hidden_size) * S\n")
READS_CONFIG = CORRECT["rnn_forward"].replace("torch.tanh(", 'CONFIG["act"](')


def rebuilt_many_times(n: int) -> bytes:
    """A name a graded function reads, rebuilt from its previous value n times."""
    cells = correct_cells(init_hidden=READS_S)
    return notebook([cells[0], "S = 1.0\n" + "S = S * 1.0\n" * n, *cells[1:]])


def windows_line_endings(n: int) -> bytes:
    """One cell of n statements saved with CRLF line breaks."""
    return notebook([*correct_cells(), "y = 1\r\n" * n])


def changed_many_times(n: int) -> bytes:
    """A dict a graded function reads, changed by n item assignments and method calls."""
    changes = "CONFIG = {}\n" + 'CONFIG["act"] = torch.tanh\nCONFIG.update(n=1)\n' * (n // 2)
    cells = correct_cells(rnn_forward=READS_CONFIG)
    return notebook([cells[0], changes, *cells[1:]])


def demo_statements(n: int) -> bytes:
    """n statements of demo code no graded function needs."""
    demo = "".join(f"v{i} = torch.zeros({i % 7})\nprint(v{i})\n" for i in range(n // 2))
    return notebook([*correct_cells(), demo])


def many_cells(n: int) -> bytes:
    return notebook([*correct_cells(), *(f"z = {i}\n" for i in range(n))])


def many_definitions(n: int) -> bytes:
    """n helper functions, each calling the previous one; rnn_forward calls the last."""
    helpers = "def h0_(x):\n    return x\n" + "".join(
        f"def h{i}_(x):\n    return h{i - 1}_(x)\n" for i in range(1, n)
    )
    forward = CORRECT["rnn_forward"].replace("states.append(h)", f"states.append(h{n - 1}_(h))")
    cells = correct_cells(rnn_forward=forward)
    return notebook([cells[0], helpers, *cells[1:]])


SHAPES: dict[str, Callable[[int], bytes]] = {
    "a name rebuilt many times": rebuilt_many_times,
    "Windows line endings": windows_line_endings,
    "a dict changed many times": changed_many_times,
    "demo statements": demo_statements,
    "many cells": many_cells,
    "a long chain of helpers": many_definitions,
}


def lines_executed(data: bytes) -> int:
    """Python lines run while `data` is loaded and extracted."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        extract(load_notebook(data), FUNCTIONS)
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_four_times_the_statements_cost_about_four_times_the_work(shape: str) -> None:
    build = SHAPES[shape]
    small, large = lines_executed(build(400)), lines_executed(build(1600))
    assert large < 5 * small, f"{shape}: {small} lines for 400 statements, {large} for 1600"


def test_a_name_rebuilt_many_times_keeps_every_step_it_needs() -> None:
    """The linear lookup still finds the binding in force at each read."""
    result = extract(load_notebook(rebuilt_many_times(300)), FUNCTIONS)
    assert sum(chunk.source == "S = S * 1.0" for chunk in result.chunks) == 300
