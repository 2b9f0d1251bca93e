"""Inside the forked child: lock the process down, run the student's code, stream back plain data.

Everything this module needs is imported while the fork server starts, because after Landlock the
child cannot read the grader's own files. The child never returns: it always ends in os._exit.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
from torch.overrides import TorchFunctionMode

from grader.sandbox import landlock, limits, seccomp, wire
from grader.settings import Limits

_type = type
_isinstance = isinstance
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_Module = torch.nn.Module
_RNN = torch.nn.RNN
_perf = time.perf_counter
_write_frame = wire.write_frame
_dumps = json.dumps
_encode_tensor = wire.encode_tensor
_clone = torch.Tensor.clone
_equal = torch.equal
MATRIX_PRODUCTS = frozenset(
    {
        "mm", "matmul", "__matmul__", "__rmatmul__", "addmm", "addmm_", "bmm", "baddbmm",
        "einsum", "linear", "mv", "addmv", "dot", "inner", "tensordot", "chain_matmul",
        "addbmm", "vdot", "multi_dot", "bilinear",
    }
)  # fmt: skip
_MODULE_FIELDS = (
    "mode", "input_size", "hidden_size", "num_layers", "nonlinearity", "bias",
    "batch_first", "bidirectional", "dropout", "proj_size",
)  # fmt: skip
_TRACE_CAP = 5000


@dataclass(frozen=True, kw_only=True)
class ChildContext:
    """What the fork server prepared once for all its children."""

    workdir: str  # private temporary directory, the child's cwd and $HOME
    ruleset: landlock.Ruleset | None  # Landlock rules, None when unavailable
    landlock_missing: str | None  # why Landlock is off
    limits: Limits  # resource limits
    network_missing: str | None  # why there is no private network namespace (None: inherited)


class CappedText:
    """A write-only text stream that keeps the first `cap` characters."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: object) -> int:
        text = str(text)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts = []
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output dropped ...]\n"
            self.dropped = 0
        return text


