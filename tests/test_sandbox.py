"""The sandbox mechanism: what the child can see and do, and how the zygote recovers."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import landlock, seccomp
from grader.sandbox.client import Call, Job, Sandbox
from grader.settings import DEFAULT_LIMITS

ROOT = Path(__file__).resolve().parents[1]
FAST = dataclasses.replace(
    DEFAULT_LIMITS, call_seconds=1.0, setup_seconds=5.0, submission_seconds=8.0
)
PROBE = f"""
import os, sys, torch
def probe(n):
    facts = [
        'grader.reference' in sys.modules,
        'grader.cases' in sys.modules,
        any('SEED' in k for k in os.environ),
        _readable({str(ROOT / "solutions" / "rnn_forward" / "solution.ipynb")!r}),
        _readable({str(ROOT / "grader" / "reference.py")!r}),
        _readable('/etc/passwd'),
        os.getcwd().startswith('/tmp') or 'grader-sandbox' in os.getcwd(),
    ]
    return torch.tensor([float(f) for f in facts])
def _readable(path):
    try:
        open(path).read(1)
        return True
    except OSError:
        return False
"""


def _job(source: str, *calls: Call) -> Job:
    return Job(chunks=({"source": source, "cell": 1, "line": 1},), calls=calls, device="cpu")


@pytest.fixture
def fast_sandbox() -> Iterator[Sandbox]:
    with Sandbox(limits=FAST) as box:
        yield box


def test_the_child_sees_no_reference_no_seed_and_no_grader_files(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SEED", "secret")
    reply = sandbox.run(_job(PROBE, Call(function="probe", args=(1,))))
    call = reply["calls"][0]
    assert call["status"] == "returned", call
    from grader.observations import decode_value

    facts = decode_value(call["value"], 100, set()).tolist()
    reference_loaded, cases_loaded, seed_visible, solution, reference_file, passwd, private = facts
    assert not reference_loaded and not cases_loaded and not seed_visible
    if landlock.abi_version():
        assert not solution and not reference_file and not passwd
    assert private


@pytest.mark.skipif(landlock.abi_version() == 0, reason="this kernel has no Landlock")
def test_every_protection_is_active_on_a_landlock_kernel(sandbox: Sandbox) -> None:
    reply = sandbox.run(_job("def f():\n    return 1\n", Call(function="f", args=())))
    active = " ".join(reply["active"])
    for protection in ("landlock", "rlimits", "private-tmp", "scrubbed-env", "output-cap"):
        assert protection in active
    if seccomp.available() is None:
        assert "seccomp" in active
    assert reply["missing"] == [] or all("network" in m for m in reply["missing"])


def test_a_hanging_call_times_out_and_the_next_function_still_runs(fast_sandbox: Sandbox) -> None:
    source = "def spin(n):\n    while True:\n        pass\ndef ok(n):\n    return n + 1\n"
    calls = (
        Call(function="spin", args=(1,)),
        Call(function="spin", args=(2,)),
        Call(function="ok", args=(3,)),
    )
    reply = fast_sandbox.run(_job(source, *calls))
    statuses = [c["status"] for c in reply["calls"]]
    assert statuses == ["timeout", "skipped", "returned"]
    assert reply["children"] == 2


def test_a_call_that_kills_its_process_costs_only_that_call(sandbox: Sandbox) -> None:
    source = "import os\ndef die(n):\n    os._exit(7)\ndef ok(n):\n    return n\n"
    reply = sandbox.run(
        _job(source, Call(function="die", args=(1,)), Call(function="ok", args=(2,)))
    )
    assert [c["status"] for c in reply["calls"]] == ["crashed", "returned"]
    assert "status 7" in reply["calls"][0]["detail"]


def test_a_zygote_found_dead_is_restarted_without_costing_the_next_submission() -> None:
    with Sandbox() as box:
        job = _job("def f(n):\n    return n\n", Call(function="f", args=(1,)))
        assert box.run(job)["calls"][0]["status"] == "returned"
        assert box._process is not None
        box._process.kill()
        box._process.wait()
        assert box.run(job)["calls"][0]["status"] == "returned"
        assert box.run(job)["calls"][0]["status"] == "returned"


def test_a_zygote_that_dies_during_a_submission_costs_only_that_submission() -> None:
    source = "import time\ndef slow(n):\n    time.sleep(30)\n    return n\n"
    ok = _job("def f(n):\n    return n\n", Call(function="f", args=(2,)))
    with Sandbox() as box:
        assert box.run(ok)["calls"][0]["status"] == "returned"  # the zygote is up
        assert box._process is not None
        timer = threading.Timer(1.0, box._process.kill)
        timer.start()
        dead = box.run(_job(source, Call(function="slow", args=(1,))))
        timer.join()
        assert dead["calls"][0]["status"] == "crashed"
        assert "zygote died" in dead["calls"][0]["detail"]
        assert box.run(ok)["calls"][0]["status"] == "returned"


def test_inputs_are_encoded_once_and_every_job_sees_them_untouched(sandbox: Sandbox) -> None:
    import torch

    from grader.observations import decode_value
    from grader.sandbox.wire import encode_tensor

    call = Call(function="f", args=(encode_tensor(torch.arange(3.0)),))
    job = _job("def f(t):\n    out = t.clone()\n    t.add_(100)\n    return out\n", call)
    first, second = sandbox.run(job), sandbox.run(job)
    assert sandbox._encode(call) is sandbox._encode(call)  # encoded once, kept by the grader
    for reply in (first, second):
        result = reply["calls"][0]
        assert decode_value(result["value"], 10, set()).tolist() == [0.0, 1.0, 2.0]
        assert result["mutated"] == [0]


def test_output_is_captured_and_capped(sandbox: Sandbox) -> None:
    source = "def loud(n):\n    print('x' * 10_000_000)\n    return n\n"
    reply = sandbox.run(_job(source, Call(function="loud", args=(1,))))
    assert reply["calls"][0]["status"] == "returned"
    assert len(reply["output"]) <= DEFAULT_LIMITS.output_chars
    assert reply["output"].startswith("xxxx")


def test_the_fork_server_runs_as_a_separate_process(sandbox: Sandbox) -> None:
    source = "import os\ndef pids(n):\n    return [os.getpid(), os.getppid()]\n"
    reply = sandbox.run(_job(source, Call(function="pids", args=(1,))))
    child_pid, server_pid = (item["v"] for item in reply["calls"][0]["value"]["items"])
    assert os.getpid() not in (child_pid, server_pid)


def test_garbage_written_into_the_result_pipe_costs_only_that_call(sandbox: Sandbox) -> None:
    source = (
        "import os\n"
        "def forge(n):\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'\\x00\\x00\\x00\\x05{bad}' + b'\\xff' * 64)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return n\n"
        "def ok(n):\n"
        "    return n\n"
    )
    reply = sandbox.run(
        _job(source, Call(function="forge", args=(1,)), Call(function="ok", args=(2,)))
    )
    assert [c["status"] for c in reply["calls"]] == ["crashed", "returned"]
    assert "malformed" in reply["calls"][0]["detail"]
    assert (
        sandbox.run(_job(source, Call(function="ok", args=(3,))))["calls"][0]["status"]
        == "returned"
    )


def test_results_larger_than_the_pipe_still_arrive_whole(sandbox: Sandbox) -> None:
    from grader.observations import decode_value

    # 900,000 float32 are 3.6 MB of base64 per call: the child blocks until the pipe is drained.
    source = "import torch\ndef big(n):\n    return torch.arange(float(n))\n"
    reply = sandbox.run(_job(source, *(Call(function="big", args=(900_000,)) for _ in range(2))))
    for result in reply["calls"]:
        assert result["status"] == "returned", result
        assert decode_value(result["value"], 10**6, set())[-1].item() == 899_999.0


def test_a_fork_server_forked_before_the_secrets_gives_its_children_none() -> None:
    # As a batch worker does: torch, then the fork server, then the reference and the seed.
    script = f"""
