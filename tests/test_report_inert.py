"""Student text is inert in every report format, and every report has a bounded size."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.submissions import CATALOG, correct_cells, notebook
from report_samples import mixed, outside_code_spans

from grader.batch.summary import to_markdown
from grader.grading import GradeOptions, Grader
from grader.report import RENDERERS, github, render
from grader.report.inert import inert, md_code
from grader.results import GradeResult, Problem, SubmissionInfo
from grader.sandbox.client import Sandbox

FORMATS = [*sorted(RENDERERS), "github"]
# Markdown that would be live: links, images, autolinks, HTML, a heading, a table, a fence.
MARKDOWN_ATTACK = (
    "[click](https://evil.example/a) ![img](https://evil.example/i.png)"
    " <img src=x onerror=alert(1)> https://evil.example/raw www.evil.example mail@evil.example"
    "\n# EVIL HEADING\n"
    "| evil | table |\n|---|---|\n```\nevil fence\n``` ``evil`` ` <b>evil</b>"
)
# GitHub Actions workflow commands, plain and hidden behind characters a runner may skip.
COMMAND_ATTACK = (
    "fine\n::error::evil\n  ::warning file=x::evil\n\u3000::notice::evil\n##[error]evil\n"
    "say ##[add-mask]evil\n#\u034f#[error]evil\n:\ufe0f:error::evil\n\u00ad::error::evil"
)
OWN_HEADINGS = re.compile(r"## [✅❌] rnn-grader: |# Batch summary$|## [A-Z][a-z ,()]+$")


def _attacked(text: str, *, output: str = "") -> GradeResult:
    """The mixed sample with `text` in every field a student can reach."""
    base = mixed()
    checks = tuple(
        dataclasses.replace(c, message=f"{c.message} {text}", details={**c.details, "note": text})
        for c in base.checks
    )
    return dataclasses.replace(
        base,
        submission=SubmissionInfo(path=f"ada/{text}.ipynb", sha256="ab" * 32),
        checks=checks,
        problems=(Problem(message=text, cell=3),),
        ungradable=text,
        output=output,
    )


def _live_markdown(markdown: str) -> str:
    """What a Markdown renderer could act on: the text outside code spans and our own <pre>."""
    return re.sub(r"<pre>.*?</pre>", "", outside_code_spans(markdown), flags=re.DOTALL)


def test_markdown_report_keeps_no_student_link_image_html_heading_or_table() -> None:
    rendered = render(_attacked(MARKDOWN_ATTACK, output=MARKDOWN_ATTACK), "markdown")
    live = _live_markdown(rendered)
    assert "evil" not in live.lower(), [line for line in live.splitlines() if "evil" in line]
    headings = [line for line in live.splitlines() if line.startswith("#")]
    assert all(OWN_HEADINGS.match(line) for line in headings), headings
    outside_pre = re.sub(r"<pre>.*?</pre>", "", rendered, flags=re.DOTALL)
    rows = [line for line in outside_pre.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(CATALOG)  # header, rule, one row per check: no student rows
    pre = re.search(r"<pre>(.*?)</pre>", rendered, flags=re.DOTALL)
    assert pre is not None and "<" not in pre.group(1)


def test_class_summary_keeps_no_student_link_image_html_heading_or_table() -> None:
    summary: dict[str, Any] = {
        "students": 1,
        "late": 0,
        "case_sets": ["c0ffee"],
        "outcomes": {"failed": 1},
        "score": {
            "max_score": 100,
            "mean": 1,
            "median": 1,
            "min": 1,
            "max": 1,
            "stdev": 0,
            "histogram": [{"from": 0, "to": 10, "count": 1}],
        },
        "checks": [],
        "common_failures": [
            {
                "check": "rnn_forward.values",
                "count": 1,
                "message": MARKDOWN_ATTACK,
                "example": MARKDOWN_ATTACK,
            }
        ],
        "errored": [{"student": MARKDOWN_ATTACK, "outcome": "error", "reason": MARKDOWN_ATTACK}],
        "source_problems": [{"path": MARKDOWN_ATTACK, "reason": COMMAND_ATTACK}],
        "set_aside": [{"student": MARKDOWN_ATTACK, "file": MARKDOWN_ATTACK}],
    }
    live = _live_markdown(to_markdown(summary))
    assert "evil" not in live.lower(), [line for line in live.splitlines() if "evil" in line]
    assert all(OWN_HEADINGS.match(line) for line in live.splitlines() if line.startswith("#"))


@pytest.mark.parametrize("text", ["a`b", "``x``", "`", "x ```` y `", "|a|b|", "a\nb\n\n# c"])
def test_a_code_span_cannot_be_closed_or_split_by_the_text_inside(text: str) -> None:
    span = md_code(text, table=True)
    assert outside_code_spans(f"| {span} |") == "|  |"
    assert "\n" not in span


def _lines_of(fmt: str, rendered: str) -> Iterator[str]:
    """Every line CI could print: the file's own lines, and for Gradescope its decoded texts."""
    yield from rendered.splitlines()
    if fmt == "gradescope":
        data = json.loads(rendered)
        for text in [data["output"], *(test["output"] for test in data["tests"])]:
            yield from text.splitlines()


