"""Notebooks found in a source -> one submission per student, by the rules the README states.

A student id comes from the first layout that fits a file:

1. Gradescope export: a folder listed in `submission_metadata.yml` belongs to its submitters (their
   `sid`, else e-mail, else name); a group submission gives every member the same file.
2. Canvas download: `name_[LATE_]userid_submissionid_file.ipynb` belongs to `userid`, late if
   marked so.
3. One folder per student: the first folder under the folders that every notebook shares.
4. Otherwise the file's stem.

A student with several notebooks is graded once, on the latest: highest Canvas submission id or
Gradescope submission time, then a notebook named after the assignment (`rnn_forward*.ipynb`), then
the newest modification time, then the last path. The others are listed as set aside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from grader.discover import Found, Listing, Reader, SourceProblem

ASSIGNMENT_STEM = "rnn_forward"  # the notebook's name in assignment/
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
    exports = _gradescope_exports(listing.metadata, reader, problems)
    shared = _shared_folders(f.parts[:-1] for f in listing.notebooks)
    candidates = [s for f in listing.notebooks for s in _identify(f, exports, shared)]
    by_student: dict[str, list[Submission]] = {}
    for submission in candidates:
        by_student.setdefault(submission.student, []).append(submission)
    chosen, set_aside = [], []
    for student in sorted(by_student):
        ranked = sorted(by_student[student], key=_recency, reverse=True)
        chosen.append(ranked[0])
        set_aside.extend(ranked[1:])
    return Roster(submissions=tuple(chosen), set_aside=tuple(set_aside), problems=tuple(problems))


def _recency(submission: Submission) -> tuple[str, bool, float, tuple[str, ...]]:
    stem = submission.found.parts[-1].lower()
    canvas = _CANVAS.match(stem)
    named = (canvas.group("file") if canvas else stem).startswith(ASSIGNMENT_STEM)
    return (submission.stamp, named, submission.found.mtime, submission.found.parts)


def _identify(
    found: Found,
    exports: dict[tuple[str, ...], dict[str, list[_Submitter]]],
    shared: int,
) -> list[Submission]:
    for base, folders in exports.items():
        rest = found.parts[len(base) :]
        if found.parts[: len(base)] == base and len(rest) > 1 and rest[0] in folders:
            return [
                Submission(
                    student=s.student,
                    name=s.name,
                    found=found,
                    late=False,
                    layout="gradescope",
                    stamp=s.stamp,
                )
                for s in folders[rest[0]]
            ]
    canvas = _CANVAS.match(found.parts[-1])
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
    own = found.parts[shared:-1]
    if own:
        return [Submission(student=own[0], name=own[0], found=found, late=False, layout="folder")]
    stem = os.path.splitext(found.parts[-1])[0]
    return [Submission(student=stem, name=stem, found=found, late=False, layout="stem")]


def _shared_folders(folders: Iterable[tuple[str, ...]]) -> int:
    """How many leading folders every notebook shares (a wrapper folder is not a student)."""
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


def _gradescope_exports(
    metadata: Iterable[Found], reader: Reader, problems: list[SourceProblem]
) -> dict[tuple[str, ...], dict[str, list[_Submitter]]]:
    """Folder of each export -> submission folder name -> its submitters."""
    exports = {}
    for found in metadata:
        try:
            document = yaml.safe_load(reader.read(found.origin))
            exports[found.parts[:-1]] = _submission_folders(document)
        except (OSError, yaml.YAMLError, TypeError, AttributeError, ValueError) as exc:
            problems.append(SourceProblem(path=str(found.origin), reason=f"ignored: {exc}"))
    return exports


def _submission_folders(document: Any) -> dict[str, list[_Submitter]]:
    if not isinstance(document, dict):
        raise ValueError("not a mapping of submission folders")
    folders: dict[str, list[_Submitter]] = {}
    for folder, entry in document.items():
        if not isinstance(entry, dict):
            continue
        stamp = str(_field(entry, "created_at") or "")
        people = [p for p in _field(entry, "submitters") or [] if isinstance(p, dict)]
        folders[str(folder)] = [
            _Submitter(
                student=_student_id(p, str(folder)),
                name=str(_field(p, "name") or _student_id(p, str(folder))),
                stamp=stamp,
            )
            for p in people
        ] or [_Submitter(student=str(folder), name=str(folder), stamp=stamp)]
    return folders


def _student_id(person: dict[Any, Any], folder: str) -> str:
    for key in ("sid", "email", "name"):
        value = _field(person, key)
        if value not in (None, ""):
            return str(value).strip()
    return folder


def _field(entry: dict[Any, Any], key: str) -> Any:
    """Gradescope writes Ruby symbols (`:sid:`), which YAML reads as ':sid'; accept both."""
    return entry.get(f":{key}", entry.get(key))
