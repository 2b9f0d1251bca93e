"""Batch throughput vs the fork floor, in one run.

    python benchmarks/bench_batch.py [--workers N] [--sizes 100 500 2000] [--reports json]

(a) the floor: N warm processes with torch imported, each forking children that run one tiny RNN
    forward and send the output back; no sandbox, no grading.
(b) `python -m grader batch` on generated classes of distinct notebooks, every protection on.
(c) peak memory of the batch's whole process tree: the sum of RSS (counts shared pages once per
    process, an overestimate) and the sum of PSS (shared pages split between their users).

Prints submissions/second for each, (b)/(a), and whether cost grows linearly with class size.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.settings import default_workers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

FLOOR_FORKS = 600  # children per floor measurement, over all workers
FLOOR_REPEATS = 3  # fork rates on this VM vary by a third from run to run: the median of three


def floor_worker(forks: int) -> None:
    """Child process of (a): warm up, wait for 'go', fork `forks` children one after another."""
    import torch

    torch.set_num_threads(1)  # a threaded op before fork would hang the children
    rnn = torch.nn.RNN(1, 4, batch_first=True)
    x = torch.arange(1.0, 6.0).reshape(1, 5, 1)
    rnn(x)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(forks):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            output, _ = rnn(x)
            os.write(write_end, output.detach().numpy().tobytes())
            os._exit(0)
        os.close(write_end)
        os.read(read_end, 1 << 16)
        os.close(read_end)
        os.waitpid(pid, 0)
    print("done", flush=True)


def measure_floor(workers: int) -> float:
    """(a): forks per second over `workers` warm processes."""
    each = FLOOR_FORKS // workers
    command = [sys.executable, __file__, "--floor-worker", str(each)]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    began = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
        proc.wait()
    return each * workers / (time.perf_counter() - began)


class TreeMemory(threading.Thread):
    """Samples the summed RSS and PSS of a process and all its descendants.

    Cheap on purpose, since it shares the CPUs it measures: RSS (a status read per process) every
    0.1 s, PSS (smaps_rollup walks page tables) every second.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = self.peak_pss = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        ticks = 0
        while not self.stopped.wait(0.1):
            tree = _descendants(self.pid) | {self.pid}
            self.peak_rss = max(self.peak_rss, sum(_kib(p, "status", "VmRSS:") for p in tree))
            if ticks % 10 == 0:
                pss = sum(_kib(p, "smaps_rollup", "Pss:") for p in tree)
                self.peak_pss = max(self.peak_pss, pss)
            ticks += 1


def _descendants(root: int) -> set[int]:
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                children = Path(f"/proc/{pid}/task/{thread}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _kib(pid: int, name: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure_batch(
    size: int, workers: int, scratch: Path, reports: str | None = None
) -> dict[str, float]:
    """(b) and (c) for one class size."""
    from fixtures.batch_class import distinct_class, write_stems

    source, out = scratch / f"class-{size}", scratch / f"out-{size}"
    write_stems(source, distinct_class(size))
    command = [
        sys.executable,
        "-m",
        "grader",
        "batch",
        str(source),
        "--out",
        str(out),
        "--workers",
        str(workers),
        *(["--reports", reports] if reports else []),
    ]
    began = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    memory = TreeMemory(proc.pid)
    memory.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - began
    memory.stopped.set()
    memory.join()
    final = stderr.strip().splitlines()[-1]
    if proc.returncode != 0 or f"{size} graded" not in final:
        raise SystemExit(f"batch of {size} failed ({proc.returncode}):\n{stderr}")
    grading_rate = float(re.findall(r"\(([\d.]+)/s\)", final)[-1])
    return {
        "size": size,
        "wall": wall,
        "end_to_end": size / wall,
        "grading": grading_rate,
        "rss_mb": memory.peak_rss / 1024,
        "pss_mb": memory.peak_pss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--reports", help="batch --reports (default: every format)")
    parser.add_argument("--floor-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_worker is not None:
        return floor_worker(args.floor_worker)
    floors = sorted(measure_floor(args.workers) for _ in range(FLOOR_REPEATS))
    floor = floors[len(floors) // 2]
    print(
        f"(a) floor, fork + tiny RNN forward, {args.workers} workers: {floor:.1f}/s"
        f" (median of {', '.join(f'{f:.1f}' for f in floors)})"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        for size in args.sizes:
            run = measure_batch(size, args.workers, Path(scratch), args.reports)
            runs.append(run)
            print(
                f"(b) batch of {size:5d}: {run['wall']:7.1f} s wall, "
                f"{run['end_to_end']:6.1f}/s end to end, {run['grading']:6.1f}/s grading; "
                f"(b)/(a) {run['grading'] / floor:6.1%}; "
                f"(c) peak tree RSS {run['rss_mb']:6.0f} MB, PSS {run['pss_mb']:6.0f} MB",
                flush=True,
            )
    per_submission = [r["wall"] / r["size"] for r in runs]
    print(
        "seconds per submission by size: "
        + ", ".join(
            f"{r['size']}: {s * 1000:.1f} ms" for r, s in zip(runs, per_submission, strict=True)
        )
    )
    print("targets: >= 50% of floor, >= 100/s, peak RSS < 1500 MB, linear cost")


if __name__ == "__main__":
    main()
