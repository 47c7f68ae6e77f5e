"""metadata.jsonl (sorted by file_name, built from a spool without holding every row) and run.json."""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
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


def _key(entry: str) -> str:
    """The file name an entry of a spilled run begins with (JSON-quoted: it holds no tab)."""
    name: str = json.loads(entry[:entry.index("\t")])
    return name


class ManifestSpool:
    """Rows as they arrive, in any order; `write` sorts them into DIR/metadata.jsonl.

    Each row is encoded once, on arrival, where its counts and hash prefix are taken too: the
    manifest is then written and checked for duplicates without parsing it back. Every
    _RUN_ROWS rows are sorted and spilled into the spool folder (DIR itself when it is local,
    else a local temporary folder) as `"name"<TAB>row` lines, and merged at the end.
    """

    def __init__(self, workdir: Path | None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"{STATE_PREFIX}-spool-", dir=workdir))
        self._runs: list[Path] = []
        self._buffer: list[tuple[str, str]] = []
        self._sources: set[str] = set()
        self._prefixes = array("Q")
        self.totals = ManifestTotals()
        self._groups: dict[str, list[str]] = {}

    def add(self, rows: list[dict[str, Any]]) -> list[str]:
        """Take rows (an earlier run's); their JSON lines (json.dumps(row, ensure_ascii=False),
        which _prefix reads) are returned for the journal, so that each row is encoded once."""
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        for row, line in zip(rows, lines):
            self._add(row["file_name"], row["label"], row["source"], line)
        return lines

    def add_encoded(self, label: str, source: str, rows: Sequence[tuple[str, str]]) -> list[str]:
        """Take a source's rows as its worker encoded them, (file name, JSON line); the lines are
        returned for the journal."""
        for name, line in rows:
            self._add(name, label, source, line)
        return [line for _, line in rows]

    def _add(self, name: str, label: str, source: str, encoded: str) -> None:
        self._buffer.append((name, encoded))
        self.totals.labels[label] += 1
        if source not in self._sources:
            self._sources.add(source)
            self.totals.sources[label] += 1
        self._prefixes.append(_prefix(encoded))
        if len(self._buffer) >= _RUN_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        run = self._dir / f"run{len(self._runs):06d}.jsonl"
        try:
            with open(run, "w", encoding="utf-8") as handle:
                handle.writelines(f"{json.dumps(name, ensure_ascii=False)}\t{line}\n"
                                  for name, line in sorted(self._buffer))
        except OSError as exc:
            raise OutputWriteError(f"{run}: cannot write ({exc.strerror})") from None
        self._runs.append(run)
        self._buffer = []

    def _merged(self, handles: list[IO[str]]) -> Iterator[str]:
        if not handles:
            return (line for _, line in sorted(self._buffer))
        spilled = [(line.rstrip("\n") for line in handle) for handle in handles]
        held = (f"{json.dumps(name, ensure_ascii=False)}\t{line}"
                for name, line in sorted(self._buffer))
        return (entry[entry.index("\t") + 1:]
                for entry in heapq.merge(*spilled, held, key=_key))

    def write(self, out: Store) -> ManifestTotals:
        """Write the sorted manifest atomically: locally to a temporary name, then renamed; on a
        remote store built in the spool folder, then uploaded in one PUT."""
        if isinstance(out, LocalStore):
            target = out.root / MANIFEST
            temp = target.with_name(target.name + storage.TEMP_SUFFIX)
        else:
            target = self._dir / MANIFEST
            temp = target
        handles: list[IO[str]] = [open(run, encoding="utf-8") for run in self._runs]
        repeated = _repeated(self._prefixes)
        try:
            with open(temp, "w", encoding="utf-8") as sink:
                for line in self._merged(handles):
                    sink.write(line + "\n")
                    if repeated and _prefix(line) in repeated:
                        row = json.loads(line)
                        self._groups.setdefault(row["sha256"], []).append(row["file_name"])
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
        return self.totals

    def duplicates(self) -> tuple[tuple[str, ...], ...]:
        """Groups of rows with the same SHA-256 in the manifest `write` wrote, sorted, gathered
        while writing it: only rows whose 8-byte hash prefix repeats are parsed, so millions of
        outputs cost 8 bytes each, and nothing is read back."""
        return tuple(sorted(tuple(g) for g in self._groups.values() if len(g) > 1))

    def discard(self) -> None:
        """A spool folder already gone (a user's `rm -rf DIR` racing the run) is no error: called
        as the run ends, this must not hide how it ended."""
        for run in self._runs:
            run.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self._dir.rmdir()


def write_run_file(out: Store, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        # A path byte that is not UTF-8 (SRC's name; Python holds it as a lone surrogate) is
        # written as its JSON escape, `\udcff`, which reads back as the same path.
        out.write(RUN_FILE, text.encode("utf-8", "backslashreplace"))
    except OSError as exc:
        raise OutputWriteError(f"{out.display(RUN_FILE)}: cannot write ({storage.reason(exc)})") \
            from None


def read_manifest(out: Path | Store) -> Iterator[dict[str, Any]]:
    """The rows of DIR's manifest, streamed (DIR a local folder, or any store)."""
    lines = open_store(out).lines(MANIFEST) if isinstance(out, Path) else out.lines(MANIFEST)
    for line in lines:
        row: dict[str, Any] = json.loads(line)
        yield row


_SHA256_KEY = '"sha256": "'


def _prefix(line: str) -> int:
    """A manifest line's 8-byte hash prefix, read off the text (in JSON a value cannot hold an
    unescaped quote, so the first `"sha256": "` is the row's key)."""
    start = line.index(_SHA256_KEY) + len(_SHA256_KEY)
    return int(line[start:start + 16], 16)


def _repeated(prefixes: array[int]) -> set[int]:
    """The 8-byte hash prefixes that occur more than once."""
    ordered = np.sort(np.frombuffer(prefixes, dtype=np.uint64)) if len(prefixes) else \
        np.empty(0, np.uint64)
    return {int(v) for v in ordered[1:][ordered[1:] == ordered[:-1]]}

