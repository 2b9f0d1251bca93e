"""Report writers: one module per format, each a pure `render(GradeResult) -> str`.

Writers are peers fed the same result; none reads another's output and each escapes for its own
format. The CLI picks one by name from `RENDERERS` and decides where the text goes. Formats
that show the submitted notebook itself (`github` points into it; `notebook` and `notebook-html`
return it with feedback cells) are in `NOTEBOOK_RENDERERS` and also take the notebook's bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grader.errors import UsageError
from grader.report import (
    canonical,
    classroom,
    github,
    gradescope,
    html,
    junit,
    markdown,
    text,
)
from grader.results import GradeResult

__all__ = [
    "FORMATS",
    "NOTEBOOK_RENDERERS",
    "RENDERERS",
    "SUFFIXES",
    "WRITERS",
    "Renderer",
    "Writer",
    "render",
]

Renderer = Callable[[GradeResult], str]
NotebookRenderer = Callable[[GradeResult, bytes], str]


@dataclass(frozen=True, kw_only=True)
class Writer:
    """One report format: how it renders, and how its file is named."""

    name: str  # the --format name
    render: NotebookRenderer  # (result, the submitted notebook's bytes) -> text
    suffix: str = ""  # file ending of a student's report in a folder; "": not written per student
    reads_notebook: bool = False  # shows the submitted notebook itself (github points into it)


def _result_only(writer: Writer) -> Renderer:
    return lambda result: writer.render(result, b"")


def _plain(writer: Renderer) -> NotebookRenderer:
    return lambda result, data: writer(result)  # the notebook's bytes are not needed


# The one table every format goes through: the CLI, batch and render all look formats up here.
WRITERS: dict[str, Writer] = {
    w.name: w
    for w in (
        Writer(name="text", render=_plain(text.render), suffix=".txt"),
        Writer(name="json", render=_plain(canonical.render), suffix=".json"),
        Writer(name="gradescope", render=_plain(gradescope.render), suffix=".gradescope.json"),
        Writer(name="junit", render=_plain(junit.render), suffix=".xml"),
        Writer(name="markdown", render=_plain(markdown.render), suffix=".md"),
        Writer(name="html", render=_plain(html.render), suffix=".html"),
        Writer(name="classroom", render=_plain(classroom.render)),
        Writer(name="github", render=github.render, reads_notebook=True),
        Writer(
            name="notebook",
            render=lambda result, data: _notebook(result, data),
            suffix=".feedback.ipynb",
            reads_notebook=True,
        ),
        Writer(
            name="notebook-html",
            render=lambda result, data: _notebook_html(result, data),
            suffix=".feedback.html",
            reads_notebook=True,
        ),
    )
}
FORMATS = tuple(WRITERS)
# Views of WRITERS for callers that need one side of it.
RENDERERS: dict[str, Renderer] = {
    n: _result_only(w) for n, w in WRITERS.items() if not w.reads_notebook
}
NOTEBOOK_RENDERERS: dict[str, NotebookRenderer] = {
    n: w.render for n, w in WRITERS.items() if w.reads_notebook
}
SUFFIXES: dict[str, str] = {n: w.suffix for n, w in WRITERS.items() if w.suffix}


def render(result: GradeResult, fmt: str, notebook: bytes = b"") -> str:
    """`result` rendered in format `fmt` (`notebook`: the submitted file's bytes, for the formats
    that show it); UsageError names the known formats otherwise."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        known = ", ".join(FORMATS)
        raise UsageError(f"unknown report format {fmt!r}; choose one of {known}") from None
    return writer.render(result, notebook)


def _notebook(result: GradeResult, data: bytes) -> str:
    from grader.report import notebook  # nbformat: imported only when asked

    return notebook.render(result, data)


def _notebook_html(result: GradeResult, data: bytes) -> str:
    from grader.report import notebook_html  # nbconvert's HTML stack: imported only when asked

    return notebook_html.render(result, data)
