"""The grader's side of the sandbox: starts the zygote, asks it for children, runs jobs in them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import SandboxError
from grader.sandbox import frames
from grader.sandbox import limits as sandbox_limits
from grader.sandbox.runner import ChildEnds, Submission
from grader.settings import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:  # torch: imported by the grader only after the zygote is started
    from grader.sandbox.wire import CallBytes

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[2]); from grader.sandbox.zygote import main; main()"
)
_PASSED_ENV = ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "NVIDIA_VISIBLE_DEVICES", "GRADER_DEBUG")
MAX_KNOWN_CALLS = 4096  # calls kept encoded; past this the cache starts over
_MESSAGE_BYTES = 1 << 16  # largest control message from the zygote
_START_SECONDS = 300.0  # the zygote's start: importing torch on a busy machine


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
    """A running zygote and the grader's side of its children; use as a context manager.

    Restarts the zygote if it died."""

    def __init__(
        self,
        *,
        device: str = "cpu",
        limits: Limits = DEFAULT_LIMITS,
        network: bool = True,
        fork: bool = False,
        landlock_abi: int | None = None,
    ) -> None:
        """fork=True forks the zygote from this process, sharing its imported torch: only while
        this process holds nothing a child must not see (no reference, no grading seed, no secret
        in its environment), as a batch worker does first thing. Restarts always spawn.
        landlock_abi caps the Landlock ABI children use (0: none), to test older kernels."""
        self.device = device
        self.limits = limits
        self.network = network
        self.landlock_abi = landlock_abi
        self._process: subprocess.Popen[bytes] | _Forked | None = None
        self._control: socket.socket | None = None
        self._hello = False
        self._released: list[int] = []  # finished children the zygote may reap
        self.restarts = 0
        # Each call encoded once, by identity: a batch sends the same cases to every child.
        self._encoded: dict[int, tuple[Call, CallBytes]] = {}
        sandbox_limits.hide_memory()  # children cannot read this process's memory or environ
        self._start(fork=fork)

    def _start(self, *, fork: bool = False) -> None:
        root = str(Path(__file__).resolve().parents[2])
        config = {
            "limits": asdict(self.limits),
            "device": self.device,
            "grader_root": os.path.realpath(root),
            "network_namespace": self.network,
            "landlock_abi": self.landlock_abi,
            "parent": os.getpid(),
        }
        ours, theirs = _control_pair()
        try:
            if fork:
                self._process = _fork_zygote(config, theirs.fileno())
            else:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-c", _BOOT, json.dumps(config), root,
                     str(theirs.fileno())],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=None if os.environ.get("GRADER_DEBUG") else subprocess.DEVNULL,
                    env=scrubbed_env(),
                    cwd=tempfile.gettempdir(),
                    pass_fds=(theirs.fileno(),),
                )  # fmt: skip
        finally:
            theirs.close()
        self._control = ours
        self._hello = False
        self._released.clear()

    def _request(self, message: dict[str, Any], timeout: float) -> tuple[dict[str, Any], list[int]]:
        """Send one request (None: none) and read one reply with the descriptors it carries."""
        control = self._control
        if control is None:
            raise SandboxError("the sandbox is closed")
        control.settimeout(timeout)
        if message:
            control.send(json.dumps(message).encode())
        data, fds, _, _ = socket.recv_fds(control, _MESSAGE_BYTES, 3)
        if not data:
            raise SandboxError("the sandbox's zygote stopped")
        return frames.parse_frame(data), fds

    def spawn(self) -> ChildEnds:
        """A fresh child from the zygote, with the grader's ends of its pipes."""
        request = {"type": "fork", "release": self._released}
        reply, fds = self._request(request, self.limits.setup_seconds)
        self._released = []
        if reply.get("type") != "forked" or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise SandboxError(f"the zygote could not fork: {reply.get('error', reply)}")
        return ChildEnds(pid=int(reply["pid"]), job=fds[0], result=fds[1], done=fds[2])

    def release(self, pid: int) -> None:
        self._released.append(pid)

    def wait(self, pid: int) -> int | None:
        reply, _ = self._request({"type": "wait", "pid": pid}, self.limits.setup_seconds)
        status = reply.get("status")
        return status if isinstance(status, int) else None

    def run(self, job: Job) -> dict[str, Any]:
        """Run one job in a fresh zygote if the last one is gone before this job had a child;
        a zygote that dies mid-job yields a result saying so, then restarts."""
        while True:
            submission = self._submission(job)
            try:
                if not self._hello:
                    self._request({}, _START_SECONDS)
                    self._hello = True
                reply = submission.run(self)
                self.restarts = 0  # only failures in a row mean the sandbox itself is broken
                return reply
            except (OSError, SandboxError, ValueError) as exc:
                self.restarts += 1
                self.close()
                self._start()
                if self.restarts > 3:
                    raise SandboxError(f"the sandbox keeps failing: {exc}") from exc
                if submission.children:  # this job's own child was running: it pays
                    return _server_died(job, str(exc))

    def _submission(self, job: Job) -> Submission:
        return Submission(
            chunks=json.dumps(list(job.chunks), separators=(",", ":")).encode(),
            calls=[self._encode(call) for call in job.calls],
            functions=[call.function for call in job.calls],
            limits=self.limits,
        )

    def _encode(self, call: Call) -> CallBytes:
        """A call as JSON and raw bytes, once per Call object (a batch's cases are shared)."""
        known = self._encoded.get(id(call))
        if known is not None and known[0] is call:
            return known[1]
        if len(self._encoded) > MAX_KNOWN_CALLS:
            self._encoded.clear()
        from grader.sandbox.wire import call_bytes

        encoded = call_bytes(call.function, call.args, call.trace)
        self._encoded[id(call)] = (call, encoded)  # holding the Call keeps its id from reuse
        return encoded

    def close(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            control.close()  # the zygote kills and reaps its children, then exits
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _control_pair() -> tuple[socket.socket, socket.socket]:
    """A socket pair that keeps message boundaries where the system has one (Linux)."""
    try:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    except (AttributeError, OSError):  # one request in flight at a time: a stream will do
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def scrubbed_env() -> dict[str, str]:
    """The environment of any process a zygote may come from: no secrets, one thread."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "HOME": tempfile.gettempdir()}  # fmt: skip
    env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
    return env


class _Forked:
    """A zygote forked from this process, with the part of Popen's interface used here."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
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
                raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout or 0)
            time.sleep(0.005)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _fork_zygote(config: dict[str, Any], control: int) -> _Forked:
    """Fork this process into a zygote: a scrubbed environment, no descriptor but its socket."""
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            if not os.environ.get("GRADER_DEBUG"):
                os.dup2(null, 2)
            os.dup2(control, 3)
            os.closerange(4, 65536)  # the parent's own protocol pipes above all
            os.chdir(tempfile.gettempdir())
            env = scrubbed_env()
            os.environ.clear()
            os.environ.update(env)
            from grader.sandbox import zygote

            zygote.main(config, 3)
        finally:
            os._exit(1)
    return _Forked(pid)


def _server_died(job: Job, reason: str) -> dict[str, Any]:
    detail = f"the sandbox's zygote died during this submission ({reason})"
    return {"type": "result", "active": [], "missing": [], "module_problems": [], "output": "",
            "calls": [{"status": "crashed", "detail": detail} for _ in job.calls]}  # fmt: skip
