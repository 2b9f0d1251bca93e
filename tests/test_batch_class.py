"""A generated class graded end to end with real workers and sandboxes (slow).

One batch grades every fixture the single-grade tests know, hostile and malformed ones included,
and each row must equal grading that notebook alone. Then the CLI is interrupted with Ctrl-C and
with kill -9, rerun, and its gradebook compared with an uninterrupted run's.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.batch_class import distinct_class, whole_class, write_folders, write_stems, zip_folder
from fixtures.helpers import describe

from grader.batch.gradebook import GRADEBOOK_NAME, Gradebook
from grader.batch.run import BatchOptions, run_batch
from grader.grading import GradeOptions, Grader
from grader.settings import Limits

# Short enough that the infinite loop costs seconds; long enough for print-flood under load.
LIMITS = Limits(call_seconds=5, setup_seconds=10, submission_seconds=20)


@pytest.mark.slow
def test_a_whole_class_scores_as_each_notebook_graded_alone(tmp_path: Path) -> None:
    members = whole_class()
    assert len(members) >= 60
    source = tmp_path / "class"
    write_stems(source, members)
    (source / "broken.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    # --assignment: the malformed files, which tell no assignment, are graded as RNNs too.
    options = BatchOptions(out=tmp_path / "out", workers=2, limits=LIMITS, assignment="rnn_forward")
    summary = run_batch(source, options)
    assert (summary.students, summary.graded, summary.failed) == (len(members), len(members), 0)
    assert [Path(p.path).name for p in summary.problems] == ["broken.zip"]
    with Gradebook(tmp_path / "out" / GRADEBOOK_NAME) as book:
        rows = {row.student: row for row in book.current()}
    assert set(rows) == {m.student for m in members}
    with Grader(GradeOptions(assignment="rnn_forward", limits=LIMITS)) as grader:
        for member in members:
            alone = grader.grade_bytes(member.data, name=f"{member.student}.ipynb")
            row = rows[member.student]
            checks = {c.id: (c.points, c.outcome.value) for c in alone.checks}
            assert {k: v[:2] for k, v in row.checks.items()} == checks, describe(alone)
            assert row.score == alone.score


def _cli(source: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "grader",
        "batch",
        str(source),
        "--out",
        str(out),
        "--workers",
        "2",
    ]


def _graded(out: Path) -> dict[str, tuple[Any, ...]]:
    """student -> (row id, sha256, graded_at, score, every check's points) for every row."""
    path = out / GRADEBOOK_NAME
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=30) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if not {"submissions", "checks"} <= tables:
            return {}  # polled while the batch is still creating its schema
        rows = db.execute("SELECT id, student, sha256, graded_at, score FROM submissions")
        checks: dict[int, list[tuple[str, float]]] = {}
        for sid, check_id, points in db.execute(
            "SELECT submission_id, check_id, points FROM checks"
        ):
            checks.setdefault(sid, []).append((check_id, points))
        return {
            s: (i, sha, at, score, tuple(sorted(checks.get(i, []))))
            for i, s, sha, at, score in rows
        }


def _start_and_wait(command: list[str], out: Path, rows: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(_graded(out)) < rows:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.05)
    return process


@pytest.mark.slow
def test_interrupted_and_killed_runs_resume_to_the_uninterrupted_gradebook(tmp_path: Path) -> None:
    members = distinct_class(30)
    write_folders(tmp_path / "src", members)
    archive = zip_folder(tmp_path / "src", tmp_path / "class.zip")
    out = tmp_path / "out"

    interrupted = _start_and_wait(_cli(archive, out), out, rows=3)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 3 and b"interrupted:" in stderr
    assert b"Traceback" not in stderr
    assert not (out / "grades.csv").exists()

    killed = _start_and_wait(_cli(archive, out), out, rows=len(_graded(out)) + 6)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    before = _graded(out)
    assert len(before) < len(members), "the batch finished before it could be killed"

    finished = subprocess.run(_cli(archive, out), capture_output=True, timeout=300)
    assert finished.returncode == 0, finished.stderr.decode()
    after = _graded(out)
    assert {s: after[s] for s in before} == before  # nothing graded twice
    assert len(after) == len(members)

    fresh = subprocess.run(_cli(archive, tmp_path / "fresh"), capture_output=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr.decode()
    uninterrupted = _graded(tmp_path / "fresh")
    assert {s: v[1:2] + v[3:] for s, v in after.items()} == {
        s: v[1:2] + v[3:] for s, v in uninterrupted.items()
    }
    assert (out / "grades.csv").read_bytes() == (tmp_path / "fresh" / "grades.csv").read_bytes()
