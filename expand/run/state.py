"""What DIR already holds (a finished run's manifest, an interrupted run's journal) and the plan
that finishes or updates it without redoing verified work."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from expand.config import ExpandConfig
from expand.errors import DatasetLayoutError, OutputWriteError, StateError
from expand.io.discover import Dataset, SourceImage
from expand.io.storage import Store, reason
from expand.run.labels import label_file
from expand.run.layout import (
    JOURNAL,
    MANIFEST,
    RUN_FILE,
    STATE_PREFIX,
    parse_label_name,
    parse_output_name,
    read_run_file,
)
from expand.run.manifest import pinned_row, row_problem

JOURNAL_VERSION = 1
# On an object store (no append) the journal is a series of objects
# `.expand-journal-<generation>-<segment>.jsonl`: segment 0 holds the header and the rows carried
# over; each later one a batch of rows. A new run writes a new generation, then deletes the old.
SEGMENT_PREFIX = f"{STATE_PREFIX}-journal-"
SEGMENT_ROWS = 2000  # rows buffered before a segment is written...
SEGMENT_SECONDS = 5.0  # ...or seconds, whichever comes first: what a kill can make us redo
# Settings whose change only adds or removes whole outputs; any other change alters existing ones.
ADDITIVE = ("copies", "include_originals", "per_class_target")

Row = dict[str, Any]


@dataclass(frozen=True)
class Earlier:
    """An earlier run in DIR: its settings and every row it recorded (manifest, then journal).

    `complete` is False when run.json names a finished run whose manifest is missing: DIR may
    then hold recorded outputs that `rows` does not name, so none may be taken for debris.
    `dropped` counts malformed rows that --rebuild set aside (their files are not touched).
    """

    config: dict[str, Any] | None
    rows: dict[str, Row]
    complete: bool = True
    dropped: int = 0


#: How a run tells the user to get past malformed state.
REBUILD_HINT = "fix or remove that line, or add --rebuild to make DIR again"


class _Reader:
    """Reads DIR's records, refusing the first malformed one (or, under --rebuild, counting it
    and setting it aside) with the file and line named."""

    def __init__(self, out: Store, lenient: bool, src_inside: str | None) -> None:
        self.out = out
        self.lenient = lenient
        self.src_inside = src_inside
        self.dropped = 0

    def refuse(self, where: str, problem: str) -> None:
        if not self.lenient:
            raise StateError(f"{where}: {problem}; {REBUILD_HINT}")
        self.dropped += 1

    def row(self, value: Any, where: str) -> Row | None:
        problem = row_problem(value)
        if problem is None and self.src_inside is not None and (
                self.src_inside == "" or value["file_name"].startswith(self.src_inside + "/")):
            problem = f"file_name {value['file_name']!r} is inside SRC"
        if problem is not None:
            self.refuse(where, problem)
            return None
        row: Row = value
        return row

    def manifest(self, rows: dict[str, Row]) -> bool:
        """Add the manifest's rows; False when it is missing."""
        where = self.out.display(MANIFEST)
        try:
            for number, line in enumerate(self.out.lines(MANIFEST), 1):
                try:
                    value = json.loads(line)
                except ValueError:
                    self.refuse(f"{where}:{number}", "not a JSON line")
                    continue
                row = self.row(value, f"{where}:{number}")
                if row is not None:
                    rows[row["file_name"]] = row
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise StateError(f"{where}: is a folder, not expand's manifest; move it away") \
                from None
        except UnicodeDecodeError:
            self.refuse(where, "not UTF-8 text")
        except OSError as exc:
            raise StateError(f"{where}: cannot read ({reason(exc)})") from None
        return True

    def journal(self, rows: dict[str, Row]) -> dict[str, Any] | None:
        """Add the journal's rows; the settings its header records."""
        config = None
        for where, entry in _journal_entries(self.out):
            if isinstance(entry, dict) and "journal" in entry and \
                    isinstance(entry.get("config"), dict):
                config = entry["config"]
            elif isinstance(entry, dict) and isinstance(entry.get("rows"), list):
                for value in entry["rows"]:
                    row = self.row(value, where)
                    if row is not None:
                        rows[row["file_name"]] = row
            else:
                self.refuse(where, "not a journal entry")
        return config


