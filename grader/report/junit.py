"""JUnit XML (FORMATS.md d.4) for generic CI: one <testcase> per check, points as properties.

Built with xml.etree, which escapes markup; every string goes through `inert` first (bounded,
control characters visible, no workflow commands: CI logs often echo this file), and characters
XML 1.0 cannot carry at all (surrogates, U+FFFE/U+FFFF) are stripped. No clock is read:
the suite carries no timestamp, so the same result always gives the same file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from grader.report.inert import TEXT_LINES, inert
from grader.report.text import (
    MAX_PROBLEMS,
    MESSAGE_CHARS,
    MESSAGE_LINES,
    detail_items,
    fmt_points,
    problem_line,
)
from grader.results import CheckResult, GradeResult, Outcome

SUITE_NAME = "rnn-grader"
ATTRIBUTE_CHARS = 300  # message="…" attribute: consumers show it on one line
BODY_CHARS = 16_000  # failure/error body
BODY_LINES = 120  # lines of a failure/error body
OUTPUT_CHARS = 20_000  # captured student output in <system-out>
OUTPUT_LINES = 400  # lines of captured output
_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def xml_text(text: str, chars: int = 1_000, lines: int = TEXT_LINES) -> str:
    """`text` inert, bounded and without the characters XML 1.0 forbids (ElementTree escapes)."""
    return _ILLEGAL.sub("", inert(text, chars, lines))


def render(result: GradeResult) -> str:
    """`result` as a JUnit XML document with its declaration, ending in a newline."""
    root = ET.Element("testsuites", _counts(result))
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME, **_counts(result)})
    _add_properties(suite, result)
    for check in result.checks:
        _add_testcase(suite, check)
    if result.output:
        _add_text(suite, "system-out", xml_text(result.output, OUTPUT_CHARS, OUTPUT_LINES))
    system_err = _system_err(result)
    if system_err:
        _add_text(suite, "system-err", system_err)
    ET.indent(root)
    return _DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def _counts(result: GradeResult) -> dict[str, str]:
    outcomes = [check.outcome for check in result.checks]
    errors = sum(o in (Outcome.ERROR, Outcome.TIMEOUT) for o in outcomes)
    return {
        "tests": str(len(outcomes)),
        "failures": str(outcomes.count(Outcome.FAILED)),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{result.duration:.3f}",
    }


def _add_properties(suite: ET.Element, result: GradeResult) -> None:
    env = result.environment
    values = {
        "score": fmt_points(result.score),
        "max_score": fmt_points(result.max_score),
        "submission": result.submission.path,
        "sha256": result.submission.sha256,
        "schema_version": str(result.schema_version),
        "grader_version": env.grader_version,
        "torch_version": env.torch_version,
        "python_version": env.python_version,
        "device": env.device,
        "case_set": env.case_set,
        "case_set_id": env.case_set_id,
        "protections": ",".join(env.protections),
    }
    properties = ET.SubElement(suite, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})


def _add_testcase(suite: ET.Element, check: CheckResult) -> None:
    attributes = {
        "classname": xml_text(f"grader.{check.function}"),
        "name": xml_text(check.id),
        "time": f"{check.duration:.3f}",
    }
    case = ET.SubElement(suite, "testcase", attributes)
    if check.outcome is Outcome.PASSED:
        return
    # Failed = wrong answer; error and timeout = could not be evaluated (as pytest does).
    tag = "failure" if check.outcome is Outcome.FAILED else "error"
    first_line = check.message.split("\n", 1)[0]
    problem = {
        "message": xml_text(first_line, ATTRIBUTE_CHARS, 1),
        "type": check.outcome.value,
    }
    _add_text(case, tag, _body(check), problem)


def _body(check: CheckResult) -> str:
    points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
    lines = [inert(check.message, MESSAGE_CHARS, MESSAGE_LINES), f"points: {points}"]
    lines += [f"{inert(label)}: {inert(value)}" for label, value in detail_items(check)]
    return xml_text("\n".join(lines), BODY_CHARS, BODY_LINES)


def _system_err(result: GradeResult) -> str:
    lines = []
    if result.ungradable is not None:
        lines.append(f"Ungradable: {inert(result.ungradable, MESSAGE_CHARS, MESSAGE_LINES)}")
    lines += [inert(problem_line(p), MESSAGE_CHARS, 5) for p in result.problems[:MAX_PROBLEMS]]
    return xml_text("\n".join(lines), BODY_CHARS, BODY_LINES)


def _add_text(
    parent: ET.Element, tag: str, text: str, attributes: dict[str, str] | None = None
) -> None:
    element = ET.SubElement(parent, tag, attributes or {})
    element.text = text  # already through xml_text
