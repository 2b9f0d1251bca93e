"""The fork server: a fresh interpreter that imports torch once and forks one child per attempt.

It is spawned with a scrubbed environment and never imports the reference, the cases or the
grading seed, so a child (a copy of its memory) finds none of them. It runs no student code itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.sandbox import child, kernels, landlock, limits, policy, wire
from grader.settings import Limits

_F_SETPIPE_SZ: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
_PIPE_BYTES = 1 << 20  # the largest pipe an unprivileged process may ask for by default
_POLL_SECONDS = 0.05  # how often a running child's progress is read, for the per-call deadline
_PREFIX = "grader-sandbox-"  # then the fork server's pid: grader-sandbox-<pid>-<random>


@dataclass
class _Attempt:
    """Progress of one forked child over a job's calls."""

    phase: str = "setup"  # setup -> calls -> done
    next_index: int = 0  # first call without a result yet
    ended: str = ""  # why the child stopped early, if it did
    fatal: str = ""  # harness error the child reported
    buffer: bytes = b""
    received: int = 0
    results: dict[int, bytes] = field(default_factory=dict)


class Server:
    """State the fork server keeps between jobs."""

    def __init__(self, config: dict[str, Any]) -> None:
        wanted = bool(config.get("network_namespace", True))
        # Once here, inherited by every child: a namespace per child would cost ~5 ms each.
        network_missing = limits.unshare_network() if wanted else "disabled in settings"
        self.limits = Limits(**config["limits"])
        self.device = str(config.get("device", "cpu"))
        if self.device == "cpu":
            _skip_accelerator_seeding()
        _remove_orphans(tempfile.gettempdir())
        self.base = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
        self.jobs = 0
        self.calls: dict[int, tuple[dict[str, Any], list[Any]]] = {}  # ref -> call, decoded args
        self.finished: list[int] = []  # killed children not yet reaped
        ruleset, missing = self._ruleset(str(config["grader_root"]))
        self.context = child.ChildContext(
            workdir=self.base,
            ruleset=ruleset,
            landlock_missing=missing,
            limits=self.limits,
            network_missing=network_missing,
        )

    def _resolve(self, job: dict[str, Any]) -> None:
        """Call references -> calls with decoded arguments; a call's inputs arrive only once."""
        if job.get("reset"):
            self.calls.clear()
        calls, pristine = [], []
        for item in job["calls"]:
            if isinstance(item, dict):
                args = [self._decoded(a) for a in item["args"]]
                meta = {"function": str(item["function"]), "trace": bool(item.get("trace"))}
                self.calls[int(item["ref"])] = (meta, args)
            meta, args = self.calls[int(item["ref"]) if isinstance(item, dict) else int(item)]
            calls.append(meta)
            pristine.append(args)
        job["calls"], job["pristine"] = calls, pristine

    def _decoded(self, record: Any) -> Any:
        if isinstance(record, dict) and record.get("t") == "tensor":
            return wire.decode_tensor(record, self.limits.max_tensor_elements)
        return record

    def _ruleset(self, grader_root: str) -> tuple[landlock.Ruleset | None, str | None]:
        try:
            return policy.ruleset(grader_root, self.base, self.device), None
        except OSError as exc:
            return None, str(exc)

    def reap(self) -> None:
        """Wait for the children killed after they finished (their memory is freed meanwhile)."""
        while self.finished:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.finished.pop(), 0)

    def run_job(self, job: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        self.jobs += 1
        self._resolve(job)
        workdir = os.path.join(self.base, f"job-{self.jobs}")
        os.mkdir(workdir, 0o700)
        try:
            return _Job(self, job, workdir).run()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class _Job:
    """One submission: as many children as it takes to get through the calls."""

    def __init__(self, server: Server, job: dict[str, Any], workdir: str) -> None:
        self.server = server
        self.job = job
        self.limits = server.limits
        self.context = child.ChildContext(**{**server.context.__dict__, "workdir": workdir})
        self.calls: list[dict[str, Any]] = job["calls"]
        self.results: dict[int, bytes] = {}
        self.output: list[str] = []
        self.report: dict[str, Any] = {"active": [], "missing": [], "module_problems": []}
        self.deadline = time.monotonic() + self.limits.submission_seconds
        self.children = 0

    def run(self) -> tuple[dict[str, Any], bytes]:
        """The result header, and each call's result as a length-prefixed body the grader splits."""
        start = 0
        while start < len(self.calls):
            attempt = self._attempt(start)
            self.results.update(attempt.results)
            if attempt.phase == "done":
                break
            start = self._after_failure(attempt)
        text = "".join(self.output)[: self.limits.output_chars]
        header = {**self.report, "type": "result", "output": text, "children": self.children}
        missing = _body({"status": "not-run"})
        calls = [self.results.get(i, missing) for i in range(len(self.calls))]
        return header, b"".join(len(c).to_bytes(4, "big") + c for c in calls)

    def _after_failure(self, attempt: _Attempt) -> int:
        """Record why the child stopped; return the next call to try in a fresh child."""
        reason = attempt.fatal or attempt.ended
        status = "timeout" if attempt.ended.startswith("timed out") else "crashed"
        if attempt.phase == "setup" or time.monotonic() >= self.deadline:
            where = "while loading the notebook's code" if attempt.phase == "setup" else ""
            for index in range(attempt.next_index, len(self.calls)):
                self.results[index] = _body(
                    {"status": status, "detail": f"{reason} {where}".strip()}
                )
            return len(self.calls)
        failed = attempt.next_index
        function = self.calls[failed]["function"]
        self.results[failed] = _body({"status": status, "detail": reason})
        index = failed + 1
        while index < len(self.calls) and self.calls[index]["function"] == function:
            self.results[index] = _body(
                {
                    "status": "skipped",
                    "detail": f"not run: an earlier call of {function} {_past(status)}",
                }
            )
            index += 1
        return index

    def _attempt(self, start: int) -> _Attempt:
        read_end, write_end = os.pipe()
        done_read, done_write = os.pipe()
        if _F_SETPIPE_SZ is not None:
            with contextlib.suppress(OSError):  # room for a whole submission's results
                fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
        os.set_blocking(read_end, False)
        self.children += 1
        gc.freeze()  # the child's collector then never touches (and copies) the server's objects
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.close(done_read)
            child.main(self.job, start, write_end, done_write, self.context)
        os.close(write_end)
        os.close(done_write)
        attempt = _Attempt(next_index=start)
        try:
            self._follow(read_end, done_read, attempt)
        finally:
            os.close(read_end)
            os.close(done_read)
            _kill(pid, attempt, self.server.finished)
        return attempt

    def _follow(self, fd: int, done_fd: int, attempt: _Attempt) -> None:
        """Read the child's frames until it says it is done, dies, or runs out of time.

        Only the done pipe wakes this process (one byte, or end of file when the child dies);
        the results wait in a large pipe and are read in bulk, saving a wake-up per call.
        """
        limit = time.monotonic() + self.limits.setup_seconds
        finished = False
        while attempt.phase != "done":
            remaining = min(limit, self.deadline) - time.monotonic()
            if remaining <= 0:
                attempt.ended = _timeout_text(attempt, self.limits, limit > self.deadline)
                return
            if not finished:
                wait = min(remaining, _POLL_SECONDS)
                finished = bool(select.select([done_fd], [], [], wait)[0])
            data = _drain(fd)
            if not data:
                if finished:
                    return  # done or dead, and every frame it wrote has been read
                continue
            attempt.received += len(data)
            if attempt.received > self.limits.result_bytes:
                attempt.ended = f"returned more than {self.limits.result_bytes} bytes of results"
                return
            attempt.buffer += data
            try:
                progressed = self._consume(attempt)
            except (ValueError, KeyError, TypeError) as exc:  # forged or corrupted by the child
                attempt.ended = f"the process sent malformed results ({type(exc).__name__})"
                return
            if progressed:
                limit = time.monotonic() + self.limits.call_seconds

    def _consume(self, attempt: _Attempt) -> bool:
        """Handle every complete frame in the buffer; True when progress was made."""
        buffer, offset = attempt.buffer, 0
        try:
            while len(buffer) - offset >= 4:
                size = int.from_bytes(buffer[offset : offset + 4], "big")
                if len(buffer) - offset < 4 + size:
                    break
                payload = buffer[offset + 4 : offset + 4 + size]
                offset += 4 + size
                self._handle(*wire.split_frame(payload), attempt)
        finally:
            attempt.buffer = buffer[offset:]  # once: a bulk read holds dozens of frames
        return offset > 0

    def _handle(self, message: dict[str, Any], body: bytes, attempt: _Attempt) -> None:
        self.output.append(str(message.pop("output", ""))[: self.limits.output_chars])
        kind = message.get("type")
        if kind == "ready":
            self.report["active"], self.report["missing"] = message["active"], message["missing"]
        elif kind == "module":
            attempt.phase = "calls"
            if not self.report["module_problems"]:
                self.report["module_problems"] = message["problems"]
        elif kind == "call" and int(message["index"]) == attempt.next_index:
            attempt.results[attempt.next_index] = body
            attempt.next_index += 1
        elif kind == "done":
            attempt.phase = "done"
        elif kind == "fatal":
            attempt.fatal = f"the sandbox harness failed: {message.get('error')}"


def _remove_orphans(folder: str) -> None:
    """Delete the work folders of fork servers that were killed (an interrupted batch kills its
    workers' process groups, so their own clean-up never ran)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        owner, dash, _ = name.removeprefix(_PREFIX).partition("-")
        if not (name.startswith(_PREFIX) and owner.isdigit() and dash):
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:  # its server is gone; a live pid, even reused, is left alone
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        except (PermissionError, OverflowError):
            continue


def _drain(fd: int) -> bytes:
    """Everything the non-blocking pipe holds right now."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _body(result: dict[str, Any]) -> bytes:
    return json.dumps(result, separators=(",", ":")).encode()


def _past(status: str) -> str:
    return "timed out" if status == "timeout" else "crashed the sandbox"


def _timeout_text(attempt: _Attempt, limits: Limits, whole: bool) -> str:
    if whole:
        return f"timed out: the submission used its {limits.submission_seconds:g} s"
    if attempt.phase == "setup":
        return f"timed out after {limits.setup_seconds:g} s loading the notebook's code"
    return f"timed out after {limits.call_seconds:g} s"


def _kill(pid: int, attempt: _Attempt, finished: list[int]) -> None:
    """Kill the child; a child that finished is reaped later, so replying need not wait for the
    kernel to tear down its copy of the fork server's memory (several ms)."""
    for target in (-pid, pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)
    if attempt.phase == "done":
        finished.append(pid)
        return
    _, status = os.waitpid(pid, 0)
    if not attempt.ended:
        attempt.ended = _exit_text(status)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return f"the process was killed by {name}"
    code = os.WEXITSTATUS(status)
    return f"the process exited with status {code} (sys.exit or os._exit in student code?)"


def main(config: dict[str, Any] | None = None) -> None:
    """Serve jobs from stdin; replies on the original stdout, which nothing else may write."""
    config = json.loads(sys.argv[1]) if config is None else config
    reply = os.dup(1)
    requests = os.dup(0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray prints and warnings go to stderr, never into the protocol
    torch.set_num_threads(1)  # a threaded op before fork would hang the children
    _warm_up()
    kernels.disable()  # after the warm-up ran nn.RNN: every child inherits the refusal
    server = Server(config)
    wire.write_frame(reply, {"type": "hello", "pid": os.getpid()})
    try:
        while (job := wire.read_frame(requests, limit=1 << 30)) is not None:
            wire.write_frame(reply, *server.run_job(job))
            server.reap()
    finally:
        shutil.rmtree(server.base, ignore_errors=True)
    os._exit(0)  # skip torch's slow interpreter teardown


def _skip_accelerator_seeding() -> None:
    """torch.manual_seed also queues seeds for uninitialised accelerators, formatting a stack
    trace each time (~0.5 ms); children of a CPU-only server never initialise one."""
    for name in ("torch.cuda", "torch.cuda.random", "torch.xpu", "torch.xpu.random", "torch.mtia"):
        module = sys.modules.get(name)
        if module is not None and callable(getattr(module, "_lazy_call", None)):
            setattr(module, "_lazy_call", lambda *args, **kwargs: None)  # noqa: B010


def _warm_up() -> None:
    """Run once what every child runs, so lazy imports and first-call costs are paid before fork."""
    x, h = torch.ones(2, 3, 1, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    module = torch.nn.RNN(1, 4, batch_first=True).double()
    with child.Recorder():
        steps = [torch.tanh(torch.cat([x[:, 0], h], 1) @ torch.ones(5, 4, dtype=x.dtype))]
        torch.stack(steps, 1)
        module(x, h.unsqueeze(0))
    child.encode_value((module, torch.zeros(1, dtype=torch.float32), [1]))
    wire.decode_tensor(wire.encode_tensor(x), 1 << 10)


if __name__ == "__main__":
    main()
