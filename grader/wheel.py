"""The student wheel, written by hand with zipfile: no build tools, no network, same bytes twice.

It holds the `grader` package as it is in the checkout (no caches) and, as package data in
`grader/released/`, each assignment's recording (`grader.recording`): the engine and the public
data, never an assignment folder. Installed, `grader.load` finds the assignments there, since no
`solutions/` folder sits beside the package.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InternalError, UsageError

__all__ = ["RELEASED_FOLDER", "WheelMetadata", "read_metadata", "wheel_name", "write_wheel"]

RELEASED_FOLDER = "grader/released"  # the recordings, as the installed package holds them
_SKIPPED_PARTS = frozenset({"__pycache__", "released"})  # caches; a stale release's data
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".ipynb")  # bytecode; no notebook belongs in the engine
_DATE = (2020, 1, 1, 0, 0, 0)  # fixed: the same sources give the same wheel
# A solution region's marker on a line of its own, as `grader.assign` recognises one.
_MARKER_LINE = re.compile(r"^\s*#*\s*(?:BEGIN|END)[\s_-]*SOLUTION[\s#]*$", re.IGNORECASE | re.M)


@dataclass(frozen=True, kw_only=True)
class WheelMetadata:
    """What the wheel says about itself, from pyproject.toml."""

    name: str  # the distribution's name, "rnn-grader"
    version: str  # "0.1.0"
    summary: str  # one line
    requires_python: str  # ">=3.11"
    requires: tuple[str, ...]  # Requires-Dist lines: pyproject's dependencies
    scripts: Mapping[str, str]  # console script -> "module:function"


def read_metadata(pyproject: Path) -> WheelMetadata:
    """The `[project]` table of `pyproject`; UsageError when it cannot be read."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return WheelMetadata(
            name=project["name"],
            version=project["version"],
            summary=project.get("description", ""),
            requires_python=project.get("requires-python", ""),
            requires=tuple(project.get("dependencies", ())),
            scripts=dict(project.get("scripts", {})),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the project's metadata in {pyproject}: {exc}") from exc


def wheel_name(metadata: WheelMetadata) -> str:
    """The wheel's file name (PEP 427): name and version normalised, pure Python 3."""
    name = re.sub(r"[-_.]+", "_", metadata.name).lower()
    return f"{name}-{metadata.version}-py3-none-any.whl"


def write_wheel(project: Path, recordings: Mapping[str, bytes], folder: Path) -> Path:
    """Write the student wheel of checkout `project` into `folder`, with `recordings` (assignment
    name -> its JSON) as package data; InternalError if a file would carry a solution marker."""
    metadata = read_metadata(project / "pyproject.toml")
    files = dict(_package_files(project / "grader"))
    files |= {f"{RELEASED_FOLDER}/{name}.json": data for name, data in recordings.items()}
    for path, data in files.items():
        if _MARKER_LINE.search(data.decode("utf-8", "replace")):
            raise InternalError(f"refusing to ship {path}: it holds a solution region marker")
    name = re.sub(r"[-_.]+", "_", metadata.name).lower()
    info = f"{name}-{metadata.version}.dist-info"
    files |= {
        f"{info}/METADATA": _metadata_text(metadata).encode(),
        f"{info}/WHEEL": _WHEEL.encode(),
        f"{info}/entry_points.txt": _entry_points(metadata).encode(),
        f"{info}/top_level.txt": b"grader\n",
    }
    target = folder / wheel_name(metadata)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            _add(wheel, path, data)
        _add(wheel, f"{info}/RECORD", _record(files, f"{info}/RECORD").encode())
    return target


def _package_files(package: Path) -> Iterator[tuple[str, bytes]]:
    """Every file of the package folder, in a stable order, without caches or notebooks."""
    if not (package / "__init__.py").is_file():
        raise UsageError(f"{package} is not the grader package of a source checkout")
    for path in sorted(p for p in package.rglob("*") if p.is_file()):
        relative = path.relative_to(package.parent)
        if _SKIPPED_PARTS & set(relative.parts) or path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        yield relative.as_posix(), path.read_bytes()


_WHEEL = """\
Wheel-Version: 1.0
Generator: grader.wheel
Root-Is-Purelib: true
Tag: py3-none-any
"""


def _metadata_text(metadata: WheelMetadata) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {metadata.name}", f"Version: {metadata.version}"]
    lines += [f"Summary: {metadata.summary}"] if metadata.summary else []
    lines += [f"Requires-Python: {metadata.requires_python}"] if metadata.requires_python else []
    lines += [f"Requires-Dist: {requirement}" for requirement in metadata.requires]
    return "\n".join(lines) + "\n"


def _entry_points(metadata: WheelMetadata) -> str:
    scripts = "".join(f"{name} = {target}\n" for name, target in metadata.scripts.items())
    return f"[console_scripts]\n{scripts}"


def _record(files: Mapping[str, bytes], own: str) -> str:
    """RECORD: each file's urlsafe-base64 sha256 (unpadded) and size; its own line left blank."""
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    return "\n".join([*lines, f"{own},,"]) + "\n"


def _add(wheel: zipfile.ZipFile, path: str, data: bytes) -> None:
    info = zipfile.ZipInfo(path, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    wheel.writestr(info, data)