def _lines(out: Store, rel: str) -> Iterator[tuple[str, Any]]:
    """(FILE:LINE, parsed JSON) of a journal file, up to its first line that is not JSON."""
    where = out.display(rel)
    try:
        for number, line in enumerate(out.lines(rel), 1):
            try:
                yield f"{where}:{number}", json.loads(line)
            except ValueError:
                return  # a line cut short by a kill: everything after it is unknown
    except FileNotFoundError:
        return
    except (UnicodeDecodeError, IsADirectoryError):
        raise StateError(f"{where}: is not expand's journal; move it away") from None
    except OSError as exc:
        raise StateError(f"{where}: cannot read ({reason(exc)})") from None


def _segments(out: Store) -> dict[str, list[str]]:
    """Journal segment names by generation, each list in order."""
    found: dict[str, list[str]] = {}
    for name in sorted(out.top_names()):
        if name.startswith(SEGMENT_PREFIX) and name.endswith(".jsonl"):
            generation = name[len(SEGMENT_PREFIX):].split("-", 1)[0]
            found.setdefault(generation, []).append(name)
    return found


def _journal_entries(out: Store) -> Iterator[tuple[str, Any]]:
    if out.local_folder() is not None:  # one appended file
        yield from _lines(out, JOURNAL)
        return
    # The newest generation that has its header segment; older ones were superseded by it.
    for generation, names in sorted(_segments(out).items(), reverse=True):
        if names[0].endswith("-000000.jsonl"):
            for name in names:
                yield from _lines(out, name)
            return


def has_earlier_run(out: Store) -> bool:
    journal = out.exists_member(JOURNAL) if out.local_folder() is not None else \
        bool(_segments(out))
    return journal or read_run_file(out) is not None


def read_earlier(out: Store, rebuild: bool = False, src_inside: str | None = None) -> Earlier:
    """What DIR records. `rebuild`: malformed rows are set aside (counted), not refused;
    `src_inside`: SRC's place inside DIR, where no row may point.

    Raises:
        StateError: run.json, the manifest or the journal is malformed (`FILE:LINE:` named).
    """
    rows: dict[str, Row] = {}
    config: dict[str, Any] | None = None
    complete = True
    reader = _Reader(out, rebuild, src_inside)
    run = read_run_file(out) if out.is_dir() else None
    if run is not None:
        config = run.get("config")
        if not isinstance(config, dict):
            raise StateError(f"{out.display(RUN_FILE)}: config is not an object; "
                             "add --rebuild to make DIR again")
        complete = reader.manifest(rows)
    config = reader.journal(rows) or config
    return Earlier(config, rows, complete, reader.dropped)


def pinned(earlier: Earlier) -> bool:
    """Every recorded row names its source's hash (schema 2), and no row may be missing: the
    sources' content, not SRC as typed, then decides which outputs stay."""
    return earlier.complete and all("source_sha256" in row for row in earlier.rows.values())


def check_compatible(earlier: dict[str, Any], new: dict[str, Any], out: str,
                     by_content: bool) -> None:
    """Refuse a change that would alter outputs already in DIR. `by_content` (pinned(...)): SRC
    may be given another way, or be another folder; each source's hash decides (make_plan).

    Raises:
        DatasetLayoutError: naming the settings that differ and how to rebuild.
    """
    preset = new.get("preset")
    if preset is not None and preset == earlier.get("preset") \
            and earlier.get("preset_version", 1) != new.get("preset_version", 1):
        raise DatasetLayoutError(
            f"{out}: made with version {earlier.get('preset_version', 1)} of the '{preset}' "
            f"preset; this expand's is version {new.get('preset_version', 1)}, which draws other "
            "copies: add --rebuild to make it again, or use a new --out")
    ignored = ADDITIVE + (("src",) if by_content else ())
    differing = sorted(k for k in set(earlier) | set(new)
                       if k not in ignored and earlier.get(k) != new.get(k))
    if differing:
        raise DatasetLayoutError(
            f"{out}: holds a run made with other settings ({', '.join(differing)} differ), which "
            "would change existing outputs; add --rebuild to replace them, or use a new --out")


