"""Run the main job as named phases: open and lock DIR, plan and check space, clear leftovers,
execute, record, summarise."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from expand import __version__
from expand.annotations import ImageTargets, Layout, TargetCounts
from expand.augment.lineart import detect_polarity
from expand.augment.seeding import RANDOM_STREAMS_VERSION
from expand.config import ExpandConfig
from expand.errors import (
    EXIT_OK,
    EXIT_SKIPPED,
    ConfigError,
    ExpandError,
    ImageReadError,
    NotLineArtError,
    OutputWriteError,
)
from expand.exec.backends import check_backend, open_executor
from expand.exec.execution import Executor, ExecutorSpec, Workload
from expand.io import storage
from expand.io.codec import library_versions
from expand.io.discover import IMAGES, Dataset, discover_store, spread
from expand.io.layouts import label_file_for
from expand.io.storage import Location, Store, open_store
from expand.run.hfcard import write_card
from expand.run.labels import coco_output, label_folders, read_coco_source, resolve_layout
from expand.run.layout import (
    COCO_FILE,
    check_no_links,
    check_not_foreign,
    check_output_location,
    is_own_file,
    lock_for,
    read_run_file,
    relative_inside,
    without_long_names,
)
from expand.run.manifest import (
    ManifestSpool,
    ManifestTotals,
    read_manifest,
    remove_spools,
    schema_for,
    write_run_file,
)
from expand.run.space import DryRun, check_space, report
from expand.run.state import (
    Earlier,
    Journal,
    ObjectJournal,
    Plan,
    Row,
    check_compatible,
    copies_per_source,
    has_earlier_run,
    make_plan,
    open_journal,
    pinned,
    read_earlier,
    remove_files,
    remove_outputs,
    split_unrecorded,
    unrecorded_outputs,
)
from expand.run.tasks import for_workers, make_tasks, workload
from expand.run.worker import SourceResult, process_source, read_decoded

__all__ = ["DryRun", "ExecutorFactory", "Progress", "RunSummary", "Skipped", "dry_run",
           "expand_dataset"]


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
    #: boxes and polygons (YOLO, COCO) in the copies this run wrote: kept whole, clipped at the
    #: frame, dropped (below --min-visibility or outside); None for other layouts
    objects: dict[str, int] | None = None

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
            "objects": self.objects,
            "exit_code": self.exit_code,
        }




#: Opens a run's executor (backends.open_executor, or a caller's own: tests, benchmarks).
ExecutorFactory = Callable[[ExecutorSpec, Workload], Executor]


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
    dataset = discover_store(src, config.follow_symlinks, config.annotated or Layout.CLASSES)
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
    check_no_links(out, [*dataset.classes, *(row["label"] for row in found.rows.values()),
                         *(label_folders() if config.annotated is not None else ())])
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


def dry_run(config: ExpandConfig) -> DryRun:
    """Counts per class, estimated bytes and the free-space check, without writing anything.

    Raises:
        DatasetLayoutError, ConfigError: as a real run would, before any work.
        StorageError: a bucket is missing or denies access.
    """
    src, out = _stores(config)
    config = resolve_layout(config, src)
    dataset = _with_coco(config, src, _check_place(config, src, out))[0]
    found = _read_state(config, dataset, src, out)
    earlier, plan = _prepare(config, dataset, src, out, copies_per_source(dataset, config), found)
    return report(config, out, dataset, earlier, plan)


@dataclass(frozen=True)
class _Coco:
    """SRC's COCO document as the run uses it: its categories (DIR's document keeps them), each
    source's targets (shipped in its tasks), and what it says that is wrong (warnings)."""

    categories: tuple[dict[str, Any], ...]
    targets: dict[str, ImageTargets]
    problems: tuple[str, ...]


