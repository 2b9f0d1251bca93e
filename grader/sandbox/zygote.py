"""The zygote: a fresh interpreter that imports torch once and only forks.

It never receives a student's code, inputs or results: on request it makes a child's private work
folder and pipes, forks, hands the grader its ends of the pipes (SCM_RIGHTS) and forgets them. The
grader then talks to the child directly. A child, a copy of this process's memory, finds nothing
of any other submission, nor the reference, the cases or the grading seed, which it never loads.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from typing import Any, NoReturn

import torch

from grader.sandbox import child, kernels, limits, lockdown, policy, wire
from grader.settings import Limits

_F_SETPIPE_SZ: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
_PIPE_BYTES = 1 << 20  # the largest pipe an unprivileged process may ask for by default
_PREFIX = "grader-sandbox-"  # then the zygote's pid: grader-sandbox-<pid>-<random>
_MESSAGE_BYTES = 1 << 16  # largest control message (requests are a few dozen bytes)


class Server:
    """What the zygote keeps between forks: configuration and the folders of living children."""

    def __init__(self, config: dict[str, Any], control: socket.socket) -> None:
        wanted = bool(config.get("network_namespace", True))
        # Once here, inherited by every child: a namespace per child would cost ~5 ms each.
        network_missing = limits.unshare_network() if wanted else "disabled in settings"
        self.control = control
        device = str(config.get("device", "cpu"))
        if device == "cpu":
            _skip_accelerator_seeding()
        _remove_orphans(tempfile.gettempdir())
        read_only, read_write = policy.paths(str(config["grader_root"]), device)
        self.context = lockdown.ChildContext(
            workdir="",
            read_only=tuple(read_only),
            read_write=tuple(read_write),
            landlock_abi=config.get("landlock_abi"),
            limits=Limits(**config["limits"]),
            network_missing=network_missing,
            device=device,
            zygote=os.getpid(),
        )
        self.folders: dict[int, str] = {}  # child pid -> its work folder, until it is reaped

    def fork(self, request: dict[str, Any]) -> None:
        """Fork one child and send the grader its ends; then reap the children it released."""
        folder = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")  # mode 0700, a fresh name
        job_read, job_write = _pipe()
        result_read, result_write = _pipe()
        done_read, done_write = os.pipe()
        gc.freeze()  # the child's collector then never touches (and copies) this process's objects
        pid = os.fork()
        if pid == 0:
            self.control.close()
            for fd in (job_write, result_read, done_read):
                os.close(fd)
            context = lockdown.ChildContext(**{**self.context.__dict__, "workdir": folder})
            child.main(child.Pipes(job=job_read, result=result_write, done=done_write), context)
        with contextlib.suppress(OSError):  # the grader kills the group: it must exist first
            os.setpgid(pid, pid)
        self.folders[pid] = folder
        try:
            message = json.dumps({"type": "forked", "pid": pid}).encode()
            socket.send_fds(self.control, [message], [job_write, result_read, done_read])
        finally:
            for fd in (job_read, job_write, result_read, result_write, done_read, done_write):
                os.close(fd)
        for released in request.get("release", []):
            self.reap(int(released))

    def reap(self, pid: int) -> int | None:
        """Wait for a child the grader has killed, delete its folder; its wait status."""
        folder = self.folders.pop(pid, None)
        if folder is None:
            return None  # not ours, or reaped already
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = None
        shutil.rmtree(folder, ignore_errors=True)
        return status

    def close(self) -> None:
        for pid in list(self.folders):
            _kill_group(pid)
            self.reap(pid)


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    if _F_SETPIPE_SZ is not None:
        with contextlib.suppress(OSError):  # room for a whole job, or a submission's results
            fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
    return read_end, write_end


def _kill_group(pid: int) -> None:
    for target in (-pid, pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)


def _remove_orphans(folder: str) -> None:
    """Delete the work folders of zygotes that were killed (an interrupted batch kills its
    workers' process groups, so their own clean-up never ran)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        owner, dash, _ = name.removeprefix(_PREFIX).partition("-")
        if not (name.startswith(_PREFIX) and owner.isdigit() and dash):
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:  # its zygote is gone; a live pid, even reused, is left alone
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        except (PermissionError, OverflowError):
            continue


def serve(server: Server) -> None:
    """Answer requests until the grader closes its end: fork, or wait for a child's end."""
    while message := server.control.recv(_MESSAGE_BYTES):
        request = wire.parse_frame(message)
        if request.get("type") == "fork":
            server.fork(request)
        elif request.get("type") == "wait":
            pid = int(request["pid"])
            status = server.reap(pid)
            server.control.send(json.dumps({"type": "exit", "pid": pid, "status": status}).encode())


def main(config: dict[str, Any] | None = None, control_fd: int | None = None) -> NoReturn:
    """Run as the zygote; the grader holds the other end of the control socket."""
    config = json.loads(sys.argv[1]) if config is None else config
    control_fd = int(sys.argv[3]) if control_fd is None else control_fd
    limits.die_with_parent(int(config["parent"]))
    limits.hide_memory()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray prints and warnings go to stderr
    torch.set_num_threads(1)  # a threaded op before fork would hang the children
    _warm_up()
    kernels.disable()  # after the warm-up ran nn.RNN: every child inherits the refusal
    if str(config.get("device", "cpu")) == "cpu":  # CUDA's start-up may still load libraries
        lockdown.ctypes_out_of_modules()
    control = socket.socket(fileno=control_fd)
    server = Server(config, control)
    try:
        control.send(json.dumps({"type": "hello", "pid": os.getpid()}).encode())
        serve(server)
    except OSError:
        pass  # the grader went away
    finally:
        server.close()
    os._exit(0)  # skip torch's slow interpreter teardown


def _skip_accelerator_seeding() -> None:
    """torch.manual_seed also queues seeds for uninitialised accelerators, formatting a stack
    trace each time (~0.5 ms); children of a CPU-only zygote never initialise one."""
    for name in ("torch.cuda", "torch.cuda.random", "torch.xpu", "torch.xpu.random", "torch.mtia"):
        module = sys.modules.get(name)
        if module is not None and callable(getattr(module, "_lazy_call", None)):
            setattr(module, "_lazy_call", lambda *args, **kwargs: None)  # noqa: B010


def _warm_up() -> None:
    """Run once what every child runs, so lazy imports and first-call costs are paid before fork."""
    x, h = torch.ones(2, 3, 1, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    module = torch.nn.RNN(1, 4, batch_first=True).double()
    with child.Recorder():
        steps = [torch.tanh(torch.cat([x[:, 0], h], 1) @ torch.ones(5, 4, dtype=x.dtype))]
        torch.stack(steps, 1)
        module(x, h.unsqueeze(0))
    child.encode_value((module, torch.zeros(1, dtype=torch.float32), [1]))
    call = wire.call_bytes("f", (wire.encode_tensor(x), 1), trace=False)
    child.decode_calls([{"base": 0, **json.loads(b"{" + call.meta)}], call.data, 1 << 10)


if __name__ == "__main__":
    main()
