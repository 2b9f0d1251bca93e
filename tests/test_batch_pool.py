"""The worker pool's fault handling, with a fake worker that needs no torch and no sandbox.

Run as a script, this file *is* the fake worker: it speaks the real protocol and grades every
notebook 100/100, except that a file named `die*` kills it, `die-once*` kills it the first time
only, and `hang*` makes it go silent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

from grader.batch.gradebook import Gradebook
from grader.batch.pool import Pool
from grader.batch.run import BatchOptions, Progress, run_batch
from grader.results import CheckResult, Environment, GradeResult, Outcome, SubmissionInfo
from grader.sandbox import frames

FAKE = (sys.executable, __file__)
FAKE_CHECKS = (("fake.first", 60.0), ("fake.second", 40.0))  # no spec: the fake imports no torch


def _fake_result(name: str, data: bytes = b"") -> dict[str, object]:
    checks = tuple(
        CheckResult(id=i, points=p, max_points=p, outcome=Outcome.PASSED, message="ok")
        for i, p in FAKE_CHECKS
    )
    environment = Environment(
        grader_version="fake",
        torch_version="-",
        python_version="3",
        device="cpu",
        case_set="full",
        case_set_id="fake-cases",
    )
    sha256 = hashlib.sha256(data).hexdigest() if data else ""
    return GradeResult(
        submission=SubmissionInfo(path=name, sha256=sha256), checks=checks, environment=environment
    ).to_dict()


def fake_worker() -> None:
    requests, replies = os.dup(0), os.dup(1)
    config = frames.read_frame(requests, limit=1 << 20) or {}
    identity = {"grader_version": "fake", "case_set_id": "fake-cases", "template": _fake_result("")}
    names = ["", *config.get("assignments", [])]
    frames.write_frame(replies, {"type": "ready", "identities": dict.fromkeys(names, identity)})
    while (job := frames.read_frame(requests, limit=1 << 30)) is not None:
        stem = Path(job["name"]).name
        if stem.startswith("die-once"):
            marker = Path(sys.argv[1]) / stem  # the folder where die-once leaves its mark
            if not marker.exists():
                marker.touch()
                os._exit(1)
        elif stem.startswith("die"):
            os._exit(1)
        if stem.startswith("hang"):
            time.sleep(3600)
        frames.write_frame(
            replies,
            {"type": "result", "id": job["id"], "result": _fake_result(job["name"], _data(job))},
        )


def _data(job: dict[str, str]) -> bytes:
    return base64.b64decode(job.get("data", ""))


def make_class(folder: Path, names: list[str]) -> Path:
    folder.mkdir()
    for name in names:
        (folder / f"{name}.ipynb").write_text(f'{{"student": "{name}"}}')
    return folder


def batch(source: Path, out: Path, **kwargs: object) -> object:
    options = BatchOptions(out=out, workers=2, worker_command=(*FAKE, str(out.parent)),
                           assignment="rnn_forward")  # fmt: skip
    return run_batch(source, options, **kwargs)  # type: ignore[arg-type]


def test_a_worker_that_dies_costs_only_its_submission(tmp_path: Path) -> None:
    names = ["a", "b", "die-always", "die-once-then-fine", "c", "d"]
    summary = batch(make_class(tmp_path / "class", names), tmp_path / "out")
    assert summary.graded == 6 and summary.failed == 1  # type: ignore[attr-defined]
    with Gradebook(tmp_path / "out" / "gradebook.sqlite") as book:
        rows = {r.student: r for r in book.current()}
    assert set(rows) == set(names)
    assert rows["die-always"].outcome == "ungradable" and rows["die-always"].score == 0
    assert "the grader failed on this submission" in rows["die-always"].reason
    assert all(rows[n].score == 100 for n in names if n != "die-always")


def test_a_silent_worker_is_killed_and_replaced(tmp_path: Path) -> None:
    config = {"device": "cpu", "seed": 0, "limits": {}}
    with Pool(config=config, workers=1, silence_limit=1.0, command=FAKE) as pool:
        pool.start()
        names = {0: "hang", 1: "fine"}
        began = time.monotonic()
        ends = [e for e in pool.run([0, 1], lambda i: {"type": "job", "name": names[i]}) if e]
    assert sorted((e.job_id, e.result is None) for e in ends) == [(0, True), (1, False)]
    assert "silent" in ends[[e.job_id for e in ends].index(0)].error
    assert time.monotonic() - began < 20


def test_ctrl_c_stops_and_keeps_what_was_graded(tmp_path: Path) -> None:
    source = make_class(tmp_path / "class", [f"s{i:02d}" for i in range(30)])

    def interrupt_after_five(progress: Progress) -> None:
        if progress.phase == "grading" and progress.done >= 5:
            raise KeyboardInterrupt

    summary = batch(source, tmp_path / "out", progress=interrupt_after_five)
    assert summary.interrupted and summary.exports is None  # type: ignore[attr-defined]
    with Gradebook(tmp_path / "out" / "gradebook.sqlite") as book:
        kept = book.count("submissions")
    assert kept == 5
    again = batch(source, tmp_path / "out")
    assert again.skipped == 5 and again.graded == 25  # type: ignore[attr-defined]


def test_nothing_new_to_grade_is_skipped(tmp_path: Path) -> None:
    source = make_class(tmp_path / "class", ["a", "b"])
    assert batch(source, tmp_path / "out").graded == 2  # type: ignore[attr-defined]
    again = batch(source, tmp_path / "out")
    assert (again.graded, again.skipped) == (0, 2)  # type: ignore[attr-defined]
    assert (tmp_path / "out" / "grades.csv").read_text().count("\n") == 3


if __name__ == "__main__":
    fake_worker()


def test_workers_get_no_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.batch.pool import worker_env
    from grader.batch.worker import SANDBOX_ENV

    monkeypatch.setenv("GRADER_SEED", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    env = worker_env({"device": "cpu", "seed": 1234, "limits": {"call_seconds": 2.0}})
    assert "secret" not in repr(env) and "1234" not in repr(env)
    assert json.loads(env[SANDBOX_ENV]) == {"device": "cpu", "limits": {"call_seconds": 2.0}}
