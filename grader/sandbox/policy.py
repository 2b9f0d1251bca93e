"""What a child may touch: the filesystem policy behind its Landlock ruleset."""

from __future__ import annotations

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
CUDA_READ_WRITE = ("/dev", "/proc", "/sys")


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


def ruleset(grader_root: str, workdir: str, device: str) -> landlock.Ruleset:
    """Read the Python installation and system libraries; write only the work directory."""
    read_write = [workdir, "/dev/null", *(CUDA_READ_WRITE if device.startswith("cuda") else ())]
    return landlock.build([*read_only_paths(grader_root), *SYSTEM_READ], read_write)
