"""The feedback notebook rendered by nbconvert as one self-contained HTML page, to return through
any LMS. Everything the student wrote (markdown, outputs) passes an allow-list sanitiser: no
script, style, frame, form or event handler survives, links are http(s)/mailto only, and images
only inline `data:image/` ones (the plots are cell attachments, which nbconvert inlines). Local
images are never embedded, so a student's `![](/etc/passwd)` stays a dead link.

nbconvert's templates also write some notebook fields into attributes unescaped or unquoted (an
image output's `width`, the execution count), so before export every cell is rebuilt from what is
known to be safe (`_scrubbed`), and the page carries a Content-Security-Policy that lets no script
or inline handler run even if something slipped through.

A class shares most of its cells (the handed-out text and code), so highlighting and sanitising
are remembered by their input; `batch` renders a page per student.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from typing import Any

import bleach
from jinja2 import pass_context
from nbconvert import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat import NotebookNode

from grader.report.notebook import feedback_notebook
from grader.results import GradeResult

__all__ = ["render", "sanitize"]

# The lab template loads MathJax and require.js from a CDN; a returned page must work offline
# and run nothing, so every <script> element is dropped (the page needs none to display).
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.DOTALL | re.IGNORECASE)
# What markdown, code highlighting and plain outputs produce; nothing that runs or loads.
_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "small", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
})  # fmt: skip
_PLAIN = frozenset({"class", "id", "title", "align", "colspan", "rowspan"})
_REMEMBERED = 4096  # rendered markdown cells kept per process
_CSP = (
    '<meta http-equiv="Content-Security-Policy"'
    " content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # ids, tags, attachment and language names
_OUTPUT_TYPES = frozenset({"stream", "display_data", "execute_result", "error"})
_STREAMS = frozenset({"stdout", "stderr"})


def render(result: GradeResult, notebook: bytes) -> str:
    """The student's notebook with feedback cells, as an HTML document."""
    try:
        page, _ = _exporter().from_notebook_node(_scrubbed(feedback_notebook(result, notebook)))
    except Exception:  # nbconvert choked on the student's cells: show the feedback alone
        page, _ = _exporter().from_notebook_node(_scrubbed(feedback_notebook(result, b"")))
    return _HEAD.sub(lambda head: head.group() + _CSP, _SCRIPT.sub("", page), count=1)


def _scrubbed(notebook: NotebookNode) -> NotebookNode:
    """A copy with only the fields the page shows, each of a safe type and spelling."""
    clean = copy.deepcopy(notebook)
    language = clean.get("metadata", {}).get("language_info", {}).get("name")
    safe_language = isinstance(language, str) and _SAFE_NAME.fullmatch(language)
    clean.metadata = {"language_info": {"name": language}} if safe_language else {}
    for cell in clean.cells:
        tags = cell.get("metadata", {}).get("tags")
        safe = (
            [t for t in tags if isinstance(t, str) and _SAFE_NAME.fullmatch(t)]
            if isinstance(tags, list)
            else []
        )
        cell.metadata = {"tags": safe} if safe else {}
        if not (isinstance(cell.get("id"), str) and _SAFE_NAME.fullmatch(cell.id)):
            cell.pop("id", None)
        if "attachments" in cell:
            cell.attachments = _attachments(cell.attachments)
        if cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            cell.execution_count = count if type(count) is int else None
            cell.outputs = [_output(o) for o in cell.get("outputs", []) if _known(o)]
    return clean


def _attachments(attachments: Any) -> dict[str, dict[str, str]]:
    if not isinstance(attachments, dict):
        return {}
    return {
        name: {mime: data for mime, data in bundle.items() if isinstance(data, str)}
        for name, bundle in attachments.items()
        if isinstance(name, str) and _SAFE_NAME.fullmatch(name) and isinstance(bundle, dict)
    }


def _known(output: Any) -> bool:
    return isinstance(output, dict) and output.get("output_type") in _OUTPUT_TYPES


