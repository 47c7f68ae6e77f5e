"""metadata.jsonl (sorted by file_name, built from a spool without holding every row) and run.json."""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import os
import re
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from expand.augment.params import KERAS_PARAM_KEYS, AugmentParams
from expand.errors import OutputWriteError, StateError
from expand.io import storage
from expand.io.storage import Store, open_store
from expand.run.labels import targets_problem
from expand.run.layout import MANIFEST, RUN_FILE, STATE_PREFIX, parse_output_name

#: Schema 3 (a run with per-output checks) adds CHECK_KEYS to every row; schema 4 (an annotated
#: layout) adds `targets` after them; a class-folder run without checks writes schema 2, byte for
#: byte as before (schema_for).
MANIFEST_SCHEMA_VERSION = 4
#: Schemas this version reads: 1 lacks `source_sha256` (a run records it on its next run in DIR).
READABLE_SCHEMAS = (1, 2, 3, 4)
#: A row's keys, in order (then one per further transform, inside `params`).
ROW_KEYS = ("file_name", "label", "source", "source_sha256", "copy", "sha256", "bytes", "width",
            "height", "mode", "params")
#: Schema 3's keys after ROW_KEYS: the draft kept (0: the copy's own streams), its check values,
#: the checks each rejected draft failed, and the checks the kept one fails (all null for an
#: original).
CHECK_KEYS = ("attempt", "checks", "rejected", "failed")


def schema_for(checks: bool, annotated: bool = False) -> int:
    """The schema a run writes: 4 for an annotated layout, else 3 with per-output checks, else
    2."""
    return MANIFEST_SCHEMA_VERSION if annotated else 3 if checks else 2
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
        """Write the sorted manifest whole (the store publishes it atomically), gathering the
        groups of rows with the same bytes as it goes."""
        handles: list[IO[str]] = [open(run, encoding="utf-8") for run in self._runs]
        repeated = _repeated(self._prefixes)

        def lines() -> Iterator[str]:
            for line in self._merged(handles):
                if repeated and _prefix(line) in repeated:
                    row = json.loads(line)
                    self._groups.setdefault(row["sha256"], []).append(row["file_name"])
                yield line + "\n"

        try:
            out.write_lines(MANIFEST, lines())
        except OSError as exc:
            raise OutputWriteError(f"{out.display(MANIFEST)}: cannot write "
                                   f"({storage.reason(exc)})") from None
        finally:
            for handle in handles:
                handle.close()
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


_SPOOL_FILE = re.compile(r"run\d{6}\.jsonl")


def remove_spools(out: Store) -> None:
    """Remove spool folders that killed runs left in DIR (called under DIR's lock, so none is in
    use); only files the spool writes are removed, and a folder holding anything else stays."""
    root = out.spool_folder()
    if root is None:
        return  # the run spools in a local temporary folder
    for name in out.top_names():
        folder = root / name
        if not name.startswith(f"{STATE_PREFIX}-spool-") or folder.is_symlink() or \
                not folder.is_dir():
            continue
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if _SPOOL_FILE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
            folder.rmdir()


