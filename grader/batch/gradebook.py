"""The gradebook: one SQLite file holding every graded submission and every check.

One transaction per finished submission (its row, its check rows and the student's pointer to it
together), in WAL mode with a busy timeout, so a batch killed at any moment loses nothing it
reported as graded, and several batches can write into one gradebook at once. A submission is
identified by (student, sha256, grader version, case-set id, assignment): the same file graded by
the same grader on the same cases of the same assignment is never graded twice unless asked to.

Everything stored is student-controlled text at heart (file names, exception messages, captured
output), so it passes `storable` first: lone surrogates become backslash escapes (SQLite's UTF-8
cannot hold them) and the canonical JSON kept per submission is bounded (long texts cut, long
lists of per-step details shortened), so no submission can make the gradebook raise or bloat.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.results import GradeResult, Outcome

GRADEBOOK_NAME = "gradebook.sqlite"
ROUND_ONE_ASSIGNMENT = "rnn_forward"  # what gradebooks from before assignment folders all hold
BUSY_TIMEOUT_MS = 60_000  # another batch's transaction is short; wait for it rather than fail
MAX_MESSAGE = 2_000  # characters of a check message or reason kept in their columns
MAX_RESULT_JSON = 256 * 1024  # characters of the canonical JSON kept per submission
_RESULT_CAPS = ((20_000, 200), (2_000, 20), (200, 3))  # (text, list items), tried in turn
_KEPT_DETAILS = ("misconception", "hint", "internal")  # details no cap may drop
_MAX_KEYS = 200  # keys kept of one mapping in the stored JSON
_SURROGATE = re.compile("[\ud800-\udfff]")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    duration REAL NOT NULL,
    grader_version TEXT NOT NULL,
    case_set_id TEXT NOT NULL,
    graded_at REAL NOT NULL,
    result TEXT NOT NULL,
    assignment TEXT NOT NULL DEFAULT '',
    UNIQUE (student, sha256, grader_version, case_set_id, assignment)
);
CREATE TABLE IF NOT EXISTS checks (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    check_id TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (submission_id, check_id)
);
CREATE TABLE IF NOT EXISTS students (
    student TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    late INTEGER NOT NULL,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    reports_written INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, kw_only=True)
class Key:
    """What makes two gradings the same grading."""

    student: str  # student id
    sha256: str  # of the graded bytes ("" when there were none)
    grader_version: str  # grader package version
    case_set_id: str  # fingerprint of the cases
    assignment: str = ""  # which assignment graded it ("": none could be told)


@dataclass(frozen=True, kw_only=True)
class Row:
    """A student's current submission, as the exports read it."""

    student: str  # id
    name: str  # display name
    late: bool  # marked late
    submission_id: int  # row id in `submissions`
    file: str  # path inside the source
    score: float  # points
    max_score: float  # points available
    outcome: str  # see `outcome_of`
    reason: str  # why it errored or could not be graded ("" otherwise)
    case_set_id: str  # which cases
    checks: dict[str, tuple[float, str, str]]  # check id -> (points, outcome, message)
    reports_written: bool  # per-student reports are up to date
    mistakes: dict[str, str] = field(default_factory=dict)  # check id -> misconception id
    assignment: str = ""  # which assignment graded it ("": none could be told)
    max_points: dict[str, float] = field(default_factory=dict)  # check id -> points available


