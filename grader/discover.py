"""A class's files -> the notebooks in them: folders at any depth, zips, zips inside zips.

Nothing here knows about students (see `students.py`); it lists notebooks with their path parts and
reads their bytes on demand. Problems with a container (a corrupt zip, a folder that cannot be
listed) are collected, never raised: one bad file must not stop a class.
"""

from __future__ import annotations

import datetime
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.settings import MAX_NESTED_ZIP_BYTES, MAX_NOTEBOOK_BYTES

METADATA_NAME = "submission_metadata.yml"  # Gradescope's export index
_SKIPPED_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__"})


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where a file's bytes live."""

    path: Path  # a file on disk: the notebook itself, or the outermost zip
    members: tuple[str, ...] = ()  # zip member names from the outermost zip inwards

    def __str__(self) -> str:
        return "!".join([str(self.path), *self.members])


@dataclass(frozen=True, kw_only=True)
class Found:
    """One file found in the source."""

    parts: tuple[str, ...]  # path parts relative to the source; a zip counts as its stem folder
    origin: Origin  # how to read it
    size: int  # bytes, as the file system or the zip directory says
    mtime: float  # modification time, seconds since the epoch (zips: the entry's date)

    @property
    def label(self) -> str:
        """How reports and the gradebook name the file: its path inside the source."""
        return "/".join(self.parts)


@dataclass(frozen=True, kw_only=True)
class SourceProblem:
    """A container or file that could not be read; listed in the summary, never fatal."""

    path: str  # where, as the user would find it
    reason: str  # what went wrong


@dataclass(frozen=True, kw_only=True)
class Listing:
    """Everything found in a source."""

    notebooks: tuple[Found, ...]  # every *.ipynb, in path order
    metadata: tuple[Found, ...]  # every Gradescope submission_metadata.yml
    problems: tuple[SourceProblem, ...]  # unreadable containers


def list_source(source: Path) -> Listing:
    """Walk a folder (and the zips in it) or a zip; UsageError-free: problems are returned."""
    problems: list[SourceProblem] = []
    with _Walker(problems) as walker:
        found = list(walker.walk(source))
    found.sort(key=lambda f: f.parts)
    return Listing(
        notebooks=tuple(f for f in found if f.parts[-1].lower().endswith(".ipynb")),
        metadata=tuple(f for f in found if f.parts[-1] == METADATA_NAME),
        problems=tuple(problems),
    )


class _Walker:
    """Yields files under a folder or inside a zip, one level of zips inside zips."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        self.problems = problems
        self.reader = Reader()

    def __enter__(self) -> _Walker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reader.close()

    def walk(self, source: Path) -> Iterator[Found]:
        if source.is_dir():
            yield from self._folder(source)
        else:
            yield from self._zip(Origin(path=source), ())

    def _folder(self, root: Path) -> Iterator[Found]:
        def failed(exc: OSError) -> None:
            self.problems.append(SourceProblem(path=str(exc.filename), reason=_why(exc)))

        for folder, dirs, files in os.walk(root, onerror=failed):
            dirs[:] = sorted(d for d in dirs if _kept(d))
            base = Path(folder)
            parts = base.relative_to(root).parts
            for name in sorted(f for f in files if _kept(f)):
                yield from self._file(base / name, (*parts, name))

    def _file(self, path: Path, parts: tuple[str, ...]) -> Iterator[Found]:
        lower = parts[-1].lower()
        if not (lower.endswith((".ipynb", ".zip")) or parts[-1] == METADATA_NAME):
            return
        try:
            stat = path.stat()
        except OSError as exc:
            self.problems.append(SourceProblem(path=str(path), reason=_why(exc)))
            return
        if lower.endswith(".zip"):
            yield from self._zip(Origin(path=path), (*parts[:-1], parts[-1][:-4]))
        else:
            yield Found(
                parts=parts, origin=Origin(path=path), size=stat.st_size, mtime=stat.st_mtime
            )

    def _zip(self, origin: Origin, prefix: tuple[str, ...]) -> Iterator[Found]:
        try:
            archive = self.reader.archive(origin)
        except Exception as exc:  # whatever a damaged archive makes zipfile raise
            self.problems.append(SourceProblem(path=str(origin), reason=_zip_reason(exc)))
            return
        for info in archive.infolist():
            parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p)
            if info.is_dir() or not parts or not all(_kept(p) for p in parts):
                continue
            inner = Origin(path=origin.path, members=(*origin.members, info.filename))
            if parts[-1].lower().endswith(".zip") and not origin.members:
                yield from self._zip(inner, (*prefix, *parts[:-1], parts[-1][:-4]))
            elif parts[-1].lower().endswith(".ipynb") or parts[-1] == METADATA_NAME:
                stamp = _zip_time(info.date_time)
                yield Found(parts=(*prefix, *parts), origin=inner, size=info.file_size, mtime=stamp)


class Reader:
    """Reads files found by `list_source`, keeping zips open between reads."""

    def __init__(self) -> None:
        self._archives: dict[Origin, zipfile.ZipFile] = {}

    def read(self, origin: Origin, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
        """The file's bytes; OSError (with a reason a person can read) when that fails."""
        try:
            if not origin.members:
                with open(origin.path, "rb") as file:
                    data = file.read(limit + 1)
            else:
                archive = self.archive(Origin(path=origin.path, members=origin.members[:-1]))
                with archive.open(origin.members[-1]) as member:
                    data = member.read(limit + 1)
        except OSError as exc:
            raise OSError(f"cannot read the file: {_why(exc)}") from exc
        except Exception as exc:  # zlib, lzma, bz2 and zipfile each raise their own types
            raise OSError(f"cannot read the file: {_zip_reason(exc)}") from exc
        if len(data) > limit:
            raise OSError(f"the file is larger than {limit // (1024 * 1024)} MB")
        return data

    def archive(self, origin: Origin) -> zipfile.ZipFile:
        """The opened zip at `origin` (a zip on disk, or a member of one)."""
        if origin not in self._archives:
            if origin.members:
                data = self.read(origin, MAX_NESTED_ZIP_BYTES)
                self._archives[origin] = zipfile.ZipFile(io.BytesIO(data))
            else:
                self._archives[origin] = zipfile.ZipFile(origin.path)
        return self._archives[origin]

    def close(self) -> None:
        for archive in self._archives.values():
            archive.close()
        self._archives.clear()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _kept(name: str) -> bool:
    """Hidden files, macOS resource forks and Jupyter checkpoints are not submissions."""
    return not name.startswith(".") and name not in _SKIPPED_PARTS


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _zip_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return _why(exc)
    return f"corrupt or unsupported zip ({exc})"


def _zip_time(date_time: tuple[int, int, int, int, int, int]) -> float:
    try:
        return datetime.datetime(*date_time).timestamp()
    except (ValueError, OverflowError):
        return 0.0
