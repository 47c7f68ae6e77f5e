"""Plan the run, map sources over an executor, stream results into the manifest, summarise."""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import PIL
from PIL import features

from expand import __version__, codec, storage
from expand.config import ExpandConfig
from expand.discover import Dataset, SourceImage, discover_store
from expand.errors import (EXIT_OK, EXIT_SKIPPED, ConfigError, ExpandError, ImageReadError,
                           InsufficientSpaceError, OutputWriteError)
from expand.executors import Executor, make_executor, take_prewarmed
from expand.layout import (check_no_links, check_not_foreign, check_output_location,
                           is_own_file, lock_for, read_run_file, relative_inside,
                           without_long_names)
from expand.manifest import (ManifestSpool, ManifestTotals, remove_spools, schema_for,
                             write_run_file)
from expand.seeding import RANDOM_STREAMS_VERSION, SEED_BLOCK
from expand.state import (Earlier, Journal, ObjectJournal, Plan, Row, Work, check_compatible,
                          copies_per_source, estimate_bytes, has_earlier_run, make_plan,
                          open_journal, pinned, read_earlier, remove_files, remove_outputs,
                          split_unrecorded, unrecorded_outputs)
from expand.storage import LocalStore, Location, Store, open_store
from expand.worker import SourceResult, Task, process_source, render_source, worker_init


