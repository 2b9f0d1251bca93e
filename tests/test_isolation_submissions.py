"""Nothing of one submission reaches another: the zygote never holds a job, and each child works in
a fresh folder that only it can reach, removed after it ends."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import landlock
from grader.sandbox.client import Call, Job, Sandbox
from grader.settings import DEFAULT_LIMITS

FAST = dataclasses.replace(
    DEFAULT_LIMITS, call_seconds=20.0, setup_seconds=10.0, submission_seconds=30.0
)
needs_landlock = pytest.mark.skipif(landlock.abi_version() == 0, reason="no Landlock here")
MARKER = "zq-first-student-7781-do-not-share"  # only ever in the first submission's source
FIRST = f"""
import os
NOTE = {MARKER!r}
def first(n):
    with open("answer.txt", "w") as f:
        f.write(NOTE)
    return [os.getcwd(), oct(os.stat(".").st_mode & 0o777)]
"""
MEMORY_SCAN = """
import re
def scan(key_hex):
    key = bytes.fromhex(key_hex)  # the marker XOR 0x55: finding it means finding the marker
    table = bytes(b ^ 0x55 for b in range(256))
    found = 0
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps.read().splitlines():
            span, perms = line.split()[:2]
            start, end = (int(x, 16) for x in span.split("-"))
            if not perms.startswith("rw") or end - start > 1 << 28:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            found += chunk.translate(table).count(key)
    return found
"""


def _job(source: str, function: str, *args: object) -> Job:
    call = Call(function=function, args=args)
    return Job(chunks=({"source": source, "cell": 1, "line": 1},), calls=(call,), device="cpu")


def _value(reply: dict[str, object]) -> object:
    call = reply["calls"][0]  # type: ignore[index]
    assert call["status"] == "returned", call
    value = call["value"]
    if value["t"] in ("list", "tuple"):
        return [item["v"] for item in value["items"]]
    return value["v"]


@pytest.fixture
def own_sandbox() -> Iterator[Sandbox]:
    with Sandbox(limits=FAST) as box:
        yield box


def _memory_holds(pid: int, needle: bytes) -> bool:
    """Whether any writable mapping of process pid holds needle (the test runs as root)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps.read().splitlines():
            span, perms = line.split()[:2]
            start, end = (int(x, 16) for x in span.split("-"))
            if not perms.startswith("rw"):
                continue
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except (OSError, ValueError, OverflowError):
                continue
    return False


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_the_zygote_never_holds_a_students_code_or_results(own_sandbox: Sandbox) -> None:
    source = FIRST + "def loud(n):\n    return 'zq-result-' + 'of-the-first-4417'\n"
    own_sandbox.run(_job(source, "first", 1))
    own_sandbox.run(_job(source, "loud", 1))
    assert own_sandbox._process is not None
    zygote = own_sandbox._process.pid
    assert not _memory_holds(zygote, MARKER.encode())
    assert not _memory_holds(zygote, b"zq-result-of-the-first-4417")


def test_a_later_child_finds_no_earlier_submission_in_its_memory() -> None:
    # Landlock off, so the child may read its own /proc/self/mem, as an attacker would try.
    key = bytes(b ^ 0x55 for b in MARKER.encode()).hex()
    with Sandbox(limits=FAST, landlock_abi=0) as box:
        box.run(_job(FIRST, "first", 1))
        assert _value(box.run(_job(MEMORY_SCAN, "scan", key))) == 0


def test_each_child_works_in_a_fresh_private_folder_removed_after_it(own_sandbox: Sandbox) -> None:
    first_folder, first_mode = _value(own_sandbox.run(_job(FIRST, "first", 1)))  # type: ignore[misc]
    second_folder, _ = _value(own_sandbox.run(_job(FIRST, "first", 1)))  # type: ignore[misc]
    assert first_folder != second_folder and first_mode == "0o700"
    assert Path(first_folder).parent == Path(tempfile.gettempdir())  # no base shared by children
    own_sandbox.close()
    assert not Path(first_folder).exists() and not Path(second_folder).exists()


LEAVE_BEHIND = """
import os
def plant(n):
    planted = []
    for path in ["../planted", "/tmp/planted-by-a-child"] + [f"../job-{i}" for i in range(1, 40)]:
        try:
            if "job" in path:
                os.mkdir(path)
            else:
                open(path, "w").write("for the next student")
            planted.append(path)
        except OSError:
            pass
    return ",".join(planted)
def look(n):
    found = []
    for path in ("../planted", "/tmp/planted-by-a-child"):
        try:
            found.append(open(path).read())
        except OSError:
            pass
    return ",".join(found)
"""


@needs_landlock
def test_a_child_cannot_leave_anything_for_the_next_child(own_sandbox: Sandbox) -> None:
    assert _value(own_sandbox.run(_job(LEAVE_BEHIND, "plant", 1))) == ""
    assert _value(own_sandbox.run(_job(LEAVE_BEHIND, "look", 1))) == ""
    assert not Path("/tmp/planted-by-a-child").exists()
