"""Finding a class's notebooks and telling students apart, in every export layout (no grading)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from fixtures.batch_class import (
    distinct_class,
    write_canvas,
    write_folders,
    write_gradescope,
    write_stems,
    zip_folder,
)

from grader.batch.discover import Reader, list_source
from grader.batch.students import Roster, roster


def roster_of(source: Path) -> Roster:
    with Reader() as reader:
        return roster(list_source(source), reader)


def ids(result: Roster) -> dict[str, str]:
    """student id -> graded file."""
    return {s.student: s.found.label for s in result.submissions}


def test_bare_files_are_named_by_their_stem(tmp_path: Path) -> None:
    members = distinct_class(3)
    expected = write_stems(tmp_path, members)
    assert set(ids(roster_of(tmp_path))) == set(expected.values())


def test_one_folder_per_student_under_a_wrapper_folder(tmp_path: Path) -> None:
    members = distinct_class(3)
    expected = write_folders(tmp_path / "src", members)
    result = roster_of(tmp_path / "src")
    assert ids(result) == {s: f"class-export/{s}/rnn_forward.ipynb" for s in expected.values()}
    assert {s.layout for s in result.submissions} == {"folder"}


def test_the_same_folders_in_a_zip(tmp_path: Path) -> None:
    members = distinct_class(3)
    expected = write_folders(tmp_path / "src", members)
    archive = zip_folder(tmp_path / "src", tmp_path / "class.zip")
    result = roster_of(archive)
    assert set(ids(result)) == set(expected.values())
    with Reader() as reader:
        graded = {s.student: reader.read(s.found.origin) for s in result.submissions}
    assert graded == {m.student: m.data for m in members}


def test_canvas_names_give_the_user_id_and_the_late_marker(tmp_path: Path) -> None:
    members = distinct_class(4)
    expected = write_canvas(tmp_path, members, late={members[1].student})
    result = roster_of(tmp_path)
    assert set(ids(result)) == set(expected.values())
    late = {s.student for s in result.submissions if s.late}
    assert late == {expected[members[1].student]}
    assert {s.layout for s in result.submissions} == {"canvas"}


def test_canvas_resubmission_keeps_the_highest_submission_id(tmp_path: Path) -> None:
    first, second = distinct_class(2)
    (tmp_path / "doejane_10001_900001_rnn_forward.ipynb").write_bytes(first.data)
    (tmp_path / "doejane_LATE_10001_900007_rnn_forward-1.ipynb").write_bytes(second.data)
    result = roster_of(tmp_path)
    (chosen,) = result.submissions
    assert chosen.student == "10001" and chosen.name == "doejane" and chosen.late
    assert chosen.found.label == "doejane_LATE_10001_900007_rnn_forward-1.ipynb"
    assert [s.found.label for s in result.set_aside] == ["doejane_10001_900001_rnn_forward.ipynb"]


def test_gradescope_export_uses_the_metadata(tmp_path: Path) -> None:
    members = distinct_class(3)
    names = {members[0].student: 'Doe, Jane "JJ"'}
    expected = write_gradescope(tmp_path / "export", members, names=names)
    result = roster_of(zip_folder(tmp_path / "export", tmp_path / "export.zip"))
    assert set(ids(result)) == set(expected.values())
    by_id = {s.student: s for s in result.submissions}
    assert by_id[expected[members[0].student]].name == 'Doe, Jane "JJ"'
    assert {s.layout for s in result.submissions} == {"gradescope"}


def test_gradescope_group_submission_grades_every_member(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    (tmp_path / "submission_1").mkdir()
    (tmp_path / "submission_1" / "rnn.ipynb").write_bytes(member.data)
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Ann\n    :sid: '1'\n"
        "  - :name: Bo\n    :email: bo@example.edu\n  :created_at: 2026-01-01 10:00:00 -08:00\n"
    )
    result = roster_of(tmp_path)
    assert ids(result) == {
        "1": "submission_1/rnn.ipynb",
        "bo@example.edu": "submission_1/rnn.ipynb",
    }


def test_broken_metadata_is_listed_and_folders_are_used(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    (tmp_path / "submission_1").mkdir()
    (tmp_path / "submission_1" / "rnn.ipynb").write_bytes(member.data)
    (tmp_path / "other.ipynb").write_bytes(member.data)
    (tmp_path / "submission_metadata.yml").write_text("submission_1: [unclosed\n")
    result = roster_of(tmp_path)
    assert set(ids(result)) == {"submission_1", "other"}
    assert any("submission_metadata.yml" in p.path for p in result.problems)


def test_several_notebooks_prefer_the_assignment_name_then_the_newest(tmp_path: Path) -> None:
    a, b, c = distinct_class(3)
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "scratch.ipynb").write_bytes(a.data)
    (folder / "rnn_forward.ipynb").write_bytes(b.data)
    (tmp_path / "bob").mkdir()
    for name, member, stamp in (("v1.ipynb", a, 1_000), ("v2.ipynb", c, 2_000)):
        (tmp_path / "bob" / name).write_bytes(member.data)
        os.utime(tmp_path / "bob" / name, (stamp, stamp))
    result = roster_of(tmp_path)
    assert ids(result) == {"alice": "alice/rnn_forward.ipynb", "bob": "bob/v2.ipynb"}
    assert sorted(s.found.label for s in result.set_aside) == [
        "alice/scratch.ipynb",
        "bob/v1.ipynb",
    ]


@pytest.mark.parametrize("name", ["rnn_forward.ipynb", "lstm_forward-final.ipynb"])
def test_any_assignments_notebook_name_is_preferred_to_a_newer_other(
    tmp_path: Path, name: str
) -> None:
    a, b = distinct_class(2)
    folder = tmp_path / "carol"
    folder.mkdir()
    for file, member, stamp in ((name, a, 1_000), ("scratch.ipynb", b, 2_000)):
        (folder / file).write_bytes(member.data)
        os.utime(folder / file, (stamp, stamp))
    (tmp_path / "dan").mkdir()  # a second student: carol's folder is not a wrapper
    (tmp_path / "dan" / "x.ipynb").write_bytes(b.data)
    assert ids(roster_of(tmp_path))["carol"] == f"carol/{name}"


def test_a_student_zip_inside_the_class_folder(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    with zipfile.ZipFile(tmp_path / "carol.zip", "w") as archive:
        archive.writestr("work/rnn_forward.ipynb", member.data)
        archive.writestr("__MACOSX/work/._rnn_forward.ipynb", b"resource fork")
    (tmp_path / "dan.ipynb").write_bytes(member.data)
    assert ids(roster_of(tmp_path)) == {
        "carol": "carol/work/rnn_forward.ipynb",
        "dan": "dan.ipynb",
    }


def test_corrupt_zips_and_unreadable_files_are_listed_not_fatal(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    (tmp_path / "ok.ipynb").write_bytes(member.data)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    (tmp_path / "loop.ipynb").symlink_to(tmp_path / "loop.ipynb")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "ok-checkpoint.ipynb").write_bytes(member.data)
    result = roster_of(tmp_path)
    assert ids(result) == {"ok": "ok.ipynb"}
    assert sorted(Path(p.path).name for p in result.problems) == ["broken.zip", "loop.ipynb"]


def test_a_corrupt_member_fails_on_read_with_a_reason(tmp_path: Path) -> None:
    (member,) = distinct_class(1)
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("alice.ipynb", member.data)
        out.writestr("bob.ipynb", member.data)
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"alice.ipynb") + len(b"alice.ipynb")
    raw[start + 10 : start + 40] = bytes(30)  # damage alice's compressed data
    archive.write_bytes(bytes(raw))
    result = roster_of(archive)
    with Reader() as reader:
        alice, bob = result.submissions
        assert reader.read(bob.found.origin) == member.data
        with pytest.raises(OSError, match="cannot read the file"):
            reader.read(alice.found.origin)


def test_oversized_files_are_refused_before_they_are_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * 2048)
    (found,) = list_source(tmp_path).notebooks
    with Reader() as reader, pytest.raises(OSError, match="larger than"):
        reader.read(found.origin, limit=1024)


def test_a_class_of_student_zips_is_read_with_few_files_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("grader.batch.discover.MAX_OPEN_ZIPS", 2)
    members = distinct_class(5)
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as outer:
        for m in members:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as inner:
                inner.writestr("work/rnn_forward.ipynb", m.data)
            outer.writestr(f"{m.student}.zip", buffer.getvalue())
    with Reader() as reader:
        result = roster(list_source(tmp_path / "class.zip", reader), reader)
        graded = {s.student: reader.read(s.found.origin) for s in reversed(result.submissions)}
    assert graded == {m.student: m.data for m in members}
