"""The syscall allow-list holds on its own: with Landlock off, or at an older ABI, a child still
cannot reach a socket outside, signal, trace or read the grader or the zygote, or fork.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import landlock, seccomp
from grader.sandbox.client import Call, Job, Sandbox
from grader.settings import DEFAULT_LIMITS

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or seccomp.available() is not None,
    reason="the probes use x86_64 system-call numbers",
)
FAST = dataclasses.replace(
    DEFAULT_LIMITS, call_seconds=5.0, setup_seconds=10.0, submission_seconds=20.0
)
ATTACKS = """
import ctypes, fcntl, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
info = ctypes.create_string_buffer(b"\\0" * 8 + (-1).to_bytes(4, "little", signed=True), 128)

class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

def vm_read(pid):
    local = Iovec(ctypes.cast(ctypes.create_string_buffer(8), ctypes.c_void_p), 8)
    remote = Iovec(0x10000, 8)
    done = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return done >= 0 or ctypes.get_errno() == 14  # EFAULT: the permission check passed

def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return True

def attack(grader, listener):
    zygote = os.getppid()
    read_end, write_end = os.pipe()
    got = []
    def tried(name, attempt):
        try:
            if attempt():
                got.append(name)
        except Exception:
            pass
    for who, pid in (("grader", grader), ("zygote", zygote)):
        tried("kill-" + who, lambda: os.kill(pid, 0) is None)
        tried("tgkill-" + who, lambda: libc.syscall(234, pid, pid, 0) == 0)
        tried("tkill-" + who, lambda: libc.syscall(200, pid, 0) == 0)
        tried("sigqueue-" + who, lambda: libc.syscall(129, pid, 0, info) == 0)
        tried("tgsigqueue-" + who, lambda: libc.syscall(297, pid, pid, 0, info) == 0)
        tried("pidfd-" + who, lambda: libc.syscall(434, pid, 0) >= 0)
        tried("ptrace-" + who, lambda: libc.syscall(101, 0x4206, pid, 0, 0) == 0)
        tried("vm-read-" + who, lambda: vm_read(pid))
        tried("mem-" + who, lambda: open(f"/proc/{pid}/mem", "rb").fileno() >= 0)
        tried("environ-" + who, lambda: open(f"/proc/{pid}/environ", "rb").read() is not None)
        tried("setown-" + who, lambda: fcntl.fcntl(write_end, fcntl.F_SETOWN, pid) == 0)
    tried("unix-socket", lambda: socket.socket(socket.AF_UNIX).connect(listener) is None)
    tried("socketpair", lambda: len(socket.socketpair()) == 2)
    tried("io-uring", lambda: libc.syscall(425, 8, ctypes.create_string_buffer(120)) >= 0)
    tried("fork", fork)
    tried("clone3", lambda: libc.syscall(435, ctypes.create_string_buffer(88), 88) >= 0)
    tried("kcmp", lambda: libc.syscall(312, os.getpid(), pid, 0, 0, 0) >= 0)
    tried("outlive-the-zygote", lambda: libc.prctl(1, 0, 0, 0, 0) == 0)  # PR_SET_PDEATHSIG, 0
    tried("subreaper", lambda: libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    tried("ptracer", lambda: libc.prctl(0x59616D61, -1, 0, 0, 0) == 0)  # PR_SET_PTRACER any
    return ",".join(got)
"""


@pytest.fixture(scope="module", params=[0, 3], ids=["landlock-off", "landlock-abi-3"])
def weak_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A sandbox whose Landlock is off, or limited to ABI 3 (no TCP rules, no signal scoping)."""
    if request.param and landlock.abi_version() == 0:
        pytest.skip("this kernel has no Landlock")
    with Sandbox(limits=FAST, landlock_abi=request.param) as box:
        yield box


def _run(box: Sandbox, source: str, function: str, *args: object) -> dict[str, object]:
    job = Job(
        chunks=({"source": source, "cell": 1, "line": 1},),
        calls=(Call(function=function, args=args),),
        device="cpu",
    )
    reply = box.run(job)
    call: dict[str, object] = reply["calls"][0]
    return {**call, "missing": reply["missing"], "active": reply["active"]}


def test_without_landlock_a_child_cannot_reach_the_grader_the_zygote_or_a_socket(
    weak_sandbox: Sandbox, tmp_path: Path
) -> None:
    path = str(tmp_path / "listener.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        result = _run(weak_sandbox, ATTACKS, "attack", os.getpid(), path)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert result["status"] == "returned", result
    assert result["value"] == {"t": "scalar", "v": ""}, result["value"]
    assert "seccomp" in result["active"] and "no-capabilities" in result["active"]


def test_landlock_can_be_turned_off_or_held_to_an_older_abi(weak_sandbox: Sandbox) -> None:
    result = _run(weak_sandbox, "def f():\n    return 1\n", "f")
    if weak_sandbox.landlock_abi == 0:
        assert any(m.startswith("landlock") for m in result["missing"])  # type: ignore[attr-defined]
    else:
        assert any("landlock(abi 3:" in a for a in result["active"])  # type: ignore[attr-defined]


THREADS_AND_FILES = """
import os, shutil, tempfile, threading, time
import torch
def work(n):
    torch.set_num_threads(2)
    a = torch.randn(200, 200, dtype=torch.float64)
    total = [float((a @ a).sum())]
    worker = threading.Thread(target=lambda: total.append(float(torch.ones(3).sum())))
    worker.start()
    worker.join()
    with open("notes.txt", "w") as f:
        f.write("x")
    shutil.copyfile("notes.txt", "copy.txt")
    handle, name = tempfile.mkstemp()
    os.close(handle)
    time.sleep(0.01)
    layer = torch.nn.Linear(3, 4)  # recurrent kernels are refused in the sandbox
    x = torch.randn(2, 5, 3, requires_grad=True)
    torch.tanh(layer(x)).sum().backward()
    return [len(total), sorted(os.listdir("."))[0], name.startswith(os.getcwd())]
"""


def test_torch_threads_files_and_autograd_work_under_the_allow_list(sandbox: Sandbox) -> None:
    result = _run(sandbox, THREADS_AND_FILES, "work", 1)
    assert result["status"] == "returned", result
    items = [item["v"] for item in result["value"]["items"]]  # type: ignore[index]
    assert items == [2, "copy.txt", True]
