"""Student text made inert once, for every writer; each writer then escapes it for its format.

Anything in a result may be student-controlled: messages quote their exceptions, details name
their values, paths are their file names, output is whatever they printed. `inert` bounds such
text (characters and lines), makes control and bidi characters visible, and breaks GitHub
Actions workflow commands, since CI prints reports into its logs: `::cmd::` at a line start and
the legacy `##[cmd]` anywhere in a line (the runner looks for it with a culture-aware search, which
skips invisible characters, so non-ASCII characters between the marks do not protect it).
Markdown has no escape that also stops autolinks, so `md_code` puts text in a code span.
"""

from __future__ import annotations

import re

from grader.results import cap

__all__ = [
    "TEXT_CHARS",
    "TEXT_LINES",
    "cap",
    "cap_lines",
    "clean",
    "inert",
    "json_safe",
    "md_code",
    "neutralise",
]

TEXT_CHARS = 2_000  # characters kept of one piece of student text
TEXT_LINES = 40  # lines kept of one piece of student text
# Terminal-reordering characters (the "Trojan Source" set) that could disguise a message.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_QUIET = r"[^\x21-\x7e\n]*"  # whitespace and non-ASCII: what a runner may skip or ignore
_LINE_COMMAND = re.compile(rf"^({_QUIET}):({_QUIET}):", re.MULTILINE)
_LEGACY_COMMAND = re.compile(rf"#({_QUIET})#({_QUIET})\[")
_BACKTICKS = re.compile(r"`+")


def inert(text: str, chars: int = TEXT_CHARS, lines: int = TEXT_LINES) -> str:
    """`text` bounded, with control characters visible and no workflow command in any line."""
    return neutralise(clean(cap_lines(cap(text, chars), lines)))


def cap_lines(text: str, limit: int) -> str:
    """`text` cut to `limit` lines, saying how many were dropped."""
    if text.count("\n") < limit + 1:
        return text
    kept = text.split("\n", limit)
    more = kept.pop().count("\n") + 1
    return "\n".join(kept) + f"\n... [{more:,} more lines]"


def clean(text: str) -> str:
    """Make `text` inert in a terminal: escape control and bidi characters, keep \\n and \\t."""
    text = text.replace("\r\n", "\n")
    if text.replace("\n", "").replace("\t", "").isprintable():  # bidi marks are not printable
        return text
    return "".join(_escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    if ch in "\n\t" or (ch.isprintable() and ch not in _BIDI):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def neutralise(text: str) -> str:
    """Break workflow commands with a backslash, which no runner skips: `::` opening a line
    becomes `:\\:`, `##[` anywhere becomes `##\\[`."""
    if "#" in text:  # the checks first: most text has neither, and regular expressions cost
        text = _LEGACY_COMMAND.sub(r"#\1#\2\\[", text)
    return _LINE_COMMAND.sub(r"\1:\2\\:", text) if ":" in text else text


def json_safe(document: str) -> str:
    """A JSON document with each `##[` in its strings written `##\\u005b`: the same data, but no
    legacy workflow command when CI prints the file (newlines are already escaped in JSON)."""
    return _LEGACY_COMMAND.sub(r"#\1#\2\\u005b", document) if "#" in document else document


def md_code(text: str, *, table: bool = False) -> str:
    """`text` as one Markdown code span: no link, image, HTML, heading or table inside is live.

    The fence is one backtick longer than any run inside, so the text cannot close it; lines are
    joined with a visible mark, and in a table cell `|` is escaped (GFM splits cells first).
    """
    if not text:
        return ""
    text = text.replace("\n", " ⏎ ")
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"  # the spaces let text start or end with a backtick
