"""Inside the forked child: lock the process down, run the student's code, stream back plain data.

Everything this module needs is imported while the zygote starts, because after Landlock the
child cannot read the grader's own files. The child never returns: it always ends in os._exit.
Its job arrives from the grader on its own pipe, never through the zygote.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

import torch

from grader.sandbox import frames, kernels, limits, wire
from grader.sandbox.capture import CappedText, Recorder, encode_value
from grader.sandbox.lockdown import ChildContext, lock_down

__all__ = ["ChildContext", "Pipes", "Recorder", "decode_calls", "encode_value", "main"]

_type = type
_isinstance = isinstance
_Tensor = torch.Tensor
_perf = time.perf_counter
_write_frame = wire.write_frame
_dumps = json.dumps
_clone = torch.Tensor.clone
_equal = torch.equal
_CELL = "<code cell "  # student frames: file names count code cells as the student does
JOB_BYTES = 1 << 30  # the grader sends at most this much (a notebook is capped at 50 MB)
_disable_kernels = kernels.disable


@dataclass(frozen=True, kw_only=True)
class Pipes:
    """The child's ends of its three pipes to the grader."""

    job: int  # the grader writes one job frame, then closes
    result: int  # frames back to the grader
    done: int  # one byte: every frame is written


def main(pipes: Pipes, context: ChildContext) -> NoReturn:
    """Entry point after fork; never returns. One byte on the done pipe says all is written."""
    code = 0
    try:
        limits.die_with_parent(context.zygote)
        os.setpgid(0, 0)
        job = frames.read_frame_parts(pipes.job, limit=JOB_BYTES)
        os.close(pipes.job)
        if job is None:
            os._exit(4)  # the grader went away before sending the job
        capture = CappedText(context.limits.output_chars)
        active, missing = lock_down(pipes.result, pipes.done, context, capture)
        _write_frame(pipes.result, {"type": "ready", "active": active, "missing": missing})
        _run(job, pipes.result, capture, context)
    except BaseException as exc:  # the harness must report, whatever the student code raised
        code = 1
        try:
            _write_frame(pipes.result, {"type": "fatal", "error": f"{_type(exc).__name__}: {exc}"})
        except BaseException:
            code = 2
    try:
        os.write(pipes.done, b"!")
    except BaseException:
        code = 3
    os._exit(code)


def decode_calls(calls: list[dict[str, Any]], body: bytes, max_elements: int) -> list[list[Any]]:
    """Each call's arguments; tensors are views of one private copy of the job's raw bytes."""
    buffer = bytearray(body)  # writable, so torch shares it instead of copying each tensor
    return [
        wire.tensors_from_buffer(call["args"], buffer, int(call["base"]), max_elements)
        for call in calls
    ]


def _run(
    job: tuple[dict[str, Any], bytes], fd: int, capture: CappedText, context: ChildContext
) -> None:
    device = context.device
    header, body = job
    start = int(header["start"])
    calls = header["calls"]
    pristine = decode_calls(calls, body, context.limits.max_tensor_elements)
    args = [[_fresh(a, device) for a in call_args] for call_args in pristine]
    _disable_kernels()  # a no-op when the fork server did it: before any student code runs
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    problems = [_exec_chunk(chunk, namespace) for chunk in header["chunks"]]
    _write_frame(
        fd, {"type": "module", "problems": [p for p in problems if p], "output": capture.take()}
    )
    for offset, (call, call_args) in enumerate(zip(calls, args, strict=True)):
        message = _call(call, call_args, namespace)
        if message["status"] == "returned":
            message["mutated"] = _mutated(call_args, pristine[offset])
        result = _dumps(message, separators=(",", ":")).encode()
        frame = {"type": "call", "index": start + offset, "output": capture.take()}
        _write_frame(fd, frame, result)  # the grader parses the result on its own
    _write_frame(fd, {"type": "done", "output": capture.take()})


def _fresh(value: Any, device: str) -> Any:
    """A private copy of a decoded argument, so no call sees another's writes."""
    return _clone(value).to(device) if _isinstance(value, _Tensor) else value


def _mutated(args: list[Any], pristine: list[Any]) -> list[int]:
    """Positions of tensor arguments the call wrote into (compared with untouched copies)."""
    return [
        i
        for i, (now, before) in enumerate(zip(args, pristine, strict=True))
        if _isinstance(before, _Tensor) and not _unchanged(now, before)
    ]


def _unchanged(now: torch.Tensor, before: torch.Tensor) -> bool:
    same_kind = now.dtype == before.dtype and now.shape == before.shape
    return same_kind and bool(_equal(now.cpu(), before))


def _exec_chunk(chunk: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any] | None:
    source = "\n" * (int(chunk["line"]) - 1) + str(chunk["source"])
    try:
        exec(compile(source, f"{_CELL}{chunk['cell']}>", "exec"), namespace)
    except BaseException as exc:  # one failing statement must not sink the others
        return {"cell": chunk["cell"], "line": _student_line(exc), "error": _describe(exc)}
    return None


def _call(call: dict[str, Any], args: list[Any], namespace: dict[str, Any]) -> dict[str, Any]:
    function = namespace.get(call["function"])
    if not callable(function):
        return {"status": "missing"}
    recorder = Recorder() if call.get("trace") else None
    report = recorder.report if recorder is not None else None  # taken before student code runs
    began = _perf()
    try:
        if recorder is None:
            value = function(*args)
        else:
            with recorder:
                value = function(*args)
    except BaseException as exc:
        return {"status": "raised", "error": _describe(exc), "line": _student_line(exc),
                "traceback": _student_traceback(exc), "seconds": _perf() - began}  # fmt: skip
    message: dict[str, Any] = {"status": "returned", "seconds": _perf() - began}
    message["value"] = encode_value(value)
    if report is not None:
        message["trace"] = report()
    return message


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<the exception's message could not be rendered>"
    return f"{_type(exc).__name__}: {text[:1000]}" if text else _type(exc).__name__


def _student_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    frames = traceback.extract_tb(exc.__traceback__)
    return [f for f in frames if f.filename.startswith(_CELL)]


def _student_line(exc: BaseException) -> list[Any] | None:
    frames = _student_frames(exc)
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(_CELL):
        return [exc.filename[len(_CELL) : -1], exc.lineno]
    return [frames[-1].filename[len(_CELL) : -1], frames[-1].lineno] if frames else None


def _student_traceback(exc: BaseException) -> str:
    lines = [f"  {f.filename[1:-1]}, line {f.lineno}, in {f.name}" for f in _student_frames(exc)]
    return "\n".join(lines[-10:])
