"""A class's files -> the notebooks in them: folders at any depth, zips, zips inside zips.

Nothing here knows about students (see `students.py`); it lists notebooks with their path parts and
reads their bytes on demand. Problems with a container (a corrupt zip, a folder that cannot be
listed) are collected, never raised: one bad file must not stop a class.

A class export is untrusted input. Symbolic links are never followed (on disk or in a zip), only
regular files are read (`O_NOFOLLOW`), zip entries that climb out (`..`, absolute names) are
refused, zips inside the source are opened one level deep by spilling them to a private temporary
folder within byte caps (never whole into memory), and names that are not valid UTF-8 are kept as
backslash escapes (`\\xff`), so every name is storable text that still identifies its bytes.
"""

from __future__ import annotations

import collections
import datetime
import itertools
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from grader.batch.archive import Archive, Entry
from grader.settings import MAX_NESTED_ZIP_BYTES, MAX_NOTEBOOK_BYTES

METADATA_NAME = "submission_metadata.yml"  # Gradescope's export index
MAX_SPILLED_BYTES = 2 * 1024 * 1024 * 1024  # all nested zips together, written to a temp folder
MAX_FILES = 200_000  # files and zip entries looked at in one source
MAX_DEPTH = 32  # folder levels below the source
MAX_OPEN_ZIPS = 32  # zips kept open at once; the others are opened again when read
_SKIPPED_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_Pending = tuple[Path, tuple[str, ...]]  # a folder still to list, with its parts


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where a file's bytes live."""

    path: Path  # a file on disk: the notebook itself, or the outermost zip
    members: tuple[str, ...] = ()  # zip member names from the outermost zip inwards, escaped
    indexes: tuple[int, ...] = ()  # the same members as directory positions (what is read)

    def __str__(self) -> str:
        return "!".join([escape_name(str(self.path)), *self.members])


@dataclass(frozen=True, kw_only=True)
class Found:
    """One file found in the source."""

    parts: tuple[str, ...]  # path parts relative to the source (escaped); a zip is its stem folder
    origin: Origin  # how to read it
    size: int  # bytes, as the file system or the zip directory says
    mtime: float  # modification time, seconds since the epoch (zips: the entry's date)

    @property
    def label(self) -> str:
        """How reports and the gradebook name the file: its path inside the source."""
        return "/".join(self.parts)


@dataclass(frozen=True, kw_only=True)
class SourceProblem:
    """A container or file that could not be read or was skipped; listed, never fatal."""

    path: str  # where, as the user would find it
    reason: str  # what went wrong


@dataclass(frozen=True, kw_only=True)
class Listing:
    """Everything found in a source."""

    notebooks: tuple[Found, ...]  # every *.ipynb, in path order
    metadata: tuple[Found, ...]  # every Gradescope submission_metadata.yml
    problems: tuple[SourceProblem, ...]  # unreadable containers, skipped links and entries


def escape_name(name: str) -> str:
    """A file name as storable text: undecodable bytes as `\\xNN`, backslashes doubled."""
    if "\\" not in name and not _SURROGATE.search(name):
        return name
    return _SURROGATE.sub(_escape_surrogate, name.replace("\\", "\\\\"))


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def list_source(source: Path, reader: Reader | None = None) -> Listing:
    """Walk a folder (and the zips in it) or a zip; problems are returned, never raised."""
    problems: list[SourceProblem] = []
    own = reader is None
    walker = _Walker(problems, reader or Reader())
    try:
        found = list(walker.walk(source))
    finally:
        if own:
            walker.reader.close()
    found.sort(key=lambda f: f.parts)
    return Listing(
        notebooks=tuple(f for f in found if f.parts[-1].lower().endswith(".ipynb")),
        metadata=tuple(f for f in found if f.parts[-1] == METADATA_NAME),
        problems=tuple(problems),
    )


