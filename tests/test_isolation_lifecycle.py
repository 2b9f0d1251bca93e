"""Children die with their grader: a killed grader, a killed batch worker, a killed or interrupted
batch leaves no process running student code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.submissions import HOSTILE, notebook

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's"),
]
ROOT = Path(__file__).resolve().parents[1]
SPINNING_GRADER = """
from grader.sandbox.client import Call, Job, Sandbox
from grader.settings import Limits
source = "def spin(n):\\n    while True:\\n        pass\\n"
job = Job(chunks=({"source": source, "cell": 1, "line": 1},),
          calls=(Call(function="spin", args=(1,)),), device="cpu")
Sandbox(limits=Limits(call_seconds=300, submission_seconds=300)).run(job)
"""
WAIT_SECONDS = 120.0  # for torch to load on a busy machine; the tree is usually up in seconds


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] == pid:
            found.append(int(entry))
    return found


def _chain(root: int, depth: int) -> list[tuple[int, int]]:
    """Wait for a chain root -> child -> grandchild... depth levels deep; (pid, start time) each."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        chain, pid = [], root
        for _ in range(depth):
            children = _children(pid)
            if not children:
                break
            pid = children[0]
            stat = _stat(pid)
            if stat is None:
                break
            chain.append((pid, stat[2]))
        if len(chain) == depth:
            return chain
        time.sleep(0.1)
    pytest.fail(f"no process tree {depth} deep under {root}")


def _left_running(processes: list[tuple[int, int]]) -> list[int]:
    """Those alive a few seconds on (a zombie, or a new process under a reused pid, is not);
    shorter than the call limit, so a deadline that kills the child does not count."""
    deadline = time.monotonic() + 5.0
    while True:
        alive = [pid for pid, started in processes if _running(pid, started)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _running(pid: int, started: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] != "Z" and stat[2] == started


@pytest.fixture
def spinning_class(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "spinner.ipynb").write_bytes(notebook(list(HOSTILE["infinite-loop"].cells)))
    return folder


@pytest.fixture
def reaped() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def test_a_killed_grader_leaves_no_child_running(reaped: list[subprocess.Popen[bytes]]) -> None:
    grader = subprocess.Popen([sys.executable, "-c", SPINNING_GRADER], cwd=ROOT)
    reaped.append(grader)
    zygote_and_child = _chain(grader.pid, 2)
    grader.kill()
    grader.wait()
    assert _left_running(zygote_and_child) == []


def _batch(spinning_class: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "grader", "batch", str(spinning_class),
               "--out", str(tmp_path / "out"), "--workers", "1"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)


def test_a_killed_batch_worker_leaves_no_child_running(
    spinning_class: Path, tmp_path: Path, reaped: list[subprocess.Popen[bytes]]
) -> None:
    batch = _batch(spinning_class, tmp_path)
    reaped.append(batch)
    worker, zygote, child = _chain(batch.pid, 3)
    os.kill(worker[0], signal.SIGKILL)
    assert _left_running([zygote, child]) == []


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_an_interrupted_or_killed_batch_leaves_nothing_running(
    how: signal.Signals,
    spinning_class: Path,
    tmp_path: Path,
    reaped: list[subprocess.Popen[bytes]],
) -> None:
    batch = _batch(spinning_class, tmp_path)
    reaped.append(batch)
    tree = _chain(batch.pid, 3)
    batch.send_signal(how)
    assert _left_running(tree) == []


def test_a_worker_whose_batch_stopped_listening_exits_quietly() -> None:
    from grader.batch.pool import WORKER_COMMAND, worker_env
    from grader.sandbox import frames
    from grader.settings import DEFAULT_LIMITS

    config = {"type": "config", "device": "cpu", "seed": 1, "limits": DEFAULT_LIMITS.__dict__}
    worker = subprocess.Popen(
        WORKER_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=worker_env(config),
    )
    assert worker.stdin and worker.stdout and worker.stderr
    frames.write_frame(worker.stdin.fileno(), config)
    worker.stdout.close()  # a rerun with nothing to do: the batch never reads `ready`
    worker.stdin.close()
    errors = worker.stderr.read()
    worker.wait(timeout=WAIT_SECONDS)
    assert b"Traceback" not in errors and worker.returncode == 0, errors.decode()