def _output(output: NotebookNode) -> NotebookNode:
    """An output with its metadata rebuilt: only positive integer image sizes survive."""
    if output.output_type == "stream" and output.get("name") not in _STREAMS:
        output.name = "stdout"
    if output.output_type in ("display_data", "execute_result"):
        given_metadata = output.get("metadata")
        metadata: dict[Any, Any] = given_metadata if isinstance(given_metadata, dict) else {}
        sizes = {
            mime: {k: v for k, v in given.items() if k in ("width", "height") and _size(v)}
            for mime, given in metadata.items()
            if isinstance(mime, str) and mime.startswith("image/") and isinstance(given, dict)
        }
        output.metadata = {mime: size for mime, size in sizes.items() if size}
        if (
            output.output_type == "execute_result"
            and type(output.get("execution_count")) is not int
        ):
            output.execution_count = None
    return output


def _size(value: Any) -> bool:
    return type(value) is int and 0 < value < 100_000


def _attribute(tag: str, name: str, value: str) -> bool:
    if name in _PLAIN:
        return True
    if tag == "a" and name == "href":
        return value.startswith(("https://", "http://", "mailto:", "#"))
    if tag == "img" and name in ("src", "alt"):
        return name == "alt" or value.startswith("data:image/")
    return False


@functools.lru_cache(maxsize=4096)
def sanitize(fragment: str | bytes) -> str:
    """An HTML fragment with only inert tags and attributes left."""
    text = fragment.decode("utf-8", "replace") if isinstance(fragment, bytes) else str(fragment)
    cleaner = bleach.Cleaner(tags=_TAGS, attributes=_attribute, protocols={"http", "https",
                             "mailto", "data"}, strip=True, strip_comments=True)  # fmt: skip
    return str(cleaner.clean(text))


class _Exporter(HTMLExporter):
    """nbconvert's HTML exporter without its final BeautifulSoup pass (alt texts and tab stops:
    two thirds of the time on a page this size) and its re-validation after each preprocessor,
    with markdown and highlighting remembered per cell."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._markdown: dict[tuple[str, str], str] = {}

    def from_notebook_node(  # type: ignore[override]
        self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        init = getattr(self, "_init_resources", None)
        if init is None or not hasattr(self, "_nb_metadata"):  # another nbconvert: its own way
            return super().from_notebook_node(nb, resources, **kw)
        resources = init(resources)
        widgets = WidgetsDataTypeFilter(  # type: ignore[no-untyped-call]
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("filter_data_type", widgets)  # type: ignore[no-untyped-call]
        return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """nbconvert's markdown rendering, remembered by the cell's text and attachments."""
        attachments = context.get("cell", {}).get("attachments", {})
        key = (source, json.dumps(attachments, sort_keys=True) if attachments else "")
        if (known := self._markdown.get(key)) is None:
            known = self._markdown[key] = str(super().markdown2html(context, source))
            if len(self._markdown) > _REMEMBERED:
                self._markdown.pop(next(iter(self._markdown)))
        return known

    def _validate_preprocessor(self, nbc: NotebookNode, preprocessor: Any) -> None:
        """The notebook was validated once when built; its preprocessors only add outputs."""


@functools.cache
def _exporter() -> HTMLExporter:
    """One exporter per process: its templates load once."""
    quiet = logging.getLogger("grader.nbconvert")
    quiet.setLevel(logging.ERROR)  # its notes are not ours to show
    highlight = Highlight2HTML(pygments_lexer="ipython3")  # type: ignore[no-untyped-call]

    @functools.lru_cache(maxsize=4096)
    def highlighted(source: str, language: str | None) -> str:
        return str(highlight(source, language))

    def highlight_code(source: str, language: str | None = None, metadata: Any = None) -> str:
        return highlighted(source, language)

    return _Exporter(
        template_name="lab",
        sanitize_html=True,
        embed_images=False,
        log=quiet,
        filters={"clean_html": sanitize, "highlight_code": highlight_code},
    )
