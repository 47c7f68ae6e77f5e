"""The local process pool: every item exactly once, errors carried back, and the main process
working while the workers start."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from expand.executors import ProcessPoolExecutor


def _pid_of(item: int) -> tuple[int, int]:
    return item, os.getpid()


def _slow_start() -> None:
    if multiprocessing.parent_process() is not None:
        time.sleep(1.0)  # a worker that takes a second to be ready


def _fail_on_13(item: int) -> int:
    if item == 13:
        raise ValueError(f"item {item} is bad")
    return item


def test_every_item_comes_back_once_and_the_main_process_works_while_workers_start() -> None:
    with ProcessPoolExecutor(2, _slow_start, chunksize=3) as pool:
        results = list(pool.map_unordered(_pid_of, range(200)))
    assert sorted(item for item, _ in results) == list(range(200))
    by_main = sum(pid == os.getpid() for _, pid in results)
    assert by_main > 0  # the workers slept: the main process did not wait for them
    assert by_main <= 200 - 2 * 2 * 3  # the chunks queued for the workers stay theirs


def test_a_workers_error_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="item 13 is bad"):
        with ProcessPoolExecutor(2, None, chunksize=1) as pool:
            list(pool.map_unordered(_fail_on_13, range(40)))


def test_an_empty_task_list_gives_nothing() -> None:
    with ProcessPoolExecutor(2, None) as pool:
        assert list(pool.map_unordered(_pid_of, [])) == []
