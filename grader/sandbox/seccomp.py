"""A seccomp-BPF filter assembled by hand: no new processes, programs, sockets or namespaces.

Threads stay allowed (clone with CLONE_THREAD) because torch's thread pools use them; clone3 answers
ENOSYS so glibc falls back to clone, whose flags the filter can inspect. x86_64 only.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_AUDIT_ARCH_X86_64 = 0xC000003E
_SECCOMP_SET_MODE_FILTER = 1
_SYS_SECCOMP = 317
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_THREAD = 0x00010000
_X32_BIT = 0x40000000

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL = 0x80000000  # kill the whole process

# seccomp_data offsets
_NR = 0
_ARCH = 4
_ARG0_LOW = 16

DENIED = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50,
    "accept": 43, "accept4": 288,
    "setns": 308, "unshare": 272, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "mount_setattr": 442, "move_mount": 429, "open_tree": 428, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "tkill": 200, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "init_module": 175, "finit_module": 313, "delete_module": 176,
    "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168,
    "iopl": 172, "ioperm": 173,
}  # fmt: skip
_CLONE = 56
_CLONE3 = 435
_KILL = 62
_TGKILL = 234


def available() -> str | None:
    """None when this filter can be used here, else the reason it cannot."""
    if platform.system() != "Linux":
        return f"seccomp needs Linux (this is {platform.system()})"
    if platform.machine() != "x86_64":
        return f"the seccomp filter is written for x86_64 (this is {platform.machine()})"
    return None


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(own_pid: int) -> list[bytes]:
    """The filter: signals only to ourselves, threads but no processes, the DENIED list off."""
    eperm = _RET_ERRNO | errno.EPERM
    prog = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, _AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, _RET_KILL),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, _X32_BIT, jf=1),
        _insn(_RET_K, eperm),
        _insn(_JEQ_K, _CLONE3, jf=1),
        _insn(_RET_K, _RET_ERRNO | errno.ENOSYS),
    ]
    for number in sorted(set(DENIED.values())):
        prog += [_insn(_JEQ_K, number, jf=1), _insn(_RET_K, eperm)]
    # clone: allowed only with CLONE_THREAD set in its flags (arg 0).
    prog += [
        _insn(_JEQ_K, _CLONE, jf=4),
        _insn(_LD_W_ABS, _ARG0_LOW),
        _insn(_JSET_K, _CLONE_THREAD, jt=1),
        _insn(_RET_K, eperm),
        _insn(_RET_K, _RET_ALLOW),
    ]
    # kill / tgkill: only to our own pid (arg 0); never to the grader or the fork server.
    for number in (_KILL, _TGKILL):
        prog += [
            _insn(_JEQ_K, number, jf=4),
            _insn(_LD_W_ABS, _ARG0_LOW),
            _insn(_JEQ_K, own_pid, jt=1),
            _insn(_RET_K, eperm),
            _insn(_RET_K, _RET_ALLOW),
        ]
    prog.append(_insn(_RET_K, _RET_ALLOW))
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(own_pid: int) -> None:
    """Load the filter into the calling thread; irreversible. OSError on failure."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = b"".join(program(own_pid))
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog))
    if result != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SET_MODE_FILTER) failed")
