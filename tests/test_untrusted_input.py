"""Untrusted text in the trusted process: every notebook, and every reply a hostile child can
forge, gives a report (ungradable with a reason, or graded) and never an exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures.helpers import by_id, describe
from fixtures.submissions import CORRECT, IMPORTS, correct_cells, notebook

from grader import cli
from grader.grading import GradeOptions, Grader, grade_bytes
from grader.observations import GARBLED, RETURNED, observe
from grader.report import render
from grader.results import GradeResult, Outcome
from grader.sandbox import frames
from grader.sandbox.client import Sandbox
from grader.settings import MAX_CODE_CELLS, MAX_CODE_CHARS, MAX_NOTEBOOK_BYTES
from grader.untrusted import nesting

DEEP = 100_000


@pytest.fixture(scope="module")
def grader(sandbox: Sandbox) -> Any:
    with Grader(GradeOptions(assignment="rnn_forward"), sandbox) as shared:
        yield shared


def document(**changes: Any) -> dict[str, Any]:
    """The correct notebook as a JSON document, with top-level keys changed."""
    return {**json.loads(notebook(correct_cells())), **changes}


def dumped(value: Any) -> bytes:
    return json.dumps(value).encode()


def deep_metadata() -> bytes:
    """A correct notebook whose first cell's metadata nests 100,000 lists deep."""
    deep = b'"metadata": {"x": ' + b"[" * DEEP + b"]" * DEEP + b", "
    return dumped(document()).replace(b'"metadata": {', deep, 1)


def huge_integer() -> bytes:
    """A correct notebook with a 4,000-digit nbformat_minor (Python converts up to 4,300)."""
    digits = b'"nbformat_minor": ' + b"9" * 4000 + b', "nbformat": 4'
    return dumped(document()).replace(b'"nbformat": 4', digits, 1)


def safe_to_store(result: GradeResult) -> None:
    """Every format renders, and the canonical JSON is valid UTF-8 (as files and SQLite need)."""
    json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=True).encode("utf-8")
    for fmt in ("text", "json", "markdown", "html", "junit", "gradescope"):
        render(result, fmt).encode("utf-8")


# ------------------------------------------------------------------- files that are no notebook

