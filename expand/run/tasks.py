"""What the workers are given: the plan's work cut into tasks, and what a task costs a worker (the
figure each backend batches by)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from expand.annotations import ImageTargets
from expand.augment.seeding import SEED_BLOCK
from expand.config import ExpandConfig
from expand.errors import ImageReadError
from expand.exec.execution import Workload
from expand.io import codec
from expand.io.discover import SourceImage, spread
from expand.io.storage import Store
from expand.run.state import Work
from expand.run.worker import Task

#: The most copies one task makes: one block of seeds (SourceStreams). A source asked for more (a
#: small class under --per-class-target gets thousands) is split into tasks of this many copies,
#: its original going with the first: every worker can take a share of it, and a worker holds and
#: returns one task's rows instead of a source's, which grow with the copies asked for. Each such
#: task decodes the source (and traces it, for line-art transforms) again: once per 256 outputs.
COPIES_PER_TASK = SEED_BLOCK


def task_starts(copies: int) -> range:
    """Where each task of a source asked for `copies` copies starts in its list (one task when
    it gets none: its original)."""
    return range(0, max(1, copies), COPIES_PER_TASK)


def make_tasks(work: Iterable[Work], config: ExpandConfig, new_dir: bool,
               targets: Mapping[str, ImageTargets] | None = None) -> Iterator[Task]:
    """The tasks of the plan's work, made as they are taken (a million sources are never a
    million Tasks at once). `targets`: layout coco's, by source (each task carries its own)."""
    for item in work:
        shipped = None if targets is None else targets.get(item.source.rel_path)
        for start in task_starts(len(item.copies)):
            yield Task(item.source, config, item.copies[start:start + COPIES_PER_TASK],
                       item.original and start == 0, new_dir, shipped)


def for_workers(config: ExpandConfig) -> ExpandConfig:
    """The config the tasks carry: where they may run in another working folder (a cluster's
    workers), local paths made absolute (a shared filesystem must be mounted at the same place).
    run.json keeps SRC as given."""
    if not config.executor.elsewhere:
        return config
    src, out = config.src, config.out
    return replace(config, src=src.absolute() if isinstance(src, Path) else src,
                   out=out.absolute() if isinstance(out, Path) else out)


def outputs_per_task(config: ExpandConfig, copies: dict[str, int]) -> int:
    """The most outputs a task makes (`copies`: copies_per_source): under --per-class-target a
    small class's sources get thousands, in tasks of COPIES_PER_TASK, and `--copies` is not
    used."""
    return min(max(copies.values(), default=0), COPIES_PER_TASK) + config.include_originals


#: What one output costs a worker, roughly (ms; fitted on bench/'s workloads): a fixed part
#: (drawing, Python, the write) and a part per pixel, which PNG's encoder makes larger.
_OUTPUT_MS = 0.17
_PIXEL_MS = {"png": 35e-6}
_OTHER_PIXEL_MS = 8e-6


def output_ms(config: ExpandConfig, src: Store, sources: Sequence[SourceImage],
              count: int = 3) -> float:
    """The cost model's figure for the costliest of a few sources spread over SRC (headers only):
    when in doubt, smaller messages."""
    costs = []
    for source in spread(sources, count):
        try:
            source_format, size = probe(src, source.rel_path)
        except (ImageReadError, OSError):
            continue
        width, height = config.resize or size
        fmt = codec.output_format(config.image_format, source_format)
        costs.append(_OUTPUT_MS + width * height * _PIXEL_MS.get(fmt, _OTHER_PIXEL_MS))
    return max(costs, default=_OUTPUT_MS)


def workload(config: ExpandConfig, src: Store, sources: Sequence[SourceImage],
             copies: dict[str, int]) -> Workload:
    """How many tasks the run may map and what the costliest costs (`copies`:
    copies_per_source); a local run of one worker batches nothing and reads no header."""
    tasks = sum(len(task_starts(count)) for count in copies.values())
    if config.executor.local_pool is None:
        return Workload(tasks, math.inf)
    return Workload(tasks, outputs_per_task(config, copies) * output_ms(config, src, sources))


#: What a header is read from first: enough for every format but WebP (Pillow opens a whole WebP)
#: and a JPEG whose metadata comes before its size; those are then read whole.
HEAD_BYTES = 64 * 1024


def probe(src: Store, rel: str) -> tuple[str, tuple[int, int]]:
    """codec.probe from the file's head, not the whole file (a photo is megabytes, and an
    object store's GET of it costs more): the estimates before the run read a few sources' headers.

    Raises:
        ImageReadError, OSError: as codec.probe and the store's reads.
    """
    head = src.read_head(rel, HEAD_BYTES)
    try:
        return codec.probe(head)
    except ImageReadError:
        if len(head) < HEAD_BYTES:
            raise  # the whole file was read: the header itself is bad
    return codec.probe(src.read_bytes(rel))