@dataclass(frozen=True)
class CopyRuns:
    """Copy indices, ascending, as runs: a source's asked-for range less the copies DIR already
    holds, so a plan (and --dry-run) takes memory by the outputs present, never by --copies.
    Read like the tuple it stands for: len, in, iteration, and slices (which give tuples)."""

    runs: tuple[range, ...] = ()

    @classmethod
    def missing(cls, wanted: int, present: Iterable[int | None]) -> CopyRuns:
        """range(wanted) without the `present` copies."""
        runs: list[range] = []
        start = 0
        for copy in sorted(c for c in present if c is not None and 0 <= c < wanted):
            if copy > start:
                runs.append(range(start, copy))
            start = copy + 1
        if start < wanted:
            runs.append(range(start, wanted))
        return cls(tuple(runs))

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def __contains__(self, copy: object) -> bool:
        return any(copy in run for run in self.runs)

    def __iter__(self) -> Iterator[int]:
        return itertools.chain.from_iterable(self.runs)

    def __getitem__(self, index: slice) -> tuple[int, ...]:
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise ValueError("CopyRuns: only slices with step 1")
        taken: list[int] = []
        for run in self.runs:
            if start < len(run) and stop > 0:
                taken += run[max(start, 0):stop]
            start, stop = start - len(run), stop - len(run)
        return tuple(taken)


@dataclass(frozen=True)
class Work:
    """One source and the outputs still to make for it."""

    source: SourceImage
    copies: CopyRuns
    original: bool

    @property
    def outputs(self) -> int:
        return len(self.copies) + self.original


@dataclass(frozen=True)
class Plan:
    work: tuple[Work, ...]
    kept: tuple[Row, ...]  # verified rows of outputs that stay as they are (with source hash)
    orphans: tuple[Row, ...]  # rows whose source is gone or whose copy is no longer asked for
    redone: int  # outputs recorded earlier but missing or damaged on disk
    #: rows made from a source whose bytes are not those recorded: removed before the work (which
    #: makes the wanted ones again), so old and new copies of a source never mix
    stale: tuple[Row, ...] = ()
    #: the sources of `stale` rows that could be read (changed since the run that made them)
    changed: tuple[str, ...] = ()
    #: sources of schema-1 rows whose hash this run records for the first time
    newly_pinned: int = 0

    @property
    def outputs_to_write(self) -> int:
        return sum(w.outputs for w in self.work)


def _wanted(row: Row, copies: int, include_originals: bool) -> bool:
    return (row["copy"] is None and include_originals) or \
        (row["copy"] is not None and row["copy"] < copies)


def copies_per_source(dataset: Dataset, config: ExpandConfig) -> dict[str, int]:
    """How many copies each source gets: `copies`, or each class's share of --per-class-target.

    A class of n sources needs K images (originals count when included): `need` copies in all,
    `need // n` each, and the `need % n` sources whose SHA-256 of their relative path is smallest
    get one more. The hash, not the file name, picks them: no bias towards names early in the
    alphabet, and the choice does not depend on the seed. A class that already has K sources or
    more gets one copy per source (none with originals).
    """
    if config.per_class_target is None:
        return {s.rel_path: config.copies for s in dataset.sources}
    by_class: dict[str, list[SourceImage]] = {}
    for source in dataset.sources:
        by_class.setdefault(source.label, []).append(source)
    plan: dict[str, int] = {}
    for members in by_class.values():
        n = len(members)
        need = config.per_class_target - (n if config.include_originals else 0)
        if need < (0 if config.include_originals else n):
            share, extra = (0 if config.include_originals else 1), 0
        else:
            share, extra = divmod(need, n)
        ranked = sorted(members, key=lambda s: hashlib.sha256(s.rel_path.encode(
            "utf-8", "surrogateescape")).hexdigest())
        for rank, source in enumerate(ranked):
            plan[source.rel_path] = share + (1 if rank < extra else 0)
    return plan