class Progress(Protocol):
    """What the runner reports while it works (the CLI shows it as a progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, images: int) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


@dataclass(frozen=True)
class RunSummary:
    """How the run went. Timing and executor live here, never in DIR (they do not decide bytes)."""

    out: Location
    sources: int
    images_written: int
    images_per_class: dict[str, int]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    elapsed_s: float
    executor: str
    workers: int
    #: outputs already in DIR, checked by hash and left as they were
    kept: int = 0
    #: outputs recorded earlier but missing or damaged, written again
    redone: int = 0
    #: recorded outputs no longer asked for, removed by --prune
    pruned: int = 0
    #: recorded outputs no longer asked for, kept in DIR and the manifest (no --prune)
    orphans_kept: int = 0
    #: files named like outputs that no row recorded (left by a stopped run), removed
    unrecorded_removed: int = 0
    #: groups of outputs with the same bytes (found by SHA-256), and copies written by this run
    #: that are identical to their source; derived from the output, so reported here and never
    #: written into DIR
    duplicates: tuple[tuple[str, ...], ...] = ()
    unchanged: tuple[str, ...] = ()
    per_class_target: int | None = None
    #: sources whose bytes are not those their earlier outputs were made from: those outputs
    #: were removed and the asked-for ones made again
    changed: tuple[str, ...] = ()
    #: files in class folders whose extension is not an image format's: ignored, as Keras's
    #: loader ignores them (not skipped: they do not change the exit code)
    ignored: tuple[str, ...] = ()
    #: sources the manifest names, per class of SRC (a split's parts are compared by them)
    sources_per_class: dict[str, int] = field(default_factory=dict)
    #: per-output checks: drafts each check rejected (drawn again), and copies kept although
    #: every draft failed (their rows name the checks under `failed`)
    rejected: dict[str, int] = field(default_factory=dict)
    kept_failing: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_SKIPPED if self.skipped else EXIT_OK

    @property
    def images_per_second(self) -> float:
        return self.images_written / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "sources": self.sources,
            "images_written": self.images_written,
            "images_per_class": self.images_per_class,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
            "elapsed_s": round(self.elapsed_s, 3),
            "images_per_second": round(self.images_per_second, 1),
            "executor": self.executor,
            "workers": self.workers,
            "per_class_target": self.per_class_target,
            "duplicates": [list(group) for group in self.duplicates],
            "unchanged": list(self.unchanged),
            "changed": list(self.changed),
            "ignored": list(self.ignored),
            "rejected": self.rejected,
            "kept_failing": self.kept_failing,
            "exit_code": self.exit_code,
        }


def library_versions() -> dict[str, str | None]:
    """The code that decodes, warps and encodes: a change here may change output bytes."""
    return {
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "zlib": features.version("zlib"),
        "libjpeg": features.version("jpg"),
        "libwebp": features.version("webp"),
    }


#: What one output costs a worker, roughly (ms; measured on bench/'s workloads): a fixed part
#: (drawing, Python, the write) and a part per pixel, which PNG's encoder makes about 4x larger.
_OUTPUT_MS = 0.17
_PIXEL_MS = {"png": 35e-6}
_OTHER_PIXEL_MS = 8e-6
#: Work per message to a worker. A message and its answer cost about 1 ms of the run: on W1, 45
#: one-source messages took 160-200 ms, 15 three-source messages 115-150 ms; on W2, 4 sources
#: a message beat 1 by 15% with JPEG output, 2 beat 1 by 6% with PNG.
_CHUNK_MS = 20.0


def _chunksize(tasks: int, workers: int, outputs_per_task: int, output_ms: float) -> int:
    """Sources per message to a worker: about _CHUNK_MS of work, and at least 6 messages per
    worker so that the last ones balance the tail. Sources of 224x224 or more with 10 copies
    already cost 5 ms or more each, large ones far more: most such runs send 1 to 4 at a time."""
    wanted = math.ceil(_CHUNK_MS / max(outputs_per_task * output_ms, 1e-3))
    return max(1, min(16, wanted, tasks // (workers * 6)))


def _output_ms(config: ExpandConfig, src: Store, sources: tuple[SourceImage, ...],
               count: int = 3) -> float:
    """The cost model's figure for the costliest of a few sources spread over SRC (headers only):
    when in doubt, smaller messages."""
    costs = []
    for source in sources[::max(1, len(sources) // count)][:count]:
        try:
            source_format, size = _probe(src, source.rel_path)
        except (ImageReadError, OSError):
            continue
        width, height = config.resize or size
        fmt = codec.output_format(config.image_format, source_format)
        costs.append(_OUTPUT_MS + width * height * _PIXEL_MS.get(fmt, _OTHER_PIXEL_MS))
    return max(costs, default=_OUTPUT_MS)


#: What a header is read from first: enough for every format but WebP (Pillow opens a whole WebP)
#: and a JPEG whose metadata comes before its size; those are then read whole.
_HEAD_BYTES = 64 * 1024


def _probe(src: Store, rel: str) -> tuple[str, tuple[int, int]]:
    """codec.probe from the file's head, not the whole file (a 24-megapixel photo is 10 MB, an
    object store's GET of it more): the estimates before the run read a few sources' headers.

    Raises:
        ImageReadError, OSError: as codec.probe and the store's reads.
    """
    head = src.read_head(rel, _HEAD_BYTES)
    try:
        return codec.probe(head)
    except ImageReadError:
        if len(head) < _HEAD_BYTES:
            raise  # the whole file was read: the header itself is bad
    return codec.probe(src.read_bytes(rel))


ExecutorFactory = Callable[[int, int], Executor]

#: Room kept free beyond the estimate: the manifest, run.json and file-system overhead.
SPACE_MARGIN = 1.10
SPACE_RESERVE = 16 * 2**20


@dataclass(frozen=True)
class DryRun:
    """What a run would do, computed without writing anything."""

    out: Location
    sources: int
    to_write: int
    to_write_per_class: dict[str, int]
    already_done: int
    redone: int
    orphans: int
    estimated_bytes: int
    free_bytes: int | None

    @property
    def fits(self) -> bool:
        return self.free_bytes is None or \
            self.free_bytes >= self.estimated_bytes * SPACE_MARGIN + SPACE_RESERVE

    def to_dict(self) -> dict[str, Any]:
        return {**{k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()},
                "fits": self.fits}


def _sampled(plan: Plan, count: int) -> tuple[Work, ...]:
    """A few sources still to do, evenly spread."""
    return plan.work[::max(1, len(plan.work) // count)][:count]


def _sample_sizes(config: ExpandConfig, plan: Plan, count: int = 6) -> list[int]:
    """Encode a few outputs in memory (evenly spread over the sources) to estimate sizes."""
    sizes = []
    for work in _sampled(plan, count):
        result = render_source(Task(work.source, config, work.copies[:1], not work.copies))
        sizes += [len(data) for data in result]
    return sizes


def check_class_overrides(config: ExpandConfig, classes: tuple[str, ...]) -> None:
    """A per-class override must name a class of SRC (a typo would silently do nothing)."""
    unknown = [label for label, _ in config.augment.classes if label not in classes]
    if unknown:
        raise ConfigError(f"classes.{unknown[0]}: no class folder of that name in {config.src} "
                          f"(classes: {', '.join(classes)})")


def _stores(config: ExpandConfig) -> tuple[Store, Store]:
    return (open_store(config.src, config.storage_options),
            open_store(config.out, config.storage_options))


def _check_place(config: ExpandConfig, src: Store, out: Store) -> Dataset:
    """Everything that can refuse the run without writing: SRC's layout, DIR's place and owner."""
    dataset = discover_store(src, follow_symlinks=config.follow_symlinks)
    if config.split is not None:
        dataset = config.split.select(dataset, config.seed)
    check_class_overrides(config, dataset.classes)
    out.check()
    check_output_location(src, out)
    check_not_foreign(out, has_earlier_run(out))
    return without_long_names(dataset, config, out)


def _source_sha256(src: Store) -> Callable[[str], str | None]:
    """A source's SHA-256 as it is now, None when it cannot be read (the plan then keeps none
    of its outputs, and its task reports why)."""
    def sha256(rel: str) -> str | None:
        try:
            return hashlib.sha256(src.read_bytes(rel)).hexdigest()
        except OSError:
            return None
    return sha256


def _read_state(config: ExpandConfig, dataset: Dataset, src: Store, out: Store) -> Earlier:
    """What DIR records, checked before anything in it changes: malformed records and class
    folders that are links are refused."""
    found = read_earlier(out, config.rebuild, relative_inside(src, out))
    check_no_links(out, [*dataset.classes, *(row["label"] for row in found.rows.values())])
    return found


def _prepare(config: ExpandConfig, dataset: Dataset, src: Store, out: Store,
             copies: dict[str, int], found: Earlier) -> tuple[Earlier, Plan]:
    """What the plan starts from (nothing under --rebuild), and the plan; `found`: what DIR
    records; `copies`: copies_per_source(dataset, config)."""
    # A run that recorded nothing (stopped before its first output, with no run.json) pins no
    # settings: the corrected command takes DIR over; what it left is swept as unrecorded.
    recorded = bool(found.rows) or read_run_file(out) is not None
    if found.config is not None and recorded and not config.rebuild:
        check_compatible(found.config, config.determining(), out.location, pinned(found))
    earlier = Earlier(None, {}) if config.rebuild else found
    return earlier, make_plan(dataset, config, earlier, out, copies, _source_sha256(src))


def _raw_sizes(config: ExpandConfig, plan: Plan, count: int = 6) -> list[int]:
    """Uncompressed sizes (4 bytes a pixel) of a few sources, read from their headers only."""
    src = open_store(config.src, config.storage_options)
    sizes = []
    for work in _sampled(plan, count):
        try:
            width, height = config.resize or _probe(src, work.source.rel_path)[1]
        except (ImageReadError, OSError):
            continue
        sizes += [width * height * 4 + 4096] * (len(work.copies[:1]) + work.original)
    return sizes


def _dry_run(config: ExpandConfig, out: Store, dataset: Dataset, earlier: Earlier,
             plan: Plan, quick: bool = False) -> DryRun:
    """With `quick` (a real run, which only needs to know the outputs fit), an upper estimate
    from uncompressed sizes is tried first; samples are encoded only when that one is tight."""
    per_class = Counter({label: 0 for label in dataset.classes})
    for work in plan.work:
        per_class[work.source.label] += work.outputs
    free = out.free_bytes()

    def report(sizes: Callable[[ExpandConfig, Plan], list[int]]) -> DryRun:
        estimate = estimate_bytes(plan, earlier.rows.values(), lambda: sizes(config, plan))
        return DryRun(config.out, len(dataset.sources), plan.outputs_to_write, dict(per_class),
                      len(plan.kept), plan.redone, len(plan.orphans), estimate, free)

    if quick:
        bound = report(_raw_sizes)
        if bound.fits:
            return bound
    return report(_sample_sizes)


def dry_run(config: ExpandConfig) -> DryRun:
    """Counts per class, estimated bytes and the free-space check, without writing anything.

    Raises:
        DatasetLayoutError, ConfigError: as a real run would, before any work.
        StorageError: a bucket is missing or denies access.
    """
    src, out = _stores(config)
    dataset = _check_place(config, src, out)
    found = _read_state(config, dataset, src, out)
    earlier, plan = _prepare(config, dataset, src, out, copies_per_source(dataset, config), found)
    return _dry_run(config, out, dataset, earlier, plan)


def _for_workers(config: ExpandConfig) -> ExpandConfig:
    """The config the tasks carry: on a cluster, local paths made absolute (a worker's working
    folder is not the client's; a shared filesystem must be mounted at the same place). run.json
    keeps SRC as given."""
    if config.scheduler is None:
        return config
    src, out = config.src, config.out
    return replace(config, src=src.absolute() if isinstance(src, Path) else src,
                   out=out.absolute() if isinstance(out, Path) else out)


#: The most copies one task makes: one block of seeds (SourceStreams). A source asked for more (a
#: small class under --per-class-target gets thousands) is split into tasks of this many copies,
#: its original going with the first: every worker can take a share of it, and a worker holds and
#: returns one task's rows (146 kB for 256 copies of a W1 source) instead of a source's (about
#: 57 MB for 100,000 copies, at 571 bytes a row). Each such task decodes the source (and traces
#: it, for line-art transforms) again: once per 256 outputs.
COPIES_PER_TASK = SEED_BLOCK


def _task_starts(copies: int) -> range:
    """Where each task of a source asked for `copies` copies starts in its list (one task when
    it gets none: its original)."""
    return range(0, max(1, copies), COPIES_PER_TASK)


def _make_tasks(work: Iterable[Work], config: ExpandConfig, new_dir: bool) -> Iterator[Task]:
    """The tasks of the plan's work, made as they are taken (a million sources are never a
    million Tasks at once)."""
    for item in work:
        for start in _task_starts(len(item.copies)):
            yield Task(item.source, config, item.copies[start:start + COPIES_PER_TASK],
                       item.original and start == 0, new_dir)


def _outputs_per_task(config: ExpandConfig, copies: dict[str, int]) -> int:
    """The most outputs a task makes (`copies`: copies_per_source): under --per-class-target a
    small class's sources get thousands, in tasks of COPIES_PER_TASK, and `--copies` is not
    used."""
    return min(max(copies.values(), default=0), COPIES_PER_TASK) + config.include_originals


def _executor(config: ExpandConfig, factory: ExecutorFactory | None, src: Store,
              sources: tuple[SourceImage, ...], copies: dict[str, int]) -> Executor:
    """The caller's factory, else Dask when a scheduler is named, else serial or a local pool."""
    tasks = sum(len(_task_starts(count)) for count in copies.values())
    chunk = 1 if config.workers == 1 or config.scheduler is not None else \
        _chunksize(tasks, config.workers, _outputs_per_task(config, copies),
                   _output_ms(config, src, sources))
    if factory is not None:
        return factory(config.workers, chunk)
    if config.scheduler is not None:
        from expand.dask_executor import DaskExecutor  # dask is an extra: imported only here

        return DaskExecutor(config.scheduler, config.workers, tasks)
    return take_prewarmed(config.workers, chunk) or \
        make_executor(config.workers, worker_init, chunk)


