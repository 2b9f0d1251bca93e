"""The SQLite gradebook: atomic records, resume keys, current submissions, concurrent writers."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
from pathlib import Path

from fixtures.submissions import CATALOG

from grader.batch.gradebook import Gradebook, Key, outcome_of
from grader.results import CheckResult, Environment, GradeResult, Outcome, SubmissionInfo


def fake_result(
    sha: str = "abc",
    *,
    lost: dict[str, Outcome] | None = None,
    ungradable: str | None = None,
    case_set: str = "cases-1",
) -> GradeResult:
    """A result whose checks pass except those in `lost`, which score 0 with that outcome."""
    lost = lost or {}
    checks = tuple(
        CheckResult(
            id=s.id,
            points=0.0 if s.id in lost else s.points,
            max_points=s.points,
            outcome=lost.get(s.id, Outcome.PASSED),
            message=f"{s.id} said so",
        )
        for s in CATALOG
    )
    environment = Environment(
        grader_version="9.9",
        torch_version="x",
        python_version="3",
        device="cpu",
        case_set="full",
        case_set_id=case_set,
    )
    return GradeResult(
        submission=SubmissionInfo(path="nb.ipynb", sha256=sha),
        checks=checks,
        environment=environment,
        ungradable=ungradable,
    )


def record(book: Gradebook, student: str, result: GradeResult, *, replace: bool = False) -> int:
    return book.record(
        result,
        student=student,
        name=student.title(),
        late=False,
        file=f"{student}.ipynb",
        replace=replace,
        assignment="rnn_forward",
    )


def key(student: str, sha: str = "abc", case_set: str = "cases-1") -> Key:
    return Key(student=student, sha256=sha, grader_version="9.9", case_set_id=case_set,
               assignment="rnn_forward")  # fmt: skip


def test_a_record_holds_the_submission_and_every_check(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        lost = {"rnn_forward.values": Outcome.FAILED}
        submission_id = record(book, "ann", fake_result(lost=lost))
        (row,) = book.current()
    assert row.submission_id == submission_id and row.score == 70 and row.outcome == "failed"
    assert set(row.checks) == {s.id for s in CATALOG}
    assert row.checks["rnn_forward.values"] == (0.0, "failed", "rnn_forward.values said so")


def test_outcome_is_the_worst_thing_that_happened() -> None:
    assert outcome_of(fake_result()) == "passed"
    assert outcome_of(fake_result(lost={"init_hidden.shape": Outcome.FAILED})) == "failed"
    both = {"init_hidden.shape": Outcome.ERROR, "rnn_forward.values": Outcome.TIMEOUT}
    assert outcome_of(fake_result(lost=both)) == "timeout"
    assert outcome_of(fake_result(ungradable="empty")) == "ungradable"


def test_graded_finds_only_the_same_student_file_grader_and_cases(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        record(book, "ann", fake_result())
        asked = [key("ann"), key("ann", sha="other"), key("bob"), key("ann", case_set="cases-2")]
        assert set(book.graded(asked)) == {key("ann")}


def test_the_same_grading_twice_is_stored_once(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        first = record(book, "ann", fake_result())
        second = record(book, "ann", fake_result())
        assert first == second
        assert (book.count("submissions"), book.count("checks")) == (1, len(CATALOG))


def test_regrade_replaces_the_row_and_its_checks(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        record(book, "ann", fake_result())
        lost = {"init_hidden.shape": Outcome.FAILED}
        second = record(book, "ann", fake_result(lost=lost), replace=True)
        assert (book.count("submissions"), book.count("checks")) == (1, len(CATALOG))
        (row,) = book.current()
        assert row.submission_id == second and row.score == 98


def test_a_resubmission_becomes_current_and_keeps_the_history(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        old = record(book, "ann", fake_result(sha="v1"))
        book.mark_reports_written("ann", old)
        new = record(book, "ann", fake_result(sha="v2"))
        (row,) = book.current()
        assert row.submission_id == new and not row.reports_written
        assert book.count("submissions") == 2
        book.point([("ann", "Ann", True, old)])  # pointing back (a later batch chose v1 again)
        (row,) = book.current()
        assert row.submission_id == old and row.late


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.sqlite") as book:
        broken = fake_result()
        duplicate = (*broken.checks, broken.checks[0])  # violates the checks primary key
        with contextlib.suppress(sqlite3.IntegrityError):
            record(
                book,
                "ann",
                GradeResult(
                    submission=broken.submission, checks=duplicate, environment=broken.environment
                ),
            )
        assert (book.count("submissions"), book.count("checks"), book.count("students")) == (
            0,
            0,
            0,
        )


def _write_many(path: str, prefix: str) -> None:
    with Gradebook(Path(path)) as book:
        for i in range(40):
            record(book, f"{prefix}{i}", fake_result(sha=f"{prefix}{i}"))
            record(book, "shared", fake_result(sha="same"))  # both processes race on this one


def test_two_batches_writing_at_once_do_not_corrupt_the_gradebook(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    Gradebook(path).close()
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(path), p)) for p in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (submissions,) = db.execute("SELECT COUNT(*) FROM submissions").fetchone()
        (checks,) = db.execute("SELECT COUNT(*) FROM checks").fetchone()
    assert submissions == 81 and checks == 81 * len(CATALOG)


ROUND_ONE_SUBMISSIONS = """
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY, student TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, outcome TEXT NOT NULL, reason TEXT,
    duration REAL NOT NULL, grader_version TEXT NOT NULL, case_set_id TEXT NOT NULL,
    graded_at REAL NOT NULL, result TEXT NOT NULL,
    UNIQUE (student, sha256, grader_version, case_set_id)
)"""


def test_a_round_one_gradebook_holds_rnn_gradings_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(ROUND_ONE_SUBMISSIONS)
        db.execute("INSERT INTO submissions VALUES (1, 'ann', 'a.ipynb', 'abc', 100, 100,"
                   " 'passed', '', 1.0, '9.9', 'cases-1', 0, '{}')")  # fmt: skip
    with Gradebook(path) as book:
        assert book.graded([key("ann")]) == {key("ann"): 1}  # nothing to grade again
        record(book, "bob", fake_result(sha="b"))
        assert [row.assignment for row in book.current()] == ["rnn_forward"]
