"""The `expand` command's first step: start the worker server, then import and run the CLI.

A run with several workers needs a process pool, whose workers import NumPy and OpenCV (about
0.2 s). Started here, before the CLI's own imports, the forkserver does that on another core
while this process imports; the pool is then ready when the run reaches it. Nothing is started
for a coreutils hand-over, shell completion, help, version, a dry run, another subcommand, one
worker or a Dask scheduler.
"""

from __future__ import annotations

import os
import sys


def _runs_a_pool(args: list[str]) -> bool:
    from expand.coreutils import is_coreutils_call
    from expand.executors import available_cpus

    if os.environ.get("_EXPAND_COMPLETE") or is_coreutils_call(args, sys.stdin.isatty()):
        return False
    if any(a in ("-h", "--help", "--version", "--dry-run", "--scheduler")
           or a.startswith("--scheduler=") for a in args):
        return False  # nothing to run, or Dask runs it
    if args and args[0] in ("preview", "inspect", "replay", "config"):
        return False
    workers: str | None = None
    for i, arg in enumerate(args):
        if arg == "--workers" and i + 1 < len(args):
            workers = args[i + 1]
        elif arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
    if workers is None:
        return available_cpus() > 1
    return workers.isdigit() and int(workers) > 1


def main() -> None:
    """Console entry point (`expand`, `python -m expand`)."""
    if _runs_a_pool(sys.argv[1:]):
        from expand.executors import prestart

        prestart()
    from expand.cli import main as cli_main

    cli_main()
