"""The one place a backend is chosen: an ExecutorSpec opens the local pool or a Dask client."""

from __future__ import annotations

from expand.exec.execution import Executor, ExecutorSpec, Workload


def check_backend(spec: ExecutorSpec) -> None:
    """Import the spec's backend now, so that a missing install extra is a ConfigError before
    any work.

    Raises:
        ConfigError: Dask is named and not installed.
    """
    if spec.scheduler is not None:
        import expand.exec.dask_executor  # noqa: F401


def open_executor(spec: ExecutorSpec, workload: Workload) -> Executor:
    """The executor of `spec`, batching `workload` its own way (a local pool by the work in a
    message, Dask by its per-task cost); a pool that launch.py prewarmed is taken when it fits.

    Raises:
        ConfigError: the backend's install extra is missing.
        EngineError: the Dask scheduler cannot be reached or has no workers.
    """
    if spec.scheduler is not None:
        from expand.exec.dask_executor import DaskExecutor  # dask is an extra: imported only here

        return DaskExecutor(spec.scheduler, spec.workers, workload)
    from expand.exec.executors import open_local

    return open_local(spec.workers, workload)
