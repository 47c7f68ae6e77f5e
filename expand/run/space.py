"""What a run would write, counted before it writes: the dry run's report, the space check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expand.config import ExpandConfig
from expand.errors import ImageReadError, InsufficientSpaceError
from expand.io.discover import Dataset, spread
from expand.io.storage import Location, Store, open_store
from expand.run.state import Earlier, Plan, estimate_bytes
from expand.run.tasks import probe
from expand.run.worker import Task, render_source

#: Room kept free beyond the estimate: the manifest, run.json and file-system overhead.
SPACE_MARGIN = 1.10
SPACE_RESERVE = 16 * 2**20
#: Sources whose outputs the size estimate looks at.
_SAMPLED = 6


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


def _sample_sizes(config: ExpandConfig, plan: Plan) -> list[int]:
    """Encode a few outputs in memory (evenly spread over the sources) to estimate sizes."""
    sizes = []
    for work in spread(plan.work, _SAMPLED):
        result = render_source(Task(work.source, config, work.copies[:1], not work.copies))
        sizes += [len(data) for data in result]
    return sizes


def _raw_sizes(config: ExpandConfig, plan: Plan) -> list[int]:
    """Uncompressed sizes (4 bytes a pixel) of a few sources, read from their headers only."""
    src = open_store(config.src, config.storage_options)
    sizes = []
    for work in spread(plan.work, _SAMPLED):
        try:
            width, height = config.resize or probe(src, work.source.rel_path)[1]
        except (ImageReadError, OSError):
            continue
        sizes += [width * height * 4 + 4096] * (len(work.copies[:1]) + work.original)
    return sizes


def report(config: ExpandConfig, out: Store, dataset: Dataset, earlier: Earlier,
           plan: Plan, quick: bool = False) -> DryRun:
    """With `quick` (a real run, which only needs to know the outputs fit), an upper estimate
    from uncompressed sizes is tried first; samples are encoded only when that one is tight."""
    per_class = Counter({label: 0 for label in dataset.classes})
    for work in plan.work:
        per_class[work.source.label] += work.outputs
    free = out.free_bytes()

    def counted(sizes: Callable[[ExpandConfig, Plan], list[int]]) -> DryRun:
        estimate = estimate_bytes(plan, earlier.rows.values(), lambda: sizes(config, plan))
        return DryRun(config.out, len(dataset.sources), plan.outputs_to_write, dict(per_class),
                      len(plan.kept), plan.redone, len(plan.orphans), estimate, free)

    if quick:
        bound = counted(_raw_sizes)
        if bound.fits:
            return bound
    return counted(_sample_sizes)


def check_space(config: ExpandConfig, out: Store, dataset: Dataset, earlier: Earlier,
                plan: Plan) -> None:
    """Raises:
        InsufficientSpaceError: the outputs still to write would not fit in DIR's free space.
    """
    found = report(config, out, dataset, earlier, plan, quick=True)
    if not found.fits:
        raise InsufficientSpaceError(
            f"{out.location}: about {found.estimated_bytes / 2**20:.0f} MiB to write, only "
            f"{(found.free_bytes or 0) / 2**20:.0f} MiB free; free some space and run again")
