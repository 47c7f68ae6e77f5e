"""Plan the run, map sources over an executor, stream results into the manifest, summarise."""

from __future__ import annotations

import hashlib
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import PIL
from PIL import features

from expand import __version__, storage
from expand.config import ExpandConfig
from expand.discover import Dataset, SourceImage, discover
from expand.errors import EXIT_OK, EXIT_SKIPPED, ConfigError
from expand.executors import Executor, make_executor
from expand.layout import OutputLock, check_output_dir
from expand.manifest import MANIFEST_SCHEMA_VERSION, ManifestSpool, find_duplicates, write_run_file
from expand.seeding import RANDOM_STREAMS_VERSION
from expand.worker import SourceResult, Task, process_source, worker_init


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

    out: Path
    sources: int
    images_written: int
    images_per_class: dict[str, int]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    elapsed_s: float
    executor: str
    workers: int
    #: groups of outputs with the same bytes (found by SHA-256), and copies identical to their
    #: source; derived from the output, so reported here and never written into DIR
    duplicates: tuple[tuple[str, ...], ...] = ()
    unchanged: tuple[str, ...] = ()
    per_class_target: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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


def _chunksize(tasks: int, workers: int) -> int:
    """Big enough to amortise inter-process traffic, small enough to balance the tail."""
    return max(1, min(16, tasks // (workers * 8)))


ExecutorFactory = Callable[[int, int], Executor]


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


def check_class_overrides(config: ExpandConfig, classes: tuple[str, ...]) -> None:
    unknown = [label for label, _ in config.augment.classes if label not in classes]
    if unknown:
        raise ConfigError(f"classes.{unknown[0]}: no class folder of that name in {config.src} "
                          f"(classes: {', '.join(classes)})")


def expand_dataset(
    config: ExpandConfig,
    progress: Progress | None = None,
    executor_factory: ExecutorFactory | None = None,
) -> RunSummary:
    """Run the main job: write copies (and originals), then metadata.jsonl, then run.json.

    Args:
        config: the resolved run settings.
        progress: told the total, then each source's image count as it lands.
        executor_factory: (workers, chunksize) → Executor; default: serial for 1 worker, else a
            local process pool.

    Raises:
        DatasetLayoutError, ConfigError: before any work starts.
        OutputWriteError, LockHeldError: the run stopped; nothing half-written is left in DIR.
    """
    started = time.perf_counter()
    dataset = discover(config.src)
    check_class_overrides(config, dataset.classes)
    plan = copies_per_source(dataset, config)
    check_output_dir(config.src, config.out, config.determining())
    config.out.mkdir(parents=True, exist_ok=True)
    warnings = [f"{config.src / name}: file at the top level of SRC ignored (not in a class folder)"
                 for name in dataset.top_level_files]
    warnings += [f"{config.src / label}: class folder holds no image" for label in dataset.empty_classes]
    skipped = [Skipped(rel, f"{rel}: not an image file (extension)") for rel in dataset.not_images]
    originals = 1 if config.include_originals else 0
    factory = executor_factory or (lambda w, c: make_executor(w, worker_init, c))
    images: Counter[str] = Counter()
    sources_done: Counter[str] = Counter()
    hashes = array("Q")  # 8-byte SHA-256 prefixes: duplicate candidates without holding names
    unchanged: list[str] = []

    with OutputLock(config.out):
        for label in dataset.classes:
            (config.out / label).mkdir(exist_ok=True)
        spool = ManifestSpool(config.out)
        if progress is not None:
            progress.start(sum(plan.values()) + originals * len(dataset.sources))
        try:
            tasks: Iterator[Task] = (Task(s, config, plan[s.rel_path]) for s in dataset.sources)
            with factory(config.workers, _chunksize(len(dataset.sources), config.workers)) as pool:
                executor_name, workers = pool.name, pool.workers
                for result in pool.map_unordered(process_source, tasks):
                    _collect(result, spool, skipped, images, sources_done, progress,
                             plan[result.source] + originals)
                    hashes.extend(int(r.sha256[:16], 16) for r in result.records)
                    unchanged += result.unchanged
            spool.write(config.out)
            write_run_file(config.out, _run_record(config, dataset.classes, images, sources_done,
                                                   skipped))
        except BaseException:
            storage.remove_temporaries(config.out)
            raise
        finally:
            spool.discard()
            if progress is not None:
                progress.close()
    skipped.sort(key=lambda s: s.source)
    if config.per_class_target is not None:
        warnings += [f"class {label}: {images[label]} images, above --per-class-target "
                     f"{config.per_class_target} (it has more sources than that)"
                     for label in dataset.classes if images[label] > config.per_class_target]
    return RunSummary(config.out, len(dataset.sources), sum(images.values()),
                      {label: images[label] for label in dataset.classes}, tuple(skipped),
                      tuple(warnings), time.perf_counter() - started, executor_name, workers,
                      duplicates=find_duplicates(config.out, hashes),
                      unchanged=tuple(sorted(unchanged)),
                      per_class_target=config.per_class_target)


def _collect(result: SourceResult, spool: ManifestSpool, skipped: list[Skipped],
             images: Counter[str], sources_done: Counter[str], progress: Progress | None,
             per_output: int) -> None:
    if result.skipped is not None:
        skipped.append(Skipped(result.source, result.skipped))
        if progress is not None:
            progress.advance(per_output)
        return
    for record in result.records:
        spool.add(record.to_json())
        images[record.label] += 1
    if result.records:
        sources_done[result.records[0].label] += 1
    if progress is not None:
        progress.advance(len(result.records))


def _run_record(config: ExpandConfig, classes: tuple[str, ...], images: Counter[str],
                sources_done: Counter[str], skipped: list[Skipped]) -> dict[str, Any]:
    """Only what determines the output, so two identical runs write identical run.json files."""
    return {
        "tool": "expand",
        "version": __version__,
        "manifest_schema": MANIFEST_SCHEMA_VERSION,
        "random_streams": RANDOM_STREAMS_VERSION,
        "libraries": library_versions(),
        "config": config.determining(),
        "counts": {
            "classes": {label: {"sources": sources_done[label], "images": images[label]}
                        for label in classes},
            "sources": sum(sources_done.values()),
            "images": sum(images.values()),
            "skipped": len(skipped),
        },
        "skipped": [{"source": s.source, "reason": s.reason}
                    for s in sorted(skipped, key=lambda s: s.source)],
    }
