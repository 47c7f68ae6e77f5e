"""The Dask backend of the executor interface: the same per-source work, on an existing cluster or a
LocalCluster on 127.0.0.1. Imported only when `--scheduler` is given (dask is an install extra)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from types import TracebackType
from typing import Any, TypeVar

from expand.errors import ConfigError, EngineError
from expand.exec.execution import LOCAL_CLUSTER, Workload

try:
    from distributed import Client, Future, KilledWorker, LocalCluster, as_completed
except ImportError as exc:  # the extra is not installed
    raise ConfigError("--scheduler needs Dask: pip install 'expand-images[dask]'") from exc

T = TypeVar("T")
R = TypeVar("R")

#: How long an existing cluster may take to have its first worker.
WORKER_WAIT_S = 60.0
#: How long the first contact with a named scheduler may take (distributed's default is 30 s of
#: retries): a wrong address or a scheduler that is down is said after this, not half a minute.
CONNECT_S = 5.0
#: Batches in flight per worker thread: enough to hide the scheduler's round trip on every task,
#: few enough that the client never holds millions of futures.
IN_FLIGHT_PER_THREAD = 3


def fingerprint() -> dict[str, Any]:
    """What decides the output bytes on a worker: this tool's version and its codec libraries."""
    from expand import __version__
    from expand.io.codec import library_versions

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


def _batch_size(workload: Workload, threads: int) -> int:
    """Amortise Dask's per-task cost, keep the tail balanced: at least 8 batches a thread. Its
    own rule: the local pool (executors.pool_chunksize) weighs a message by its work
    (_CHUNK_MS) instead, as its messages cost less."""
    return max(1, min(16, workload.tasks // (max(1, threads) * 8)))


def _local_cluster(workers: int) -> LocalCluster:
    """Single-threaded worker processes on 127.0.0.1 (HTTP server too). Ctrl-C is the client's
    to handle, as with the pool: the workers are started with SIGINT ignored (an ignored signal
    stays ignored in a spawned child), so they print no traceback, and the client stops them."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address="127.0.0.1:0",
                            silence_logs=logging.ERROR)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed logs the connections that a forced stop breaks, with tracebacks, at INFO (seen
    after a Ctrl-C): they say nothing to the user, whose run stopped as asked."""
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


class DaskExecutor:
    """Maps a function over items on a Dask cluster; results stream back as they complete.

    `scheduler` is an address (tcp://HOST:PORT, tls://…) of a running scheduler, or "local" to
    start a LocalCluster of `workers` single-threaded processes bound to 127.0.0.1. Only the
    client writes the journal, manifest and run.json; the tasks write only their own outputs,
    under deterministic names, so a task that Dask retries after losing a worker rewrites the
    same bytes and its result still arrives once.
    """

    name = "dask"

    def __init__(self, scheduler: str, workers: int, workload: Workload) -> None:
        self._cluster: LocalCluster | None = None
        self._futures: set[Future[list[Any]]] = set()
        try:
            if scheduler == LOCAL_CLUSTER:
                self._cluster = _local_cluster(workers)
                self._client = Client(self._cluster, set_as_default=False)
            else:
                self._client = Client(scheduler, set_as_default=False, timeout=CONNECT_S)
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
        self._batch = _batch_size(workload, self.workers)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        expected = fingerprint()
        iterator = iter(items)
        batches: Iterator[list[T]] = iter(lambda: list(islice(iterator, self._batch)), [])
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
            for batch in islice(batches, 1):  # the next batch, if any
                pending.add(self._submit(fn, batch, expected))
            yield from results

    def _submit(self, fn: Callable[[T], R], batch: list[T],
                expected: dict[str, Any]) -> Future[list[Any]]:
        future = self._client.submit(run_batch, fn, batch, expected, pure=False)
        self._futures.add(future)
        return future

    def _shutdown(self, at_once: bool = False) -> None:
        """Cancel what is left and disconnect; a LocalCluster of ours is closed too. `at_once`
        (an error or Ctrl-C) kills its worker processes first: a graceful close would wait for
        the running tasks, and their outputs are not wanted any more (a resume redoes them)."""
        with _quiet_distributed() if at_once else contextlib.nullcontext():
            self._close(at_once)

    def _close(self, at_once: bool) -> None:
        client = getattr(self, "_client", None)
        pids: dict[str, int] = {}
        if client is not None:
            if self._futures:
                client.cancel(list(self._futures))
            if at_once and self._cluster is not None:
                try:
                    pids = client.run(os.getpid)
                except (OSError, TimeoutError):
                    pids = {}
            client.close()
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._shutdown(at_once=exc_type is not None)
