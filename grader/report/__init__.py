"""Report writers: one module per format, each a pure `render(GradeResult) -> str`.

Writers are peers fed the same result; none reads another's output and each escapes for its own
format. The CLI picks one by name from `RENDERERS` and decides where the text goes.
"""

from __future__ import annotations

from collections.abc import Callable

from grader.errors import UsageError
from grader.report import canonical, gradescope, html, junit, markdown, text
from grader.results import GradeResult

__all__ = ["RENDERERS", "SUFFIXES", "Renderer", "render"]

Renderer = Callable[[GradeResult], str]

RENDERERS: dict[str, Renderer] = {
    "text": text.render,
    "json": canonical.render,
    "gradescope": gradescope.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "html": html.render,
}

# File name endings for each format, e.g. for `batch` output or golden files.
SUFFIXES: dict[str, str] = {
    "text": ".txt",
    "json": ".json",
    "gradescope": ".gradescope.json",
    "junit": ".xml",
    "markdown": ".md",
    "html": ".html",
}


def render(result: GradeResult, fmt: str) -> str:
    """`result` rendered in format `fmt`; UsageError names the known formats otherwise."""
    try:
        writer = RENDERERS[fmt]
    except KeyError:
        known = ", ".join(RENDERERS)
        raise UsageError(f"unknown report format {fmt!r}; choose one of {known}") from None
    return writer(result)