class _Walker:
    """Yields files under a folder or inside a zip, one level of zips inside the source."""

    def __init__(self, problems: list[SourceProblem], reader: Reader) -> None:
        self.problems = problems
        self.reader = reader
        self.seen = 0

    def walk(self, source: Path) -> Iterator[Found]:
        if source.is_dir():
            yield from self._folder(source)
        else:
            yield from self._zip(Origin(path=source), (), nested=False)

    def skip(self, path: str, reason: str) -> None:
        self.problems.append(SourceProblem(path=path, reason=reason))

    def _counted(self, path: str) -> bool:
        """False once the source holds more files than MAX_FILES (listed once)."""
        self.seen += 1
        if self.seen == MAX_FILES + 1:
            self.skip(path, f"skipped: the source holds more than {MAX_FILES} files")
        return self.seen <= MAX_FILES

    def _folder(self, root: Path) -> Iterator[Found]:
        stack: list[_Pending] = [(root, ())]
        while stack:
            folder, parts = stack.pop()
            try:
                with os.scandir(folder) as listing:  # never more than the cap into memory
                    kept = itertools.islice(listing, max(0, MAX_FILES - self.seen) + 1)
                    entries = sorted(kept, key=lambda e: e.name, reverse=True)
            except OSError as exc:
                self.skip(escape_name(str(folder)), _why(exc))
                continue
            for entry in entries:
                if not _kept(entry.name) or not self._counted(escape_name(entry.path)):
                    continue
                inner = (*parts, escape_name(entry.name))
                yield from self._disk_entry(entry, inner, stack)

    def _disk_entry(
        self, entry: os.DirEntry[str], parts: tuple[str, ...], stack: list[_Pending]
    ) -> Iterator[Found]:
        label = "/".join(parts)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            self.skip(label, _why(exc))
            return
        if stat.S_ISLNK(info.st_mode):
            self.skip(label, "skipped: a symbolic link (symlinks are never followed)")
        elif stat.S_ISDIR(info.st_mode):
            if len(parts) > MAX_DEPTH:
                self.skip(label, f"skipped: folders nested deeper than {MAX_DEPTH} levels")
            else:
                stack.append((Path(entry.path), parts))
        elif _wanted(parts[-1]) and not stat.S_ISREG(info.st_mode):
            self.skip(label, "skipped: not a regular file")
        elif parts[-1].lower().endswith(".zip"):
            yield from self._zip(Origin(path=Path(entry.path)), _as_folder(parts), nested=True)
        elif _wanted(parts[-1]):
            path = Path(entry.path)
            yield Found(parts=parts, origin=Origin(path=path), size=info.st_size,
                        mtime=info.st_mtime)  # fmt: skip

    def _zip(self, origin: Origin, prefix: tuple[str, ...], *, nested: bool) -> Iterator[Found]:
        try:
            archive = self.reader.archive(origin)
        except OSError as exc:
            self.skip(str(origin), _why(exc))
            return
        names: set[str] = set()
        for entry in archive.entries:
            parts = self._entry_parts(origin, entry, names)
            if parts is None or not self._counted(str(origin)):
                continue
            inner = Origin(
                path=origin.path,
                members=(*origin.members, escape_name(entry.name)),
                indexes=(*origin.indexes, entry.index),
            )
            yield from self._zip_entry(inner, (*prefix, *parts), entry, nested=nested)

    def _zip_entry(
        self, origin: Origin, parts: tuple[str, ...], entry: Entry, *, nested: bool
    ) -> Iterator[Found]:
        if parts[-1].lower().endswith(".zip"):
            if nested:
                self.skip(str(origin), "skipped: a zip inside a zip inside the source")
            else:
                yield from self._zip(origin, _as_folder(parts), nested=True)
        elif _wanted(parts[-1]):
            stamp = _zip_time(entry.date_time)
            yield Found(parts=parts, origin=origin, size=entry.size, mtime=stamp)

    def _entry_parts(self, origin: Origin, entry: Entry, names: set[str]) -> tuple[str, ...] | None:
        """The entry's path parts, or None (listed when it is refused) for what is not read."""
        name = entry.name.replace("\\", "/")
        where = f"{origin}!{escape_name(entry.name)}"
        parts = tuple(escape_name(p) for p in name.split("/") if p not in ("", "."))
        if entry.is_symlink:
            self.skip(where, "skipped: a symbolic link (symlinks are never followed)")
        elif name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            self.skip(where, "refused: the name climbs out of the archive")
        elif entry.is_dir or not parts or not all(_kept(p) for p in parts):
            return None
        elif name in names:
            self.skip(where, "refused: a second entry with the same name")
        else:
            names.add(name)
            return parts
        return None


