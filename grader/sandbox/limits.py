"""Kernel resource limits, a private network namespace, and the process-level prctl guards."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

from grader.settings import Limits

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_CAPABILITY_VERSION_3 = 0x20080522


def address_space_now() -> int:
    """Bytes of virtual memory this process maps right now (Linux), else 0."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def apply_rlimits(limits: Limits, *, cap_memory: bool) -> list[str]:
    """Set the child's rlimits; returns a description of each one set."""
    mib = 1024 * 1024
    applied = []
    wanted = {
        "fsize": (resource.RLIMIT_FSIZE, limits.file_size_mb * mib),
        "nofile": (resource.RLIMIT_NOFILE, limits.open_files),
        "core": (resource.RLIMIT_CORE, 0),
        "nproc": (resource.RLIMIT_NPROC, 0),
        "cpu": (resource.RLIMIT_CPU, int(limits.submission_seconds) + 5),
    }
    if cap_memory:
        wanted["as"] = (resource.RLIMIT_AS, address_space_now() + limits.memory_mb * mib)
    for name, (which, value) in wanted.items():
        try:
            resource.setrlimit(which, (value, value))
            applied.append(name)
        except (OSError, ValueError):
            continue
    return applied


def unshare_network() -> str | None:
    """Move into a new, empty network namespace; None on success, else why not."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) == 0:
        return None
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        return None
    return os.strerror(ctypes.get_errno())


def _libc() -> ctypes.CDLL | None:
    return ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent ends; exit now if the parent already has."""
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the guard was set
        os._exit(1)


def hide_memory() -> None:
    """Not dumpable: without CAP_SYS_PTRACE, a process cannot open this one's /proc/<pid>/mem,
    environ or fd (even with the same uid), and cannot attach to it."""
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


def drop_capabilities() -> str | None:
    """Empty every capability set, for good (root keeps its uid but loses its powers: no
    ptrace of other processes, no reading their memory, no mounts); None, or why not."""
    libc = _libc()
    if libc is None:
        return "needs Linux"
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, twice: all zero
    if libc.capset(ctypes.byref(header), data) != 0:
        return os.strerror(ctypes.get_errno())
    return None
