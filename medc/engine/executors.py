"""Executors run independent shard tasks; they know nothing about what a task does.

`LocalExecutor` runs them in this process (`workers=1`) or in a pool of worker processes
(spawned, so that polars/pyarrow thread pools are never forked); `RayExecutor` runs them
as Ray tasks. Results come back as they complete; the caller sorts them by shard, so
completion order never reaches output.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from medc.errors import UserError

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LocalExecutor:
    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """Results as tasks complete. A worker process that dies (killed, out of memory) breaks
        the pool: the tasks not yet done are run again once in a new pool, then it is an error."""
        todo = dict(enumerate(tasks))  # task number -> task, until its result is yielded
        if self.workers <= 1 or len(todo) <= 1:
            for task in todo.values():
                yield fn(task)
            return
        for attempt in range(2):
            try:
                yield from self._pool_map(fn, todo)
                return
            except BrokenProcessPool:
                if attempt:
                    raise UserError("a worker process died twice while running the same shards (out of memory? "
                                    "try fewer --workers or a smaller build.files_per_shard)") from None
                print(f"note: a worker process died; {len(todo)} unfinished task(s) run again", file=sys.stderr)

    def _pool_map(self, fn: Callable[[T], R], todo: dict[int, T]) -> Iterator[R]:
        """Run the tasks of `todo` in a process pool; a task leaves `todo` once its result is yielded."""
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(todo)), mp_context=ctx) as pool:
            pending: dict[Future[Any], int] = {}
            queue = iter(list(todo))
            # Keep at most 2x workers tasks in flight, so huge task lists are not all pickled up front.
            for number in queue:
                pending[pool.submit(fn, todo[number])] = number
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    number = pending.pop(fut)
                    result = fut.result()
                    del todo[number]
                    yield result
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(fn, todo[nxt])] = nxt


class RayExecutor:
    """Runs shard tasks as Ray tasks, on a local Ray instance or on a cluster.

    `address=None` starts a local Ray instance with `workers` CPUs (like `LocalExecutor`);
    `"auto"` or `"HOST:PORT"` joins a running cluster (`ray start --head`). Every node must
    have medc installed and see the same storage paths (see the README). A task whose worker
    dies (node lost, OOM kill) is retried by Ray up to `max_retries` times; shard outputs are
    written atomically under a fixed name, so a retry rewrites the same file and rows are
    never duplicated or lost. Exceptions raised by the task itself are not retried: they are
    bugs or usage errors and surface in the driver.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3):
        # Under `uv run`, Ray would otherwise package the working folder and build a new
        # virtual environment for every worker; medc is installed on each node instead (README).
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is in the test environment
            raise UserError("--executor ray needs Ray: pip install 'medc[ray]'") from exc
        self._ray = ray
        self.max_retries = max_retries
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": True}
            if address is None:
                kwargs["num_cpus"] = workers or default_workers()
            ray.init(address=address, **kwargs)
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        # With --workers, at most that many tasks run at once; by default the cluster's CPUs,
        # with as many again queued so that no CPU waits for the driver.
        self.workers = min(workers, cluster_cpus) if workers else cluster_cpus
        self.in_flight = self.workers if workers else 2 * cluster_cpus

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(fn)
        queue = iter(tasks)
        pending = []
        for task in queue:
            pending.append(remote.remote(task))
            if len(pending) >= self.in_flight:
                break
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(remote.remote(nxt))


def make_executor(kind: str = "local", workers: int | None = None, address: str | None = None) -> LocalExecutor | RayExecutor:
    if kind == "ray":
        return RayExecutor(address=address, workers=workers)
    if kind != "local":
        raise UserError(f"unknown executor {kind!r} (local, ray)")
    return LocalExecutor(workers)
