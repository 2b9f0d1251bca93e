"""Landlock through raw syscalls: deny-by-default filesystem, no TCP, no signals out of the domain.

Each child builds its ruleset right after fork, for its own work folder, and restricts itself.
Linux only; anywhere else `abi_version()` is 0.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Iterable
from dataclasses import dataclass

_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
_FS_ALL_V1 = (1 << 13) - 1  # execute .. make_sym
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
READ = FS_READ_FILE | FS_READ_DIR | FS_EXECUTE
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX = 1 << 0
SCOPE_SIGNAL = 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True, kw_only=True)
class Ruleset:
    """A prepared Landlock ruleset, ready for a child to apply."""

    fd: int  # ruleset file descriptor, inherited by forked children
    abi: int  # kernel Landlock ABI version
    features: tuple[str, ...]  # what it restricts, for the protections report


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 when Landlock is unavailable."""
    numbers = _SYSCALLS.get(platform.machine())
    if platform.system() != "Linux" or numbers is None:
        return 0
    version = _libc.syscall(numbers[0], None, 0, _CREATE_RULESET_VERSION)
    return max(int(version), 0)


def _fs_rights(abi: int) -> int:
    rights = _FS_ALL_V1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    return rights  # IOCTL_DEV (ABI 5) left unhandled: device ioctls are needed for CUDA


def build(
    read_only: Iterable[str], read_write: Iterable[str], max_abi: int | None = None
) -> Ruleset:
    """Create a ruleset allowing only the given paths; OSError when the kernel refuses.

    max_abi uses an older ABI than the kernel's (tests: what holds on an older kernel)."""
    abi = abi_version() if max_abi is None else min(abi_version(), max_abi)
    if abi <= 0:
        raise OSError("Landlock is not supported by this kernel")
    create, add_rule, _ = _SYSCALLS[platform.machine()]
    fs = _fs_rights(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = _check(_libc.syscall(create, attr, size, 0), "landlock_create_ruleset")
    try:
        for path in read_only:
            _allow(fd, add_rule, path, READ & fs)
        for path in read_write:
            _allow(fd, add_rule, path, fs)
    except OSError:
        os.close(fd)
        raise
    features = (
        ["filesystem"] + (["tcp"] if net else []) + (["signals", "abstract-unix"] if scoped else [])
    )
    return Ruleset(fd=fd, abi=abi, features=tuple(features))


def _allow(ruleset_fd: int, add_rule: int, path: str, rights: int) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path missing on this machine needs no rule
    try:
        if not os.path.isdir(path):
            rights &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | _FS_TRUNCATE
        attr = struct.pack("=Qi", rights, target)
        _check(_libc.syscall(add_rule, ruleset_fd, _RULE_PATH_BENEATH, attr, 0), f"rule {path}")
    finally:
        os.close(target)


def restrict_self(ruleset: Ruleset) -> None:
    """Apply the ruleset to the calling process and everything it starts; irreversible."""
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    restrict = _SYSCALLS[platform.machine()][2]
    _check(_libc.syscall(restrict, ruleset.fd, 0), "landlock_restrict_self")


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return int(result)