import json, os, sys
import torch
from grader.sandbox.client import Call, Job, Sandbox
box = Sandbox(fork=True)
import grader.reference, grader.cases
os.environ["GRADER_SEED"] = "secret"
job = Job(chunks=({{"source": {PROBE!r}, "cell": 1, "line": 1}},),
          calls=(Call(function="probe", args=(1,)),), device="cpu")
print(json.dumps(box.run(job)["calls"][0]))
box.close()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    from grader.observations import decode_value

    call = json.loads(done.stdout.strip().splitlines()[-1])
    assert call["status"] == "returned", call
    reference_loaded, cases_loaded, seed_visible, *_ = decode_value(call["value"], 100, set())
    assert not reference_loaded and not cases_loaded and not seed_visible


def test_work_folders_of_killed_fork_servers_are_removed(tmp_path: Path) -> None:
    from grader.sandbox.zygote import _remove_orphans

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = tmp_path / f"grader-sandbox-{gone.pid}-abc"
    alive = tmp_path / f"grader-sandbox-{os.getpid()}-def"
    unrelated = tmp_path / "grader-sandbox-12345678"  # no pid in the name: not ours to judge
    for folder in (orphan, alive, unrelated):
        (folder / "job-1").mkdir(parents=True)
    _remove_orphans(str(tmp_path))
    assert not orphan.exists() and alive.exists() and unrelated.exists()


def test_starting_a_sandbox_imports_no_torch_in_the_grader() -> None:
    # The zygote imports torch while the grader does: importing it before the start serialises them.
    import subprocess
    import sys

    probe = "import sys, grader.sandbox.client as c; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