def _with_coco(config: ExpandConfig, src: Store, dataset: Dataset) -> tuple[Dataset, _Coco | None]:
    """Layout coco: the document read once, and its images with a malformed annotation moved to
    the dataset's rejected sources (skipped with the line naming it)."""
    if config.annotated is not Layout.COCO:
        return dataset, None
    document = read_coco_source(src)
    present = {source.rel_path for source in dataset.sources}
    bad = {rel: problem for name, problem in document.rejected.items()
           if (rel := f"{IMAGES}/{name}") in present}
    sources = tuple(s for s in dataset.sources if s.rel_path not in bad)
    rejected = tuple(sorted([*dataset.rejected, *bad.items()]))
    targets = {f"{IMAGES}/{name}": image[2] for name, image in document.images.items()}
    return (replace(dataset, sources=sources, rejected=rejected),
            _Coco(document.categories, targets, document.problems))


@dataclass(frozen=True)
class _Opened:
    """SRC and DIR as a run found them: the stores, SRC's sources, SRC's place in DIR."""

    src: Store
    out: Store
    dataset: Dataset
    src_inside: str | None  # never swept
    coco: _Coco | None = None  # layout coco: SRC's document


def _open(config: ExpandConfig) -> _Opened:
    """Phase 1, before DIR's lock: everything that can refuse the run without writing, then DIR
    made."""
    check_backend(config.executor)  # without the extra: a ConfigError, before work
    src, out = _stores(config)
    dataset, coco = _with_coco(config, src, _check_place(config, src, out))
    try:
        out.make()
    except OSError as exc:
        raise OutputWriteError(f"{out.location}: cannot create ({storage.reason(exc)})") from None
    return _Opened(src, out, dataset, relative_inside(src, out), coco)


def _sweep(opened: _Opened) -> None:
    """Temporary files and manifest spools of killed runs (under DIR's lock: none is in use)."""
    opened.out.remove_temporaries(is_own_file, opened.src_inside)
    remove_spools(opened.out)


def _executor(config: ExpandConfig, factory: ExecutorFactory | None, opened: _Opened,
              copies: dict[str, int]) -> Executor:
    """The caller's executor, else the one config.executor describes."""
    work = workload(config, opened.src, opened.dataset.sources, copies)
    return (factory or open_executor)(config.executor, work)


def _plan(config: ExpandConfig, opened: _Opened, copies: dict[str, int],
          found: Earlier) -> tuple[Earlier, Plan]:
    """Phase 2: what is still to write, and whether it fits."""
    earlier, plan = _prepare(config, opened.dataset, opened.src, opened.out, copies, found)
    check_space(config, opened.out, opened.dataset, earlier, plan)
    return earlier, plan


@dataclass(frozen=True)
class _Cleared:
    """What phase 3 removed, and what it left for the run's end."""

    pruned: int
    unrecorded: int
    #: unrecorded files the plan writes again; emptied of those the run records as it goes, what
    #: is left is removed at the end
    again: set[str]
    #: recorded outputs no longer asked for, kept (no --prune)
    kept_orphans: tuple[Row, ...]


def _clear_leftovers(config: ExpandConfig, opened: _Opened, found: Earlier, earlier: Earlier,
                     plan: Plan) -> _Cleared:
    """Phase 3: outputs of the settings replaced (--rebuild), no longer asked for (--prune) or
    made from a source's old bytes, and the debris of a stopped run."""
    out = opened.out
    if config.rebuild:
        remove_outputs(out, found.rows.values())
    pruned = remove_outputs(out, plan.orphans) if config.prune else 0
    remove_outputs(out, plan.stale)  # never left beside copies of the new bytes
    # Debris of a stopped run, in a DIR of ours; not when a missing or malformed manifest hides
    # what DIR records.
    unplanned: list[str] = []
    again: set[str] = set()
    if found.config is not None and found.complete and not found.dropped:
        unplanned, again = split_unrecorded(unrecorded_outputs(
            out, earlier.rows, opened.src_inside), plan)
    return _Cleared(pruned, remove_files(out, unplanned), again,
                    () if config.prune else plan.orphans)


#: where a run's rows land as they come (state.open_journal)
_AnyJournal = Journal | ObjectJournal


