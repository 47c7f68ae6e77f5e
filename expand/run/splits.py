"""Leak-free splits on disk: DIR/train (with copies), DIR/val and DIR/test (originals), each a
normal output folder, and each source on one side only, drawn from the seed and its path alone.

The rule (docs/splits.md): u = the first 8 bytes of SHA-256("expand-split", seed, rel_path) read as
a fraction of 2**64; u < val is validation, u < val + test is test, the rest training. No other
source enters the draw, so adding or removing sources moves no other source; the price is that a
class's fractions hold in expectation (binomial spread), not exactly. A cut by rank would meet
them to the source but move one source across the cut on some additions, which would put a
source that already sits in a trained-on folder into another part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from expand.errors import ConfigError, DatasetLayoutError
from expand.io.discover import Dataset
from expand.io.storage import Location

if TYPE_CHECKING:
    from expand.config import ExpandConfig
    from expand.run.runner import DryRun, Progress, RunSummary

PARTS = ("train", "val", "test")
_DOMAIN = b"expand-split-v1"


def side(seed: int, rel_path: str, val: float, test: float) -> str:
    """Which part a source belongs to: a pure function of the seed and its relative path."""
    digest = hashlib.sha256(b"\0".join((_DOMAIN, str(seed).encode("ascii"),
                                        rel_path.encode("utf-8", "surrogateescape")))).digest()
    drawn = int.from_bytes(digest[:8], "big")  # compared with exact products: no float rounding
    if drawn < val * 2**64:
        return "val"
    if drawn < (val + test) * 2**64:
        return "test"
    return "train"


@dataclass(frozen=True)
class Split:
    """The part of a split that one output folder holds, and the fractions that decide it."""

    part: str
    val: float
    test: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("val", self.val), ("test", self.test)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 <= value < 1:
                raise ConfigError(f"--{name}: expected a fraction in [0, 1), got {value!r}")
        if not self.val > 0:
            raise ConfigError("--val: the validation fraction must be above 0")
        if self.val + self.test >= 1:
            raise ConfigError(f"--val and --test: {self.val:g} + {self.test:g} leaves nothing "
                              "to train on; their sum must be below 1")
        if self.part not in self.parts():
            raise ConfigError(f"split part {self.part!r}: expected one of "
                              f"{', '.join(self.parts())}")

    def parts(self) -> tuple[str, ...]:
        return PARTS if self.test > 0 else PARTS[:2]

    def select(self, dataset: Dataset, seed: int) -> Dataset:
        """The sources (read or rejected) of this part; what concerns SRC as a whole (ignored
        files, empty class folders) is reported by the training part only."""
        def mine(rel: str) -> bool:
            return side(seed, rel, self.val, self.test) == self.part

        whole = self.part == "train"
        return replace(dataset, sources=tuple(s for s in dataset.sources if mine(s.rel_path)),
                       rejected=tuple(r for r in dataset.rejected if mine(r[0])),
                       not_images=dataset.not_images if whole else (),
                       top_level_files=dataset.top_level_files if whole else (),
                       empty_classes=dataset.empty_classes if whole else (),
                       linked_classes=dataset.linked_classes if whole else ())

    def to_dict(self) -> dict[str, object]:
        """run.json's record: a part made with other fractions (or another part) is another
        run, refused without --rebuild, so no source can sit in two parts."""
        return {"part": self.part, "val": self.val, "test": self.test}


def part_location(out: Location, part: str) -> Location:
    return out / part if isinstance(out, Path) else f"{out.rstrip('/')}/{part}"


def part_configs(config: ExpandConfig, val: float, test: float) -> tuple[ExpandConfig, ...]:
    """One run per part: the training part as asked; validation and test get each source once,
    re-encoded as the training outputs are (format, resize, quality) with no augmentation."""
    from expand.config import AugmentConfig

    configs = []
    for part in Split("train", val, test).parts():
        split = Split(part, val, test)
        where = part_location(config.out, part)
        if part == "train":
            configs.append(replace(config, out=where, split=split))
        else:
            configs.append(replace(config, out=where, split=split, copies=0,
                                   include_originals=True, per_class_target=None,
                                   augment=AugmentConfig(), preset=None))
    return tuple(configs)


def check_parent(config: ExpandConfig, test: float) -> None:
    """DIR of a split holds its parts and nothing else (hidden files aside): a part left from a
    split with --test, or an output folder of a plain run, would mix sources across parts.

    Raises:
        DatasetLayoutError: naming the entry.
    """
    out = config.out
    if not isinstance(out, Path) or not out.exists():
        return
    if not out.is_dir():
        raise DatasetLayoutError(f"{out}: exists and is not a folder")
    wanted = Split("train", 0.5, test).parts()
    for entry in sorted(out.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.name == "test" and "test" not in wanted:
            raise DatasetLayoutError(f"{entry}: the test part of an earlier split; give --test "
                                     "again, or remove it (its sources would also be in train)")
        if entry.name not in wanted:
            raise DatasetLayoutError(f"{out}: holds {entry.name!r}, which is not a part of a "
                                     f"split ({', '.join(wanted)}); choose an empty or new "
                                     "folder")


def _fill_classes(out: Location, classes: list[str]) -> None:
    """Every class folder in every part, even one that drew no source there: Keras then numbers
    the classes alike in each part (torchvision refuses an empty class folder; HF skips it)."""
    if isinstance(out, Path):
        for label in classes:
            (out / label).mkdir(exist_ok=True)


def split_dataset(config: ExpandConfig, val: float, test: float = 0.0,
                  progress: Callable[[str], Progress | None] = lambda part: None,
                  ) -> tuple[RunSummary, ...]:
    """Run each part in turn (train, val, test): each is an expand_dataset run of its own, so a
    stopped split resumes part by part and each part's records are those of any run.

    Raises:
        as expand_dataset, and DatasetLayoutError when DIR holds something besides the parts.
    """
    from expand.run.runner import expand_dataset

    check_parent(config, test)
    summaries = []
    for part in part_configs(config, val, test):
        summary = expand_dataset(part, progress(part.split.part if part.split else ""))
        _fill_classes(part.out, list(summary.images_per_class))
        summaries.append(summary)
    return tuple(summaries)


def dry_run_split(config: ExpandConfig, val: float, test: float = 0.0) -> tuple[DryRun, ...]:
    from expand.run.runner import dry_run

    check_parent(config, test)
    return tuple(dry_run(part) for part in part_configs(config, val, test))
