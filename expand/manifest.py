"""metadata.jsonl (sorted by file_name, built from a spool without holding every row) and run.json."""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from expand import storage
from expand.errors import OutputWriteError
from expand.layout import MANIFEST, RUN_FILE, STATE_PREFIX
from expand.storage import LocalStore, Store, open_store

MANIFEST_SCHEMA_VERSION = 1
_RUN_ROWS = 100_000  # rows sorted in memory at a time; larger spools merge sorted runs from disk


@dataclass
class ManifestTotals:
    """Images per class and sources per class, counted while the manifest streams to disk."""

    labels: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)


def _key(line: str) -> str:
    name: str = json.loads(line)["file_name"]
    return name


class ManifestSpool:
    """Rows as they arrive, in any order; `write` sorts them into DIR/metadata.jsonl.

    The spool lives in `workdir`: DIR itself when it is local, else a local temporary folder.
    """

    def __init__(self, workdir: Path | None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"{STATE_PREFIX}-spool-", dir=workdir))
        self._runs: list[Path] = []
        self._buffer: list[str] = []
        self.rows = 0

    def add(self, line: str) -> None:
        self._buffer.append(line)
        self.rows += 1
        if len(self._buffer) >= _RUN_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        run = self._dir / f"run{len(self._runs):06d}.jsonl"
        try:
            with open(run, "w", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in sorted(self._buffer, key=_key))
        except OSError as exc:
            raise OutputWriteError(f"{run}: cannot write ({exc.strerror})") from None
        self._runs.append(run)
        self._buffer = []

    def _merged(self, handles: list[IO[str]]) -> Iterator[str]:
        streams = [(line.rstrip("\n") for line in handle) for handle in handles]
        return heapq.merge(*streams, sorted(self._buffer, key=_key), key=_key)

    def write(self, out: Store) -> ManifestTotals:
        """Write the sorted manifest atomically and count it: locally to a temporary name, then
        renamed; on a remote store built in the spool folder, then uploaded in one PUT."""
        if isinstance(out, LocalStore):
            target = out.root / MANIFEST
            temp = target.with_name(target.name + storage.TEMP_SUFFIX)
        else:
            target = self._dir / MANIFEST
            temp = target
        handles: list[IO[str]] = [open(run, encoding="utf-8") for run in self._runs]
        totals = ManifestTotals()
        seen: set[str] = set()
        try:
            with open(temp, "w", encoding="utf-8") as sink:
                for line in self._merged(handles):
                    row = json.loads(line)
                    totals.labels[row["label"]] += 1
                    if row["source"] not in seen:
                        seen.add(row["source"])
                        totals.sources[row["label"]] += 1
                    sink.write(line + "\n")
            if isinstance(out, LocalStore):
                os.replace(temp, target)
            else:
                out.put_file(MANIFEST, temp)
        except OSError as exc:
            raise OutputWriteError(f"{out.display(MANIFEST)}: cannot write "
                                   f"({storage.reason(exc)})") from None
        finally:
            for handle in handles:
                handle.close()
            temp.unlink(missing_ok=True)
        return totals

    def discard(self) -> None:
        for run in self._runs:
            run.unlink(missing_ok=True)
        self._dir.rmdir()


def write_run_file(out: Store, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        out.write(RUN_FILE, text.encode("utf-8"))
    except OSError as exc:
        raise OutputWriteError(f"{out.display(RUN_FILE)}: cannot write ({storage.reason(exc)})") \
            from None


def read_manifest(out: Path | Store) -> Iterator[dict[str, Any]]:
    """The rows of DIR's manifest, streamed (DIR a local folder, or any store)."""
    lines = open_store(out).lines(MANIFEST) if isinstance(out, Path) else out.lines(MANIFEST)
    for line in lines:
        row: dict[str, Any] = json.loads(line)
        yield row


def find_duplicates(out: Path | Store) -> tuple[tuple[str, ...], ...]:
    """Groups of files in DIR's manifest with the same SHA-256, sorted.

    Two streaming passes: the first keeps 8 bytes of every hash, the second reads back only the
    rows whose prefix repeats, so millions of outputs need 8 bytes each, not their names.
    """
    prefixes = array("Q", (int(row["sha256"][:16], 16) for row in read_manifest(out)))
    ordered = np.sort(np.frombuffer(prefixes, dtype=np.uint64)) if len(prefixes) else \
        np.empty(0, np.uint64)
    repeated = {int(v) for v in ordered[1:][ordered[1:] == ordered[:-1]]}
    if not repeated:
        return ()
    groups: dict[str, list[str]] = {}
    for row in read_manifest(out):
        if int(row["sha256"][:16], 16) in repeated:
            groups.setdefault(row["sha256"], []).append(row["file_name"])
    return tuple(sorted(tuple(g) for g in groups.values() if len(g) > 1))