class Recorder(TorchFunctionMode):
    """Counts the torch calls a function makes; matrix products with their operand shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.products: list[list[Any]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = _name(func)
        self.counts[name] = self.counts.get(name, 0) + 1
        if name in MATRIX_PRODUCTS and len(self.products) < _TRACE_CAP:
            shapes = [list(a.shape) for a in args if _isinstance(a, _Tensor)]
            self.products.append([name, shapes])
        return func(*args, **(kwargs or {}))


_NAMES: dict[Any, str] = {}  # torch function -> name, filled while warming up in the fork server


def _name(func: Any) -> str:
    try:
        return _NAMES[func]
    except KeyError:
        name = _NAMES[func] = str(getattr(func, "__name__", "?"))
        return name
    except TypeError:  # an unhashable callable: look its name up every time
        return str(getattr(func, "__name__", "?"))


def main(job: dict[str, Any], start: int, result_fd: int, context: ChildContext) -> NoReturn:
    """Entry point after fork; never returns."""
    code = 0
    try:
        capture = CappedText(context.limits.output_chars)
        active, missing = _lock_down(result_fd, context, job.get("device", "cpu"), capture)
        _write_frame(result_fd, {"type": "ready", "active": active, "missing": missing})
        _run(job, start, result_fd, capture)
    except BaseException as exc:  # the harness must report, whatever the student code raised
        code = 1
        try:
            _write_frame(result_fd, {"type": "fatal", "error": f"{_type(exc).__name__}: {exc}"})
        except BaseException:
            code = 2
    os._exit(code)


def _lock_down(
    result_fd: int, context: ChildContext, device: str, capture: CappedText
) -> tuple[list[str], list[str]]:
    os.setpgid(0, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes then fail with EFBIG
    os.chdir(context.workdir)
    os.environ.clear()
    os.environ.update(
        {
            "HOME": context.workdir,
            "TMPDIR": context.workdir,
            "LANG": "C.UTF-8",
            "PATH": "/nonexistent",
        }
    )
    _silence_stdio(capture)
    active = ["private-tmp", "scrubbed-env", "output-cap", "wall-clock", "process-group"]
    missing: list[str] = []
    cuda = device.startswith("cuda")
    rlimits = limits.apply_rlimits(context.limits, cap_memory=not cuda)
    active.append("rlimits(" + ",".join(rlimits) + ")")
    if cuda:
        missing.append("memory-limit (address-space limits break CUDA)")
    _optional(active, missing, "network-namespace", _network(context))
    _optional(active, missing, "landlock", _landlock(context))
    _close_fds(result_fd)
    _optional(active, missing, "seccomp", _seccomp())
    sys.dont_write_bytecode = True
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # TF32 would miss float32 tolerances
        torch.backends.cudnn.allow_tf32 = False
        torch.zeros(1, device=device)  # pay CUDA's start-up under the setup deadline
    return active, missing


def _optional(active: list[str], missing: list[str], name: str, why_not: str | None) -> None:
    if why_not is None:
        active.append(name)
    else:
        missing.append(f"{name} ({why_not})")


def _network(context: ChildContext) -> str | None:
    return context.network_missing


def _landlock(context: ChildContext) -> str | None:
    if context.ruleset is None:
        return context.landlock_missing or "unavailable"
    try:
        landlock.restrict_self(context.ruleset)
    except OSError as exc:
        return str(exc)
    return None


def _seccomp() -> str | None:
    why_not = seccomp.available()
    if why_not is not None:
        return why_not
    try:
        seccomp.install(os.getpid())
    except OSError as exc:
        return str(exc)
    return None


def _silence_stdio(capture: CappedText) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = capture


def _close_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def _run(job: dict[str, Any], start: int, fd: int, capture: CappedText) -> None:
    device = str(job.get("device", "cpu"))
    calls = job["calls"][start:]
    pristine = job["pristine"][start:]
    args = [[_fresh(a, device) for a in call_args] for call_args in pristine]
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    problems = [_exec_chunk(chunk, namespace) for chunk in job["chunks"]]
    _write_frame(
        fd, {"type": "module", "problems": [p for p in problems if p], "output": capture.take()}
    )
    for offset, (call, call_args) in enumerate(zip(calls, args, strict=True)):
        message = _call(call, call_args, namespace)
        if message["status"] == "returned":
            message["mutated"] = _mutated(call_args, pristine[offset])
        body = _dumps(message, separators=(",", ":")).encode()
        header = {"type": "call", "index": start + offset, "output": capture.take()}
        _write_frame(fd, header, body)  # the fork server relays the body without parsing it
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
        exec(compile(source, f"<cell {chunk['cell']}>", "exec"), namespace)
    except BaseException as exc:  # one failing statement must not sink the others
        return {"cell": chunk["cell"], "line": _student_line(exc), "error": _describe(exc)}
    return None


def _call(call: dict[str, Any], args: list[Any], namespace: dict[str, Any]) -> dict[str, Any]:
    function = namespace.get(call["function"])
    if not callable(function):
        return {"status": "missing"}
    recorder = Recorder() if call.get("trace") else None
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
    if recorder is not None:
        message["trace"] = {"counts": recorder.counts, "products": recorder.products}
    return message


def encode_value(value: Any, depth: int = 0) -> dict[str, Any]:
    """Any returned object -> plain data; tensors must be exactly torch.Tensor (or Parameter)."""
    kind = _type(value)
    if kind is _Tensor or kind is _Parameter:
        return _encode_tensor(value)
    if kind in (tuple, list) and depth < 3 and len(value) <= 16:
        return {"t": kind.__name__, "items": [encode_value(v, depth + 1) for v in value]}
    if kind in (int, float, bool, str, _type(None)):
        return {"t": "scalar", "v": value if kind is not str else value[:200]}
    if _isinstance(value, _Module):
        return _encode_module(value, kind)
    return {"t": "other", "type": f"{kind.__module__}.{kind.__qualname__}",
            "tensor_subclass": issubclass(kind, _Tensor)}  # fmt: skip


def _encode_module(module: Any, kind: type) -> dict[str, Any]:
    config = {}
    for field in _MODULE_FIELDS:
        item = getattr(module, field, None)
        if _type(item) in (int, float, bool, str):
            config[field] = item
    params = {}
    for name, param in list(module.named_parameters())[:16]:
        if _isinstance(param, _Tensor):
            params[str(name)] = _encode_tensor(param)
    return {"t": "module", "type": f"{kind.__module__}.{kind.__qualname__}",
            "exact_rnn": kind is _RNN, "config": config, "params": params}  # fmt: skip


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<the exception's message could not be rendered>"
    return f"{_type(exc).__name__}: {text[:1000]}" if text else _type(exc).__name__


def _student_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    frames = traceback.extract_tb(exc.__traceback__)
    return [f for f in frames if f.filename.startswith("<cell ")]


def _student_line(exc: BaseException) -> list[Any] | None:
    frames = _student_frames(exc)
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith("<cell "):
        return [exc.filename[6:-1], exc.lineno]
    return [frames[-1].filename[6:-1], frames[-1].lineno] if frames else None


def _student_traceback(exc: BaseException) -> str:
    lines = [f"  {f.filename[1:-1]}, line {f.lineno}, in {f.name}" for f in _student_frames(exc)]
    return "\n".join(lines[-10:])
