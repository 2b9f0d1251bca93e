"""The CUDA filesystem policy grants the GPU, not the machine: tested on CPU by applying the same
ruleset a `--device cuda` child builds; its parent stands for the grader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.sandbox import landlock, policy

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from grader.sandbox import landlock, policy
parent = os.getppid()
landlock.restrict_self(policy.ruleset(sys.argv[1], tempfile.mkdtemp(), "cuda"))
def opened(path, mode):
    try:
        with open(path, mode) as f:
            f.read(1) if "r" in mode else f.write("x")
        return True
    except OSError:
        return False
print(json.dumps({
    "parent-environ": opened(f"/proc/{parent}/environ", "rb"),
    "parent-cmdline": opened(f"/proc/{parent}/cmdline", "rb"),
    "parent-mem": opened(f"/proc/{parent}/mem", "rb"),
    "shm-write": opened("/dev/shm/grader-cuda-probe", "w"),
    "sysctl-write": opened("/proc/sys/kernel/hostname", "r+"),
    "dev-write": opened("/dev/grader-cuda-probe", "w"),
    "sys-write": opened("/sys/kernel/uevent_helper", "r+"),
    "own-status": opened("/proc/self/status", "r"),
    "null-write": opened("/dev/null", "w"),
}))
"""


@pytest.mark.skipif(landlock.abi_version() == 0, reason="this kernel has no Landlock")
def test_the_cuda_policy_keeps_the_graders_proc_dev_shm_and_sysctls_shut() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, os.path.realpath(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    reached = json.loads(done.stdout)
    assert reached == {
        "parent-environ": False,
        "parent-cmdline": False,
        "parent-mem": False,
        "shm-write": False,
        "sysctl-write": False,
        "dev-write": False,
        "sys-write": False,
        "own-status": True,  # its own /proc/self, which the CUDA runtime reads
        "null-write": True,
    }


def test_the_cuda_policy_names_only_nvidia_device_nodes() -> None:
    read_only, read_write = policy.paths(os.path.realpath(ROOT), "cuda")
    devices = ("/dev/nvidia", "/dev/dri/renderD")
    assert all(p == "/dev/null" or p.startswith(devices) for p in read_write)
    assert "/proc" not in read_only and "/dev" not in read_only and "/sys" not in read_only
