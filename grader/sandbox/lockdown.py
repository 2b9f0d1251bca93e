"""The child's protections, applied right after fork and before any student code runs."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import types
from dataclasses import dataclass

import torch

from grader.sandbox import landlock, limits, seccomp
from grader.sandbox.capture import CappedText
from grader.settings import Limits


@dataclass(frozen=True, kw_only=True)
class ChildContext:
    """What the zygote prepared once for all its children, and the child's own folder."""

    workdir: str  # this child's fresh private folder (mode 0700), its cwd and $HOME
    read_only: tuple[str, ...]  # paths the child may read (Landlock)
    read_write: tuple[str, ...]  # paths the child may write besides its folder (Landlock)
    landlock_abi: int | None  # highest Landlock ABI to use; 0 turns it off (tests); None: all
    limits: Limits  # resource limits
    network_missing: str | None  # why there is no private network namespace (None: inherited)
    device: str  # where tensors go: cpu or cuda[:n]
    zygote: int  # pid of the process the child was forked from


def lock_down(
    result_fd: int, done_fd: int, context: ChildContext, capture: CappedText
) -> tuple[list[str], list[str]]:
    device = context.device
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
    tempfile.tempdir = context.workdir  # the zygote's cached choice (/tmp) is out of reach
    _silence_stdio(capture)
    active = ["private-tmp", "scrubbed-env", "output-cap", "wall-clock", "process-group"]
    missing: list[str] = []
    cuda = device.startswith("cuda")
    rlimits = limits.apply_rlimits(context.limits, cap_memory=not cuda)
    active.append("rlimits(" + ",".join(rlimits) + ")")
    if cuda:
        missing.append("memory-limit (address-space limits break CUDA)")
    _optional(active, missing, "network-namespace", _network(context))
    _landlock(context, active, missing)
    _close_fds(result_fd, done_fd)
    if cuda:  # the driver starts up under Landlock, before the system-call filter
        torch.backends.cuda.matmul.allow_tf32 = False  # TF32 would miss float32 tolerances
        torch.backends.cudnn.allow_tf32 = False
        torch.zeros(1, device=device)  # pay CUDA's start-up under the setup deadline
    _optional(active, missing, "no-capabilities", limits.drop_capabilities())
    _optional(active, missing, "seccomp", _seccomp(cuda))
    sys.dont_write_bytecode = True
    active.append(_ctypes_out_of_torch())
    return active, missing


def ctypes_out_of_modules() -> int:
    """Drop every module attribute bound to ctypes, outside the harness (torch, numpy and the
    standard library hold it; `torch.cuda.memory.ctypes` was a way in). Done once in the zygote
    before it forks; returns how many were dropped. Not a wall: see `_ctypes_out_of_torch`."""
    dropped = 0
    for name, module in list(sys.modules.items()):
        if name.startswith(("grader", "ctypes")) or module is None:
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attribute, held in list(namespace.items()):
            if type(held) is types.ModuleType and held.__name__ in ("ctypes", "_ctypes"):
                del namespace[attribute]
                dropped += 1
    return dropped


def _ctypes_out_of_torch() -> str:
    """Take ctypes out of torch's namespace, its easiest hiding place. Not a wall: the module
    stays importable (the sandbox tests probe the kernel's walls with it) and reachable through
    objects that hold it; the static scan refuses code that names it or computes attribute names."""
    for module in (torch, sys.modules.get("torch._ops")):
        held = getattr(module, "__dict__", {}).get("ctypes")
        if getattr(held, "__name__", None) == "ctypes":
            delattr(module, "ctypes")
    return "no-ctypes-in-torch"


def _optional(active: list[str], missing: list[str], name: str, why_not: str | None) -> None:
    if why_not is None:
        active.append(name)
    else:
        missing.append(f"{name} ({why_not})")


def _network(context: ChildContext) -> str | None:
    return context.network_missing


def _landlock(context: ChildContext, active: list[str], missing: list[str]) -> None:
    """Rules built here, after fork, for this child's folder alone (and its own /proc/self)."""
    if context.landlock_abi == 0:
        missing.append("landlock (turned off in settings)")
        return
    try:
        ruleset = landlock.build(
            context.read_only, (*context.read_write, context.workdir), context.landlock_abi
        )
        landlock.restrict_self(ruleset)
    except OSError as exc:
        missing.append(f"landlock ({exc})")
        return
    os.close(ruleset.fd)
    active.append(f"landlock(abi {ruleset.abi}: {','.join(ruleset.features)})")


def _seccomp(cuda: bool) -> str | None:
    why_not = seccomp.available()
    if why_not is not None:
        return why_not
    try:
        seccomp.install(os.getpid(), extra=seccomp.CUDA_ALLOWED if cuda else ())
    except OSError as exc:
        return str(exc)
    return None


def _silence_stdio(capture: CappedText) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = capture


def _close_fds(*keep: int) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