def make_plan(dataset: Dataset, config: ExpandConfig, earlier: Earlier, out: Store,
              copies: dict[str, int], source_sha256: Callable[[str], str | None]) -> Plan:
    """Compare what should exist with what DIR verifiably holds (each file checked by its hash,
    each source with outputs to keep by its own); `copies`: copies_per_source(dataset, config),
    made once by the caller, who also sizes the pool's messages by it. `source_sha256`: a
    source's hash now (None: it cannot be read), asked once for each source that has rows to
    keep; the others are hashed by the workers from the bytes they decode.

    Raises:
        OutputWriteError: DIR cannot be listed or read.
    """
    by_source: dict[str, list[Row]] = {}
    for row in earlier.rows.values():
        by_source.setdefault(row["source"], []).append(row)
    try:
        asked = [row for rel, rows in by_source.items() if rel in copies for row in rows
                 if _wanted(row, copies[rel], config.include_originals)]
        intact = out.intact(asked) - _damaged_labels(out, asked)
    except OSError as exc:
        raise OutputWriteError(f"{out.location}: cannot read ({reason(exc)})") from None
    work: list[Work] = []
    kept: list[Row] = []
    orphans: list[Row] = []
    stale: list[Row] = []
    changed: list[str] = []
    newly_pinned = 0
    redone = 0
    for source in dataset.sources:
        rel = source.rel_path
        have: dict[int | None, Row] = {}
        rows = by_source.pop(rel, [])
        wanted = [_wanted(row, copies[rel], config.include_originals) for row in rows]
        keepable = any(not w or row["file_name"] in intact for row, w in zip(rows, wanted))
        now = source_sha256(rel) if keepable else None
        before = len(stale)
        for row, want in zip(rows, wanted):
            if want and row["file_name"] not in intact:
                redone += 1
            elif now is None or row.get("source_sha256", now) != now:
                stale.append(row)  # unreadable now, or made from other bytes
            elif want:
                have[row["copy"]] = pinned_row(row, now)
            else:
                orphans.append(pinned_row(row, now))
        if len(stale) > before and now is not None:
            changed.append(rel)
        newly_pinned += now is not None and any("source_sha256" not in row for row in rows)
        kept += have.values()
        missing = CopyRuns.missing(copies[rel], have)
        original = config.include_originals and None not in have
        if missing or original:
            work.append(Work(source, missing, original))
    for rows in by_source.values():
        orphans += (pinned_row(row, row.get("source_sha256")) for row in rows)
    return Plan(tuple(work), tuple(kept), tuple(orphans), redone, tuple(stale), tuple(changed),
                newly_pinned)


def _damaged_labels(out: Store, rows: Iterable[Row]) -> set[str]:
    """The file names of rows whose label file is missing or not the bytes recorded: their
    output is made again, label and image (a label is an output of its image).

    Raises:
        OSError: DIR cannot be read.
    """
    damaged = set()
    for row in rows:
        label = label_file(row)
        if label is None:
            continue
        try:
            data = out.read_bytes(label)
        except (FileNotFoundError, IsADirectoryError):
            damaged.add(row["file_name"])
            continue
        if hashlib.sha256(data).hexdigest() != row["targets"]["sha256"]:
            damaged.add(row["file_name"])
    return damaged


def estimate_bytes(plan: Plan, earlier_rows: Iterable[Row], sample: Callable[[], list[int]]) -> int:
    """Bytes still to write: the mean size of outputs already made (or else of `sample()`)."""
    sizes = [int(r["bytes"]) for r in earlier_rows] or sample()
    if not sizes:
        return 0
    return int(sum(sizes) / len(sizes) * plan.outputs_to_write)


def rows_line(encoded: list[str]) -> str:
    """A journal line, json.dumps({"rows": rows}) to the byte, from rows encoded already (the
    manifest takes the same encoding: each row is encoded once)."""
    return '{"rows": [' + ", ".join(encoded) + "]}"


class Journal:
    """Rows of finished sources, appended as they land; what a resume trusts (after a hash check).

    No fsync per line: after a power loss the hash check on resume finds what was lost.
    """

    def __init__(self, folder: Path, config: dict[str, Any], carried: list[str]) -> None:
        self.path = folder / JOURNAL
        temp = self.path.with_name(self.path.name + ".part")
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"journal": JOURNAL_VERSION, "config": config}) + "\n")
                handle.write(rows_line(carried) + "\n")
            os.replace(temp, self.path)
            self._handle: IO[str] = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise OutputWriteError(f"{self.path}: cannot write ({exc.strerror})") from None

    def add(self, encoded: list[str]) -> None:
        """`encoded`: the rows of a source, each as json.dumps(row, ensure_ascii=False)."""
        try:
            self._handle.write(rows_line(encoded) + "\n")
            self._handle.flush()
        except OSError as exc:
            raise OutputWriteError(f"{self.path}: cannot write ({exc.strerror})") from None

    def close(self) -> None:
        self._handle.close()

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class ObjectJournal:
    """The journal on an object store, which cannot append: rows are buffered and written as
    numbered segment objects every SEGMENT_ROWS rows or SEGMENT_SECONDS, by the client only.

    A kill loses at most the unwritten buffer; a resume then re-renders those sources and writes
    their objects again, the same bytes under the same names (an object store's `ensure` is one
    PUT: comparing first would cost as much).
    """

    def __init__(self, out: Store, config: dict[str, Any], carried: list[str]) -> None:
        self.out = out
        self.generation = f"{time.time_ns():020d}"
        self._segment = 0
        self._buffer: list[str] = []
        self._flushed = time.monotonic()
        superseded = [name for names in _segments(out).values() for name in names]
        self._put([json.dumps({"journal": JOURNAL_VERSION, "config": config}),
                   rows_line(carried)])
        for name in superseded:
            self._remove(name)

    def _name(self, segment: int) -> str:
        return f"{SEGMENT_PREFIX}{self.generation}-{segment:06d}.jsonl"

    def _put(self, lines: list[str]) -> None:
        name = self._name(self._segment)
        try:
            self.out.write(name, "".join(line + "\n" for line in lines).encode("utf-8"))
        except OSError as exc:
            raise OutputWriteError(f"{self.out.display(name)}: cannot write ({reason(exc)})") \
                from None
        self._segment += 1
        self._flushed = time.monotonic()

    def _remove(self, name: str) -> None:
        try:
            self.out.remove(name)
        except OSError as exc:
            raise OutputWriteError(f"{self.out.display(name)}: cannot remove ({reason(exc)})") \
                from None

    def add(self, encoded: list[str]) -> None:
        self._buffer.append(rows_line(encoded))
        if len(self._buffer) >= SEGMENT_ROWS or \
                time.monotonic() - self._flushed >= SEGMENT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._put(self._buffer)
            self._buffer = []

    def close(self) -> None:
        self.flush()

    def remove(self) -> None:
        for segment in range(self._segment):
            self._remove(self._name(segment))


