"""Running a command and sampling the memory of its whole process tree (the benchmarks' one way
to state peak RSS of a build: its driver, each worker, all of them at once)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil


def measure(cmd: list[str], cwd: Path) -> dict:
    """Run `cmd`; wall seconds, exit code and peak RSS (bytes) of the root process, of each
    other process, and of the whole tree at any one time; and the root's RSS over time
    (`driver_timeline`: [seconds since start, bytes], every 0.5 s)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    tree_peak = 0
    timeline: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    try:
                        rss = p.memory_info().rss
                    except psutil.Error:
                        continue
                    peaks[p.pid] = max(peaks.get(p.pid, 0), rss)
                    total += rss
                    if p.pid == proc.pid:
                        timeline.append((round(time.perf_counter() - t0, 1), rss))
                tree_peak = max(tree_peak, total)
            except psutil.Error:
                pass
            done.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    driver = peaks.pop(proc.pid, 0)
    return {"seconds": time.perf_counter() - t0, "code": proc.returncode, "stderr": err, "driver": driver,
            "worker": max(peaks.values(), default=0), "tree": tree_peak, "driver_timeline": timeline}
