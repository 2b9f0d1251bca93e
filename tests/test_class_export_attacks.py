"""A class export is untrusted input (DESIGN §5): hostile exports built in tmp_path.

Layout rules apply only at the export's top level, symlinks are never followed, archives are read
streamed within caps, metadata YAML is parsed with bounds, and every name and message is stored
as text SQLite and UTF-8 files accept.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fixtures.batch_class import distinct_class
from test_batch_gradebook import fake_result

from grader.batch.discover import Listing, Reader, list_source
from grader.batch.exports import write_exports
from grader.batch.gradebook import MAX_RESULT_JSON, Gradebook, Key
from grader.batch.students import Roster, roster
from grader.results import Outcome

STUB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "planted": true}'


def roster_of(source: Path) -> Roster:
    with Reader() as reader:
        return roster(list_source(source, reader), reader)


def graded_bytes(source: Path) -> dict[str, bytes]:
    """student id -> the bytes they would be graded on."""
    with Reader() as reader:
        result = roster(list_source(source, reader), reader)
        return {s.student: reader.read(s.found.origin) for s in result.submissions}


def reasons(listing: Listing | Roster) -> str:
    return "\n".join(f"{p.path}: {p.reason}" for p in listing.problems)


def zip_bytes(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Layout rules at the top level only


def test_a_canvas_name_inside_a_students_zip_cannot_regrade_another_student(
    tmp_path: Path,
) -> None:
    alice, bob = distinct_class(2)
    (tmp_path / "bob_1002_900002_rnn_forward.ipynb").write_bytes(bob.data)
    planted = {"bob_1002_999999_rnn_forward.ipynb": STUB, "rnn_forward.ipynb": alice.data}
    (tmp_path / "alice_1001_900001_upload.zip").write_bytes(zip_bytes(planted))
    graded = graded_bytes(tmp_path)
    assert graded["1002"] == bob.data
    assert set(graded) == {"1001", "1002"}


def test_a_canvas_name_inside_a_students_folder_is_that_students_file(tmp_path: Path) -> None:
    alice, bob = distinct_class(2)
    for name, member in (("alice", alice), ("bob", bob)):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "rnn_forward.ipynb").write_bytes(member.data)
    (tmp_path / "class" / "alice" / "bob_1_99999999_rnn_forward.ipynb").write_bytes(STUB)
    result = roster_of(tmp_path / "class")
    assert {s.student for s in result.submissions} == {"alice", "bob"}
    assert graded_bytes(tmp_path / "class")["bob"] == bob.data


def _gradescope(root: Path, alice: bytes, bob: bytes) -> None:
    for folder, data in (("submission_1", alice), ("submission_2", bob)):
        (root / folder).mkdir(parents=True)
        (root / folder / "rnn_forward.ipynb").write_bytes(data)
    (root / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Alice\n    :sid: '1'\n"
        "  :created_at: 2026-01-01 10:00:00 -08:00\n"
        "submission_2:\n  :submitters:\n  - :name: Bob\n    :sid: '2'\n"
        "  :created_at: 2026-01-01 10:00:00 -08:00\n"
    )


def test_a_metadata_file_inside_a_students_upload_cannot_regrade_another_student(
    tmp_path: Path,
) -> None:
    alice, bob = distinct_class(2)
    _gradescope(tmp_path, alice.data, bob.data)
    planted = tmp_path / "submission_1"
    (planted / "x").mkdir()
    (planted / "x" / "rnn_forward.ipynb").write_bytes(STUB)
    (planted / "submission_metadata.yml").write_text(
        "x:\n  :submitters:\n  - :name: Bob\n    :sid: '2'\n  :created_at: 2099-01-01 00:00:00\n"
    )
    zipped = {"submission_metadata.yml": b"y:\n  :submitters:\n  - :sid: '2'\n", "y/a.ipynb": STUB}
    (planted / "upload.zip").write_bytes(zip_bytes(zipped))
    graded = graded_bytes(tmp_path)
    assert set(graded) == {"1", "2"} and graded["2"] == bob.data
    result = roster_of(tmp_path)
    assert {s.student for s in result.submissions} == {"1", "2"}
    assert all(s.student == "1" for s in result.set_aside)
    assert "top level" in reasons(result)


# ---------------------------------------------------------------------------------------------
# Untrusted YAML


def _metadata_bomb(root: Path, text: str) -> Roster:
    (member,) = distinct_class(1)
    (root / "submission_1").mkdir()
    (root / "submission_1" / "rnn_forward.ipynb").write_bytes(member.data)
    (root / "submission_metadata.yml").write_text(text)
    return roster_of(root)


def test_a_yaml_alias_bomb_is_refused_and_the_folders_are_used(tmp_path: Path) -> None:
    levels = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 7):
        levels.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    bomb = "\n".join(levels) + "\nsubmission_1:\n  :submitters:\n  - :sid: *l6\n"
    result = _metadata_bomb(tmp_path, bomb)
    assert [s.student for s in result.submissions] == ["submission_1"]
    assert "unreadable" in reasons(result)


def test_a_yaml_depth_bomb_is_refused_and_the_folders_are_used(tmp_path: Path) -> None:
    result = _metadata_bomb(tmp_path, "a: " + "[" * 20_000 + "]" * 20_000 + "\n")
    assert [s.student for s in result.submissions] == ["submission_1"]
    assert "unreadable" in reasons(result)


# ---------------------------------------------------------------------------------------------
# Symbolic links, special files, zip-slip


def test_a_students_symlink_to_another_students_notebook_is_skipped_and_listed(
    tmp_path: Path,
) -> None:
    alice, erin = distinct_class(2)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "solution.ipynb").write_bytes(STUB)
    source = tmp_path / "class"
    for name in ("alice", "bob", "carol", "erin"):
        (source / name).mkdir(parents=True)
    (source / "alice" / "rnn_forward.ipynb").write_bytes(alice.data)
    (source / "erin" / "rnn_forward.ipynb").write_bytes(erin.data)
    (source / "bob" / "rnn_forward.ipynb").symlink_to(source / "alice" / "rnn_forward.ipynb")
    (source / "carol" / "mine").symlink_to(tmp_path / "solutions", target_is_directory=True)
    (source / "dave").symlink_to(tmp_path / "solutions", target_is_directory=True)
    result = roster_of(source)
    assert [s.student for s in result.submissions] == ["alice", "erin"]
    listed = reasons(result)
    for link in ("bob/rnn_forward.ipynb", "carol/mine", "dave"):
        assert f"{link}: skipped: a symbolic link" in listed


def test_reading_never_follows_a_link_swapped_in_after_listing(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    (tmp_path / "alice.ipynb").write_bytes(member.data)
    (tmp_path / "secret.txt").write_text("the solution")
    (found,) = list_source(tmp_path).notebooks
    (tmp_path / "alice.ipynb").unlink()
    (tmp_path / "alice.ipynb").symlink_to(tmp_path / "secret.txt")
    with Reader() as reader, pytest.raises(OSError):
        reader.read(found.origin)


def test_a_fifo_named_like_a_notebook_is_skipped_without_blocking(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    (tmp_path / "alice.ipynb").write_bytes(member.data)
    os.mkfifo(tmp_path / "bob.ipynb")
    result = roster_of(tmp_path)
    assert [s.student for s in result.submissions] == ["alice"]
    assert "bob.ipynb: skipped: not a regular file" in reasons(result)


def test_zip_entries_that_are_links_or_climb_out_are_refused_and_listed(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("alice/rnn_forward.ipynb", member.data)
        archive.writestr("erin/rnn_forward.ipynb", member.data)
        link = zipfile.ZipInfo("bob/rnn_forward.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "../alice/rnn_forward.ipynb")
        archive.writestr("../carol/rnn_forward.ipynb", member.data)
        archive.writestr("/dan/rnn_forward.ipynb", member.data)
    (tmp_path / "class.zip").write_bytes(buffer.getvalue())
    result = roster_of(tmp_path / "class.zip")
    assert [s.student for s in result.submissions] == ["alice", "erin"]
    listed = reasons(result)
    assert "bob/rnn_forward.ipynb: skipped: a symbolic link" in listed
    assert listed.count("refused: the name climbs out of the archive") == 2


def test_folders_nested_thousands_deep_are_listed_not_fatal(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    (tmp_path / "alice.ipynb").write_bytes(member.data)
    top = tmp_path / "bob"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(1_100):  # made relative to each folder: no path grows past PATH_MAX
            os.mkdir("a", dir_fd=fd)
            inner = os.open("a", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(fd)
        result = roster_of(tmp_path)
    finally:  # removed level by level here: pytest's own cleanup recurses once per level
        while (top / "a" / "a").exists():
            os.rename(top / "a" / "a", top / "b")
            os.rmdir(top / "a")
            os.rename(top / "b", top / "a")
        (top / "a").rmdir()
    assert [s.student for s in result.submissions] == ["alice"]
    assert "nested deeper than" in reasons(result)


# ---------------------------------------------------------------------------------------------
# Archives streamed within caps


def test_a_zip_bomb_inside_the_class_is_refused_and_listed(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    bomb = zip_bytes({"rnn_forward.ipynb": member.data, "pad.bin": bytes(64 * 1024 * 1024)})
    (tmp_path / "alice.zip").write_bytes(zip_bytes({"rnn_forward.ipynb": member.data}))
    (tmp_path / "bob.zip").write_bytes(zip_bytes({"inner.zip": bomb}, zipfile.ZIP_DEFLATED))
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "rnn_forward.ipynb").write_bytes(zip_bytes({"x": bytes(8 * 1024 * 1024)}))
    listing = list_source(tmp_path)
    assert {f.parts[0] for f in listing.notebooks} == {"alice", "carol"}
    assert "a zip inside a zip inside the source" in reasons(listing)
    stored = zip_bytes({"rnn_forward.ipynb": member.data, "pad.bin": bytes(64 * 1024 * 1024)},
                       zipfile.ZIP_STORED)  # fmt: skip
    (tmp_path / "class.zip").write_bytes(zip_bytes({"bob.zip": stored}))  # 64 MB from 64 kB
    listing = list_source(tmp_path / "class.zip")
    assert listing.notebooks == ()
    assert "expands more than" in reasons(listing)


def test_a_notebook_that_expands_past_its_ratio_is_unreadable_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "class.zip").write_bytes(zip_bytes({"alice.ipynb": b" " * (8 * 1024 * 1024)}))
    (found,) = list_source(tmp_path / "class.zip").notebooks
    with Reader() as reader, pytest.raises(OSError, match="expands more than"):
        reader.read(found.origin)


def test_a_zip_with_too_many_entries_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("grader.batch.archive.MAX_ENTRIES", 50)
    (member,) = distinct_class(1)
    (tmp_path / "class.zip").write_bytes(zip_bytes({f"s{i}.ipynb": member.data for i in range(60)}))
    listing = list_source(tmp_path / "class.zip")
    assert listing.notebooks == ()
    assert "more than 50" in reasons(listing)


_PEAK = """
import sys
from pathlib import Path
from grader.batch.discover import Reader, list_source
with Reader() as reader:
    listing = list_source(Path(sys.argv[1]), reader)
    sizes = [len(reader.read(f.origin)) for f in listing.notebooks]
