"""`--format notebook` and `notebook-html` on notebooks built to break them: malformed nbformat
gives the feedback alone (never a traceback), and no notebook field becomes a live attribute."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fixtures.submissions import correct_cells, notebook
from report_samples import mixed

from grader import cli
from grader.report import render
from grader.report.notebook import FEEDBACK_TAG

BASE = json.loads(notebook(correct_cells()))
Change = Callable[[dict[str, Any]], None]

MALFORMED: dict[str, Change] = {
    "nbformat-float": lambda nb: nb.update(nbformat=4.0),
    "nbformat-string": lambda nb: nb.update(nbformat="4"),
    "minor-string": lambda nb: nb.update(nbformat_minor="x"),
    "minor-huge": lambda nb: nb.update(nbformat_minor=10**90),
    "metadata-list": lambda nb: nb.update(metadata=[]),
    "cell-metadata-list": lambda nb: nb["cells"][1].update(metadata=[1]),
    "cell-not-a-dict": lambda nb: nb["cells"].insert(0, 7),
    "id-not-a-string": lambda nb: nb["cells"][1].update(id={"a": 1}),
    "outputs-int": lambda nb: nb["cells"][1].update(outputs=5),
    "outputs-bad": lambda nb: nb["cells"][1].update(
        outputs=[{"output_type": "stream", "name": 5, "text": 7}, {"output_type": "weird"}, 3]
    ),
    "attachment-bad": lambda nb: nb["cells"].insert(
        0, {"cell_type": "markdown", "metadata": {}, "source": "x", "attachments": {"a": 5}}
    ),
    "tags-int": lambda nb: nb["cells"][1]["metadata"].update(tags=5),
    "execution-count-huge": lambda nb: nb["cells"][1].update(execution_count=-(10**80)),
    "source-not-text": lambda nb: nb["cells"].insert(
        0, {"cell_type": "markdown", "metadata": {}, "source": [1, 2]}
    ),
    "raw-source-none": lambda nb: nb["cells"].insert(
        0, {"cell_type": "raw", "metadata": {"format": 5}, "source": None}
    ),
}


def _variant(change: Change) -> bytes:
    nb = copy.deepcopy(BASE)
    change(nb)
    return json.dumps(nb).encode()


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_notebook_gets_the_feedback_alone_in_both_notebook_formats(name: str) -> None:
    data = _variant(MALFORMED[name])
    out = nbformat.reads(render(mixed(), "notebook", data), as_version=4)
    nbformat.validate(out)
    assert any(FEEDBACK_TAG in c.metadata.get("tags", []) for c in out.cells)
    assert "Feedback" in render(mixed(), "notebook-html", data)


@pytest.mark.parametrize("name", ["nbformat-float", "minor-string", "id-not-a-string"])
@pytest.mark.parametrize("fmt", ["notebook", "notebook-html"])
def test_grading_a_malformed_notebook_into_a_notebook_exits_with_a_grade(
    name: str, fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "submission.ipynb"
    path.write_bytes(_variant(MALFORMED[name]))
    assert cli.main(["grade", str(path), "--format", fmt]) in (0, 1, 2)
    assert "Traceback" not in capsys.readouterr().err


ATTACK = "1 onerror=alert(1) tabindex=1 onfocus=alert(2) autofocus"


def _image(metadata: dict[str, Any]) -> Change:
    output = {"output_type": "display_data", "metadata": metadata,
              "data": {"image/png": "AAAA", "image/jpeg": "AAAA", "text/plain": "x"}}  # fmt: skip
    return lambda nb: nb["cells"][0].update(outputs=[output])


HOSTILE: dict[str, Change] = {
    "png-width": _image({"image/png": {"width": ATTACK}}),
    "jpeg-height": _image({"image/jpeg": {"height": ATTACK}}),
    "top-level-width": _image({"width": ATTACK, "height": ATTACK}),
    "filenames": _image({"filenames": {"image/png": f'x" {ATTACK} "'}}),
    "needs-background": _image({"image/png": {"needs_background": ATTACK, "unconfined": ATTACK}}),
    "tags": lambda nb: nb["cells"][0]["metadata"].update(tags=[f'"><b {ATTACK}>', "a b"]),
    "attachment-name": lambda nb: nb["cells"].insert(
        0,
        {
            "cell_type": "markdown",
            "metadata": {},
            "id": "md-1",
            "source": f'![x](attachment:a" {ATTACK} x=")',
            "attachments": {f'a" {ATTACK} x="': {"image/png": "AAAA"}},
        },
    ),
    "stream-name": lambda nb: nb["cells"][0].update(
        outputs=[{"output_type": "stream", "name": f'"><b {ATTACK}>', "text": "x"}]
    ),
    "execute-result-count": lambda nb: nb["cells"][0].update(
        execution_count=3,
        outputs=[
            {
                "output_type": "execute_result",
                "execution_count": 3,
                "metadata": {"image/png": {"width": ATTACK}},
                "data": {"image/png": "AAAA"},
            }
        ],
    ),
    "language-name": lambda nb: nb["metadata"].update(
        language_info={"name": f'"><b {ATTACK}>'}, title=f"</title><b {ATTACK}>"
    ),
}


class _Attributes(HTMLParser):
    """Every tag and attribute name of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [(tag, name) for name, _ in attrs]
        self.found.append((tag, ""))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_no_notebook_field_becomes_a_live_attribute_of_the_page(name: str) -> None:
    page = render(mixed(), "notebook-html", _variant(HOSTILE[name]))
    parser = _Attributes()
    parser.feed(page)
    handlers = [(tag, attr) for tag, attr in parser.found if attr.startswith("on")]
    assert not handlers, handlers
    assert not [tag for tag, attr in parser.found if attr == "autofocus" or tag in ("script", "b")]


def test_the_page_forbids_scripts_and_loads_nothing_from_outside() -> None:
    page = render(mixed(), "notebook-html", notebook(correct_cells()))
    head = page[page.index("<head") : page.index("</head>")]
    assert (
        '<meta http-equiv="Content-Security-Policy"'
        " content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
    ) in head
    assert "<style" in head  # the look comes from inline styles, which the policy allows