def _skippable(line: str) -> str:
    """The line as a runner might compare it: whitespace and non-ASCII characters ignored."""
    return re.sub(r"[^\x21-\x7e]", "", line)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_line_of_any_report_is_a_workflow_command_of_the_student(fmt: str) -> None:
    result = _attacked(COMMAND_ATTACK, output=COMMAND_ATTACK)
    rendered = github.render(result) if fmt == "github" else render(result, fmt)
    for line in _lines_of(fmt, rendered):
        if fmt == "github":  # our own annotations: one command a line, student text in its data
            assert line.startswith("::error file=") and line.count("\n") == 0
            line = line.split("::", 2)[2]
        assert "##[" not in _skippable(line), line
        assert not _skippable(line).startswith("::"), line


def test_inert_text_keeps_ordinary_text_as_it_is() -> None:
    text = "h_t differs at step 3: got 0.25, expected 0.5 (see cell 4, line 2)\n  next line"
    assert inert(text) == text


def test_a_huge_detail_or_output_gives_every_format_a_bounded_report() -> None:
    steps = 250_000
    base = mixed()
    huge = {
        "step_errors": [0.5] * steps,
        "trajectory": {"actual": [[0.1] * 4] * steps, "expected": [[0.2] * 4] * 5},
        "notes": ["x" * 10_000] * 1_000,
    }
    checks = tuple(dataclasses.replace(c, details={**c.details, **huge}) for c in base.checks)
    result = dataclasses.replace(
        base, checks=checks, output=("y" * 99 + "\n") * 100_000, problems=base.problems * 5_000
    )
    for fmt in FORMATS:
        rendered = github.render(result) if fmt == "github" else render(result, fmt)
        assert len(rendered.encode()) < 200_000, (fmt, len(rendered.encode()))


# --- the whole pipeline -----------------------------------------------------------------------

HUGE = {
    "init_hidden": """\
def init_hidden(batch_size, hidden_size):
    print("y" * 200_000)
    print("\\n" * 200_000)
    return torch.zeros(batch_size, hidden_size)
""",
    "rnn_forward": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    steps = 250_000 if x.shape == (1, 5, 1) else x.shape[1]  # the course case
    out = torch.rand(x.shape[0], steps, W_hh.shape[0], dtype=x.dtype)
    return out, out[:, -1]
""",
}


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")
@pytest.mark.parametrize("public_only", [True, False])
def test_a_250000_step_output_and_megabytes_of_prints_give_bounded_reports(
    public_only: bool, sandbox: Sandbox
) -> None:
    with Grader(GradeOptions(assignment="rnn_forward", public_only=public_only), sandbox) as grader:
        result = grader.grade_bytes(notebook(correct_cells(**HUGE)), name="huge.ipynb")
    assert result.ungradable is None
    for fmt in FORMATS:
        rendered = github.render(result) if fmt == "github" else render(result, fmt)
        assert len(rendered.encode()) < 200_000, (fmt, len(rendered.encode()))
        if fmt == "junit":
            ET.fromstring(rendered)
    assert len(json.dumps(result.to_dict())) < 200_000  # the gradebook's stored row
