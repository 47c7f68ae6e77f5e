"""All file access: reading sources, atomic writes into DIR, listing. The one seam for object storage."""

from __future__ import annotations

import os
from pathlib import Path

TEMP_SUFFIX = ".part"


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to `path.part`, then rename: a reader never sees half a file under the final name."""
    temp = path.with_name(path.name + TEMP_SUFFIX)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def holds(path: Path, data: bytes) -> bool:
    """True when `path` exists with exactly `data` (cheap: the size is compared first)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def remove_temporaries(root: Path) -> None:
    for temp in root.rglob(f"*{TEMP_SUFFIX}"):
        temp.unlink(missing_ok=True)
