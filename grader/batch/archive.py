"""A zip archive read as untrusted input: its directory parsed with caps, members streamed.

`zipfile` trusts what it reads: a name flagged UTF-8 that is not UTF-8 makes the whole archive
unreadable, the central directory is loaded whole however large, and a member is decompressed in
chunks as large as it likes. Here the directory is parsed from raw bytes (entry-count and size
caps, names kept as bytes), and a member is decompressed in bounded chunks, checked against a
byte limit, a compression-ratio cap and its CRC while it streams. Only stored and deflated
members are read; anything else is refused with a reason.
"""

from __future__ import annotations

import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_ENTRIES = 100_000  # entries in one archive; more is refused whole
MAX_DIRECTORY_BYTES = 32 * 1024 * 1024  # central directory size; more is refused whole
MAX_RATIO = 200  # uncompressed : compressed, checked once a member passes RATIO_FLOOR bytes
RATIO_FLOOR = 1024 * 1024  # small members may compress as well as they like
CHUNK = 64 * 1024  # bytes read or produced per step

_EOCD = struct.Struct("<4s4H2LH")
_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_STORED, _DEFLATED = 0, 8
_ENCRYPTED = 0x1
_UTF8_NAME = 0x800


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One member as the central directory describes it."""

    index: int  # position in the directory
    raw_name: bytes  # the name exactly as stored
    name: str  # decoded (UTF-8, else cp437); undecodable bytes kept as surrogate escapes
    method: int  # compression method (0 stored, 8 deflated)
    flags: int  # general-purpose bit flags
    crc: int  # CRC-32 of the uncompressed bytes
    compressed: int  # bytes stored
    size: int  # uncompressed bytes, as declared (checked while reading)
    offset: int  # of the local header, from the start of the file
    mode: int  # Unix mode bits from the external attributes (0 when none)
    date_time: tuple[int, int, int, int, int, int]  # DOS timestamp, unpacked

    @property
    def is_dir(self) -> bool:
        return self.name.endswith(("/", "\\")) or stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


class Archive:
    """An open zip: `entries` listed on opening, members streamed by `chunks`."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.entries = _directory(file)

    def read(self, entry: Entry, limit: int) -> bytes:
        """The member's bytes; OSError when it is corrupt, unsupported or over `limit`."""
        return b"".join(self.chunks(entry, limit))

    def chunks(self, entry: Entry, limit: int) -> Iterator[bytes]:
        """The member's bytes in pieces of at most CHUNK, every cap checked as they come."""
        if entry.flags & _ENCRYPTED:
            raise OSError("the member is encrypted")
        if entry.method not in (_STORED, _DEFLATED):
            raise OSError(f"unsupported compression method {entry.method}")
        if entry.size > limit:
            raise OSError(f"the member is larger than {_megabytes(limit)}")
        self._file.seek(self._data_offset(entry))
        meter = _Meter(entry, limit)
        for piece in self._inflate(entry):
            meter.count(piece)
            yield piece
        meter.finish()

    def _data_offset(self, entry: Entry) -> int:
        self._file.seek(entry.offset)
        header = self._file.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
            raise OSError("corrupt zip: bad local header")
        fields = _LOCAL.unpack(header)
        return int(entry.offset + _LOCAL.size + fields[10] + fields[11])

    def _inflate(self, entry: Entry) -> Iterator[bytes]:
        decoder = zlib.decompressobj(-15) if entry.method == _DEFLATED else None
        left, pending = entry.compressed, b""
        while left or pending:
            if not pending:
                pending = self._file.read(min(CHUNK, left))
                if not pending:
                    raise OSError("corrupt zip: the member is truncated")
                left -= len(pending)
            if decoder is None:
                yield pending
                pending = b""
                continue
            try:
                piece = decoder.decompress(pending, CHUNK)
            except zlib.error as exc:
                raise OSError(f"corrupt compressed data ({exc})") from exc
            pending = decoder.unconsumed_tail
            if piece:
                yield piece
            if decoder.eof:
                return
        if decoder is not None and not decoder.eof:
            raise OSError("corrupt compressed data (the stream ends early)")


class _Meter:
    """Counts a member's bytes as they stream: limit, ratio, size and CRC."""

    def __init__(self, entry: Entry, limit: int) -> None:
        self.entry, self.limit, self.produced, self.crc = entry, limit, 0, 0

    def count(self, piece: bytes) -> None:
        self.produced += len(piece)
        if self.produced > self.limit:
            raise OSError(f"the member is larger than {_megabytes(self.limit)}")
        ratio_base = max(self.entry.compressed, 1) * MAX_RATIO
        if self.produced > RATIO_FLOOR and self.produced > ratio_base:
            raise OSError(f"the member expands more than {MAX_RATIO}:1 (a zip bomb?)")
        self.crc = zlib.crc32(piece, self.crc)

    def finish(self) -> None:
        if self.produced != self.entry.size or self.crc != self.entry.crc:
            raise OSError("corrupt zip: size or CRC does not match the directory")