def open_journal(out: Store, config: dict[str, Any],
                 carried: list[str]) -> Journal | ObjectJournal:
    """The journal of a run into `out`: an appended file locally, segment objects remotely.
    `carried`: the rows kept from earlier runs, JSON-encoded (as `Journal.add` takes rows)."""
    folder = out.local_folder()
    return Journal(folder, config, carried) if folder is not None else \
        ObjectJournal(out, config, carried)


def remove_outputs(out: Store, rows: Iterable[Row]) -> int:
    """Remove rows' files, each image with its label file; the count of images removed."""
    removed = 0
    for row in rows:
        removed += remove_files(out, [row["file_name"]])
        label = label_file(row)
        if label is not None:
            remove_files(out, [label])
    return removed


def remove_files(out: Store, names: Iterable[str]) -> int:
    """Remove these files of DIR; the count of those that existed.

    Raises:
        OutputWriteError: one cannot be removed.
    """
    removed = 0
    for name in names:
        try:
            removed += out.remove(name)
        except OSError as exc:
            raise OutputWriteError(f"{out.display(name)}: cannot remove ({reason(exc)})") \
                from None
    return removed


@dataclass(frozen=True)
class Unrecorded:
    """A file of DIR named like an output that no manifest or journal row records."""

    file_name: str
    source: str  # the source's relative path, from the name
    copy: int | None  # None: an original


def unrecorded_outputs(out: Store, recorded: Mapping[str, Row],
                       src_inside: str | None) -> list[Unrecorded]:
    """Files inside DIR's class folders, named like outputs or their label files, that no row
    records: written by tasks still in flight when a run was stopped (the journal records whole
    tasks only).
    Hidden paths, and SRC's files when SRC lies inside DIR (at `src_inside`), are never listed.

    Raises:
        OutputWriteError: DIR cannot be listed.
    """
    found = []
    labels = {label_file(row) for row in recorded.values()}
    try:
        for rel in out.files():
            parts = rel.split("/")
            if len(parts) < 2 or any(part.startswith(".") for part in parts) or \
                    rel in recorded or rel in labels:
                continue
            if src_inside is not None and (src_inside == "" or rel.startswith(src_inside + "/")):
                continue
            parsed = parse_output_name(rel) or parse_label_name(rel)
            if parsed is not None:
                found.append(Unrecorded(rel, *parsed))
    except OSError as exc:
        raise OutputWriteError(f"{out.location}: cannot list ({reason(exc)})") from None
    return sorted(found, key=lambda u: u.file_name)


def split_unrecorded(found: Iterable[Unrecorded], plan: Plan) -> tuple[list[str], set[str]]:
    """The names the plan does not write (removable at once), and those it writes again: removing
    these now would lose files that may already hold the right bytes (and the inode and mtime a
    resume keeps); the run removes them at its end only if it did not record them."""
    work = {w.source.rel_path: w for w in plan.work}
    unplanned: list[str] = []
    again: set[str] = set()
    for item in found:
        task = work.get(item.source)
        if task is not None and (task.original if item.copy is None else item.copy in task.copies):
            again.add(item.file_name)
        else:
            unplanned.append(item.file_name)
    return unplanned, again
