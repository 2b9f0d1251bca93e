"""What a child may touch: the filesystem policy behind its Landlock ruleset.

On CUDA the child also needs the NVIDIA device nodes and a few read-only driver files. It gets
its own /proc/self (the rule is built after fork, so "/proc/self" resolves to the child's pid),
never /proc as a whole: other processes' environ, cmdline and memory, and sysctls, stay shut.
"""

from __future__ import annotations

import glob
import os
import site
import sys
import sysconfig

from grader.sandbox import landlock

SYSTEM_READ = (
    "/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
    "/etc/localtime", "/usr/share/zoneinfo", "/sys/devices/system/cpu",
    "/dev/urandom", "/dev/random", "/dev/zero",
)  # fmt: skip
CUDA_READ = (
    "/proc/self", "/proc/driver/nvidia", "/proc/devices", "/proc/cpuinfo", "/proc/meminfo",
    "/proc/modules", "/proc/sys/vm/mmap_min_addr", "/proc/sys/vm/overcommit_memory",
    "/sys/devices", "/sys/bus/pci", "/sys/module", "/sys/class", "/etc/nvidia",
    "/usr/share/nvidia", "/usr/local/nvidia", "/usr/local/cuda",
)  # fmt: skip
CUDA_DEVICES = (
    "/dev/nvidiactl", "/dev/nvidia[0-9]*", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
    "/dev/nvidia-modeset", "/dev/nvidia-caps", "/dev/dri/renderD*",
)  # fmt: skip


def read_only_paths(grader_root: str) -> list[str]:
    """Python's own trees and system libraries, minus the grader package and its checkout."""
    sites = {os.path.realpath(p) for p in site.getsitepackages()}
    entries = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"], *sys.path}
    paths = {os.path.realpath(e) for e in entries if e and os.path.isdir(e)} | sites
    paths.discard(grader_root)
    if grader_root in sites:  # an ordinary install: everything in site-packages but us
        paths.update(
            os.path.join(grader_root, name)
            for name in os.listdir(grader_root)
            if not name.startswith(("grader", "rnn_grader", "__editable__"))
        )
    return sorted(paths)


def cuda_devices() -> list[str]:
    """The NVIDIA device nodes present here (none on a machine without a GPU)."""
    return sorted(path for pattern in CUDA_DEVICES for path in glob.glob(pattern))


def paths(grader_root: str, device: str) -> tuple[list[str], list[str]]:
    """(read-only, read-write) paths for every child; each adds its own work folder."""
    read_only = [*read_only_paths(grader_root), *SYSTEM_READ]
    read_write = ["/dev/null"]
    if device.startswith("cuda"):
        # libcuda is loaded after the child's lockdown (CUDA cannot start before a fork).
        libraries = os.environ.get("LD_LIBRARY_PATH", "").split(":")
        read_only += [*CUDA_READ, *(p for p in libraries if os.path.isabs(p))]
        read_write += cuda_devices()
    return read_only, read_write


def ruleset(
    grader_root: str, workdir: str, device: str, max_abi: int | None = None
) -> landlock.Ruleset:
    """Read the Python installation and system libraries; write only the work directory."""
    read_only, read_write = paths(grader_root, device)
    return landlock.build(read_only, [*read_write, workdir], max_abi)
