"""Feedback inside the student's own notebook (`--format notebook`) and its HTML page
(`--format notebook-html`): the student's cells untouched, one feedback cell after each graded
function, a summary on top, student text inert."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import nbformat
import pytest
from fixtures.submissions import correct_cells, notebook

from grader import cli
from grader.grading import grade_bytes
from grader.report import FORMATS, render
from grader.report.notebook import FEEDBACK_TAG, feedback_notebook
from grader.results import GradeResult
from grader.sandbox.client import Sandbox

ROOT = Path(__file__).resolve().parent.parent
BUGGY = ROOT / "examples" / "buggy-whh-transposed.ipynb"
HOSTILE_TEXT = (
    "[click](https://evil.example) ![px](https://evil.example/p.png)"
    " <img src=x onerror=alert(1)> <script>alert(2)</script>"
)
RAISES_HOSTILE = f"""\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    raise ValueError({HOSTILE_TEXT!r})
"""


@pytest.fixture(scope="module")
def buggy(sandbox: Sandbox) -> tuple[GradeResult, bytes]:
    data = BUGGY.read_bytes()
    return grade_bytes(data, name=BUGGY.name, sandbox=sandbox, public_only=True), data


def _feedback(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    return [c for c in cells if FEEDBACK_TAG in c.get("metadata", {}).get("tags", [])]


def test_the_students_cells_are_kept_in_order_and_untouched(
    buggy: tuple[GradeResult, bytes],
) -> None:
    result, data = buggy
    original = nbformat.reads(data.decode(), as_version=4)
    out = nbformat.reads(render(result, "notebook", data), as_version=4)
    nbformat.validate(out)
    kept = [c for c in out.cells if c not in _feedback(out.cells)]
    assert [(c.cell_type, c.source, c.get("outputs")) for c in kept] == [
        (c.cell_type, c.source, c.get("outputs")) for c in original.cells
    ]


def test_a_summary_cell_comes_first_and_feedback_follows_each_graded_function(
    buggy: tuple[GradeResult, bytes],
) -> None:
    result, data = buggy
    cells = feedback_notebook(result, data).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# Feedback: ")
    for index, cell in enumerate(cells):
        match = re.match(r"def (\w+)\(", cell.source) if cell.cell_type == "code" else None
        if match and match.group(1) in {c.function for c in result.checks}:
            after = cells[index + 1]
            assert FEEDBACK_TAG in after.metadata["tags"] and after.cell_type == "markdown"
            assert f"Feedback on `{match.group(1)}`" in after.source
    assert len(_feedback(cells)) == 1 + len({c.function for c in result.checks})


def test_a_failing_forward_function_gets_its_hint_and_a_plot(
    buggy: tuple[GradeResult, bytes],
) -> None:
    result, data = buggy
    cells = feedback_notebook(result, data).cells
    (cell,) = [c for c in cells if "Feedback on `rnn_forward`" in c.source]
    assert "`rnn_forward.values`" in cell.source and "**hint**" in cell.source
    assert "1.67 / 30" in cell.source
    svg = base64.b64decode(cell.attachments["steps.svg"]["image/svg+xml"])
    assert svg.startswith(b"<svg") and "attachment:steps.svg" in cell.source


def test_student_text_in_feedback_cells_is_inert(sandbox: Sandbox) -> None:
    data = notebook(correct_cells(rnn_forward=RAISES_HOSTILE))
    result = grade_bytes(data, sandbox=sandbox, public_only=True)
    assert any("evil.example" in c.message for c in result.checks)  # the text did reach a message
    for cell in _feedback(feedback_notebook(result, data).cells):
        visible = re.sub(r"(`+) .*? \1", "", cell.source)  # a code span shows text, not markup
        visible = visible.replace("![per-step plot](attachment:steps.svg)", "")
        for live in ("](", "![", "<img", "<script"):
            assert live not in visible, live


def test_an_unreadable_notebook_gets_a_feedback_notebook_of_its_own(sandbox: Sandbox) -> None:
    result = grade_bytes(b"print('hello')\n", name="homework.py", sandbox=sandbox)
    out = nbformat.reads(render(result, "notebook", b"print('hello')\n"), as_version=4)
    nbformat.validate(out)
    assert out.cells[0].source.startswith("# Feedback: 0 / 100")
    assert "could not be graded" in out.cells[0].source


def test_the_html_page_sanitises_what_the_student_wrote(sandbox: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG top-secret-bytes")
    raw = json.loads(notebook(correct_cells()))
    raw["cells"].insert(0, {"cell_type": "markdown", "id": "evil", "metadata": {}, "source": (
        f"<script>alert(1)</script><img src=x onerror=alert(2)> ![s]({secret})"
        " <iframe src=https://evil.example></iframe> [ok](javascript:alert(3))")})  # fmt: skip
    data = json.dumps(raw).encode()
    page = render(grade_bytes(data, sandbox=sandbox, public_only=True), "notebook-html", data)
    assert "<script" not in page.lower() and "onerror" not in page and "<iframe" not in page
    assert 'href="javascript:' not in page
    assert base64.b64encode(b"\x89PNG top-secret").decode()[:12] not in page
    assert not re.search(r'(?:src|href)="https?://', page)  # loads nothing from anywhere


def test_the_html_page_embeds_the_plot(buggy: tuple[GradeResult, bytes]) -> None:
    result, data = buggy
    page = render(result, "notebook-html", data)
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="data:image/svg+xml;base64,' in page and "Feedback on" in page


def test_grade_writes_the_feedback_notebook(tmp_path: Path) -> None:
    out = tmp_path / "feedback.ipynb"
    code = cli.main(["check", str(BUGGY), "--format", "notebook", "--out", str(out)])
    assert code == 1
    nbformat.validate(nbformat.read(out, as_version=4))


def test_the_command_line_offers_every_report_format() -> None:
    assert set(cli.FORMATS) == set(FORMATS)


@pytest.mark.slow
def test_batch_writes_both_notebook_formats_for_every_student(tmp_path: Path) -> None:
    for student in ("ada", "bob"):
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "rnn_forward.ipynb").write_bytes(BUGGY.read_bytes())
    out = tmp_path / "out"
    assert cli.main(["batch", str(tmp_path / "class"), "--out", str(out), "--workers", "1"]) == 0
    for student in ("ada", "bob"):
        folder = out / "reports" / student
        feedback = nbformat.read(folder / "report.feedback.ipynb", as_version=4)
        assert any("def rnn_forward(" in cell.source for cell in feedback.cells)
        assert _feedback(feedback.cells)
        assert "Feedback on" in (folder / "report.feedback.html").read_text()


def test_feedback_cells_have_stable_ids_that_never_clash_with_the_students(
    buggy: tuple[GradeResult, bytes],
) -> None:
    result, data = buggy
    raw = json.loads(data)
    raw["nbformat_minor"] = 5
    for number, cell in enumerate(raw["cells"]):
        cell["id"] = "rnn-grader-feedback-summary" if number == 0 else f"c{number}"
    owned = json.dumps(raw).encode()
    first, again = render(result, "notebook", owned), render(result, "notebook", owned)
    assert first == again  # reproducible: no random ids
    out = nbformat.reads(first, as_version=4)
    nbformat.validate(out)
    ids = [cell.id for cell in out.cells]
    assert len(ids) == len(set(ids)) and ids[1] == "rnn-grader-feedback-summary"  # theirs kept


def test_an_older_notebook_without_cell_ids_stays_valid(buggy: tuple[GradeResult, bytes]) -> None:
    result, data = buggy
    raw = json.loads(data)
    raw["nbformat_minor"] = 4
    for cell in raw["cells"]:
        cell.pop("id", None)
    out = nbformat.reads(render(result, "notebook", json.dumps(raw).encode()), as_version=4)
    nbformat.validate(out)


@pytest.mark.slow
def test_batch_writes_only_the_report_formats_asked_for(tmp_path: Path) -> None:
    for student in ("ada", "bob"):  # one folder alone would be read as a wrapper
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "rnn_forward.ipynb").write_bytes(BUGGY.read_bytes())
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "class"), "--out", str(out), "--workers", "1"]
    assert cli.main([*args, "--reports", "json,notebook"]) == 0
    written = sorted(p.name for p in (out / "reports" / "ada").iterdir())
    assert written == ["report.feedback.ipynb", "report.json"]