def storable(text: str, limit: int | None = None) -> str:
    """Text SQLite and UTF-8 files accept: lone surrogates as `\\xNN`/`\\uXXXX`, cut to `limit`."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(_escape_surrogate, text)
    if limit is not None and len(text) > limit:
        return f"{text[:limit]}... [{len(text) - limit} more characters]"
    return text


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def stored_result(result: GradeResult) -> str:
    """The canonical JSON as kept in the gradebook: storable text, within MAX_RESULT_JSON."""
    data = result.to_dict()
    for text_cap, item_cap in _RESULT_CAPS:
        text = json.dumps(_bounded_result(data, text_cap, item_cap))
        if len(text) <= MAX_RESULT_JSON:
            return text
    for check in data.get("checks", []):  # last resort: only the diagnosis is kept of details
        details = check.get("details", {})
        check["details"] = {k: details[k] for k in _KEPT_DETAILS if k in details}
    return json.dumps(_bounded_result(data, 200, 3))


def _bounded_result(data: dict[str, Any], text_cap: int, item_cap: int) -> dict[str, Any]:
    """Student text and per-check details cut to the caps; the checks themselves all kept."""
    out = {key: _bounded(value, text_cap, item_cap) for key, value in data.items()}
    out["checks"] = [
        {key: _bounded(value, text_cap, item_cap) for key, value in check.items()}
        for check in data.get("checks", [])
    ]
    if out != data:
        out["stored_truncated"] = True  # the stored form is shorter than the graded one
    return out


def _bounded(value: Any, text_cap: int, item_cap: int, depth: int = 0) -> Any:
    if isinstance(value, str):
        return storable(value, text_cap)
    if depth > 16:
        return storable(repr(value), 200)
    if isinstance(value, dict):
        return {
            storable(str(k), 200): _bounded(v, text_cap, item_cap, depth + 1)
            for k, v in list(value.items())[:_MAX_KEYS]
        }
    if isinstance(value, list | tuple):
        return [_bounded(v, text_cap, item_cap, depth + 1) for v in value[:item_cap]]
    return value


def outcome_of(result: GradeResult) -> str:
    """One word per submission: ungradable, timeout, error, failed or passed (first that fits)."""
    if result.ungradable is not None:
        return "ungradable"
    outcomes = {c.outcome for c in result.checks}
    for word, outcome in (("timeout", Outcome.TIMEOUT), ("error", Outcome.ERROR)):
        if outcome in outcomes:
            return word
    return "passed" if outcomes <= {Outcome.PASSED} else "failed"


def reason_of(result: GradeResult) -> str:
    """The first thing that went wrong, for lists of errored submissions."""
    if result.ungradable is not None:
        return result.ungradable
    for check in result.checks:
        if check.outcome in (Outcome.TIMEOUT, Outcome.ERROR):
            return f"{check.id}: {check.message}"
    return ""


class Gradebook:
    """An open gradebook; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints
        self._db.execute("PRAGMA foreign_keys = ON")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(submissions)")}
            if "assignment" not in columns:  # a gradebook from before assignment folders
                self._db.execute("ALTER TABLE submissions ADD COLUMN assignment TEXT NOT NULL"
                                 f" DEFAULT '{ROUND_ONE_ASSIGNMENT}'")  # fmt: skip

    def graded(self, keys: Iterable[Key]) -> dict[Key, int]:
        """Which of these gradings exist already: key -> submission id."""
        found = {}
        for key in keys:
            values = (storable(key.student), key.sha256, key.grader_version, key.case_set_id,
                      key.assignment)  # fmt: skip
            row = self._db.execute(_ID_OF, values).fetchone()
            if row is not None:
                found[key] = int(row[0])
        return found

    def record(
        self,
        result: GradeResult,
        *,
        student: str,
        name: str,
        late: bool,
        file: str,
        replace: bool,
        assignment: str = "",
    ) -> int:
        """Store one graded submission, graded by `assignment` ("": none could be told), and make
        it the student's current one, atomically."""
        env = result.environment
        student, name, file = storable(student), storable(name), storable(file)
        key = (student, result.submission.sha256, env.grader_version, env.case_set_id,
               storable(assignment))  # fmt: skip
        with self._transaction():
            if replace:
                self._delete(key)
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO submissions (student, file, sha256, score, max_score,"
                " outcome, reason, duration, grader_version, case_set_id, graded_at, result,"
                " assignment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    student,
                    file,
                    key[1],
                    result.score,
                    result.max_score,
                    outcome_of(result),
                    storable(reason_of(result), MAX_MESSAGE),
                    result.duration,
                    *key[2:4],
                    time.time(),
                    stored_result(result),
                    key[4],
                ),
            )
            if cursor.rowcount == 0:  # another batch recorded the same grading meanwhile
                (submission_id,) = self._db.execute(_ID_OF, key).fetchone()
            else:
                submission_id = int(cursor.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            submission_id,
                            c.id,
                            c.points,
                            c.max_points,
                            c.outcome.value,
                            storable(c.message, MAX_MESSAGE),
                        )
                        for c in result.checks
                    ],
                )
            self._point(student, name, late, int(submission_id))
        return int(submission_id)

    def point(self, entries: Iterable[tuple[str, str, bool, int]]) -> None:
        """Make existing submissions current: (student, name, late, submission id) each."""
        with self._transaction():
            for student, name, late, submission_id in entries:
                self._point(storable(student), storable(name), late, submission_id)

    def mark_reports_written(self, student: str, submission_id: int) -> None:
        self._db.execute(
            "UPDATE students SET reports_written=1 WHERE student=? AND submission_id=?",
            (storable(student), submission_id),
        )

    def result_json(self, submission_id: int) -> dict[str, Any]:
        (text,) = self._db.execute(
            "SELECT result FROM submissions WHERE id=?", (submission_id,)
        ).fetchone()
        data: dict[str, Any] = json.loads(text)
        return data

    def current(self) -> list[Row]:
        """Every student's current submission with its checks, by student id."""
        checks: dict[int, dict[str, tuple[float, str, str]]] = {}
        maxima: dict[int, dict[str, float]] = {}
        for sid, check_id, points, maximum, outcome, message in self._db.execute(
            "SELECT c.submission_id, c.check_id, c.points, c.max_points, c.outcome, c.message"
            " FROM checks c JOIN students s ON s.submission_id = c.submission_id ORDER BY c.rowid"
        ):  # in the order recorded: the spec's
            checks.setdefault(sid, {})[check_id] = (points, outcome, message)
            maxima.setdefault(sid, {})[check_id] = maximum
        mistakes: dict[int, dict[str, str]] = {}
        for sid, check_id, mistake in self._db.execute(_MISTAKES):
            mistakes.setdefault(sid, {})[str(check_id)] = str(mistake)
        rows = self._db.execute(
            "SELECT s.student, s.name, s.late, s.submission_id, u.file, u.score, u.max_score,"
            " u.outcome, u.reason, u.case_set_id, s.reports_written, u.assignment FROM students s"
            " JOIN submissions u ON u.id = s.submission_id ORDER BY s.student"
        )
        return [
            Row(
                student=r[0],
                name=r[1],
                late=bool(r[2]),
                submission_id=r[3],
                file=r[4],
                score=r[5],
                max_score=r[6],
                outcome=r[7],
                reason=r[8] or "",
                case_set_id=r[9],
                checks=checks.get(r[3], {}),
                reports_written=bool(r[10]),
                mistakes=mistakes.get(r[3], {}),
                assignment=r[11],
                max_points=maxima.get(r[3], {}),
            )
            for r in rows
        ]

    def count(self, table: str) -> int:
        if table not in ("submissions", "checks", "students"):
            raise ValueError(f"no table {table!r}")
        (n,) = self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(n)

    def _point(self, student: str, name: str, late: bool, submission_id: int) -> None:
        self._db.execute(
            "INSERT INTO students (student, name, late, submission_id, reports_written)"
            " VALUES (?, ?, ?, ?, 0) ON CONFLICT(student) DO UPDATE SET name=excluded.name,"
            " late=excluded.late, submission_id=excluded.submission_id,"
            " reports_written=CASE WHEN students.submission_id=excluded.submission_id"
            " THEN students.reports_written ELSE 0 END",
            (student, name, int(late), submission_id),
        )

    def _delete(self, key: tuple[str, str, str, str, str]) -> None:
        row = self._db.execute(_ID_OF, key).fetchone()
        if row is not None:
            self._db.execute("DELETE FROM students WHERE submission_id=?", row)
            self._db.execute("DELETE FROM checks WHERE submission_id=?", row)
            self._db.execute("DELETE FROM submissions WHERE id=?", row)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_MISTAKES = (  # each current submission's misconceptions, read from its canonical JSON
    "SELECT s.submission_id, json_extract(c.value, '$.id'),"
    " json_extract(c.value, '$.details.misconception') FROM students s"
    " JOIN submissions u ON u.id = s.submission_id, json_each(u.result, '$.checks') c"
    " WHERE json_type(c.value, '$.details.misconception') = 'text'"
)
_ID_OF = (
    "SELECT id FROM submissions WHERE student=? AND sha256=? AND grader_version=? AND case_set_id=?"
    " AND assignment=?"
)
