"""What DIR already holds (a finished run's manifest, an interrupted run's journal) and the plan
that finishes or updates it without redoing verified work."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from expand.config import ExpandConfig
from expand.discover import Dataset, SourceImage
from expand.errors import DatasetLayoutError, OutputWriteError
from expand.layout import MANIFEST, STATE_PREFIX, read_run_file

JOURNAL = f"{STATE_PREFIX}-journal.jsonl"
JOURNAL_VERSION = 1
# Settings whose change only adds or removes whole outputs; any other change alters existing ones.
ADDITIVE = ("copies", "include_originals", "per_class_target")

Row = dict[str, Any]


@dataclass(frozen=True)
class Earlier:
    """An earlier run in DIR: its settings and every row it recorded (manifest, then journal)."""

    config: dict[str, Any] | None
    rows: dict[str, Row]


def _journal_lines(path: Path) -> Iterable[dict[str, Any]]:
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:
                return  # a line cut short by a kill: everything after it is unknown


def has_earlier_run(out: Path) -> bool:
    return (out / JOURNAL).is_file() or read_run_file(out) is not None


def read_earlier(out: Path) -> Earlier:
    rows: dict[str, Row] = {}
    config: dict[str, Any] | None = None
    run = read_run_file(out) if out.is_dir() else None
    if run is not None:
        config = run.get("config")
        try:
            with open(out / MANIFEST, encoding="utf-8") as handle:
                for line in handle:
                    row = json.loads(line)
                    rows[row["file_name"]] = row
        except (OSError, ValueError, KeyError):
            rows = {}
    for entry in _journal_lines(out / JOURNAL):
        if "journal" in entry:
            config = entry.get("config")
        else:
            for row in entry.get("rows", []):
                rows[row["file_name"]] = row
    return Earlier(config, rows)


def check_compatible(earlier: dict[str, Any], new: dict[str, Any], out: Path) -> None:
    """Refuse a change that would alter outputs already in DIR.

    Raises:
        DatasetLayoutError: naming the settings that differ and how to rebuild.
    """
    differing = sorted(k for k in set(earlier) | set(new)
                       if k not in ADDITIVE and earlier.get(k) != new.get(k))
    if differing:
        raise DatasetLayoutError(
            f"{out}: holds a run made with other settings ({', '.join(differing)} differ), which "
            "would change existing outputs; add --rebuild to replace them, or use a new --out")


@dataclass(frozen=True)
class Work:
    """One source and the outputs still to make for it."""

    source: SourceImage
    copies: tuple[int, ...]
    original: bool


@dataclass(frozen=True)
class Plan:
    work: tuple[Work, ...]
    kept: tuple[Row, ...]  # verified rows of outputs that stay as they are
    orphans: tuple[Row, ...]  # rows whose source is gone or whose copy is no longer asked for
    redone: int  # outputs recorded earlier but missing or damaged on disk

    @property
    def outputs_to_write(self) -> int:
        return sum(len(w.copies) + w.original for w in self.work)


def _is_intact(out: Path, row: Row) -> bool:
    try:
        data = (out / row["file_name"]).read_bytes()
    except OSError:
        return False
    return len(data) == row.get("bytes") and hashlib.sha256(data).hexdigest() == row.get("sha256")


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


def make_plan(dataset: Dataset, config: ExpandConfig, earlier: Earlier, out: Path) -> Plan:
    """Compare what should exist with what DIR verifiably holds (each file checked by its hash)."""
    copies = copies_per_source(dataset, config)
    by_source: dict[str, list[Row]] = {}
    for row in earlier.rows.values():
        by_source.setdefault(row["source"], []).append(row)
    work: list[Work] = []
    kept: list[Row] = []
    orphans: list[Row] = []
    redone = 0
    for source in dataset.sources:
        have: dict[int | None, Row] = {}
        for row in by_source.pop(source.rel_path, []):
            wanted = (row["copy"] is None and config.include_originals) or \
                (row["copy"] is not None and row["copy"] < copies[source.rel_path])
            if not wanted:
                orphans.append(row)
            elif _is_intact(out, row):
                have[row["copy"]] = row
            else:
                redone += 1
        kept += have.values()
        missing = tuple(c for c in range(copies[source.rel_path]) if c not in have)
        original = config.include_originals and None not in have
        if missing or original:
            work.append(Work(source, missing, original))
    for rows in by_source.values():
        orphans += rows
    return Plan(tuple(work), tuple(kept), tuple(orphans), redone)


def estimate_bytes(plan: Plan, earlier_rows: Iterable[Row], sample: Callable[[], list[int]]) -> int:
    """Bytes still to write: the mean size of outputs already made (or else of `sample()`)."""
    sizes = [int(r["bytes"]) for r in earlier_rows] or sample()
    if not sizes:
        return 0
    return int(sum(sizes) / len(sizes) * plan.outputs_to_write)


class Journal:
    """Rows of finished sources, appended as they land; what a resume trusts (after a hash check).

    No fsync per line: after a power loss the hash check on resume finds what was lost.
    """

    def __init__(self, out: Path, config: dict[str, Any], carried: Iterable[Row]) -> None:
        self.path = out / JOURNAL
        temp = self.path.with_name(self.path.name + ".part")
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"journal": JOURNAL_VERSION, "config": config}) + "\n")
                handle.write(json.dumps({"rows": list(carried)}, ensure_ascii=False) + "\n")
            os.replace(temp, self.path)
            self._handle: IO[str] = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise OutputWriteError(f"{self.path}: cannot write ({exc.strerror})") from None

    def add(self, rows: list[Row]) -> None:
        try:
            self._handle.write(json.dumps({"rows": rows}, ensure_ascii=False) + "\n")
            self._handle.flush()
        except OSError as exc:
            raise OutputWriteError(f"{self.path}: cannot write ({exc.strerror})") from None

    def close(self) -> None:
        self._handle.close()

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def remove_outputs(out: Path, rows: Iterable[Row]) -> int:
    removed = 0
    for row in rows:
        try:
            (out / row["file_name"]).unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputWriteError(f"{out / row['file_name']}: cannot remove ({exc.strerror})") \
                from None
    return removed

