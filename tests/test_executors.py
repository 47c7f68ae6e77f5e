"""The local process pool: every item exactly once, drawn as needed, errors carried back; the
pool prewarmed while the command imports is taken by a run of its size, else stopped."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator

import pytest

from expand import executors
from expand.executors import ProcessPoolExecutor


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
        assert len(drawn) <= 2 * 2 * 5  # two chunks in flight per worker
        rest = list(results)
    assert sorted(item for item, _ in [first, *rest]) == list(range(1000))


def test_a_workers_error_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="item 13 is bad"):
        with ProcessPoolExecutor(2, None, chunksize=1) as pool:
            list(pool.map_unordered(_fail_on_13, range(40)))


def test_an_empty_task_list_gives_nothing() -> None:
    with ProcessPoolExecutor(2, None) as pool:
        assert list(pool.map_unordered(_pid_of, [])) == []


needs_forkserver = pytest.mark.skipif(executors.START_METHOD != "forkserver",
                                      reason="pools are prewarmed only with the forkserver")


@needs_forkserver
def test_a_prewarmed_pool_is_taken_by_a_run_of_its_size() -> None:
    executors.prestart()
    executors.prewarm(2)
    pool = executors.take_prewarmed(2, chunksize=3)
    assert pool is not None and pool.workers == 2 and pool.chunksize == 3
    with pool:
        results = list(pool.map_unordered(_pid_of, range(50)))
    assert sorted(item for item, _ in results) == list(range(50))
    assert len({pid for _, pid in results} - {os.getpid()}) >= 1
    assert executors.take_prewarmed(2, chunksize=3) is None  # taken once


@needs_forkserver
def test_a_prewarmed_pool_of_another_size_or_not_taken_is_stopped() -> None:
    executors.prestart()
    before = set(multiprocessing.active_children())
    executors.prewarm(2)
    assert executors.take_prewarmed(3, chunksize=1) is None
    assert set(multiprocessing.active_children()) <= before
    executors.prewarm(2)
    executors._WARM[0].thread.join()
    assert len(set(multiprocessing.active_children()) - before) == 2  # its two workers
    executors.discard_prewarmed()
    assert set(multiprocessing.active_children()) <= before
    assert executors.take_prewarmed(2, chunksize=1) is None