def _directory(file: BinaryIO) -> tuple[Entry, ...]:
    """Every entry of the central directory, with the caps checked before it is read."""
    count, size, start, shift = _end_record(file)
    if count > MAX_ENTRIES:
        raise OSError(f"the zip has {count} entries, more than {MAX_ENTRIES}")
    if size > MAX_DIRECTORY_BYTES:
        raise OSError(f"the zip's directory is larger than {_megabytes(MAX_DIRECTORY_BYTES)}")
    file.seek(start)
    data = file.read(size)
    entries: list[Entry] = []
    at = 0
    while at < len(data) and len(entries) < MAX_ENTRIES:
        entry, at = _central_entry(data, at, len(entries), shift)
        entries.append(entry)
    return tuple(entries)


def _end_record(file: BinaryIO) -> tuple[int, int, int, int]:
    """(entry count, directory size, directory start, shift of prepended data)."""
    file.seek(0, 2)
    length = file.tell()
    tail_start = max(0, length - _EOCD.size - 65_535)
    file.seek(tail_start)
    tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise OSError("not a zip file (no end-of-directory record)")
    fields = _EOCD.unpack_from(tail, at)
    count, size, offset = fields[4], fields[5], fields[6]
    end = tail_start + at
    if count == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:
        count, size, offset, end = _zip64_end(file, end)
    start = end - size
    if start < 0 or offset > start:
        raise OSError("corrupt zip: the directory lies outside the file")
    return count, size, start, start - offset


def _zip64_end(file: BinaryIO, end: int) -> tuple[int, int, int, int]:
    file.seek(max(0, end - _LOCATOR.size))
    locator = file.read(_LOCATOR.size)
    if len(locator) < _LOCATOR.size or locator[:4] != b"PK\x06\x07":
        raise OSError("corrupt zip: missing zip64 locator")
    record_at = _LOCATOR.unpack(locator)[2]
    file.seek(record_at)
    record = file.read(_EOCD64.size)
    if len(record) < _EOCD64.size or record[:4] != b"PK\x06\x06":
        raise OSError("corrupt zip: missing zip64 end record")
    fields = _EOCD64.unpack(record)
    return fields[7], fields[8], fields[9], record_at


def _central_entry(data: bytes, at: int, index: int, shift: int) -> tuple[Entry, int]:
    if len(data) - at < _CENTRAL.size or data[at : at + 4] != b"PK\x01\x02":
        raise OSError("corrupt zip: bad directory entry")
    f = _CENTRAL.unpack_from(data, at)
    name_end = at + _CENTRAL.size + f[12]
    extra_end = name_end + f[13]
    raw_name = data[at + _CENTRAL.size : name_end]
    sizes = _zip64_sizes(data[name_end:extra_end], f[11], f[10], f[18])
    entry = Entry(
        index=index,
        raw_name=raw_name,
        name=_decode(raw_name, f[5]),
        method=f[6],
        flags=f[5],
        crc=f[9],
        compressed=sizes[1],
        size=sizes[0],
        offset=sizes[2] + shift,
        mode=f[17] >> 16,
        date_time=_dos_time(f[8], f[7]),
    )
    return entry, extra_end + f[14]


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset, taking the zip64 extra field's values where the header has 0xFFFFFFFF."""
    values = [size, compressed, offset]
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, at)
        if kind == 0x0001:
            field, pos = extra[at + 4 : at + 4 + length], 0
            for i, value in enumerate(values):
                if value == 0xFFFFFFFF and pos + 8 <= len(field):
                    values[i] = struct.unpack_from("<Q", field, pos)[0]
                    pos += 8
        at += 4 + length
    return values[0], values[1], values[2]


def _decode(raw: bytes, flags: int) -> str:
    """UTF-8 when flagged or valid (what most tools write), else cp437 as the format says."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if flags & _UTF8_NAME:
            return raw.decode("utf-8", "surrogateescape")
        return raw.decode("cp437")


def _dos_time(date: int, time: int) -> tuple[int, int, int, int, int, int]:
    return (
        (date >> 9) + 1980,
        (date >> 5) & 0xF,
        date & 0x1F,
        time >> 11,
        (time >> 5) & 0x3F,
        (time & 0x1F) * 2,
    )


def _megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"
