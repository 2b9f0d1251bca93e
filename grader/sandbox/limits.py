"""Kernel resource limits and a private network namespace for the child."""

from __future__ import annotations

import ctypes
import os
import resource

from grader.settings import Limits

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000


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
