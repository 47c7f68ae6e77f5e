"""The Dask backend of the executor interface: the same per-source work, on an existing cluster or a
LocalCluster on 127.0.0.1. Imported only when `--scheduler` is given (dask is an install extra)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from types import TracebackType
from typing import Any, TypeVar

from expand.errors import ConfigError, EngineError

try:
    from distributed import Client, Future, KilledWorker, LocalCluster, as_completed
except ImportError as exc:  # the extra is not installed
    raise ConfigError("--scheduler needs Dask: pip install 'expand-images[dask]'") from exc

T = TypeVar("T")
R = TypeVar("R")

LOCAL = "local"
#: How long an existing cluster may take to have its first worker.
WORKER_WAIT_S = 60.0
#: Batches in flight per worker thread: enough to hide the scheduler's round trip (about 2 ms a
#: task), few enough that the client never holds millions of futures.
IN_FLIGHT_PER_THREAD = 3


def fingerprint() -> dict[str, Any]:
    """What decides the output bytes on a worker: this tool's version and its codec libraries."""
    from expand import __version__
    from expand.runner import library_versions

    return {"expand": __version__, **library_versions()}


def run_batch(fn: Callable[[T], R], items: list[T], expected: dict[str, Any]) -> list[R]:
    """Runs on a worker: refuse to write with other libraries than the client records in
    run.json (the bytes would differ), then one OpenCV thread per task slot, as in the pool."""
    import cv2

    found = fingerprint()
    if found != expected:
        differ = sorted(k for k in expected if found.get(k) != expected[k])
        raise EngineError("a Dask worker has other versions than this client ("
                          + ", ".join(f"{k} {found.get(k)} != {expected[k]}" for k in differ)
                          + "); install the same expand and libraries on every worker")
    cv2.setNumThreads(1)
    return [fn(item) for item in items]


def _batch_size(tasks: int, threads: int) -> int:
    """As the pool's chunksize: amortise the per-task overhead, keep the tail balanced."""
    return max(1, min(16, tasks // (max(1, threads) * 8)))


class DaskExecutor:
    """Maps a function over items on a Dask cluster; results stream back as they complete.

    `scheduler` is an address (tcp://HOST:PORT, tls://…) of a running scheduler, or "local" to
    start a LocalCluster of `workers` single-threaded processes bound to 127.0.0.1. Only the
    client writes the journal, manifest and run.json; the tasks write only their own outputs,
    under deterministic names, so a task that Dask retries after losing a worker rewrites the
    same bytes and its result still arrives once.
    """

    name = "dask"

    def __init__(self, scheduler: str, workers: int, tasks: int) -> None:
        self._cluster: LocalCluster | None = None
        self._futures: set[Future] = set()
        try:
            if scheduler == LOCAL:
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                             processes=True, host="127.0.0.1",
                                             dashboard_address="127.0.0.1:0",
                                             silence_logs=logging.ERROR)
                self._client = Client(self._cluster, set_as_default=False)
            else:
                self._client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._shutdown()
            raise EngineError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            if not self._client.nthreads():
                self._client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (OSError, TimeoutError):
            self._shutdown()
            raise EngineError(f"the Dask scheduler at {scheduler} has no workers (waited "
                              f"{WORKER_WAIT_S:.0f} s)") from None
        self.workers = sum(self._client.nthreads().values())
        self._scheduler = scheduler
        self._batch = _batch_size(tasks, self.workers)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        expected = fingerprint()
        iterator = iter(items)
        batches = iter(lambda: list(islice(iterator, self._batch)), [])
        window = max(4, self.workers * IN_FLIGHT_PER_THREAD)
        pending = as_completed(loop=self._client.loop)
        for batch in islice(batches, window):
            pending.add(self._submit(fn, batch, expected))
        for future in pending:
            try:
                results = future.result()
            except KilledWorker as exc:
                raise EngineError(f"Dask gave up on a task after it killed workers ({exc}); "
                                  "the outputs written so far are kept: run again to resume") \
                    from None
            except OSError as exc:
                raise EngineError(f"lost the Dask scheduler at {self._scheduler}: {exc}") from None
            self._futures.discard(future)
            future.release()
            batch = next(batches, None)
            if batch is not None:
                pending.add(self._submit(fn, batch, expected))
            yield from results

    def _submit(self, fn: Callable[[T], R], batch: list[T], expected: dict[str, Any]) -> Future:
        future = self._client.submit(run_batch, fn, batch, expected, pure=False)
        self._futures.add(future)
        return future

    def _shutdown(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            if self._futures:
                client.cancel(list(self._futures))
            client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._shutdown()
