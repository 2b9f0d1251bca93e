"""The grader's side of the sandbox: starts the fork server and sends it jobs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from grader.errors import SandboxError
from grader.sandbox import frames
from grader.settings import DEFAULT_LIMITS, Limits

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[2]); from grader.sandbox.zygote import main; main()"
)
_PASSED_ENV = ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "NVIDIA_VISIBLE_DEVICES", "GRADER_DEBUG")
MAX_KNOWN_CALLS = 4096  # calls the fork server keeps decoded; past this both sides start over


@dataclass(frozen=True, kw_only=True)
class Call:
    """One call of a student function with already-encoded arguments."""

    function: str  # graded function name
    args: tuple[Any, ...]  # wire records (tensors) or JSON scalars
    trace: bool = False  # record the torch calls it makes


@dataclass(frozen=True, kw_only=True)
class Job:
    """Everything the child may see for one submission."""

    chunks: tuple[dict[str, Any], ...]  # {"source", "cell", "line"} in notebook order
    calls: tuple[Call, ...]  # in order
    device: str  # where the child puts tensor arguments


class Sandbox:
    """A running fork server; use as a context manager. Restarts it if a child took it down."""

    def __init__(
        self,
        *,
        device: str = "cpu",
        limits: Limits = DEFAULT_LIMITS,
        network: bool = True,
        fork: bool = False,
    ) -> None:
        """fork=True forks the fork server from this process, sharing its imported torch: only
        while this process holds nothing a child must not see (no reference, no grading seed, no
        secret in its environment), as a batch worker does first thing. Restarts always spawn."""
        self.device = device
        self.limits = limits
        self.network = network
        self._process: subprocess.Popen[bytes] | _Forked | None = None
        self._hello = False
        self.restarts = 0
        # Calls the fork server already holds decoded, by identity: a batch sends its cases once.
        self._known: dict[int, tuple[Call, int]] = {}
        self._start(fork=fork)

    def _start(self, *, fork: bool = False) -> None:
        root = str(Path(__file__).resolve().parents[2])
        config = {
            "limits": asdict(self.limits),
            "device": self.device,
            "grader_root": os.path.realpath(root),
            "network_namespace": self.network,
        }
        if fork:
            self._process = _fork_server(config)
        else:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, json.dumps(config), root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None if os.environ.get("GRADER_DEBUG") else subprocess.DEVNULL,
                env=scrubbed_env(),
                cwd=tempfile.gettempdir(),
            )
        self._hello = False
        self._known.clear()

    def _pipes(self) -> tuple[int, int]:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise SandboxError("the sandbox is closed")
        return process.stdin.fileno(), process.stdout.fileno()

    def _receive(self) -> dict[str, Any]:
        _, reply = self._pipes()
        parts = frames.read_frame_parts(reply, limit=self.limits.result_bytes * 4)
        if parts is None:
            raise SandboxError("the sandbox's fork server stopped")
        message, body = parts
        if body:
            message["calls"] = list(_split_calls(body))
        return message

    def run(self, job: Job) -> dict[str, Any]:
        """Run one job; a fork server that died mid-job yields a result saying so, then restarts."""
        try:
            if not self._hello:
                self._receive()
                self._hello = True
            request, _ = self._pipes()
            frames.write_frame(request, self._job_message(job))
            reply = self._receive()
            self.restarts = 0  # only failures in a row mean the sandbox itself is broken
            return reply
        except (OSError, SandboxError, ValueError) as exc:
            self.restarts += 1
            self.close()
            self._start()
            if self.restarts > 3:
                raise SandboxError(f"the sandbox keeps failing: {exc}") from exc
            return _server_died(job, str(exc))

    def _job_message(self, job: Job) -> dict[str, Any]:
        """The job with each call's inputs sent only the first time this server sees the call."""
        reset = len(self._known) > MAX_KNOWN_CALLS
        if reset:
            self._known.clear()
        calls: list[Any] = []
        for call in job.calls:
            known = self._known.get(id(call))
            if known is not None and known[0] is call:
                calls.append(known[1])
                continue
            ref = len(self._known)
            self._known[id(call)] = (call, ref)  # holding the Call keeps its id from being reused
            calls.append({"ref": ref, "function": call.function, "args": list(call.args),
                          "trace": call.trace})  # fmt: skip
        return {
            "type": "job",
            "reset": reset,
            "chunks": list(job.chunks),
            "calls": calls,
            "device": job.device,
            "max_tensor_elements": self.limits.max_tensor_elements,
        }

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def scrubbed_env() -> dict[str, str]:
    """The environment of any process a fork server may come from: no secrets, one thread."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "HOME": tempfile.gettempdir()}  # fmt: skip
    env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
    return env


class _Forked:
    """A fork server forked from this process, with the part of Popen's interface used here."""

    def __init__(self, pid: int, request: int, reply: int) -> None:
        self.pid = pid
        self.stdin: BinaryIO | None = os.fdopen(request, "wb", buffering=0)
        self.stdout: BinaryIO | None = os.fdopen(reply, "rb", buffering=0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"fork server {self.pid}", timeout or 0)
            time.sleep(0.005)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _fork_server(config: dict[str, Any]) -> _Forked:
    """Fork this process into a fork server: its own pipes, a scrubbed environment, no other fds."""
    to_server, from_server = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(to_server[0], 0)
            os.dup2(from_server[1], 1)
            if not os.environ.get("GRADER_DEBUG"):
                os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            os.closerange(3, 65536)  # the parent's own protocol pipes above all
            os.chdir(tempfile.gettempdir())
            env = scrubbed_env()
            os.environ.clear()
            os.environ.update(env)
            from grader.sandbox import zygote

            zygote.main(config)
        finally:
            os._exit(1)
    os.close(to_server[0])
    os.close(from_server[1])
    return _Forked(pid, to_server[1], from_server[0])


def _split_calls(body: bytes) -> Iterator[dict[str, Any]]:
    """Each call's result, parsed on its own so one forged result cannot spoil the others."""
    offset = 0
    while offset + 4 <= len(body):
        size = int.from_bytes(body[offset : offset + 4], "big")
        item = body[offset + 4 : offset + 4 + size]
        offset += 4 + size
        try:
            yield frames.parse_frame(item)
        except ValueError as exc:
            yield {"status": "garbled", "error": f"unreadable result ({exc})"}


def _server_died(job: Job, reason: str) -> dict[str, Any]:
    detail = f"the sandbox's fork server died during this submission ({reason})"
    return {"type": "result", "active": [], "missing": [], "module_problems": [], "output": "",
            "calls": [{"status": "crashed", "detail": detail} for _ in job.calls]}  # fmt: skip
