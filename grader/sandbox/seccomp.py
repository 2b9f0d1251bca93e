"""A seccomp-BPF allow-list assembled by hand: what Python, torch and the harness need, no more.

Default deny: a system call not named here fails with ENOSYS (glibc then falls back, and a
kernel feature nobody thought of, such as io_uring or a new socket family, is simply absent).
A few allowed calls are checked by argument: threads but no processes (clone needs CLONE_THREAD;
clone3 answers ENOSYS so glibc falls back to clone), signals and rlimits only for this process,
no ioctl or fcntl that makes the kernel signal another process or inject terminal input.
Tables for x86_64 and aarch64; elsewhere `available()` says why not.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_SECCOMP_SET_MODE_FILTER = 1
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
_EPERM = _RET_ERRNO | errno.EPERM
_ENOSYS = _RET_ERRNO | errno.ENOSYS
DEFAULT_ACTION = _ENOSYS  # unknown calls fail cleanly; glibc falls back where it can

# seccomp_data offsets (little-endian: the low half of each argument comes first)
_NR = 0
_ARCH = 4
_ARG_LOW = (16, 24, 32)

# Hot calls first: the filter is a linear scan and runs on every system call.
ALLOWED = (
    "read", "write", "futex", "mmap", "munmap", "mprotect", "madvise", "brk", "mremap",
    "getpid", "gettid", "sched_yield", "close", "lseek", "pread64", "pwrite64", "readv", "writev",
    "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "getdents64", "getdents",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "sigaltstack", "restart_syscall", "alarm", "setitimer", "getitimer",
    "timer_create", "timer_settime", "timer_gettime", "timer_delete", "timer_getoverrun",
    "set_robust_list", "set_tid_address", "rseq", "futex_waitv", "membarrier", "exit",
    "exit_group", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "getpriority", "getcpu",
    "preadv", "pwritev", "preadv2", "pwritev2", "close_range", "openat2", "creat", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "chdir", "fchdir", "mkdir",
    "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "chmod", "fchmod",
    "fchmodat", "truncate", "ftruncate", "fsync", "fdatasync", "fallocate", "fadvise64", "flock",
    "dup", "dup2", "dup3", "pipe", "pipe2", "statfs", "fstatfs", "utimensat", "umask", "sendfile",
    "copy_file_range", "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "msync",
    "mincore", "get_mempolicy", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "getresuid", "getresgid", "getgroups", "getpgrp", "getpgid", "getsid", "getrusage", "times",
    "sysinfo", "uname", "getrlimit", "arch_prctl", "capget", "getrandom",
)  # fmt: skip
# prctl options a child may use: reading its own state, naming threads and mappings; never
# PR_SET_PDEATHSIG (undoing it outlives the grader), PR_SET_DUMPABLE, PR_SET_PTRACER and the rest.
_PRCTL_ALLOWED = (2, 3, 15, 16, 21, 23, 30, 39, 0x53564D41)
# What the CUDA driver may use besides (its own memory only); untested on a GPU in this round.
CUDA_ALLOWED = ("mbind", "set_mempolicy", "mlock", "munlock", "memfd_create")
# Terminal input injection, and asking the kernel to signal another process on I/O.
_IOCTL_DENIED = (0x5412, 0x541C, 0x8901, 0x8902)  # TIOCSTI, TIOCLINUX, FIOSETOWN, SIOCSPGRP
_FCNTL_DENIED = (8, 10, 15)  # F_SETOWN, F_SETSIG, F_SETOWN_EX

_ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # AUDIT_ARCH_*
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "poll": 7,
        "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13,
        "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16, "pread64": 17, "pwrite64": 18,
        "readv": 19, "writev": 20, "access": 21, "pipe": 22, "select": 23, "sched_yield": 24,
        "mremap": 25, "msync": 26, "mincore": 27, "madvise": 28, "dup": 32, "dup2": 33,
        "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38, "getpid": 39,
        "sendfile": 40, "clone": 56, "exit": 60, "kill": 62, "uname": 63, "fcntl": 72, "flock": 73,
        "fsync": 74, "fdatasync": 75, "truncate": 76, "ftruncate": 77, "getdents": 78,
        "getcwd": 79, "chdir": 80, "fchdir": 81, "rename": 82, "mkdir": 83, "rmdir": 84,
        "creat": 85, "unlink": 87, "readlink": 89, "chmod": 90, "fchmod": 91, "umask": 95,
        "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "sysinfo": 99, "times": 100,
        "getuid": 102, "getgid": 104, "geteuid": 107, "getegid": 108, "getppid": 110,
        "getpgrp": 111, "getgroups": 115, "getresuid": 118, "getresgid": 120, "getpgid": 121,
        "getsid": 124, "capget": 125, "rt_sigpending": 127, "rt_sigtimedwait": 128,
        "rt_sigsuspend": 130, "sigaltstack": 131, "statfs": 137, "fstatfs": 138,
        "getpriority": 140, "sched_getparam": 143, "sched_getscheduler": 145,
        "sched_get_priority_max": 146, "sched_get_priority_min": 147, "prctl": 157,
        "arch_prctl": 158, "gettid": 186, "time": 201, "futex": 202, "sched_getaffinity": 204,
        "epoll_create": 213, "getdents64": 217, "set_tid_address": 218, "restart_syscall": 219,
        "fadvise64": 221, "timer_create": 222, "timer_settime": 223, "timer_gettime": 224,
        "timer_getoverrun": 225, "timer_delete": 226, "clock_gettime": 228, "clock_getres": 229,
        "clock_nanosleep": 230, "exit_group": 231, "epoll_wait": 232, "epoll_ctl": 233,
        "tgkill": 234, "get_mempolicy": 239, "openat": 257, "mkdirat": 258, "newfstatat": 262,
        "unlinkat": 263, "renameat": 264, "readlinkat": 267, "fchmodat": 268, "faccessat": 269,
        "pselect6": 270, "ppoll": 271, "set_robust_list": 273, "utimensat": 280,
        "epoll_pwait": 281, "eventfd": 284, "fallocate": 285, "eventfd2": 290,
        "epoll_create1": 291, "dup3": 292, "pipe2": 293, "preadv": 295, "pwritev": 296,
        "prlimit64": 302, "getcpu": 309, "renameat2": 316, "getrandom": 318, "membarrier": 324,
        "copy_file_range": 326, "preadv2": 327, "pwritev2": 328, "statx": 332, "rseq": 334,
        "clone3": 435, "close_range": 436, "openat2": 437, "faccessat2": 439, "epoll_pwait2": 441,
        "futex_waitv": 449,
        "mlock": 149, "munlock": 150, "mbind": 237, "set_mempolicy": 238, "memfd_create": 319,
    },
    "aarch64": {
        "getcwd": 17, "eventfd2": 19, "epoll_create1": 20, "epoll_ctl": 21, "epoll_pwait": 22,
        "dup": 23, "dup3": 24, "fcntl": 25, "ioctl": 29, "flock": 32, "mkdirat": 34,
        "unlinkat": 35, "renameat": 38, "statfs": 43, "fstatfs": 44, "truncate": 45,
        "ftruncate": 46, "fallocate": 47, "faccessat": 48, "chdir": 49, "fchdir": 50, "fchmod": 52,
        "fchmodat": 53, "openat": 56, "close": 57, "pipe2": 59, "getdents64": 61, "lseek": 62,
        "read": 63, "write": 64, "readv": 65, "writev": 66, "pread64": 67, "pwrite64": 68,
        "preadv": 69, "pwritev": 70, "sendfile": 71, "pselect6": 72, "ppoll": 73, "readlinkat": 78,
        "newfstatat": 79, "fstat": 80, "fsync": 82, "fdatasync": 83, "utimensat": 88, "capget": 90,
        "exit": 93, "exit_group": 94, "set_tid_address": 96, "futex": 98, "set_robust_list": 99,
        "nanosleep": 101, "getitimer": 102, "setitimer": 103, "timer_create": 107,
        "timer_gettime": 108, "timer_getoverrun": 109, "timer_settime": 110, "timer_delete": 111,
        "clock_gettime": 113, "clock_getres": 114, "clock_nanosleep": 115,
        "sched_getscheduler": 120, "sched_getparam": 121, "sched_getaffinity": 123,
        "sched_yield": 124, "sched_get_priority_max": 125, "sched_get_priority_min": 126,
        "restart_syscall": 128, "kill": 129, "tgkill": 131, "sigaltstack": 132,
        "rt_sigsuspend": 133, "rt_sigaction": 134, "rt_sigprocmask": 135, "rt_sigpending": 136,
        "rt_sigtimedwait": 137, "rt_sigreturn": 139, "getpriority": 141, "getresuid": 148,
        "getresgid": 150, "times": 153, "getpgid": 155, "getsid": 156, "getgroups": 158,
        "uname": 160, "getrlimit": 163, "getrusage": 165, "umask": 166, "prctl": 167,
        "getcpu": 168, "gettimeofday": 169, "getpid": 172, "getppid": 173, "getuid": 174,
        "geteuid": 175, "getgid": 176, "getegid": 177, "gettid": 178, "sysinfo": 179, "brk": 214,
        "munmap": 215, "mremap": 216, "clone": 220, "mmap": 222, "fadvise64": 223, "mprotect": 226,
        "msync": 227, "mincore": 232, "madvise": 233, "get_mempolicy": 236, "prlimit64": 261,
        "renameat2": 276, "getrandom": 278, "membarrier": 283, "copy_file_range": 285,
        "preadv2": 286, "pwritev2": 287, "statx": 291, "rseq": 293, "clone3": 435,
        "close_range": 436, "openat2": 437, "faccessat2": 439, "epoll_pwait2": 441,
        "futex_waitv": 449,
        "mlock": 228, "munlock": 229, "mbind": 235, "set_mempolicy": 237, "memfd_create": 279,
    },
}  # fmt: skip


def available() -> str | None:
    """None when this filter can be used here, else the reason it cannot."""
    if platform.system() != "Linux":
        return f"seccomp needs Linux (this is {platform.system()})"
    if platform.machine() not in NUMBERS:
        return f"no system-call table for {platform.machine()} (x86_64 and aarch64 only)"
    return None


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _only(number: int, arg: int, values: tuple[int, ...], allow: bool) -> list[bytes]:
    """For one system call: allow it only with argument `arg` among `values` (allow=True), or
    refuse exactly those values (allow=False); the other calls pass through untouched."""
    matched, unmatched = (_RET_ALLOW, _EPERM) if allow else (_EPERM, _RET_ALLOW)
    body = [_insn(_LD_W_ABS, _ARG_LOW[arg])]
    for index, value in enumerate(values):
        body.append(_insn(_JEQ_K, value, jt=len(values) - index))
    body += [_insn(_RET_K, unmatched), _insn(_RET_K, matched)]
    return [_insn(_JEQ_K, number, jf=len(body)), *body]


def program(own_pid: int, machine: str | None = None, extra: tuple[str, ...] = ()) -> list[bytes]:
    """The filter for a process whose pid is own_pid, on this machine (or the one named)."""
    machine = machine or platform.machine()
    numbers = NUMBERS[machine]
    prog = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, _ARCHES[machine], jt=1),
        _insn(_RET_K, _RET_KILL),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, _X32_BIT, jf=1),
        _insn(_RET_K, _EPERM),
    ]
    for name in (*ALLOWED, *extra):
        if name in numbers:
            prog += [_insn(_JEQ_K, numbers[name], jf=1), _insn(_RET_K, _RET_ALLOW)]
    prog += [_insn(_JEQ_K, numbers["clone3"], jf=1), _insn(_RET_K, _ENOSYS)]
    prog += [
        _insn(_JEQ_K, numbers["clone"], jf=4),
        _insn(_LD_W_ABS, _ARG_LOW[0]),
        _insn(_JSET_K, _CLONE_THREAD, jt=1),
        _insn(_RET_K, _EPERM),
        _insn(_RET_K, _RET_ALLOW),
    ]
    prog += _only(numbers["kill"], 0, (own_pid,), allow=True)
    prog += _only(numbers["tgkill"], 0, (own_pid,), allow=True)
    prog += _only(numbers["prlimit64"], 0, (0, own_pid), allow=True)
    prog += _only(numbers["prctl"], 0, _PRCTL_ALLOWED, allow=True)
    prog += _only(numbers["ioctl"], 1, _IOCTL_DENIED, allow=False)
    prog += _only(numbers["fcntl"], 1, _FCNTL_DENIED, allow=False)
    prog.append(_insn(_RET_K, DEFAULT_ACTION))
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(own_pid: int, extra: tuple[str, ...] = ()) -> None:
    """Load the filter into the calling thread; irreversible. OSError on failure."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = b"".join(program(own_pid, extra=extra))
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    libc.syscall.restype = ctypes.c_long
    number = _SYS_SECCOMP[platform.machine()]
    result = libc.syscall(number, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog))
    if result != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SET_MODE_FILTER) failed")