@contextmanager
def _journaled(config: ExpandConfig, out: Store, carried: list[Row],
               progress: Progress | None) -> Iterator[tuple[ManifestSpool, _AnyJournal]]:
    """The run's manifest spool and journal, `carried` rows first. On an error the journal is
    closed (what it holds lets the same command resume); the spool is always discarded."""
    spool = ManifestSpool(out.spool_folder())
    try:
        journal = open_journal(out, config.determining(), spool.add(carried))
        try:
            yield spool, journal
        except BaseException:
            try:
                journal.close()
            except ExpandError:
                pass  # the store is failing: the error being raised already says so
            raise
    finally:
        spool.discard()
        if progress is not None:
            progress.close()


@dataclass
class _Executed:
    """What the tasks answered (phase 4)."""

    executor: str
    workers: int
    #: by source: a source split into several tasks fails in each
    skipped: dict[str, Skipped]
    notes: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    written: int = 0  # counted from the answers: a source may fail in one task only
    rejected: Counter[str] = field(default_factory=Counter)  # drafts drawn again, by check
    kept_failing: int = 0
    objects: TargetCounts = TargetCounts()  # in the copies written


def _execute(pool: Executor, config: ExpandConfig, plan: Plan, opened: _Opened, new_dir: bool,
             spool: ManifestSpool, journal: _AnyJournal, again: set[str],
             progress: Progress | None) -> _Executed:
    """Phase 4: map the plan's tasks over the executor, each answer journaled as it lands."""
    executed = _Executed(pool.name, pool.workers, {
        rel: Skipped(rel, f"{rel}: {reason}") for rel, reason in opened.dataset.rejected})
    if progress is not None:
        progress.start(plan.outputs_to_write)
    tasks = make_tasks(plan.work, for_workers(config), new_dir,
                       None if opened.coco is None else opened.coco.targets)
    layout = config.annotated
    for result in pool.map_unordered(process_source, tasks):
        _collect(result, spool, journal, executed, progress)
        if again:
            again.difference_update(name for name, _ in result.rows)
            if layout is not None:
                again.difference_update(label_file_for(layout, name) for name, _ in result.rows)
    return executed


def _clear_after(opened: _Opened, cleared: _Cleared) -> int:
    """Once every task has answered (no file is being written any more): temporaries left by a
    task that was retried, and files written again but not recorded after all (their source
    failed this time, or its outputs now have another extension); the count of those."""
    opened.out.remove_temporaries(is_own_file, opened.src_inside)
    return remove_files(opened.out, sorted(cleared.again))


@dataclass(frozen=True)
class _Recorded:
    """What phase 5 wrote: the manifest's counts and duplicates, the skipped sources reported."""

    rows: ManifestTotals
    duplicates: tuple[tuple[str, ...], ...]
    skipped: tuple[Skipped, ...]


def _record(config: ExpandConfig, opened: _Opened, spool: ManifestSpool,
            journal: _AnyJournal, executed: _Executed,
            kept_orphans: Iterable[Row]) -> _Recorded:
    """Phase 5: the manifest, then run.json; the journal they replace goes last."""
    rows = _without_gone(spool.write(opened.out), opened.dataset, kept_orphans)
    reported = tuple(sorted(executed.skipped.values(), key=lambda s: s.source))
    if config.annotated is not None:
        _write_annotations(opened)
    write_run_file(opened.out, _run_record(config, opened.dataset.classes, rows, reported))
    if config.annotated is None:  # no card for an annotated layout's DIR (docs/detection.md)
        write_card(opened.out, opened.dataset.classes)
    journal.remove()
    return _Recorded(rows, spool.duplicates(), reported)