class Reader:
    """Reads files found by `list_source`, keeping the most recently used zips open.

    A zip inside the source is copied, streamed within byte caps, into a private temporary
    folder and opened from there; the folder goes when the reader is closed.
    """

    def __init__(self) -> None:
        self._open: collections.OrderedDict[Origin, tuple[Archive, BinaryIO]] = (
            collections.OrderedDict()
        )
        self._copies: dict[Origin, str] = {}  # nested zips copied out, by origin
        self._spill: tempfile.TemporaryDirectory[str] | None = None
        self._spilled = 0

    def read(self, origin: Origin, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
        """The file's bytes; OSError (with a reason a person can read) when that fails."""
        try:
            if not origin.indexes:
                return _read_regular(origin.path, limit)
            archive = self.archive(_parent(origin))
            return archive.read(archive.entries[origin.indexes[-1]], limit)
        except OSError as exc:
            raise OSError(f"cannot read the file: {_why(exc)}") from exc

    def archive(self, origin: Origin) -> Archive:
        """The opened zip at `origin` (a zip on disk, or a member of one)."""
        if origin in self._open:
            self._open.move_to_end(origin)
            return self._open[origin][0]
        path = self._copy(origin) if origin.indexes else origin.path
        file = _open_regular(Path(path))
        try:
            archive = Archive(file)
        except BaseException:
            file.close()
            raise
        self._open[origin] = (archive, file)
        while len(self._open) > MAX_OPEN_ZIPS:  # a class of zips must not run out of file handles
            self._open.popitem(last=False)[1][1].close()
        return archive

    def _copy(self, origin: Origin) -> str:
        """A zip member copied to the temporary folder (once), streamed within the caps."""
        if origin in self._copies:
            return self._copies[origin]
        outer = self.archive(_parent(origin))
        entry = outer.entries[origin.indexes[-1]]
        budget = min(MAX_NESTED_ZIP_BYTES, MAX_SPILLED_BYTES - self._spilled)
        if budget <= 0:
            raise OSError("skipped: the zips inside the source exceed the total size cap")
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="grader-class-")
        fd, path = tempfile.mkstemp(suffix=".zip", dir=self._spill.name)
        with os.fdopen(fd, "wb") as file:
            try:
                for piece in outer.chunks(entry, budget):
                    file.write(piece)
                    self._spilled += len(piece)
            except BaseException:
                os.unlink(path)
                raise
        self._copies[origin] = path
        return path

    def close(self) -> None:
        for _, file in self._open.values():
            file.close()
        self._open.clear()
        self._copies.clear()
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _parent(origin: Origin) -> Origin:
    return Origin(path=origin.path, members=origin.members[:-1], indexes=origin.indexes[:-1])


def _open_regular(path: Path) -> BinaryIO:
    """A regular file opened without following a link, and without blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{escape_name(str(path))} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_regular(path: Path, limit: int) -> bytes:
    with _open_regular(path) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"the file is larger than {limit // (1024 * 1024)} MB")
    return data


def _as_folder(parts: tuple[str, ...]) -> tuple[str, ...]:
    """A zip counts as a folder named by its stem."""
    return (*parts[:-1], parts[-1][:-4])


def _wanted(name: str) -> bool:
    return name.lower().endswith((".ipynb", ".zip")) or name == METADATA_NAME


def _kept(name: str) -> bool:
    """Hidden files, macOS resource forks and Jupyter checkpoints are not submissions."""
    return not name.startswith(".") and name not in _SKIPPED_PARTS


def _why(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return exc.strerror
    return str(exc)


def _zip_time(date_time: tuple[int, int, int, int, int, int]) -> float:
    try:
        return datetime.datetime(*date_time).timestamp()
    except (ValueError, OverflowError):
        return 0.0
