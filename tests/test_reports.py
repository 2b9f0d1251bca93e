"""The report writers: goldens for every format, and validity under hostile student text."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fixtures.submissions import CATALOG
from report_samples import (
    GOLDEN_SAMPLES,
    HOSTILE,
    hostile,
    mixed,
    outside_code_spans,
    ungradable,
)

from grader.errors import UsageError
from grader.report import FORMATS as ALL_FORMATS
from grader.report import NOTEBOOK_RENDERERS, RENDERERS, SUFFIXES, render
from grader.report import text as text_writer
from grader.results import GradeResult, Outcome, result_from_dict

GOLDENS = Path(__file__).parent / "goldens"
FORMATS = sorted(set(RENDERERS) & set(SUFFIXES))  # the formats a report file is written in


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sample", sorted(GOLDEN_SAMPLES))
def test_output_matches_golden(sample: str, fmt: str, update_goldens: bool) -> None:
    rendered = render(GOLDEN_SAMPLES[sample](), fmt)
    golden = GOLDENS / f"{sample}{SUFFIXES[fmt]}"
    if update_goldens:
        GOLDENS.mkdir(exist_ok=True)
        golden.write_bytes(rendered.encode("utf-8"))
    assert rendered == golden.read_bytes().decode("utf-8")


def test_registry_has_the_documented_formats() -> None:
    expected = {"text", "json", "gradescope", "junit", "markdown", "html", "classroom"}
    assert set(RENDERERS) == expected
    assert set(NOTEBOOK_RENDERERS) == {"github", "notebook", "notebook-html"}
    # annotations and the Classroom result are printed for a CI step, not filed
    assert set(SUFFIXES) == set(ALL_FORMATS) - {"github", "classroom"}


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="junit"):
        render(mixed(), "pdf")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sample", sorted(GOLDEN_SAMPLES))
def test_every_catalog_id_appears(sample: str, fmt: str) -> None:
    rendered = render(GOLDEN_SAMPLES[sample](), fmt)
    for spec in CATALOG:
        assert spec.id in rendered


# --- canonical JSON --------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(GOLDEN_SAMPLES))
def test_json_round_trips(sample: str) -> None:
    result = GOLDEN_SAMPLES[sample]()
    rendered = RENDERERS["json"](result)
    rebuilt = result_from_dict(json.loads(rendered))
    assert RENDERERS["json"](rebuilt) == rendered
    if sample != "mixed":  # mixed holds nan/inf, which come back as strings
        assert rebuilt == result


def test_json_is_strict_and_spells_non_finite_floats() -> None:
    rendered = RENDERERS["json"](mixed())
    data = json.loads(rendered, parse_constant=_reject_constant)
    details = next(c for c in data["checks"] if c["id"] == "rnn_forward.values")["details"]
    assert details["got"] == "NaN" and details["max_error"] == "Infinity"
    assert math.isnan(float(details["got"])) and math.isinf(float(details["max_error"]))
    assert list(data)[:4] == ["schema_version", "submission", "score", "max_score"]


def _reject_constant(name: str) -> None:
    raise AssertionError(f"non-strict JSON constant {name}")


# --- Gradescope ------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(GOLDEN_SAMPLES))
def test_gradescope_has_documented_fields(sample: str) -> None:
    result = GOLDEN_SAMPLES[sample]()
    data = json.loads(RENDERERS["gradescope"](result), parse_constant=_reject_constant)
    assert data["score"] == sum(t["score"] for t in data["tests"]) == result.score
    assert data["stdout_visibility"] == "hidden"
    assert data["output_format"] in {"text", "md"}
    assert [t["number"] for t in data["tests"]] == [str(n) for n in range(1, 11)]
    for test, check in zip(data["tests"], result.checks, strict=True):
        assert test["name"].startswith(check.id)
        assert test["max_score"] == check.max_points
        assert test["status"] == ("passed" if check.outcome is Outcome.PASSED else "failed")
        assert test["tags"] == [check.function] and test["visibility"] == "visible"
    extra = data["extra_data"]
    assert extra["max_score"] == 100 and extra["schema_version"] == result.schema_version
    assert {"protections", "case_set_id"} <= set(extra)


def test_gradescope_says_why_a_submission_is_ungradable() -> None:
    data = json.loads(RENDERERS["gradescope"](ungradable()))
    assert "UNGRADABLE: cell 4 has a syntax error" in data["output"]
    assert data["score"] == 0


# --- JUnit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(GOLDEN_SAMPLES))
def test_junit_counts_match_the_checks(sample: str) -> None:
    result = GOLDEN_SAMPLES[sample]()
    rendered = RENDERERS["junit"](result)
    assert rendered.startswith("<?xml ")
    suite = ET.fromstring(rendered).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    outcomes = [c.outcome for c in result.checks]
    assert int(suite.get("tests", "")) == len(cases) == len(outcomes)
    assert int(suite.get("failures", "")) == len(suite.findall("testcase/failure"))
    assert int(suite.get("errors", "")) == len(suite.findall("testcase/error"))
    assert len(suite.findall("testcase/failure")) == outcomes.count(Outcome.FAILED)
    assert [c.get("name") for c in cases] == [c.id for c in result.checks]
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["max_score"] == "100"


def test_junit_marks_timeouts_and_ungradable() -> None:
    suite = ET.fromstring(RENDERERS["junit"](mixed())).find("testsuite")
    assert suite is not None
    types = [e.get("type") for e in suite.iter("error")]
    assert types == ["error", "timeout"]
    system_out = suite.find("system-out")
    assert system_out is not None and "0.9123" in (system_out.text or "")
    bad = ET.fromstring(RENDERERS["junit"](ungradable())).find("testsuite/system-err")
    assert bad is not None and "syntax error" in (bad.text or "")


# --- text ------------------------------------------------------------------------------------


def test_text_shows_outcomes_differently_and_colours_only_on_request() -> None:
    plain = text_writer.render(mixed())
    assert all(f"  {mark}" in plain for mark in text_writer.MARKS.values())
    assert "\x1b" not in plain
    assert "\x1b[31m" in text_writer.render(mixed(), color=True)


def test_text_puts_the_ungradable_reason_up_front() -> None:
    lines = RENDERERS["text"](ungradable()).splitlines()
    assert lines[3].startswith("UNGRADABLE: cell 4")


# --- hostile student text --------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_result() -> GradeResult:
    return hostile()


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_text_keeps_every_format_valid(fmt: str, hostile_result: GradeResult) -> None:
    rendered = render(hostile_result, fmt)
    if fmt in {"json", "gradescope"}:
        json.loads(rendered, parse_constant=_reject_constant)
    if fmt == "junit":
        ET.fromstring(rendered)
    if fmt in {"text", "markdown"}:
        live = outside_code_spans(rendered) if fmt == "markdown" else ""
        assert "<script" not in live.lower()
        assert not any(line.lstrip().startswith("::") for line in rendered.splitlines())
        assert "\x00" not in rendered and "\x1b" not in rendered and "\u202e" not in rendered
    encoded = rendered.encode("utf-8")  # lone surrogates would make writing the file fail
    assert len(encoded) < 1024 * 1024  # every format is bounded, the canonical JSON too


def test_hostile_json_round_trips(hostile_result: GradeResult) -> None:
    rendered = RENDERERS["json"](hostile_result)
    assert RENDERERS["json"](result_from_dict(json.loads(rendered))) == rendered


def test_markdown_keeps_html_in_code_spans_and_table_cells_whole() -> None:
    rendered = RENDERERS["markdown"](hostile())
    assert "<script>" in rendered and "<script" not in outside_code_spans(rendered)
    assert "&lt;script&gt;" in rendered  # captured output, in an HTML <pre>
    table_rows = [line for line in rendered.splitlines() if line.startswith("| ")]
    assert len(table_rows) == 1 + len(CATALOG)
    # Every row has exactly the four cells: student pipes are escaped.
    assert all(row.replace("\\|", "").count("|") == 5 for row in table_rows)


def test_gradescope_escapes_control_characters() -> None:
    data = json.loads(RENDERERS["gradescope"](hostile()))
    texts = [data["output"]] + [t["output"] for t in data["tests"]]
    assert all("\x00" not in t and "\x1b" not in t for t in texts)
    assert HOSTILE not in data["output"]