def _write_annotations(opened: _Opened) -> None:
    """An annotated layout's files beside the outputs, before run.json: SRC's class lists as
    they are, and for COCO DIR's document, built from the manifest just written (so a resumed or
    updated run's document names every output the manifest holds)."""
    out = opened.out
    try:
        for name in opened.dataset.copied:
            out.write(name, opened.src.read_bytes(name))
        if opened.coco is not None:
            out.write(COCO_FILE, coco_output(opened.coco.categories, read_manifest(out)))
    except OSError as exc:
        raise OutputWriteError(f"{out.location}: cannot write the annotations "
                               f"({storage.reason(exc)})") from None


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
        executor_factory: (spec, workload) → Executor; default: backends.open_executor.

    Raises:
        DatasetLayoutError, ConfigError: before any work starts.
        OutputWriteError, LockHeldError, InsufficientSpaceError: the run stopped; nothing
            half-written is left in DIR, and running the same command again resumes it.
        StorageError, EngineError: a bucket or the Dask scheduler cannot be used.
    """
    started = time.perf_counter()
    config = resolve_layout(config, open_store(config.src, config.storage_options))
    opened = _open(config)
    with lock_for(opened.out) as lock:
        found = _read_state(config, opened.dataset, opened.src, opened.out)
        _sweep(opened)
        try:
            # The workers start first: their imports (NumPy, OpenCV)
            # overlap the planning, and the pool is ready when the first task is.
            copies = copies_per_source(opened.dataset, config)  # once: by hash under balancing
            with _executor(config, executor_factory, opened, copies) as pool:
                earlier, plan = _plan(config, opened, copies, found)
                cleared = _clear_leftovers(config, opened, found, earlier, plan)
                carried = [*plan.kept, *cleared.kept_orphans]
                with _journaled(config, opened.out, carried, progress) as (spool, journal):
                    executed = _execute(pool, config, plan, opened, found.config is None,
                                        spool, journal, cleared.again, progress)
                    # The pool stays open until the run is recorded: its workers, told to exit
                    # as the work ran out, exit meanwhile (on an error leaving it stops them).
                    unrecorded = cleared.unrecorded + _clear_after(opened, cleared)
                    lock.verify()
                    recorded = _record(config, opened, spool, journal, executed,
                                       cleared.kept_orphans)
        except BaseException:
            opened.out.remove_temporaries(is_own_file, opened.src_inside)
            raise
    return _summarise(config, time.perf_counter() - started, opened, found, plan, cleared,
                      unrecorded, executed, recorded)


def _summarise(config: ExpandConfig, elapsed_s: float, opened: _Opened, found: Earlier,
               plan: Plan, cleared: _Cleared, unrecorded: int, executed: _Executed,
               recorded: _Recorded) -> RunSummary:
    """Phase 6: how the run went, and what the user should know about SRC and DIR."""
    src, dataset, kept_orphans = opened.src, opened.dataset, cleared.kept_orphans
    warnings = [f"{src.display(name)}: file at the top level of SRC ignored (not in a class "
                "folder)" for name in dataset.top_level_files]
    warnings += [f"{src.display(name)}: symbolic link to a class folder, not followed "
                 "(--follow-symlinks follows it)" for name in dataset.linked_classes]
    warnings += [f"{src.display(label)}: class folder holds no image"
                 for label in dataset.empty_classes]
    warnings += sorted(set(executed.notes))  # a source split into several tasks notes it in each
    if opened.coco is not None:
        warnings += list(opened.coco.problems)
    if found.dropped:
        warnings.append(f"{found.dropped} malformed records of DIR were set aside by --rebuild "
                        "(the files they named were left alone)")
    if kept_orphans:
        warnings.append(f"{len(kept_orphans)} earlier outputs whose source is gone or whose copy "
                        "is no longer asked for were kept (listed in the manifest); --prune "
                        "removes them")
    warnings += _changed_lines(plan, executed.skipped)
    drawings = _drawings_under_photo_settings(config, opened)
    if drawings:
        warnings.append(f"class{'es' if len(drawings) > 1 else ''} {', '.join(drawings)}: "
                        "each source looked at looks like line art, but no line-art transform is "
                        "listed, so copies are warped as photos (strokes thickened or thinned by "
                        "the zoom, edges filled by the fill mode); --preset line-art redraws the "
                        "strokes")
    if executed.kept_failing:
        warnings.append(f"{executed.kept_failing} copies failed their checks in every attempt "
                        "and were kept as drawn last (their manifest rows name the checks under "
                        "'failed')")
    if plan.newly_pinned:
        warnings.append(f"{opened.out.location}: made before sources were pinned (manifest "
                        f"schema 1): the SHA-256 of its {plan.newly_pinned} sources is recorded "
                        "now")
    if unrecorded:
        warnings.append(f"{unrecorded} files named like outputs that no manifest or journal row "
                        "records (written while an earlier run was stopped) were removed")
    rows = recorded.rows
    images = {label: 0 for label in dataset.classes}
    for label, count in rows.labels.items():
        images[label] = count
    if config.per_class_target is not None:
        kept_by_class = Counter(row["label"] for row in kept_orphans)
        warnings += [f"class {label}: {count - kept_by_class[label]} images, above "
                     f"--per-class-target {config.per_class_target} (it has more sources than "
                     "that)" for label, count in images.items()
                     if count - kept_by_class[label] > config.per_class_target]
    # the sources the manifest holds, as run.json counts them (a skipped source in neither)
    return RunSummary(config.out, sum(rows.sources.values()),
                      executed.written, images, recorded.skipped,
                      tuple(warnings), elapsed_s, executed.executor, executed.workers,
                      kept=len(plan.kept), redone=plan.redone, pruned=cleared.pruned,
                      orphans_kept=len(kept_orphans), unrecorded_removed=unrecorded,
                      duplicates=recorded.duplicates,
                      unchanged=tuple(sorted(executed.unchanged)),
                      per_class_target=config.per_class_target, changed=plan.changed,
                      ignored=dataset.not_images,
                      sources_per_class={label: rows.sources.get(label, 0)
                                         for label in dataset.classes},
                      rejected=dict(sorted(executed.rejected.items())),
                      kept_failing=executed.kept_failing,
                      objects=None if config.annotated is None or not config.annotated.has_objects
                      else executed.objects.as_dict())


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


def _collect(result: SourceResult, spool: ManifestSpool, journal: _AnyJournal,
             executed: _Executed, progress: Progress | None) -> None:
    executed.notes.extend(result.notes)
    if result.skipped is not None:
        executed.skipped.setdefault(result.source, Skipped(result.source, result.skipped))
    else:
        journal.add(spool.add_encoded(result.label, result.source, result.rows))
    executed.written += len(result.rows)
    executed.unchanged += result.unchanged
    executed.rejected.update(dict(result.rejected))
    executed.kept_failing += result.kept_failing
    executed.objects += result.objects
    if progress is not None:
        progress.advance(len(result.rows))


def _run_record(config: ExpandConfig, classes: tuple[str, ...], rows: ManifestTotals,
                skipped: tuple[Skipped, ...]) -> dict[str, Any]:
    """Only what determines the output, so two identical runs write identical run.json files
    (`skipped` sorted by source)."""
    return {
        "tool": "expand",
        "version": __version__,
        "manifest_schema": schema_for(config.augment.any_checks(), config.annotated is not None),
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


#: Sources per class judged for the line-art hint, and the largest judged (the test takes up to
#: a few milliseconds on a small drawing; a large image is a photo's size, not a sketch's).
_HINT_SOURCES = 3
_HINT_PIXELS = 128 * 128


def _drawings_under_photo_settings(config: ExpandConfig, opened: _Opened) -> list[str]:
    """The classes whose config lists no line-art transform although the few sources looked at
    (spread over the class) all look like line art: once per run, never per copy or task."""
    found = []
    if config.annotated is not None:
        return []  # line art is refused with labels: the hint would suggest a refused preset
    for label in opened.dataset.classes:
        if config.augment.for_class(label).line_art():
            continue
        members = [s for s in opened.dataset.sources if s.label == label]
        judged = [_looks_like_line_art(opened.src, source.rel_path)
                  for source in spread(members, _HINT_SOURCES)]
        if judged and all(judged):
            found.append(label)
    return found


def _looks_like_line_art(src: Store, rel_path: str) -> bool:
    """Whether lineart's test takes a small source for line art (unreadable or large: no)."""
    try:
        decoded = read_decoded(src, rel_path)[1]
    except ImageReadError:
        return False
    height, width = decoded.pixels.shape[:2]
    if width * height > _HINT_PIXELS:
        return False
    try:
        detect_polarity(decoded.pixels)
    except NotLineArtError:
        return False
    return True
