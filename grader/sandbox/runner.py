"""One submission, run from the grader's side: as many children as it takes to get through it.

The zygote only forks; the grader writes the job straight into the child, reads the results straight
from it, enforces the deadlines and kills the child's process group. A crash or a timeout costs
only that call: a fresh child goes on with the next function.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from grader.sandbox import frames
from grader.settings import Limits

if TYPE_CHECKING:  # the grader side must not import torch before the zygote is started
    from grader.sandbox.wire import CallBytes

_POLL_SECONDS = 0.05  # how often a running child's progress is read, for the per-call deadline


@dataclass(frozen=True, kw_only=True)
class ChildEnds:
    """The grader's ends of one child's pipes, as the zygote handed them over."""

    pid: int  # the child, leader of its own process group
    job: int  # write the job here, then close
    result: int  # the child's frames
    done: int  # one byte, or end of file when the child dies


class Zygote(Protocol):
    """What a submission needs from the zygote: a fresh child, and a killed child's end."""

    def spawn(self) -> ChildEnds: ...

    def release(self, pid: int) -> None: ...

    def wait(self, pid: int) -> int | None: ...


@dataclass
class _Attempt:
    """Progress of one forked child over a job's calls."""

    phase: str = "setup"  # setup -> calls -> done
    next_index: int = 0  # first call without a result yet
    ended: str = ""  # why the child stopped early, if it did
    fatal: str = ""  # harness error the child reported
    ready: bool = False  # the harness's "ready" frame was read (only the first one counts)
    buffer: bytes = b""
    received: int = 0
    results: dict[int, bytes] = field(default_factory=dict)


class Submission:
    """One job: its encoded parts, the results so far, and the deadline for all of it."""

    def __init__(
        self,
        *,
        chunks: bytes,
        calls: list[CallBytes],
        functions: list[str],
        limits: Limits,
    ) -> None:
        self.chunks = chunks  # the notebook's code chunks, encoded once as a JSON list
        self.calls = calls  # each call (function, args, trace), encoded once
        self.functions = functions  # each call's function name
        self.limits = limits
        self.results: dict[int, bytes] = {}
        self.output: list[str] = []
        self.report: dict[str, Any] = {"active": [], "missing": [], "module_problems": []}
        self.deadline = time.monotonic() + limits.submission_seconds
        self.children = 0

    def run(self, zygote: Zygote) -> dict[str, Any]:
        """The reply: protections, module problems, output, and each call's parsed result."""
        start = 0
        while start < len(self.calls):
            attempt = self._attempt(zygote, start)
            self.results.update(attempt.results)
            if attempt.phase == "done":
                break
            start = self._after_failure(attempt)
        text = "".join(self.output)[: self.limits.output_chars]
        missing = _body({"status": "not-run"})
        calls = [_parse(self.results.get(i, missing)) for i in range(len(self.calls))]
        return {**self.report, "type": "result", "output": text, "children": self.children,
                "calls": calls}  # fmt: skip

    def _job_frame(self, start: int) -> bytes:
        """The frame a child reads: the job as JSON, then every input tensor's raw bytes."""
        metas, base = [], 0
        for call in self.calls[start:]:
            metas.append(b'{"base":%d,%s' % (base, call.meta))
            base += len(call.data)
        header = b'{"type":"job","start":%d,"chunks":%s,"calls":[%s]}\n' % (
            start, self.chunks, b",".join(metas)
        )  # fmt: skip
        size = len(header) + base
        return b"".join([size.to_bytes(4, "big"), header, *(c.data for c in self.calls[start:])])

    def _attempt(self, zygote: Zygote, start: int) -> _Attempt:
        ends = zygote.spawn()
        self.children += 1
        attempt = _Attempt(next_index=start)
        try:
            os.set_blocking(ends.result, False)
            limit = time.monotonic() + self.limits.setup_seconds
            if _send(ends.job, self._job_frame(start), min(limit, self.deadline)):
                self._follow(ends, attempt, limit)
            else:
                attempt.ended = "the process did not take its job"
        finally:
            for fd in (ends.job, ends.result, ends.done):
                with contextlib.suppress(OSError):
                    os.close(fd)
            _kill_group(ends.pid)
        if attempt.phase == "done":
            zygote.release(ends.pid)  # reaped by the zygote while the next child works
        else:
            status = zygote.wait(ends.pid)
            if not attempt.ended:
                attempt.ended = _exit_text(status)
        return attempt

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
        function = self.functions[failed]
        self.results[failed] = _body({"status": status, "detail": reason})
        index = failed + 1
        while index < len(self.calls) and self.functions[index] == function:
            detail = f"not run: an earlier call of {function} {_past(status)}"
            self.results[index] = _body({"status": "skipped", "detail": detail})
            index += 1
        return index

    def _follow(self, ends: ChildEnds, attempt: _Attempt, limit: float) -> None:
        """Read the child's frames until it says it is done, dies, or runs out of time.

        Only the done pipe wakes the grader (one byte, or end of file when the child dies);
        the results wait in a large pipe and are read in bulk, saving a wake-up per call.
        """
        finished = False
        while attempt.phase != "done":
            remaining = min(limit, self.deadline) - time.monotonic()
            if remaining <= 0:
                attempt.ended = _timeout_text(attempt, self.limits, limit > self.deadline)
                return
            if not finished:
                wait = min(remaining, _POLL_SECONDS)
                finished = bool(select.select([ends.done], [], [], wait)[0])
            data = _drain(ends.result)
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
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:  # forged by the child
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
                self._handle(*frames.split_frame(payload), attempt)
        finally:
            attempt.buffer = buffer[offset:]  # once: a bulk read holds dozens of frames
        return offset > 0

    def _handle(self, message: dict[str, Any], body: bytes, attempt: _Attempt) -> None:
        self.output.append(str(message.pop("output", ""))[: self.limits.output_chars])
        kind = message.get("type")
        if kind == "ready":
            # Written by the harness before any student code runs; a later one is forged.
            if attempt.phase == "setup" and not attempt.ready:
                attempt.ready = True
                if not self.report["active"]:
                    self.report["active"] = _words(message["active"])
                    self.report["missing"] = _words(message["missing"])
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


def _words(items: Any) -> list[str]:
    """The protections a child reports: a short list of short strings, whatever was sent."""
    if not isinstance(items, list):
        raise ValueError("protections must be a list")
    return [str(item)[:300] for item in items[:32]]


def _send(fd: int, data: bytes, deadline: float) -> bool:
    """Write the job without blocking past the deadline; False if the child died or stalled."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                return False
        except OSError:  # BrokenPipeError: it died before reading its job
            return False
    return True


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


def _kill_group(pid: int) -> None:
    """The child leads its own group: killing the group also ends any thread it left running."""
    for target in (-pid, pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)


def _parse(body: bytes) -> dict[str, Any]:
    """One call's result, parsed on its own so one forged result cannot spoil the others."""
    try:
        return frames.parse_frame(body)
    except ValueError as exc:
        return {"status": "garbled", "error": f"unreadable result ({exc})"}


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


def _exit_text(status: int | None) -> str:
    if status is None:
        return "the process ended (its exit status is unknown)"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {number}"
        return f"the process was killed by {name}"
    code = os.WEXITSTATUS(status)
    return f"the process exited with status {code} (sys.exit or os._exit in student code?)"
