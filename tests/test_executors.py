"""The local process pool: every item exactly once, drawn as needed, errors carried back; the
pool prewarmed while the command imports is taken by a run of its size, else stopped."""

from __future__ import annotations

import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from expand.errors import WorkerLostError
from expand.exec import executors
from expand.exec.executors import ProcessPoolExecutor


def _pid_of(item: int) -> tuple[int, int]:
    return item, os.getpid()


def _fail_on_13(item: int) -> int:
    if item == 13:
        raise ValueError(f"item {item} is bad")
    return item


def test_every_item_comes_back_once_from_the_workers() -> None:
    with ProcessPoolExecutor(2, None, chunksize=3) as pool:
        results = list(pool.map_unordered(_pid_of, range(200)))
    assert sorted(item for item, _ in results) == list(range(200))
    assert os.getpid() not in {pid for _, pid in results}


def test_tasks_are_drawn_as_the_workers_need_them_not_all_at_once() -> None:
    drawn = []

    def items() -> Iterator[int]:
        for item in range(1000):
            drawn.append(item)
            yield item

    with ProcessPoolExecutor(2, None, chunksize=5) as pool:
        results = pool.map_unordered(_pid_of, items())
        first = next(results)
        # two chunks in flight per worker, and the one being handed on (its worker was sent
        # the next before its results came back)
        assert len(drawn) <= (2 * 2 + 1) * 5
        rest = list(results)
    assert sorted(item for item, _ in [first, *rest]) == list(range(1000))


def test_workers_exit_as_the_work_runs_out_and_a_pool_runs_one_map() -> None:
    """Each worker is told to exit once nothing is left for it, so that its exit overlaps what
    the caller does next (the manifest) instead of being waited for: the pool is used once."""
    with ProcessPoolExecutor(2, None, chunksize=2) as pool:
        results = list(pool.map_unordered(_pid_of, range(30)))
        for process in pool._processes:
            process.join(timeout=30)
            assert process.exitcode == 0  # exited on its own, the pool still open
        with pytest.raises(RuntimeError, match="runs one map"):
            list(pool.map_unordered(_pid_of, range(3)))
    assert sorted(item for item, _ in results) == list(range(30))
    assert not pool._processes


_LARGE_BOTH_WAYS = """
from expand.exec.executors import ProcessPoolExecutor

def answer(item: bytes) -> bytes:
    return item * 10

if __name__ == "__main__":
    items = [bytes([i]) * 30_000 for i in range(120)]
    with ProcessPoolExecutor(2, None, chunksize=16) as pool:
        assert sorted(pool.map_unordered(answer, items)) == sorted(i * 10 for i in items)
"""


def test_chunks_and_results_larger_than_the_pipe_do_not_deadlock(tmp_path: Path) -> None:
    """16 items of 30 kB a message (480 kB) and 300 kB answers: a message sent ahead to a busy
    worker filled the pipe, the parent waited on the worker, which waited to send its answer.
    Large chunks now wait until their worker is idle."""
    script = tmp_path / "large.py"
    script.write_text(_LARGE_BOTH_WAYS)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_workers_error_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="item 13 is bad"):
        with ProcessPoolExecutor(2, None, chunksize=1) as pool:
            list(pool.map_unordered(_fail_on_13, range(40)))


def _die_on_7(item: int) -> int:
    if item == 7:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return item


def test_a_worker_that_dies_stops_the_map_with_a_clear_error_not_a_hang() -> None:
    with pytest.raises(WorkerLostError, match=r"stopped unexpectedly \(killed by signal 9"), \
            ProcessPoolExecutor(2, None, chunksize=1) as pool:
        list(pool.map_unordered(_die_on_7, range(40)))
    assert not pool._processes  # the other worker was stopped too


class _Unpicklable(Exception):
    def __init__(self, item: int) -> None:
        super().__init__(f"item {item} carries a lock")
        self.lock = threading.Lock()


def _raise_unpicklable(item: int) -> int:
    raise _Unpicklable(item)


def test_an_error_that_cannot_be_pickled_still_reaches_the_caller_as_text() -> None:
    with pytest.raises(RuntimeError, match=r"_Unpicklable: item \d+ carries a lock"), \
            ProcessPoolExecutor(2, None, chunksize=1) as pool:
        list(pool.map_unordered(_raise_unpicklable, range(4)))


class _TwoArguments(Exception):
    def __init__(self, item: int, why: str) -> None:
        super().__init__(f"item {item}: {why}")  # args holds one value: cannot be rebuilt


