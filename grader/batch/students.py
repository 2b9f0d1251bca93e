"""Notebooks found in a source -> one submission per student, by the rules the README states.

A student id comes from the first layout that fits a file:

1. Gradescope export: a folder listed in `submission_metadata.yml` belongs to its submitters (their
   `sid`, else e-mail, else name); a group submission gives every member the same file.
2. Canvas download: `name_[LATE_]userid_submissionid_file.ipynb` belongs to `userid`, late if
   marked so.
3. One folder per student: the first folder under the folders that every notebook shares.
4. Otherwise the file's stem.

These rules read only the export's top level: the source itself, below the wrapper folders that
every entry shares. A Canvas name or a `submission_metadata.yml` inside a student's folder or zip is
that student's file like any other, so a student's files can only ever be that student's. The
metadata is untrusted YAML: read with caps on size, nesting and alias expansion, and when it cannot
be read it is listed and the folders are used instead.

A student with several notebooks is graded once, on the latest: highest Canvas submission id or
Gradescope submission time, then a notebook named after any assignment (`rnn_forward*.ipynb`,
`lstm_forward*.ipynb`), then the newest modification time, then the last path. The others are listed
as set aside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from grader.batch.discover import Found, Listing, Reader, SourceProblem, escape_name
from grader.load import assignment_names

MAX_YAML_BYTES = 8 * 1024 * 1024  # submission_metadata.yml is read up to this size
MAX_YAML_DEPTH = 64  # nesting levels in submission_metadata.yml
MAX_YAML_ALIASES = 1_000  # alias uses in submission_metadata.yml
MAX_YAML_NODES = 1_000_000  # values once aliases are expanded
MAX_TEXT = 200  # characters kept of a display name or id read from the metadata
_NOT_TOP = "ignored: export metadata counts only at the export's top level"
_CANVAS = re.compile(
    r"^(?P<name>[^_]+)_(?:(?P<late>late)_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One student's notebook."""

    student: str  # stable id: Gradescope sid, Canvas user id, folder name or file stem
    name: str  # display name where the layout gives one, else the id
    found: Found  # the file
    late: bool  # marked late by the layout (Canvas' LATE)
    layout: str  # "gradescope", "canvas", "folder" or "stem"
    stamp: str = ""  # orders resubmissions: submission time or zero-padded id ("" when none)


@dataclass(frozen=True, kw_only=True)
class Roster:
    """Who is graded on which file."""

    submissions: tuple[Submission, ...]  # one per student, by student id
    set_aside: tuple[Submission, ...]  # students' other notebooks, not graded
    problems: tuple[SourceProblem, ...]  # unreadable containers and metadata


@dataclass(frozen=True, kw_only=True)
class _Submitter:
    student: str  # id
    name: str  # display name
    stamp: str  # created_at


def roster(listing: Listing, reader: Reader) -> Roster:
    """Apply the id rules and the resubmission rule to everything found."""
    problems = list(listing.problems)
    top = _shared_folders(f.parts[:-1] for f in (*listing.notebooks, *listing.metadata))
    folders = _gradescope_folders(listing.metadata, top, reader, problems)
    candidates = [s for f in listing.notebooks for s in _identify(f, folders, top)]
    by_student: dict[str, list[Submission]] = {}
    for submission in candidates:
        by_student.setdefault(submission.student, []).append(submission)
    chosen, set_aside = [], []
    stems = assignment_names()  # each assignment's notebook is named after its folder
    for student in sorted(by_student):
        ranked = sorted(by_student[student], key=lambda s: _recency(s, stems), reverse=True)
        chosen.append(ranked[0])
        set_aside.extend(ranked[1:])
    return Roster(submissions=tuple(chosen), set_aside=tuple(set_aside), problems=tuple(problems))


def _recency(
    submission: Submission, stems: tuple[str, ...]
) -> tuple[str, bool, float, tuple[str, ...]]:
    stem = submission.found.parts[-1].lower()
    canvas = _CANVAS.match(stem)
    named = (canvas.group("file") if canvas else stem).startswith(stems)
    return (submission.stamp, named, submission.found.mtime, submission.found.parts)


