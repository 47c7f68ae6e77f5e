"""Plan the run, map sources over an executor, stream results into the manifest, summarise."""

from __future__ import annotations

import time
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
from expand.discover import discover
from expand.errors import EXIT_OK, EXIT_SKIPPED
from expand.executors import Executor, make_executor
from expand.layout import OutputLock, check_output_dir
from expand.manifest import MANIFEST_SCHEMA_VERSION, ManifestSpool, write_run_file
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
    check_output_dir(config.src, config.out, config.determining())
    config.out.mkdir(parents=True, exist_ok=True)
    warnings = [f"{config.src / name}: file at the top level of SRC ignored (not in a class folder)"
                 for name in dataset.top_level_files]
    warnings += [f"{config.src / label}: class folder holds no image" for label in dataset.empty_classes]
    skipped = [Skipped(rel, f"{rel}: not an image file (extension)") for rel in dataset.not_images]
    per_output = config.copies + (1 if config.include_originals else 0)
    factory = executor_factory or (lambda w, c: make_executor(w, worker_init, c))
    images: Counter[str] = Counter()
    sources_done: Counter[str] = Counter()

    with OutputLock(config.out):
        for label in dataset.classes:
            (config.out / label).mkdir(exist_ok=True)
        spool = ManifestSpool(config.out)
        if progress is not None:
            progress.start(len(dataset.sources) * per_output)
        try:
            tasks: Iterator[Task] = (Task(s, config) for s in dataset.sources)
            with factory(config.workers, _chunksize(len(dataset.sources), config.workers)) as pool:
                executor_name, workers = pool.name, pool.workers
                for result in pool.map_unordered(process_source, tasks):
                    _collect(result, spool, skipped, images, sources_done, progress, per_output)
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
    return RunSummary(config.out, len(dataset.sources), sum(images.values()),
                      {label: images[label] for label in dataset.classes}, tuple(skipped),
                      tuple(warnings), time.perf_counter() - started, executor_name, workers)


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