def _raise_two_arguments(item: int) -> int:
    raise _TwoArguments(item, "rebuilt from one argument it fails")


def test_an_error_that_pickles_but_cannot_be_rebuilt_reaches_the_caller_as_text() -> None:
    with pytest.raises(RuntimeError, match=r"_TwoArguments: item \d+: rebuilt from one"), \
            ProcessPoolExecutor(2, None, chunksize=1) as pool:
        list(pool.map_unordered(_raise_two_arguments, range(4)))


def test_an_empty_task_list_gives_nothing() -> None:
    with ProcessPoolExecutor(2, None) as pool:
        assert list(pool.map_unordered(_pid_of, [])) == []


needs_forkserver = pytest.mark.skipif(executors.START_METHOD != "forkserver",
                                      reason="pools are prewarmed only with the forkserver")


@needs_forkserver
def test_a_prewarmed_pool_is_taken_by_a_run_of_its_size() -> None:
    executors.prestart()
    before = {child.pid for child in multiprocessing.active_children()}
    with executors.prewarmed(2):
        assert executors._warm is not None
        executors._warm.thread.join()
        warm = {child.pid for child in multiprocessing.active_children()} - before
        assert len(warm) == 2  # forked before any run asked for them
        pool = executors.take_prewarmed(2, chunksize=3)
        assert pool is not None and pool.workers == 2 and pool.chunksize == 3
        with pool:
            results = list(pool.map_unordered(_pid_of, range(50)))
        assert sorted(item for item, _ in results) == list(range(50))
        assert {pid for _, pid in results} <= warm  # those very workers did the work
        assert executors.take_prewarmed(2, chunksize=3) is None  # taken once


@needs_forkserver
def test_a_prewarmed_pool_of_another_size_or_not_taken_is_stopped() -> None:
    executors.prestart()
    before = set(multiprocessing.active_children())
    with executors.prewarmed(2):
        assert executors.take_prewarmed(3, chunksize=1) is None
        assert set(multiprocessing.active_children()) <= before
    with executors.prewarmed(2):
        assert executors._warm is not None
        executors._warm.thread.join()
        assert len(set(multiprocessing.active_children()) - before) == 2  # its two workers
    assert executors._warm is None  # the block owns it: gone as it ends
    assert set(multiprocessing.active_children()) <= before
    assert executors.take_prewarmed(2, chunksize=1) is None


_MAPPED = """
import ctypes, sys
import numpy as np
if sys.argv[1] == "init":
    from expand.run.worker import worker_init
    worker_init()

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Mallinfo2
block = np.ones(40 * 2**20, np.uint8)
print(mallinfo2().hblkhd)  # bytes in blocks mapped on their own, now
"""


_LIBC, _LIBC_VERSION = platform.libc_ver()


@pytest.mark.skipif(_LIBC != "glibc" or tuple(map(int, _LIBC_VERSION.split(".")[:2])) < (2, 33),
                    reason="mallopt is glibc's, mallinfo2 glibc 2.33's")
def test_a_worker_takes_large_buffers_from_the_heap_not_fresh_mappings() -> None:
    """glibc maps a block over 32 MB on its own (fresh pages, faulted in, each time); a worker
    takes it from the heap, where a freed one is reused."""
    mapped = {mode: int(subprocess.run([sys.executable, "-c", _MAPPED, mode], check=True,
                                       capture_output=True, text=True).stdout)
              for mode in ("init", "plain")}
    assert mapped["plain"] >= 40 * 2**20
    assert mapped["init"] < 40 * 2**20


def test_a_pool_worker_warms_up_without_writing_anything_and_a_serial_run_does_not(
        tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up renders in memory only: nothing lands in the working folder, NumPy's global
    random state is untouched. The main process (--workers
    1 runs the initialiser there) gains nothing from it and skips it."""
    script = ("import numpy as np, expand.run.worker as W\n"
              "before = np.random.get_state()[1].tobytes()\n"
              "W._warm_up()\n"
              "assert np.random.get_state()[1].tobytes() == before\n")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    assert not os.listdir(tmp_path)

    import cv2

    from expand.run import worker

    calls: list[None] = []
    monkeypatch.setattr(worker, "_warm_up", lambda: calls.append(None))
    # keep this test session's OpenCV threads and heap settings
    monkeypatch.setattr(cv2, "setNumThreads", lambda count: None)
    monkeypatch.setattr(worker, "_reuse_large_buffers", lambda: None)
    worker.worker_init()
    assert calls == []