def expand_dataset(
    config: ExpandConfig,
    progress: Progress | None = None,
    executor_factory: ExecutorFactory | None = None,
) -> RunSummary:
    """Run the main job: write copies (and originals), then metadata.jsonl, then run.json.

    A DIR holding an interrupted run is finished; one holding a finished run with fewer copies or
    sources is updated. Outputs already on disk are checked by hash and kept, not redone.

    Args:
        config: the resolved run settings.
        progress: told the total, then each source's image count as it lands.
        executor_factory: (workers, chunksize) → Executor; default: a Dask cluster when
            `config.scheduler` names one, else serial for 1 worker, else a local process pool.

    Raises:
        DatasetLayoutError, ConfigError: before any work starts.
        OutputWriteError, LockHeldError, InsufficientSpaceError: the run stopped; nothing
            half-written is left in DIR, and running the same command again resumes it.
        StorageError, EngineError: a bucket or the Dask scheduler cannot be used.
    """
    started = time.perf_counter()
    if config.scheduler is not None:
        import expand.dask_executor  # noqa: F401  (without the extra: a ConfigError, before work)
    src, out = _stores(config)
    dataset = _check_place(config, src, out)
    try:
        out.make()
    except OSError as exc:
        raise OutputWriteError(f"{out.location}: cannot create ({storage.reason(exc)})") from None
    src_inside = relative_inside(src, out)  # SRC's place in DIR: never swept
    with lock_for(out) as lock:
        found = _read_state(config, dataset, src, out)
        out.remove_temporaries(is_own_file, src_inside)
        remove_spools(out)
        journal: Journal | ObjectJournal | None = None
        spool: ManifestSpool | None = None
        try:
            # The workers start first: their imports (NumPy, OpenCV: about 0.2 s of CPU each)
            # overlap the planning, and the pool is ready when the first task is.
            copies = copies_per_source(dataset, config)  # once: by hash under --per-class-target
            with _executor(config, executor_factory, src, dataset.sources, copies) as pool:
                earlier, plan = _prepare(config, dataset, src, out, copies, found)
                new_dir = found.config is None  # DIR held no run (no run.json, no journal)
                report = _dry_run(config, out, dataset, earlier, plan, quick=True)
                if not report.fits:
                    raise InsufficientSpaceError(
                        f"{out.location}: about {report.estimated_bytes / 2**20:.0f} MiB to "
                        f"write, only {(report.free_bytes or 0) / 2**20:.0f} MiB free; free some "
                        "space and run again")
                if config.rebuild:
                    remove_outputs(out, found.rows.values())
                pruned = remove_outputs(out, plan.orphans) if config.prune else 0
                remove_outputs(out, plan.stale)  # never left beside copies of the new bytes
                # Debris of a stopped run, in a DIR of ours; not when a missing or malformed
                # manifest hides what DIR records.
                unplanned: list[str] = []
                again: set[str] = set()
                if found.config is not None and found.complete and not found.dropped:
                    unplanned, again = split_unrecorded(unrecorded_outputs(
                        out, earlier.rows, src_inside), plan)
                unrecorded = remove_files(out, unplanned)
                kept_orphans = () if config.prune else plan.orphans
                carried = [*plan.kept, *kept_orphans]
                spool = ManifestSpool(out.root if isinstance(out, LocalStore) else None)
                journal = open_journal(out, config.determining(), spool.add(carried))
                # by source: a source split into several tasks fails in each
                skipped = {rel: Skipped(rel, f"{rel}: {reason}") for rel, reason in dataset.rejected}
                notes: list[str] = []
                unchanged: list[str] = []
                rejected: Counter[str] = Counter()
                kept_failing = 0
                line_art: dict[str, bool] = {}  # per class: every source judged looked so
                written = 0  # counted from the answers: a source may fail in one task only
                if progress is not None:
                    progress.start(plan.outputs_to_write)
                task_config = _for_workers(config)
                tasks = _make_tasks(plan.work, task_config, new_dir)
                executor_name, workers = pool.name, pool.workers
                for result in pool.map_unordered(process_source, tasks):
                    _collect(result, spool, journal, skipped, notes, progress)
                    written += len(result.rows)
                    unchanged += result.unchanged
                    rejected.update(dict(result.rejected))
                    kept_failing += result.kept_failing
                    if result.line_art is not None:
                        line_art[result.label] = line_art.get(result.label, True) \
                            and result.line_art
                    if again:
                        again.difference_update(name for name, _ in result.rows)
                # Every task has answered, so no file is being written any more. The pool stays
                # open until the run is recorded: its workers, told to exit as the work ran
                # out, exit meanwhile (on an error leaving it terminates them).
                # left by a task that was retried, if any
                out.remove_temporaries(is_own_file, src_inside)
                # Written again but not recorded after all: their source failed this time, or
                # its outputs now have another extension.
                unrecorded += remove_files(out, sorted(again))
                lock.verify()
                rows = _without_gone(spool.write(out), dataset, kept_orphans)
                duplicates = spool.duplicates()
                reported = sorted(skipped.values(), key=lambda s: s.source)
                write_run_file(out, _run_record(config, dataset.classes, rows, reported))
                journal.remove()
        except BaseException:
            if journal is not None:
                try:
                    journal.close()
                except ExpandError:
                    pass  # the store is failing: the error being raised already says so
            out.remove_temporaries(is_own_file, src_inside)
            raise
        finally:
            if spool is not None:
                spool.discard()
                if progress is not None:
                    progress.close()
    warnings = [f"{src.display(name)}: file at the top level of SRC ignored (not in a class "
                "folder)" for name in dataset.top_level_files]
    warnings += [f"{src.display(name)}: symbolic link to a class folder, not followed "
                 "(--follow-symlinks follows it)" for name in dataset.linked_classes]
    warnings += [f"{src.display(label)}: class folder holds no image"
                 for label in dataset.empty_classes]
    warnings += sorted(set(notes))  # a source split into several tasks notes it in each
    if found.dropped:
        warnings.append(f"{found.dropped} malformed records of DIR were set aside by --rebuild "
                        "(the files they named were left alone)")
    if kept_orphans:
        warnings.append(f"{len(kept_orphans)} earlier outputs whose source is gone or whose copy "
                        "is no longer asked for were kept (listed in the manifest); --prune "
                        "removes them")
    warnings += _changed_lines(plan, skipped)
    drawings = [label for label, looks in sorted(line_art.items()) if looks]
    if drawings:
        warnings.append(f"class{'es' if len(drawings) > 1 else ''} {', '.join(drawings)}: "
                        "every source looks like line art, but no line-art transform is listed, "
                        "so copies are warped as photos (strokes thickened or thinned by the "
                        "zoom, edges filled by fill_mode); --preset line-art redraws the strokes")
    if kept_failing:
        warnings.append(f"{kept_failing} copies failed their checks in every attempt and were "
                        "kept as drawn last (their manifest rows name the checks under 'failed')")
    if plan.newly_pinned:
        warnings.append(f"{out.location}: made before sources were pinned (manifest schema 1): "
                        f"the SHA-256 of its {plan.newly_pinned} sources is recorded now")
    if unrecorded:
        warnings.append(f"{unrecorded} files named like outputs that no manifest or journal row "
                        "records (written while an earlier run was stopped) were removed")
    images = {label: 0 for label in dataset.classes}
    for label, count in rows.labels.items():
        images[label] = count
    if config.per_class_target is not None:
        kept_by_class = Counter(row["label"] for row in kept_orphans)
        warnings += [f"class {label}: {count - kept_by_class[label]} images, above "
                     f"--per-class-target {config.per_class_target} (it has more sources than "
                     "that)" for label, count in images.items()
                     if count - kept_by_class[label] > config.per_class_target]
    return RunSummary(config.out, len(dataset.sources),
                      written, images, tuple(reported),
                      tuple(warnings), time.perf_counter() - started, executor_name, workers,
                      kept=len(plan.kept), redone=plan.redone, pruned=pruned,
                      orphans_kept=len(kept_orphans), unrecorded_removed=unrecorded,
                      duplicates=duplicates, unchanged=tuple(sorted(unchanged)),
                      per_class_target=config.per_class_target, changed=plan.changed,
                      ignored=dataset.not_images,
                      sources_per_class={label: rows.sources.get(label, 0)
                                         for label in dataset.classes},
                      rejected=dict(sorted(rejected.items())), kept_failing=kept_failing)


