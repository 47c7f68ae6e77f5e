"""DIR's layout: output names, the manifest and run files, the lock, and what DIR may already hold."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from expand.errors import DatasetLayoutError, LockHeldError

MANIFEST = "metadata.jsonl"
RUN_FILE = "run.json"
STATE_PREFIX = ".expand"  # lock and spool files at DIR's top; never images, never classes
LOCK_FILE = f"{STATE_PREFIX}.lock"
TOOL_NAME = "expand"


def copy_name(source_name: str, copy: int, extension: str) -> str:
    """`circle001.png__aug0003.png`: the source's full name (a.png and a.jpg never collide) and a
    copy index that does not depend on --copies."""
    return f"{source_name}__aug{copy:04d}{extension}"


def original_name(source_name: str, extension: str) -> str:
    return f"{source_name}__orig{extension}"


def read_run_file(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL_NAME else None


def check_output_location(src: Path, out: Path) -> None:
    """Refuse DIR inside SRC (SRC is never written to) or DIR that is a file.

    Raises:
        DatasetLayoutError: with the reason and what to do instead.
    """
    src_real, out_real = src.resolve(), out.resolve()
    if out_real == src_real or src_real in out_real.parents:
        raise DatasetLayoutError(f"{out}: the output folder is inside the source folder {src}; "
                                 "choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise DatasetLayoutError(f"{out}: exists and is not a folder")


def check_not_foreign(out: Path, has_earlier_run: bool) -> None:
    """A non-empty DIR must hold an earlier (finished or interrupted) run of this tool."""
    if has_earlier_run or not out.exists():
        return
    if any(not e.name.startswith(STATE_PREFIX) for e in os.scandir(out)):
        raise DatasetLayoutError(f"{out}: not empty and holds no earlier expand run; "
                                 "choose an empty or new folder")


class OutputLock:
    """An exclusive flock on DIR/.expand.lock; the kernel releases it if the process dies."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise LockHeldError(f"{self.path.parent}: another expand run is writing here") from None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