def _identify(found: Found, folders: dict[str, list[_Submitter]], top: int) -> list[Submission]:
    """Who owns a notebook, from its entry at the export's top level only (see module doc)."""
    unit = found.parts[top]
    inside = len(found.parts) > top + 1  # in a folder (or zip) at the top level
    if inside and unit in folders:
        return [
            Submission(
                student=s.student,
                name=s.name,
                found=found,
                late=False,
                layout="gradescope",
                stamp=s.stamp,
            )
            for s in folders[unit]
        ]
    canvas = _CANVAS.match(unit)
    if canvas:
        return [
            Submission(
                student=canvas["user"],
                name=canvas["name"],
                found=found,
                late=canvas["late"] is not None,
                layout="canvas",
                stamp=f"{int(canvas['submission']):020d}",
            )
        ]
    if inside:
        return [Submission(student=unit, name=unit, found=found, late=False, layout="folder")]
    stem = os.path.splitext(unit)[0]
    return [Submission(student=stem, name=stem, found=found, late=False, layout="stem")]


def _shared_folders(folders: Iterable[tuple[str, ...]]) -> int:
    """How many leading folders every entry shares (a wrapper folder is not a student)."""
    common: tuple[str, ...] | None = None
    for parts in folders:
        if common is None:
            common = parts
            continue
        size = 0
        while size < min(len(common), len(parts)) and common[size] == parts[size]:
            size += 1
        common = common[:size]
    return len(common or ())


def _gradescope_folders(
    metadata: Iterable[Found], top: int, reader: Reader, problems: list[SourceProblem]
) -> dict[str, list[_Submitter]]:
    """Submission folder name -> its submitters, from the metadata at the top level only."""
    for found in metadata:
        if len(found.parts) != top + 1:
            problems.append(SourceProblem(path=str(found.origin), reason=_NOT_TOP))
            continue
        try:
            return _submission_folders(load_metadata(reader.read(found.origin, MAX_YAML_BYTES)))
        except Exception as exc:  # whatever hostile YAML makes the loader raise
            reason = f"unreadable, folders used instead: {_short(exc)}"
            problems.append(SourceProblem(path=str(found.origin), reason=reason))
    return {}


def load_metadata(data: bytes) -> Any:
    """YAML parsed with bounds: nesting depth, aliases and their expansion are capped."""
    loader = _BoundedLoader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {})
        return loader.construct_document(node)
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """The safe loader, refusing deep nesting and many aliases while it composes."""

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise ValueError(f"more than {MAX_YAML_ALIASES} aliases")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise ValueError(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes the document holds once aliases are expanded (billion laughs stop here)."""
    key = id(node)
    if key in sizes:
        if sizes[key] < 0:
            raise ValueError("a recursive alias")
        return sizes[key]
    sizes[key] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    if total > MAX_YAML_NODES:
        raise ValueError(f"more than {MAX_YAML_NODES} values once aliases are expanded")
    sizes[key] = total
    return total


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _submission_folders(document: Any) -> dict[str, list[_Submitter]]:
    if not isinstance(document, dict):
        raise ValueError("not a mapping of submission folders")
    folders: dict[str, list[_Submitter]] = {}
    for key, entry in document.items():
        folder = _text(key)
        if folder is None or not isinstance(entry, dict):
            continue
        stamp = _text(_field(entry, "created_at")) or ""
        people = _field(entry, "submitters")
        people = [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []
        submitters = [_submitter(p, folder, stamp) for p in people]
        folders[folder] = submitters or [_Submitter(student=folder, name=folder, stamp=stamp)]
    return folders


def _submitter(person: dict[Any, Any], folder: str, stamp: str) -> _Submitter:
    student = next(
        (v for v in (_text(_field(person, k)) for k in ("sid", "email", "name")) if v), folder
    )
    return _Submitter(student=student, name=_text(_field(person, "name")) or student, stamp=stamp)


def _text(value: Any) -> str | None:
    """A scalar as bounded, storable text; None for anything else (lists, mappings, null)."""
    if value is None or isinstance(value, list | dict | set | bytes):
        return None
    return escape_name(str(value).strip()[:MAX_TEXT])


def _field(entry: dict[Any, Any], key: str) -> Any:
    """Gradescope writes Ruby symbols (`:sid:`), which YAML reads as ':sid'; accept both."""
    return entry.get(f":{key}", entry.get(key))
