"""Where tasks run, described once: an ExecutorSpec (from --workers and --scheduler), the Workload
a backend batches by, and the Executor protocol every backend implements.

Light on purpose (no NumPy, no multiprocessing pool, no Dask): the command's first step and the
CLI read it before anything heavy is imported. The backends, executors.py (in this process, or a
local pool) and dask_executor.py, import this module; backends.open_executor picks one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

from expand.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: The scheduler address that starts a LocalCluster on 127.0.0.1 instead of joining one.
LOCAL_CLUSTER = "local"
#: A LocalCluster's size when --workers is not given (a local pool takes every CPU instead).
LOCAL_CLUSTER_WORKERS = 2
#: Workers a run may start per CPU of the machine (os.cpu_count, not the affinity: a pool larger
#: than the CPUs it may use is allowed, only slower).
WORKERS_PER_CPU = 4


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroup_quota() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
    return None


def max_workers() -> int:
    """The most workers a run may start: more only adds start-up time and memory, and a typo of
    a few digits would fork without end."""
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where a run's tasks go: `workers` processes on this machine (1: in this process), or the
    Dask cluster at `scheduler` ("local": a LocalCluster of `workers` processes; an address: an
    existing cluster, whose own size counts, `workers` is 1)."""

    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int):
            raise ConfigError(f"workers: expected a whole number, got {self.workers!r}")
        if not 1 <= self.workers <= max_workers():
            raise ConfigError(f"workers: must be between 1 and {max_workers()}, "
                              f"got {self.workers}")
        if self.scheduler is not None and self.scheduler != LOCAL_CLUSTER and \
                ":" not in self.scheduler:
            raise ConfigError(f"scheduler: expected '{LOCAL_CLUSTER}' or a scheduler address "
                              f"such as tcp://HOST:8786, got {self.scheduler!r}")

    @classmethod
    def parse(cls, workers: int | None, scheduler: str | None) -> ExecutorSpec:
        """The spec of --workers and --scheduler as given (None: not given).

        Raises:
            ConfigError: --workers with the address of an existing cluster, or a bad value.
        """
        if scheduler is None:
            return cls(workers if workers is not None else available_cpus())
        if scheduler == LOCAL_CLUSTER:
            return cls(workers if workers is not None else LOCAL_CLUSTER_WORKERS, scheduler)
        if workers is not None:
            raise ConfigError("--workers: an existing Dask cluster decides how many workers run; "
                              "leave --workers out with --scheduler ADDRESS")
        return cls(1, scheduler)

    @classmethod
    def from_argv(cls, args: Sequence[str]) -> ExecutorSpec | None:
        """The spec a command line names, read before the CLI parses it (launch.py starts a
        local pool early); None when its options are not usable as they stand."""
        given: dict[str, str] = {}
        for i, arg in enumerate(args):
            for option in ("--workers", "--scheduler"):
                if arg == option and i + 1 < len(args):
                    given[option] = args[i + 1]
                elif arg.startswith(option + "="):
                    given[option] = arg.split("=", 1)[1]
        text = given.get("--workers")
        if text is not None and not (text.isdigit() and len(text) < 10):
            return None
        try:
            return cls.parse(None if text is None else int(text), given.get("--scheduler"))
        except ConfigError:
            return None  # the CLI refuses it

    @property
    def local_pool(self) -> int | None:
        """The size of the process pool of this machine that runs the tasks, if one does."""
        return self.workers if self.scheduler is None and self.workers > 1 else None

    @property
    def elsewhere(self) -> bool:
        """Tasks may run in another working folder (a cluster's workers): local paths they carry
        must be absolute."""
        return self.scheduler is not None


@dataclass(frozen=True)
class Workload:
    """What a backend batches by: how many tasks a run maps, and what one costs a worker."""

    tasks: int
    task_ms: float


class Executor(Protocol):
    """Maps a top-level function over picklable items, once; results come back in any order.
    A context manager: leaving it on an error stops the workers at once."""

    name: str
    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