#: changed sources named one a line; more are summed up in one
_CHANGED_LINES = 5


def _changed_lines(plan: Plan, skipped: dict[str, Skipped]) -> list[str]:
    """What the run did about sources that changed since the outputs in DIR were made."""
    made = {w.source.rel_path: w for w in plan.work}

    def did(rel: str) -> str:
        work = made.get(rel)
        if rel in skipped or work is None:
            return "its earlier outputs were removed" + (" (it is skipped now)" * (rel in skipped))
        count = len(work.copies)
        what = [f"{count} cop{'y' if count == 1 else 'ies'}"] if count else []
        what += ["original"] if work.original else []
        return f"its {' and '.join(what)} {'was' if work.outputs == 1 else 'were'} made again"

    if len(plan.changed) <= _CHANGED_LINES:
        return [f"{rel} changed since the last run: {did(rel)}" for rel in plan.changed]
    outputs = sum(made[rel].outputs for rel in plan.changed if rel in made and rel not in skipped)
    named = ", ".join(plan.changed[:3])
    return [(f"{len(plan.changed)} sources changed since the last run ({named}, …): their "
             f"earlier outputs were removed and {outputs} made again")]


def _without_gone(totals: ManifestTotals, dataset: Dataset,
                  kept_orphans: Iterable[Row]) -> ManifestTotals:
    """The manifest's counts with the sources that are no longer in SRC (whose outputs are kept
    as orphans) left out of the sources per class: a class's sources are those of SRC."""
    present = {source.rel_path for source in dataset.sources}
    gone = Counter(label for label, _ in {(row["label"], row["source"]) for row in kept_orphans
                                          if row["source"] not in present})
    return ManifestTotals(totals.labels, totals.sources - gone)


def _collect(result: SourceResult, spool: ManifestSpool, journal: Journal | ObjectJournal,
             skipped: dict[str, Skipped], notes: list[str], progress: Progress | None) -> None:
    notes.extend(result.notes)
    if result.skipped is not None:
        skipped.setdefault(result.source, Skipped(result.source, result.skipped))
    else:
        journal.add(spool.add_encoded(result.label, result.source, result.rows))
    if progress is not None:
        progress.advance(len(result.rows))


def _run_record(config: ExpandConfig, classes: tuple[str, ...], rows: ManifestTotals,
                skipped: list[Skipped]) -> dict[str, Any]:
    """Only what determines the output, so two identical runs write identical run.json files
    (`skipped` sorted by source)."""
    return {
        "tool": "expand",
        "version": __version__,
        "manifest_schema": schema_for(config.augment.any_checks()),
        "random_streams": RANDOM_STREAMS_VERSION,
        "libraries": library_versions(),
        "config": config.determining(),
        "counts": {
            "classes": {label: {"sources": rows.sources.get(label, 0),
                                "images": rows.labels.get(label, 0)} for label in classes},
            "sources": sum(rows.sources.values()),
            "images": sum(rows.labels.values()),
            "skipped": len(skipped),
        },
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
    }