UNGRADABLE: dict[str, tuple[Callable[[], bytes], str]] = {
    "JSON nested 100,000 deep": (lambda: b"[" * DEEP + b"]" * DEEP, "nests"),
    "a notebook with deeply nested metadata": (deep_metadata, "nests"),
    "a 4,000-digit integer": (huge_integer, "digits"),
    "a Python script": (lambda: (IMPORTS + "\n" + CORRECT["rnn_forward"]).encode(), "Python file"),
    "an exported HTML page": (lambda: b"<!DOCTYPE html>\n<html></html>", "HTML"),
    "prose": (lambda: b"my answers are below\nrnn: tanh\n", "not JSON"),
    "more code than a notebook holds": (
        lambda: notebook([IMPORTS + "x = 1\n" * (MAX_CODE_CHARS // 6 + 1)]),
        "characters of code",
    ),
    "more code cells than a notebook holds": (
        lambda: notebook([*correct_cells(), *[""] * MAX_CODE_CELLS]),
        "code cells",
    ),
    "a file over the size cap": (
        lambda: notebook(correct_cells()) + b" " * MAX_NOTEBOOK_BYTES,  # valid JSON, too large
        "larger than",
    ),
}


@pytest.mark.parametrize("name", sorted(UNGRADABLE))
def test_a_file_that_is_no_notebook_is_ungradable_with_its_reason(name: str, grader: Any) -> None:
    build, reason = UNGRADABLE[name]
    result = grader.grade_bytes(build(), name="submission.ipynb")
    assert result.ungradable is not None and reason in result.ungradable, describe(result)
    assert result.score == 0 and len(result.ungradable) < 500
    safe_to_store(result)


def test_a_python_file_is_not_called_a_truncated_notebook(grader: Any) -> None:
    result = grader.grade_bytes(UNGRADABLE["a Python script"][0]())
    assert result.ungradable is not None and "truncated" not in result.ungradable


# ------------------------------------------------------------ notebooks with hostile contents


def test_lone_surrogates_in_code_and_file_name_are_graded_and_stored_safely(grader: Any) -> None:
    forward = CORRECT["rnn_forward"].replace("b_h):\n", 'b_h):\n    """\\ud800 \\udfff"""\n')
    data = notebook(correct_cells(rnn_forward=forward)).replace(b"\\\\ud", b"\\ud")
    assert b"\\ud800" in data  # a JSON escape of a lone surrogate, in rnn_forward's docstring
    result = grader.grade_bytes(data, name="caf\udce9.ipynb")  # a Latin-1 name, surrogate-escaped
    assert result.ungradable is None and result.score == 100, describe(result)
    assert result.submission.path == "caf\ufffd.ipynb"
    safe_to_store(result)


def test_cells_and_fields_of_the_wrong_type_cost_only_themselves(grader: Any) -> None:
    good = json.loads(notebook(correct_cells()))["cells"]
    for cell in good:
        cell.update(outputs="garbage", metadata=[1, {"deep": [[[]]]}], execution_count="x")
    junk = [1, "cell", None, [], {"cell_type": ["code"]}, {"cell_type": "code", "source": 7},
            {"cell_type": "code", "source": ["x = 1\n", 2]}]  # fmt: skip
    result = grader.grade_bytes(dumped(document(cells=junk + good, metadata="x")))
    assert result.ungradable is None and result.score == 100, describe(result)
    notes = [p for p in result.problems if "not text" in p.message]
    assert [p.cell for p in notes] == [1, 2]  # the two code cells whose source is not text


PATHOLOGICAL = {
    "a 100,000-long unary chain": "x = " + "-" * DEEP + "1\n",
    "100,000 nested nots": "x = " + "not " * DEEP + "1\n",
    "a 100,000-long attribute chain": "x = a" + ".b" * DEEP + "\n",
    "a 100,000-long call chain": "x = f" + "()" * DEEP + "\n",
    "a 100,000-term sum": "x = " + "+".join(["1"] * DEEP) + "\n",
    "50,000 nested lambdas": "f = " + "lambda: " * 50_000 + "1\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_cell_python_cannot_compile_costs_only_that_cell(name: str, grader: Any) -> None:
    result = grader.grade_bytes(notebook([*correct_cells(), PATHOLOGICAL[name]]))
    assert result.ungradable is None and result.score == 100, describe(result)
    (note,) = [p for p in result.problems if p.severity == "error"]
    assert note.cell == 7 and "skipped" in note.message  # correct_cells() fill code cells 1-6
    safe_to_store(result)


def test_a_graded_function_python_cannot_compile_is_missing_with_the_reason(grader: Any) -> None:
    deep = CORRECT["rnn_forward"].replace("    return", "    y = " + "-" * DEEP + "1\n    return")
    result = grader.grade_bytes(notebook(correct_cells(rnn_forward=deep)))
    assert result.ungradable is None
    forward = [c for c in result.checks if c.id.startswith("rnn_forward.")]
    assert all(c.points == 0 and "code cell 4" in c.message for c in forward), describe(result)
    assert result.score == 60


@pytest.mark.slow
def test_every_hostile_file_exits_2_with_a_report_from_the_command_line(tmp_path: Path) -> None:
    paths = []
    for number, build in enumerate([b for b, _ in UNGRADABLE.values()][:6]):
        paths.append(tmp_path / f"{number}.ipynb")
        paths[-1].write_bytes(build())
    code = cli.main(["check", *map(str, paths), "--format", "json", "--out", str(tmp_path / "r")])
    assert code == cli.ExitCode.UNGRADABLE
    reports = sorted((tmp_path / "r").rglob("*.json"))
    assert len(reports) == len(paths)
    assert all(json.loads(p.read_text())["ungradable"] for p in reports)


# ----------------------------------------------------------------- replies a child can forge


def forged(payload: bytes) -> dict[str, Any]:
    """A result frame as the grader parses it; ValueError means it is thrown away as garbled."""
    try:
        return frames.parse_frame(payload)
    except ValueError as exc:
        return {"status": "garbled", "error": f"unreadable result ({exc})"}


FORGED_CALLS = {
    "nested 100,000 deep": b'{"status": "returned", "value": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "a tuple nested 30 deep": b'{"status": "returned", "value": '
    + b'{"t": "tuple", "items": [' * 30
    + b'{"t": "scalar", "v": 1}'
    + b"]}" * 30
    + b"}",
    "a 4,000-digit duration": b'{"status": "raised", "error": "E", "seconds": '
    + b"9" * 4000
    + b"}",
    "infinite seconds": b'{"status": "raised", "error": "E", "seconds": Infinity}',
    "an infinite line": b'{"status": "raised", "error": "E", "line": [Infinity, NaN]}',
    "an infinite count": b'{"status": "returned", "value": {"t": "scalar", "v": 1},'
    b' "trace": {"counts": {"mm": Infinity}, "products": []}}',
    "a list as the value": b'{"status": "returned", "value": {"t": "scalar", "v": [[[1]]]}}',
    "an unknown status": b'{"status": "' + b"s" * 100_000 + b'"}',
}


@pytest.mark.parametrize("name", sorted(FORGED_CALLS))
def test_a_forged_call_result_is_garbled_not_a_crash(name: str, grader: Any) -> None:
    reply = {"calls": [forged(FORGED_CALLS[name])]}
    observed = observe(grader.planned[:1], reply, missing={}, max_elements=1000)
    (obs,) = observed.calls
    assert obs.status in (GARBLED, "raised", RETURNED)
    assert obs.seconds == 0.0 and obs.where is None
    assert obs.status != RETURNED or obs.value == 1
    assert len(obs.error) <= 2000


def test_forged_text_comes_back_capped_and_utf8_clean(grader: Any) -> None:
    giant = "\\ud800" + "x" * 5_000_000
    reply = forged(json.dumps({
        "output": giant, "active": [giant], "missing": {"a": 1},
        "module_problems": [{"error": giant, "line": ["3", 2]}, "junk"],
    }).encode().replace(b"\\\\ud800", b"\\ud800"))  # fmt: skip
    call = forged(f'{{"status": "raised", "error": "{giant}", "traceback": "{giant}",'
                  ' "line": ["4", 7]}'.encode())  # fmt: skip
    observed = observe(grader.planned[:1], {**reply, "calls": [call]}, missing={}, max_elements=1)
    (obs,) = observed.calls
    texts = [obs.error, obs.traceback, observed.output, *observed.active,
             *(p.message for p in observed.problems)]  # fmt: skip
    assert all(len(text) <= 20_100 for text in texts)
    assert all("\ud800" not in text and text.encode("utf-8") for text in texts)
    assert obs.where == (4, 7) and observed.problems[0].cell == 3


def test_a_frame_nested_too_deep_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ValueError, match="nests"):
        frames.parse_frame(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}")


@pytest.mark.slow
def test_a_batch_reports_hostile_files_as_the_students_not_as_grader_failures(
    tmp_path: Path,
) -> None:
    from grader.batch.run import BatchOptions, run_batch

    hostile = {
        "deep": UNGRADABLE["JSON nested 100,000 deep"][0](),
        "digits": huge_integer(),
        "script": UNGRADABLE["a Python script"][0](),
        "unary": notebook([*correct_cells(), PATHOLOGICAL["a 100,000-long unary chain"]]),
        "correct": notebook(correct_cells()),
    }
    source = tmp_path / "class"
    source.mkdir()
    for stem, data in hostile.items():
        (source / f"{stem}.ipynb").write_bytes(data)
    summary = run_batch(source, BatchOptions(out=tmp_path / "out", workers=1))
    assert (summary.graded, summary.failed) == (len(hostile), 0)


def test_an_unclosed_string_is_scanned_once_to_the_end_not_once_per_later_quote() -> None:
    """The depth scan skips strings; one that never closes holds the rest of the input, so the
    escaped quotes inside it start no scans of their own (each would cost the rest again)."""
    assert nesting(b"[" + b'"\\"' * 10_000 + b"[[") == 1
    assert nesting(b'[{"a\\\\": ["]]", "\\"[["]}]') == 3


def test_a_forged_tensor_whose_strides_overflow_is_the_childs_fault() -> None:
    from grader.sandbox import wire

    record = {"t": "tensor", "dtype": "float32", "shape": [0, 2**63 - 1, 2**63 - 1], "data": ""}
    with pytest.raises(ValueError):
        wire.decode_tensor(record, 1 << 20)


FORGED_REPLY = '''
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    import sys, json, struct, os
    f = sys._getframe(1)
    while "start" not in f.f_locals:
        f = f.f_back
    index, fd = f.f_locals["start"] + f.f_locals["offset"], f.f_locals["fd"]
    huge = {"t": "tensor", "dtype": "float32", "shape": [0, 2**63 - 1, 2**63 - 1], "data": ""}
    body = json.dumps({"status": "returned", "seconds": 0.0,
                       "value": {"t": "tuple", "items": [huge, huge]}}).encode()
    head = json.dumps({"type": "call", "index": index, "output": ""}).encode()
    os.write(fd, struct.pack(">I", len(head) + 1 + len(body)) + head + b"\\n" + body)
    return h0, h0
'''


def test_a_forged_reply_with_an_impossible_tensor_costs_only_that_function(
    sandbox: Sandbox,
) -> None:
    result = grade_bytes(notebook(correct_cells(rnn_forward=FORGED_REPLY)), sandbox=sandbox)
    checks = by_id(result)
    assert result.ungradable is None and checks["rnn_forward.values"].points == 0
    assert checks["rnn_forward_fused.values"].outcome is Outcome.PASSED