def write_run_file(out: Store, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        # A path byte that is not UTF-8 (SRC's name; Python holds it as a lone surrogate) is
        # written as its JSON escape, `\udcff`, which reads back as the same path.
        out.write(RUN_FILE, text.encode("utf-8", "backslashreplace"))
    except OSError as exc:
        raise OutputWriteError(f"{out.display(RUN_FILE)}: cannot write ({storage.reason(exc)})") \
            from None


Row = dict[str, Any]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KERAS_FLAGS = ("flip_horizontal", "flip_vertical")
_KERAS_OPTIONAL = ("channel_shift_intensity", "brightness")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _path_problem(key: str, value: Any) -> str | None:
    """Why `value` is not a path the tool could have written inside DIR: relative, POSIX, no
    `..`, no hidden part (DIR's state and a user's `.git` are never outputs)."""
    if not isinstance(value, str) or not value:
        return f"{key} is not a file name"
    if storage.outside(value) or "\0" in value or \
            any(part.startswith(".") for part in value.split("/")):
        return f"{key} {value!r} is outside DIR"
    return None


def row_problem(value: Any) -> str | None:
    """What is wrong with a manifest or journal row, or None. Only a row the tool could have
    written passes: its file name is the output name of its own source and copy, inside DIR."""
    if not isinstance(value, dict):
        return "not a JSON object"
    absent = [key for key in ROW_KEYS if key not in value and key != "source_sha256"]
    if absent:
        return f"{absent[0]} is missing"
    for key in ("file_name", "source"):
        problem = _path_problem(key, value.get(key))
        if problem is not None:
            return problem
    source, copy = value["source"], value.get("copy")
    if value.get("label") != source.split("/", 1)[0] or "/" not in source:
        return f"label {value.get('label')!r} is not the class folder of source {source!r}"
    if copy is not None and not _count(copy):
        return f"copy {copy!r} is not a copy number"
    if parse_output_name(value["file_name"]) != (source, copy):
        return f"file_name {value['file_name']!r} is not the output name of {source!r}, " \
            f"copy {copy!r}"
    if not isinstance(value.get("sha256"), str) or not _SHA256.fullmatch(value["sha256"]):
        return "sha256 is not a SHA-256 in hex"
    pin = value.get("source_sha256")
    if pin is not None and (not isinstance(pin, str) or not _SHA256.fullmatch(pin)):
        return "source_sha256 is not a SHA-256 in hex"
    if not _count(value.get("bytes")):
        return f"bytes {value.get('bytes')!r} is not a size"
    return targets_problem(value) if "targets" in value else None


def params_problem(row: Row) -> str | None:
    """What keeps a row's params from being replayed, or None (replay and inspect read them)."""
    params = row.get("params")
    if row["copy"] is None:
        return None if params is None else "an original with params"
    if not isinstance(params, dict):
        return "params is not an object"
    for key in KERAS_PARAM_KEYS:
        value = params.get(key)
        ok = isinstance(value, bool) if key in _KERAS_FLAGS else \
            value is None or _number(value) if key in _KERAS_OPTIONAL else _number(value)
        if not ok:
            return f"params.{key} {value!r} is not a drawn value"
    try:
        AugmentParams.from_dict(params)
    except (KeyError, TypeError, ValueError):
        return "params of a transform are incomplete"
    return None


def check_row(value: Any, where: str, hint: str, params: bool = False) -> Row:
    """The row, if the tool could have written it (`params`: its params must replay too).

    Raises:
        StateError: `WHERE: what is wrong; HINT`.
    """
    problem = row_problem(value)
    if problem is None and params:
        problem = params_problem(value)
    if problem is not None:
        raise StateError(f"{where}: {problem}; {hint}")
    row: Row = value
    return row


#: What replay and inspect say of a malformed manifest: they only read DIR.
READ_HINT = "the manifest was changed after the run; run expand again with --rebuild"


def read_manifest(out: Path | Store, params: bool = False) -> Iterator[Row]:
    """The rows of DIR's manifest, streamed and checked (DIR a local folder, or any store).

    Raises:
        StateError: DIR has no manifest, or a line is not a row the tool wrote (`FILE:LINE:`).
    """
    store = open_store(out) if isinstance(out, Path) else out
    where = store.display(MANIFEST)
    try:
        for number, line in enumerate(store.lines(MANIFEST), 1):
            try:
                value = json.loads(line)
            except ValueError:
                raise StateError(f"{where}:{number}: not a JSON line; {READ_HINT}") from None
            yield check_row(value, f"{where}:{number}", READ_HINT, params)
    except FileNotFoundError:
        raise StateError(f"{where}: missing; {READ_HINT}") from None
    except UnicodeDecodeError:
        raise StateError(f"{where}: not UTF-8 text; {READ_HINT}") from None
    except OSError as exc:
        raise StateError(f"{where}: cannot read ({storage.reason(exc)})") from None


def pinned_row(row: dict[str, Any], source_sha256: str | None) -> dict[str, Any]:
    """`row` (of either schema) with its source's hash, its keys in ROW_KEYS order: an updated
    row is encoded as a row of a fresh run is. None: a schema-1 row whose source is gone."""
    keys = ROW_KEYS + tuple(key for key in (*CHECK_KEYS, "targets") if key in row)
    return {key: source_sha256 if key == "source_sha256" else row[key] for key in keys}


_SHA256_KEY = '"sha256": "'


def _prefix(line: str) -> int:
    """A manifest line's 8-byte hash prefix, read off the text (in JSON a value cannot hold an
    unescaped quote, so the first `"sha256": "` is the row's key; `"source_sha256"` does not
    contain it)."""
    start = line.index(_SHA256_KEY) + len(_SHA256_KEY)
    return int(line[start:start + 16], 16)


def _repeated(prefixes: array[int]) -> set[int]:
    """The 8-byte hash prefixes that occur more than once."""
    ordered = np.sort(np.frombuffer(prefixes, dtype=np.uint64)) if len(prefixes) else \
        np.empty(0, np.uint64)
    return {int(v) for v in ordered[1:][ordered[1:] == ordered[:-1]]}

