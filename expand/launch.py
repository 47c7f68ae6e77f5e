"""The `expand` command's first step: start the worker pool, then import and run the CLI.

A run with several workers needs a process pool, whose workers import NumPy and OpenCV.
Started here, before the CLI's own imports, the forkserver does that on another core while this
process imports, and a thread forks the pool's workers from it: the pool is ready when the run's
first task is. Nothing is started for a coreutils hand-over, shell completion, help, version, a
dry run, another subcommand, one worker or another backend; a pool that the run does not take
is stopped before the command exits.
"""

from __future__ import annotations

import os
import signal
import sys


def _pool_size(args: list[str]) -> int | None:
    """The local pool's size, when this command runs one."""
    from expand.coreutils import is_coreutils_call
    from expand.exec.execution import ExecutorSpec

    if os.environ.get("_EXPAND_COMPLETE") or is_coreutils_call(args, sys.stdin.isatty()):
        return None
    if any(a in ("-h", "--help", "--version", "--dry-run") for a in args):
        return None  # nothing to run
    if args and args[0] in ("preview", "inspect", "replay", "config"):
        return None
    spec = ExecutorSpec.from_argv(args)
    return None if spec is None else spec.local_pool  # None: the CLI refuses it, or no pool


def _one_blas_thread() -> None:
    """NumPy's OpenBLAS and OpenCV's own copy of it each start a thread per extra core at import,
    which then spins (sched_yield) waiting for work: in this process, in the forkserver and so
    beside the run's workers, on the cores they need. A worker is one core by design (OpenCV
    runs one thread there too), so the command's processes (this one and, by inheritance, its
    workers) run OpenBLAS on one thread; a user's own setting is kept. Only the command does
    this: a library caller's process and the children it starts are theirs to set."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point (`expand`, `python -m expand`).

    From the first line on, SIGTERM stops the command as Ctrl-C does, and an interrupt that lands
    before the run's own handling (while the CLI imports, or the pool starts) ends it with 130 and
    one line, never a traceback. A hand-over to coreutils' expand replaces this process, which
    resets the handler."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _one_blas_thread()  # before anything imports NumPy or OpenCV
        from expand.exec import executors  # light: multiprocessing only

        with executors.prewarmed(_pool_size(sys.argv[1:])):
            from expand.cli import main as cli_main

            cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("expand: interrupted\n")
        sys.exit(130)  # errors.EXIT_INTERRUPTED, without importing anything more
