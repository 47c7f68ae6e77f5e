"""The local backend of execution.Executor: in this process, or a pool of worker processes fed
over pipes, batched by the work a message carries."""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing
import multiprocessing.spawn
import pickle
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from types import TracebackType
from typing import Any, TypeVar

from expand.errors import WorkerLostError
from expand.exec.execution import Workload

T = TypeVar("T")
R = TypeVar("R")

# Workers start from a clean interpreter: no threads (tqdm's monitor, OpenCV's pool) or locks
# inherited from the parent. forkserver gives that (Linux, macOS) at half of spawn's start-up: one
# server process imports the workers' modules once (NumPy, OpenCV) and forks each worker from
# itself. spawn elsewhere (Windows). Outputs do not depend on it (tested). Only expand's own
# modules are loaded there, never the caller's main module: a plain script calling
# expand_dataset without an `if __name__ == "__main__":` guard would run again in them.
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
FORKSERVER_PRELOAD = ["expand.run.worker"]
#: The name of the workers of a run, which leave the main module out (see _main_left_out).
WORKER_NAME = "expand-worker"


def _forkserver_context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORKSERVER_PRELOAD)
    return context


def _main_left_out(get: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """multiprocessing's preparation data for a new process, without the main module for a
    run's workers (named WORKER_NAME): what they run lives in expand's modules, and
    multiprocessing would otherwise run the caller's script again in each of them (as
    `__mp_main__`). Other processes (a pool mapping a function of the main module, the caller's
    own) are prepared as before."""

    def preparation_data(name: str) -> dict[str, Any]:
        data = get(name)
        if name == WORKER_NAME:
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    preparation_data.__wrapped__ = get  # type: ignore[attr-defined]
    return preparation_data


def _leave_main_out() -> None:
    """Install _main_left_out once (spawn's and forkserver's Popen both ask this function)."""
    if not hasattr(multiprocessing.spawn.get_preparation_data, "__wrapped__"):
        setattr(multiprocessing.spawn, "get_preparation_data",  # noqa: B010  (typed as a def)
                _main_left_out(multiprocessing.spawn.get_preparation_data))


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Processes started meanwhile begin with SIGINT ignored (kept across exec; the forkserver
    passes it on to the workers it forks), so a Ctrl-C that lands while a worker is still starting
    cannot print its traceback; the parent stops the pool instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def prestart() -> None:
    """Start the forkserver now, if it is the start method: it imports the workers' modules while
    the caller goes on (a pool created later forks its workers at once)."""
    if START_METHOD == "forkserver":
        import multiprocessing.forkserver

        _forkserver_context()
        with _sigint_ignored():
            multiprocessing.forkserver.ensure_running()


class SerialExecutor:
    """Runs in this process: for --workers 1, debugging and coverage."""

    name = "serial"
    workers = 1

    def __init__(self, initializer: Callable[[], None] | None = None) -> None:
        if initializer is not None:
            initializer()

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class _Failed:
    """A chunk's exception, carried back from a worker."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _carried(error: BaseException) -> _Failed:
    """The error itself when it survives pickling (both ways: an exception whose __init__ takes
    other arguments than its args pickles but cannot be rebuilt), else its text in a
    RuntimeError."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001  (any failure: its text still gets through)
        return _Failed(RuntimeError(f"{type(error).__name__}: {error}"))
    return _Failed(error)


def _serve(connection: Connection, initializer: Callable[[], None] | None) -> None:
    """A worker's loop: a chunk in, its results (or its error) out, until told to stop or the
    parent is gone (its end of the pipe closed)."""
    if initializer is not None:
        initializer()
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, chunk = message
        try:
            outcome: list[Any] | _Failed = [fn(item) for item in chunk]
        except Exception as exc:  # noqa: BLE001  (raised again in the parent)
            outcome = _carried(exc)
        try:
            try:
                connection.send(outcome)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                connection.send(_carried(exc))
        except OSError:
            return


#: The largest chunk sent to a worker that is still busy (pickled bytes): at most a quarter of the
#: pipe's buffer (a socket's SO_SNDBUF, smaller on some systems), and well above a usual chunk
#: (the config is pickled once a chunk). A larger one (the runner's tasks stay below it; another
#: caller's items may not) waits until its worker is idle and reading.
_AHEAD_BYTES = 32 * 1024


def _ahead_bytes(connection: Connection) -> int:
    try:
        with socket.fromfd(connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as end:
            buffer = end.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    except (OSError, AttributeError, ValueError):
        buffer = 8 * 1024  # not a socket (Windows' pipes): assume a small buffer
    return min(_AHEAD_BYTES, buffer // 4)


class ProcessPoolExecutor:
    """A local pool of worker processes, each fed chunks of items over its own pipe.

    Not multiprocessing.Pool: its three helper threads and shared queues cost the parent CPU on
    every message, which on few cores is taken from the workers. At most two chunks per worker
    are in flight, so a run of millions of sources never holds them all, and a worker never
    waits for its next chunk; the second is sent only if it fits in the pipe's buffer
    (_AHEAD_BYTES), so a send never waits on a worker that is itself waiting to send its
    results. On an error or Ctrl-C the workers are terminated at once; a worker that dies
    (killed, out of memory) stops the map with WorkerLostError instead of leaving it waiting.
    """

    name = "process-pool"

    def __init__(self, workers: int, initializer: Callable[[], None] | None = None,
                 chunksize: int = 4, start_method: str = START_METHOD,
                 cancelled: threading.Event | None = None, main_module: bool = True) -> None:
        """`main_module`: whether the workers import the caller's main module, as
        multiprocessing does (so that a function of it can be mapped); a run maps only
        expand's functions and leaves it out, so that a plain script works. `cancelled`: set,
        it stops the start between two workers."""
        self.workers = workers
        self.chunksize = chunksize
        # typed as the base class, which does not declare Process; every concrete one has it
        context: Any = _forkserver_context() if start_method == "forkserver" else \
            multiprocessing.get_context(start_method)
        self._processes: list[BaseProcess] = []
        self._connections: list[Connection] = []
        self._pending: list[int] = []  # chunks sent to each worker and not yet answered
        self._released: set[int] = set()  # workers told to exit
        self._ahead_bytes = _AHEAD_BYTES
        _leave_main_out()
        with _sigint_ignored():
            if start_method == "forkserver":
                prestart()
            try:
                for _ in range(workers):
                    if cancelled is not None and cancelled.is_set():
                        raise _Cancelled  # the command is ending: fork no more
                    ours, theirs = context.Pipe()
                    process = context.Process(target=_serve, args=(theirs, initializer),
                                              daemon=True,
                                              name="expand-pool" if main_module else WORKER_NAME)
                    process.start()
                    theirs.close()
                    self._processes.append(process)
                    self._connections.append(ours)
                    self._ahead_bytes = min(self._ahead_bytes, _ahead_bytes(ours))
            except BaseException:
                self.stop(at_once=True)
                raise

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self._released:
            raise RuntimeError("a process pool runs one map: its workers exit as it ends")
        iterator = iter(items)
        pending = self._pending = [0] * self.workers
        held: dict[int, memoryview] = {}  # a chunk too large to send before its worker is idle

        def top_up(worker: int) -> None:
            """Keep two chunks with each worker: one it works on, one waiting in the pipe. The
            waiting one is sent only when it fits in the pipe's buffer: a send that waited on a
            busy worker, itself waiting to send its results, would never end."""
            while pending[worker] < 2:
                message = held.pop(worker, None)
                if message is None:
                    chunk = list(itertools.islice(iterator, self.chunksize))
                    if not chunk:
                        if not pending[worker]:
                            self._release(worker)
                        return
                    message = ForkingPickler.dumps((fn, chunk))
                if pending[worker] and len(message) > self._ahead_bytes:
                    held[worker] = message
                    return
                try:
                    self._connections[worker].send_bytes(message)
                except OSError:
                    raise self._lost(worker) from None
                pending[worker] += 1

        for worker in range(self.workers):
            top_up(worker)
        while any(pending):
            busy = [w for w, count in enumerate(pending) if count]
            ready = set(wait([self._connections[w] for w in busy] +
                             [self._processes[w].sentinel for w in busy]))
            for worker in busy:
                connection = self._connections[worker]
                if connection not in ready:
                    if self._processes[worker].sentinel in ready:
                        raise self._lost(worker)
                    continue
                try:
                    outcome = connection.recv()
                except (EOFError, OSError):
                    raise self._lost(worker) from None
                pending[worker] -= 1
                if isinstance(outcome, _Failed):
                    raise outcome.error
                top_up(worker)  # before the results are handed on: the worker is never idle
                yield from outcome

    def _lost(self, worker: int) -> WorkerLostError:
        process = self._processes[worker]
        process.join(timeout=1.0)
        code = process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else \
            f"exit code {code}" if code is not None else "no longer answering"
        return WorkerLostError(f"a worker process stopped unexpectedly ({how}; out of memory?); "
                               "run the same command again to resume")

    def __enter__(self) -> ProcessPoolExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop(at_once=exc_type is not None)

    def _release(self, worker: int) -> None:
        """Tell a worker with nothing left to do to exit. Sent as soon as the work runs out, so
        that its exit (mostly the kernel unmapping NumPy's and OpenCV's pages) overlaps the
        other workers' last chunks and the caller's own finishing."""
        if worker not in self._released:
            self._released.add(worker)
            with contextlib.suppress(OSError):
                self._connections[worker].send(None)

    def stop(self, at_once: bool) -> None:
        """Wait for the workers to finish, or terminate them `at_once` (also when chunks are
        still in flight: nobody is left to take their results)."""
        at_once = at_once or any(self._pending)
        for worker, process in enumerate(self._processes):
            if at_once:
                process.terminate()
            else:
                self._release(worker)
        for connection, process in zip(self._connections, self._processes):
            process.join()
            connection.close()
        self._processes, self._connections, self._pending = [], [], []
        self._released = set()


class _Cancelled(Exception):
    """A pool's start was called off (its workers started so far are stopped)."""


class _Warm:
    """A pool being started on a thread while the `expand` command imports (launch.py); a
    command that ends meanwhile (an error, SIGTERM) calls the start off between two forks."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._start, name="expand-warm-pool", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.pool = ProcessPoolExecutor(self.workers, _worker_init, cancelled=self.cancelled,
                                            main_module=False)
        except Exception:  # noqa: BLE001  (the run makes its own pool, and reports its error)
            self.pool = None

    def take(self) -> ProcessPoolExecutor | None:
        self.thread.join()
        pool, self.pool = self.pool, None
        return pool


#: The pool being started for the run, while `prewarmed`'s block runs (set and cleared there).
_warm: _Warm | None = None


def _worker_init() -> None:
    from expand.run.worker import worker_init  # preloaded by the forkserver: no import cost here

    worker_init()


@contextmanager
def prewarmed(workers: int | None) -> Iterator[None]:
    """While the block runs, a pool of `workers` (None: none) is started on a thread for the run
    to take (open_local): forking the workers, and each worker's start, overlap the command's
    own imports instead of delaying its first task. Only with the forkserver. A pool no run
    took is stopped as the block ends (the command failed or did something else)."""
    global _warm
    if workers is not None and START_METHOD == "forkserver" and _warm is None:
        prestart()
        _warm = _Warm(workers)
    try:
        yield
    finally:
        warm, _warm = _warm, None
        if warm is not None:
            warm.cancelled.set()
            pool = warm.take()
            if pool is not None:
                pool.stop(at_once=True)


def take_prewarmed(workers: int, chunksize: int) -> ProcessPoolExecutor | None:
    """The prewarmed pool, if there is one of this size (one of another size is stopped)."""
    global _warm
    if _warm is None:
        return None
    pool, _warm = _warm.take(), None
    if pool is not None and pool.workers != workers:
        pool.stop(at_once=True)
        return None
    if pool is not None:
        pool.chunksize = chunksize
    return pool


#: Work per message to a worker (ms, in Workload.task_ms's units): enough that the fixed cost of a
#: message and its answer is a small part of it (measurements: docs/performance.md, git log).
_CHUNK_MS = 20.0


def pool_chunksize(workload: Workload, workers: int) -> int:
    """Tasks per message to a worker: about _CHUNK_MS of work, and at least 6 messages per
    worker so that the last ones balance the tail. A source of usual size with several copies is
    a long task by itself, so most runs send only a few at a time."""
    wanted = math.ceil(_CHUNK_MS / max(workload.task_ms, 1e-3))
    return max(1, min(16, wanted, workload.tasks // (workers * 6)))


def open_local(workers: int, workload: Workload) -> SerialExecutor | ProcessPoolExecutor:
    """A run's local executor: in this process for one worker, else the prewarmed pool or a new
    one; its workers map expand's own functions (the main module left out)."""
    if workers == 1:
        return SerialExecutor(_worker_init)
    chunksize = pool_chunksize(workload, workers)
    return take_prewarmed(workers, chunksize) or \
        ProcessPoolExecutor(workers, _worker_init, chunksize, main_module=False)
