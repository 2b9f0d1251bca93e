"""GitHub Actions annotations (FORMATS.md d.5): one `::error` per check that did not pass.

Each points at the notebook file and the line of the raw `.ipynb` JSON where the failing
function's definition sits (its cell's `source`), when the notebook's bytes are given. Properties
and messages are made inert (`inert`: bounded, control characters visible, no `##[` commands)
and escaped as the runner requires, so student text cannot end the command or start a new one.
At most `MAX_ANNOTATIONS` lines: GitHub shows only 10 errors per step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from grader.report.inert import inert
from grader.report.text import MESSAGE_CHARS, MESSAGE_LINES
from grader.results import GradeResult, Outcome
from grader.settings import MAX_NOTEBOOK_DEPTH
from grader.untrusted import loads

MAX_ANNOTATIONS = 10  # GitHub's per-step limit for error annotations
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, plus `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: GradeResult, notebook: bytes | None = None) -> str:
    """One `::error file=…,line=…,title=…::message` line per check that did not pass."""
    path = escape_property(inert(result.submission.path, 500, 1))
    lines = []
    if result.ungradable is not None:
        reason = escape_data(inert(result.ungradable, MESSAGE_CHARS, MESSAGE_LINES))
        lines.append(f"::error file={path},line=1,title=ungradable::{reason}")
    for check in result.checks:
        if check.outcome is Outcome.PASSED:
            continue
        line = function_line(notebook, check.function) if notebook else None
        title = escape_property(f"{check.id} ({check.outcome.value})")
        message = escape_data(inert(check.message, MESSAGE_CHARS, MESSAGE_LINES))
        lines.append(f"::error file={path},line={line or 1},title={title}::{message}")
    return "".join(f"{line}\n" for line in lines[:MAX_ANNOTATIONS])


def function_line(notebook: bytes, function: str) -> int | None:
    """1-based line in the raw JSON of the last `def function(` in a code cell, else None."""
    try:
        raw = loads(notebook, max_depth=MAX_NOTEBOOK_DEPTH)  # the student's file: bounded
        cells = raw["cells"]
    except (ValueError, KeyError, TypeError):
        return None
    pattern = re.compile(rf"^\s*def\s+{re.escape(function)}\s*\(")
    found: tuple[int, int] | None = None
    for number, cell in enumerate(cells if isinstance(cells, list) else [], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for index, code_line in enumerate(text.splitlines()):
            if pattern.match(code_line):
                found = (number, index)
    if found is None:
        return None
    lines = source_lines(notebook.decode("utf-8")).get(found[0])
    if not lines:
        return None
    return lines[min(found[1], len(lines) - 1)]


def source_lines(text: str) -> dict[int, list[int]]:
    """Cell number (1-based) -> JSON lines of its `source` strings (one per element)."""
    result: dict[int, list[int]] = {}
    for cell, line in _source_strings(text):
        result.setdefault(cell, []).append(line)
    return result


def _source_strings(text: str) -> Iterator[tuple[int, int]]:
    stack: list[str] = []  # open containers
    root_key = key = ""
    cell = 0
    line, offset = 1, 0
    expect_key = False
    for match in _TOKENS.finditer(text):
        line += text.count("\n", offset, match.start())
        offset = match.start()
        token = match.group()
        if token in "{[":
            if token == "{" and stack == ["{", "["] and root_key == "cells":
                cell += 1
            stack.append(token)
            expect_key = token == "{"
        elif token in "}]":
            stack = stack[:-1]
        elif token == ",":
            expect_key = bool(stack) and stack[-1] == "{"
        elif token != ":" and expect_key:
            key, expect_key = json.loads(token), False
            root_key = key if len(stack) == 1 else root_key
        elif token != ":" and _in_cell_source(stack, root_key, key):
            yield cell, line


def _in_cell_source(stack: list[str], root_key: str, key: str) -> bool:
    """A value token at cells[i].source (a string, or an element of its list)."""
    return (
        root_key == "cells"
        and key == "source"
        and stack[:3] == ["{", "[", "{"]
        and (len(stack) in (3, 4))
    )
