"""Warm worker processes fed by the batch's main process, one job in flight per worker.

Each worker (`worker.py`) is a separate interpreter in its own session, so a Ctrl-C at the
terminal reaches only the main process, and killing a worker's process group also takes down its
zygote; every worker, zygote and child is also set to die with its parent (PR_SET_PDEATHSIG). A
worker that dies or goes silent costs only the submission it held: that submission is tried once
more on a fresh worker, then reported as a grader failure.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.batch.worker import SANDBOX_ENV
from grader.errors import InternalError, UsageError
from grader.sandbox import frames
from grader.sandbox import limits as sandbox_limits
from grader.sandbox.client import scrubbed_env

_ROOT = str(Path(__file__).resolve().parents[2])
# Found through the package's own folder: workers get a scrubbed environment, no PYTHONPATH.
WORKER_COMMAND: tuple[str, ...] = (
    sys.executable,
    "-c",
    "import sys; sys.path.insert(0, sys.argv[1]); from grader.batch.worker import main; main()",
    _ROOT,
)
FRAME_LIMIT = 1 << 30  # results hold capped output and details; far below this
ATTEMPTS = 2  # a submission that takes two workers down is not tried a third time
MAX_START_FAILURES = 3  # workers dying before `ready` this often means a broken installation
TICK_SECONDS = 0.5  # how often the caller hears from run() while nothing finishes


@dataclass(frozen=True, kw_only=True)
class Identity:
    """What a ready worker grades one assignment with ("": notebooks no assignment is told for)."""

    grader_version: str  # package version
    case_set_id: str  # fingerprint of the assignment's cases ("" for no assignment)
    template: dict[str, Any]  # an ungradable result's canonical form, for failures the pool reports


@dataclass(frozen=True, kw_only=True)
class Finished:
    """One job's end: the result's canonical form, or why there is none."""

    job_id: int  # as passed to run()
    result: dict[str, Any] | None  # GradeResult.to_dict(), None when the grader itself failed
    error: str = ""  # the grader's failure, when result is None
    reports: dict[str, str] = field(default_factory=dict)  # format -> rendered report


class _Worker:
    """One worker process and the job it holds."""

    def __init__(self, command: Sequence[str], config: dict[str, Any], *, started: bool) -> None:
        self.process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
            env=worker_env(config),
            preexec_fn=_die_with(os.getpid()),
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.request = self.process.stdin.fileno()
        self.reply = self.process.stdout.fileno()
        self.ready = False
        self.job: int | None = None  # job id in flight
        self.since = 0.0  # when that job was sent
        if started:
            self.configure(config)

    def configure(self, config: dict[str, Any]) -> None:
        """Send the config frame: the worker has started torch and its zygote meanwhile."""
        with contextlib.suppress(OSError):  # one that dies at once is seen at its end of stream
            frames.write_frame(self.request, config)

    def send(self, job_id: int, payload: dict[str, Any]) -> None:
        self.job, self.since = job_id, time.monotonic()
        frames.write_frame(self.request, {**payload, "id": job_id})

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its zygote

    def close(self, wait: float) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()


class Pool:
    """N workers, started at once; use as a context manager, call start() once, then run()."""

    def __init__(
        self,
        *,
        config: dict[str, Any],
        workers: int,
        silence_limit: float,
        command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        sandbox_limits.hide_memory()  # its environment may hold the seed: not for children's eyes
        self.config = {"type": "config", **config}
        self.command = tuple(command)
        self.silence_limit = silence_limit
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []
        self.start_failures = 0
        self.started = False  # the config is sent: workers spawned from now on get it at once
        self.identities: dict[str, Identity] | None = None
        self.closed = False
        for _ in range(max(1, workers)):
            self._spawn()

    def _spawn(self) -> _Worker:
        worker = _Worker(self.command, self.config, started=self.started)
        self.workers.append(worker)
        self.selector.register(worker.reply, selectors.EVENT_READ, worker)
        return worker

    def start(self, assignments: Sequence[str] = ()) -> dict[str, Identity]:
        """Configure the workers to grade `assignments` and wait for the first to be ready: what
        it grades each with, and "" (no assignment); UsageError or InternalError if none can be."""
        if not self.started:
            self.config["assignments"] = list(assignments)
            self.started = True
            for worker in self.workers:
                worker.configure(self.config)
        while self.identities is None:
            for event in self.selector.select(timeout=TICK_SECONDS):
                self._hear(event[0].data)
        return self.identities

    def run(
        self, jobs: Iterable[int], payload: Callable[[int], dict[str, Any]]
    ) -> Iterator[Finished | None]:
        """Grade every job; yields each end as it comes, and None every tick while none does."""
        queue = collections.deque(jobs)
        attempts: collections.Counter[int] = collections.Counter()
        while queue or any(w.job is not None for w in self.workers):
            self._dispatch(queue, payload)
            events = self.selector.select(timeout=TICK_SECONDS)
            if not events:
                yield None
            for key, _ in events:
                ends = list(self._receive(key.data, queue, attempts))
                self._dispatch(queue, payload)  # before the caller stores the result: no idling
                yield from ends
            for worker in self.workers:
                if worker.job is not None and time.monotonic() - worker.since > self.silence_limit:
                    worker.kill()  # the next select sees its end of stream

    def _dispatch(
        self, queue: collections.deque[int], payload: Callable[[int], dict[str, Any]]
    ) -> None:
        for worker in list(self.workers):
            if worker.ready and worker.job is None and queue:
                self._send(worker, queue, payload)

    def _send(
        self,
        worker: _Worker,
        queue: collections.deque[int],
        payload: Callable[[int], dict[str, Any]],
    ) -> None:
        job_id = queue.popleft()
        try:
            worker.send(job_id, payload(job_id))
        except OSError:  # it died between jobs; _receive sees the end of its stream
            worker.kill()

    def _receive(
        self, worker: _Worker, queue: collections.deque[int], attempts: collections.Counter[int]
    ) -> Iterator[Finished]:
        message = self._hear(worker)
        if message is None:  # the worker is gone
            job, worker.job = worker.job, None
            if job is None:
                return
            attempts[job] += 1
            if attempts[job] < ATTEMPTS:
                queue.appendleft(job)
                return
            yield Finished(job_id=job, result=None, error=_died_text(self.silence_limit))
            return
        if message.get("type") in ("result", "error") and message.get("id") == worker.job:
            worker.job = None
            yield Finished(
                job_id=int(message["id"]),
                result=message.get("result"),
                error=str(message.get("error", "")),
                reports=dict(message.get("reports") or {}),
            )

    def _hear(self, worker: _Worker) -> dict[str, Any] | None:
        """Read one frame; on end of stream replace the worker and return None."""
        try:
            message = frames.read_frame(worker.reply, limit=FRAME_LIMIT)
        except (OSError, ValueError):
            message = None
        if message is None or message.get("type") == "failed":
            self._replace(worker, message)
            return None
        if message.get("type") == "ready":
            worker.ready = True
            self.start_failures = 0
            if self.identities is None:
                self.identities = {
                    str(name): Identity(
                        grader_version=str(identity["grader_version"]),
                        case_set_id=str(identity["case_set_id"]),
                        template=dict(identity["template"]),
                    )
                    for name, identity in dict(message["identities"]).items()
                }
        return message

    def _replace(self, worker: _Worker, message: dict[str, Any] | None) -> None:
        self.selector.unregister(worker.reply)
        self.workers.remove(worker)
        worker.kill()
        worker.close(wait=1)
        if message is not None:  # it could not build a Grader: no other worker can either
            error = str(message.get("error", "the worker failed to start"))
            if error.startswith("UsageError: "):
                raise UsageError(error.removeprefix("UsageError: "))
            raise InternalError(f"a grading worker could not start: {error}")
        if not worker.ready:
            self.start_failures += 1
            if self.start_failures > MAX_START_FAILURES:
                raise InternalError("grading workers keep dying before they are ready")
        self._spawn()  # the dead worker keeps its job id for _receive to re-queue or report

    def close(self, *, now: bool = False) -> None:
        """Stop every worker: at once (interrupt) or after its current job (normal end)."""
        if self.closed:
            return
        self.closed = True
        for worker in self.workers:
            if now or not worker.ready:  # one still starting has nothing to finish
                worker.kill()
            worker.close(wait=10)
        self.workers.clear()
        self.selector.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.close(now=kind is not None)


def _die_with(parent: int) -> Callable[[], None]:
    """Run in the new worker before exec: it gets SIGKILL when the batch's main process ends
    (killed, or crashed), and its zygote and child follow it the same way."""

    def guard() -> None:
        sandbox_limits.die_with_parent(parent)

    return guard


def worker_env(config: dict[str, Any]) -> dict[str, str]:
    """No secret (GRADER_SEED, tokens) in a worker's environment or command line: its zygote is
    forked from it, and the seed arrives in the config frame only after that fork."""
    sandbox = {"device": config.get("device"), "limits": config.get("limits")}
    return {**scrubbed_env(), SANDBOX_ENV: json.dumps(sandbox)}


def _died_text(silence_limit: float) -> str:
    return (
        "the grading worker died or stayed silent for more than "
        f"{silence_limit:g} s twice while grading this submission"
    )