status = Path("/proc/self/status").read_text()
peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
print(len(sizes), peak // 1024)
"""


@pytest.mark.slow
def test_nested_zips_are_streamed_not_held_in_memory(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    noise = os.urandom(1024 * 1024)  # incompressible: within every ratio cap, but large
    inner = zip_bytes(
        {"rnn_forward.ipynb": member.data, "data.bin": noise * 96}, zipfile.ZIP_STORED
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in ("alice", "bob", "carol"):
            archive.writestr(f"{name}.zip", inner)
    (tmp_path / "class.zip").write_bytes(buffer.getvalue())
    del inner, buffer
    baseline = subprocess.run(
        [sys.executable, "-c", _PEAK, str(tmp_path / "nothing")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(tmp_path / "class.zip")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found, peak = map(int, run.stdout.split())
    assert found == 3
    assert peak - int(baseline.stdout.split()[1]) < 64  # MB: three 96 MB zips were never held


# ---------------------------------------------------------------------------------------------
# Names and text stored safely


def _non_utf8_zip(tmp_path: Path) -> Path:
    (member,) = distinct_class(1)
    raw = zip_bytes({"caf\u00e9/rnn_forward.ipynb": member.data, "bob/rnn_forward.ipynb": STUB})
    broken = raw.replace("caf\u00e9".encode(), b"caf\xff\xfe")  # still flagged UTF-8
    path = tmp_path / "class.zip"
    path.write_bytes(broken)
    return path


def test_a_zip_name_flagged_utf8_that_is_not_is_kept_as_escapes(tmp_path: Path) -> None:
    result = roster_of(_non_utf8_zip(tmp_path))
    assert sorted(s.student for s in result.submissions) == ["bob", "caf\\xff\\xfe"]


def test_a_non_utf8_folder_name_is_graded_and_stored(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    folder = os.path.join(os.fsencode(tmp_path / "class"), b"caf\xff")
    os.makedirs(folder)
    with open(os.path.join(folder, b"rnn_forward.ipynb"), "wb") as file:
        file.write(member.data)
    (tmp_path / "class" / "bob").mkdir()
    (tmp_path / "class" / "bob" / "rnn_forward.ipynb").write_bytes(member.data)
    graded = graded_bytes(tmp_path / "class")
    assert graded["caf\\xff"] == member.data
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for s in roster_of(tmp_path / "class").submissions:
            book.record(fake_result("a"), student=s.student, name=s.name, late=False,
                        file=s.found.label, replace=False)  # fmt: skip
        assert {row.student for row in book.current()} == {"bob", "caf\\xff"}


def test_lone_surrogates_in_student_text_are_stored_and_exported_on_every_run(
    tmp_path: Path,
) -> None:
    lone = "\udcff\ud800"
    result = fake_result("a", lost={"rnn_forward.values": Outcome.ERROR})
    checks = tuple(
        dataclasses.replace(c, message=f"raised ValueError: {lone}") for c in result.checks
    )
    hostile = dataclasses.replace(result, checks=checks, output=lone)
    for _ in range(2):  # the first run and a rerun
        with Gradebook(tmp_path / "gradebook.sqlite") as book:
            book.record(hostile, student=f"s{lone}", name=f"n{lone}", late=False,
                        file=f"f{lone}.ipynb", replace=True)  # fmt: skip
            key = Key(student=f"s{lone}", sha256="a", grader_version=
                      result.environment.grader_version,
                      case_set_id=result.environment.case_set_id)  # fmt: skip
            assert book.graded([key])
            write_exports(book, tmp_path)
    stored = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "\\xff" in stored
    assert "\\xff" in (tmp_path / "grades.csv").read_text(encoding="utf-8")


def test_the_canonical_json_kept_per_submission_is_bounded(tmp_path: Path) -> None:
    result = fake_result("a", lost={"rnn_forward.values": Outcome.FAILED})
    steps = [0.5] * 250_000
    details = {"step_errors": steps, "misconception": "m"}
    checks = tuple(dataclasses.replace(c, details=details) for c in result.checks)
    huge = dataclasses.replace(result, checks=checks, output="x" * 3_000_000)
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        submission_id = book.record(huge, student="s", name="s", late=False, file="f",
                                    replace=False)  # fmt: skip
        stored = book.result_json(submission_id)
    assert len(json.dumps(stored)) <= MAX_RESULT_JSON
    assert [c["id"] for c in stored["checks"]] == [c.id for c in result.checks]
    assert stored["checks"][0]["details"]["misconception"] == "m"
