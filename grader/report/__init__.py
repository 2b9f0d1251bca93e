"""Report writers: one module per format, each a pure `render(GradeResult) -> str`.

Writers are peers fed the same result; none reads another's output and each escapes for its own
format. The CLI picks one by name from `RENDERERS` and decides where the text goes. Formats
that show the submitted notebook itself (`github` points into it; `notebook` and `notebook-html`
return it with feedback cells) are in `NOTEBOOK_RENDERERS` and also take the notebook's bytes.
"""

from __future__ import annotations

from collections.abc import Callable

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

__all__ = ["FORMATS", "NOTEBOOK_RENDERERS", "RENDERERS", "SUFFIXES", "Renderer", "render"]

Renderer = Callable[[GradeResult], str]
NotebookRenderer = Callable[[GradeResult, bytes], str]

RENDERERS: dict[str, Renderer] = {
    "text": text.render,
    "json": canonical.render,
    "gradescope": gradescope.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "html": html.render,
    "classroom": classroom.render,
}

NOTEBOOK_RENDERERS: dict[str, NotebookRenderer] = {
    "github": github.render,
    "notebook": lambda result, data: _notebook(result, data),
    "notebook-html": lambda result, data: _notebook_html(result, data),
}
FORMATS = (*RENDERERS, *NOTEBOOK_RENDERERS)

# File name endings for each format, e.g. for `batch` output or golden files.
SUFFIXES: dict[str, str] = {
    "text": ".txt",
    "json": ".json",
    "gradescope": ".gradescope.json",
    "junit": ".xml",
    "markdown": ".md",
    "html": ".html",
    "notebook": ".feedback.ipynb",
    "notebook-html": ".feedback.html",
}


def render(result: GradeResult, fmt: str, notebook: bytes = b"") -> str:
    """`result` rendered in format `fmt` (`notebook`: the submitted file's bytes, for the formats
    that show it); UsageError names the known formats otherwise."""
    if fmt in NOTEBOOK_RENDERERS:
        return NOTEBOOK_RENDERERS[fmt](result, notebook)
    try:
        writer = RENDERERS[fmt]
    except KeyError:
        known = ", ".join(FORMATS)
        raise UsageError(f"unknown report format {fmt!r}; choose one of {known}") from None
    return writer(result)


def _notebook(result: GradeResult, data: bytes) -> str:
    from grader.report import notebook  # nbformat: imported only when asked

    return notebook.render(result, data)


def _notebook_html(result: GradeResult, data: bytes) -> str:
    from grader.report import notebook_html  # nbconvert's HTML stack: imported only when asked

    return notebook_html.render(result, data)
