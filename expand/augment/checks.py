"""Per-output checks: whether a copy still shows what its source shows (issue 23).

Each check measures one value of a copy (recorded in its manifest row under `checks`) and
compares it with a threshold of the config's `[checks]` table; a threshold left out turns that
check off. A copy that fails a check is drawn again from child streams (worker.draw_checked),
up to `max_attempts` drafts in all; when every draft fails, the last is kept and its row names
the checks it fails (`failed`), so DIR always holds every asked-for copy.

The line-art checks (extent, holes, ink fill) need the source's trace: they run in classes whose
config lists a line-art transform, and are recorded as null elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np

from expand.augment import lineart
from expand.errors import ConfigError

#: The checks, in the order they are measured and recorded: name → the threshold field.
CHECKS: dict[str, str] = {
    "blank": "min_luma_std",
    "changed": "min_change_levels",
    "in_frame": "min_in_frame_frac",
    "extent": "min_extent_px",
    "holes": "topology",
    "ink_fill": "max_ink_fill_frac",
    "objects": "min_objects",
}
LINE_ART_CHECKS = ("extent", "holes", "ink_fill")
MAX_ATTEMPTS = 100
_INK = 0.5  # coverage from which a pixel is ink (lineart's own threshold)
_FRAME_GRID = 16  # points a side sampled over a source that is not line art (in_frame)


@dataclass(frozen=True)
class Checks:
    """Which checks run on each copy, their thresholds, and how many drafts a copy may take.

    min_luma_std: not blank (the copy's luma standard deviation, levels); min_change_levels:
    not identical to the source (mean absolute difference, levels); min_in_frame_frac: the
    share of the source's content (line art: its centre lines; else its frame) that the
    geometry keeps inside the frame; min_extent_px: line art's ink box, shorter side (px);
    topology: line art keeps the source's number of enclosed paper regions; max_ink_fill_frac:
    line art's ink coverage within its box (a blob fills it); min_objects: the objects (boxes,
    polygons) a copy keeps of a source that has some (on by default, 1, for object layouts).
    """

    max_attempts: int = 4
    min_luma_std: float | None = None
    min_change_levels: float | None = None
    min_in_frame_frac: float | None = None
    min_extent_px: float | None = None
    topology: bool = False
    max_ink_fill_frac: float | None = None
    min_objects: int | None = None

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) \
                or not 1 <= attempts <= MAX_ATTEMPTS:
            raise ConfigError(f"checks.max_attempts: expected a whole number between 1 and "
                              f"{MAX_ATTEMPTS}, got {attempts!r}")
        for name, high in (("min_luma_std", 128.0), ("min_change_levels", 255.0),
                           ("min_in_frame_frac", 1.0), ("min_extent_px", 16_384.0),
                           ("max_ink_fill_frac", 1.0)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= value <= high:
                raise ConfigError(f"checks.{name}: expected a number in [0, {high:g}], "
                                  f"got {value!r}")
            object.__setattr__(self, name, float(value))
        objects = self.min_objects
        if objects is not None and (isinstance(objects, bool) or not isinstance(objects, int)
                                    or not 0 <= objects <= 1_000_000):
            raise ConfigError(f"checks.min_objects: expected a whole number >= 0, got {objects!r}")
        if not isinstance(self.topology, bool):
            raise ConfigError(f"checks.topology: expected true or false, got {self.topology!r}")
        if not self.names():
            raise ConfigError("checks: no check is on; give at least one threshold (or leave "
                              "the table out)")

    @classmethod
    def from_value(cls, value: Any) -> Checks | None:
        """A `[checks]` table (or Checks, or None; an empty table: None) → Checks or None.

        Raises:
            ConfigError: an unknown key or a bad value, naming it.
        """
        if value is None or isinstance(value, Checks):
            return value
        if value == {}:  # a class override's `checks = {}`: no checks for that class
            return None
        if not isinstance(value, Mapping):
            raise ConfigError(f"checks: expected a table of thresholds, got {value!r}")
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ConfigError(f"checks: unknown key '{unknown[0]}' (allowed: "
                              f"{', '.join(allowed)})")
        return cls(**value)

    def to_dict(self) -> dict[str, Any]:
        """The run.json form: the thresholds that are on."""
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}

    def names(self) -> tuple[str, ...]:
        """The checks that are on, in CHECKS order."""
        return tuple(name for name, key in CHECKS.items()
                     if getattr(self, key) is not None and getattr(self, key) is not False)

    def failing(self, values: Mapping[str, float | int | None], holes: int | None) -> list[str]:
        """The checks whose value misses its threshold (null values, not measured, pass);
        `holes`: the source's number of enclosed paper regions."""
        failed = []
        for name in self.names():
            value = values.get(name)
            if value is None:
                continue
            if name == "holes":
                bad = value != holes
            elif name == "ink_fill":
                bad = value > float(self.max_ink_fill_frac or 0.0)
            else:
                bad = value < float(getattr(self, CHECKS[name]))
            if bad:
                failed.append(name)
        return failed


@dataclass(frozen=True)
class SourceFacts:
    """What the checks compare each copy of a source with: its pixels, and for line art its
    trace and number of enclosed paper regions."""

    pixels: np.ndarray
    traced: lineart.Traced | None
    holes: int | None

    @classmethod
    def of(cls, pixels: np.ndarray, traced: lineart.Traced | None) -> SourceFacts:
        if traced is None:
            return cls(pixels, None, None)
        return cls(pixels, traced, enclosed_paper(lineart.coverage(pixels, traced.polarity)))


def enclosed_paper(cover: np.ndarray) -> int:
    """Paper regions (coverage below half, 4-connected, as ink is 8-connected) that touch no
    border: the holes of closed outlines."""
    paper = (cover < _INK).astype(np.uint8)
    count, labels = cv2.connectedComponents(paper, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    inside = set(range(1, count)) - {int(v) for v in border}
    return len(inside)


def measure(checks: Checks, copy: np.ndarray, facts: SourceFacts, has_alpha: bool,
            matrix: np.ndarray, objects: int | None = None,
            polarity: lineart.Polarity | None = None) -> dict[str, float | int | None]:
    """The value of each check that is on (rounded for the manifest; null: not measured).

    Args:
        copy: the copy's pixels (H, W) or (H, W, C).
        facts: the source's (SourceFacts.of).
        has_alpha: whether the last channel is alpha (left out of luma and differences).
        matrix: the copy's output → input map (geometry and placement), for in_frame.
        objects: the objects the copy keeps, None when its source has none (nothing to lose).
        polarity: the copy's ink and paper (pipeline.copy_polarity), else the source's.
    """
    names = checks.names()
    values: dict[str, float | int | None] = {}
    colour = copy[..., :-1] if has_alpha else copy
    if "blank" in names:
        values["blank"] = round(float(np.asarray(colour, np.float32).std()), 3)
    if "changed" in names:
        source = facts.pixels[..., :-1] if has_alpha else facts.pixels
        values["changed"] = round(float(np.abs(colour.astype(np.float32)
                                               - source.astype(np.float32)).mean()), 3) \
            if source.shape == colour.shape else None
    if "in_frame" in names:
        values["in_frame"] = round(_in_frame(facts, matrix, copy.shape[1], copy.shape[0]), 4)
    if facts.traced is None:
        values.update({name: None for name in LINE_ART_CHECKS if name in names})
    else:
        values.update(_line_art_values(names, copy, polarity or facts.traced.polarity))
    if "objects" in names:
        values["objects"] = objects
    return values


def _line_art_values(names: tuple[str, ...], copy: np.ndarray,
                     polarity: lineart.Polarity) -> dict[str, float | int | None]:
    values: dict[str, float | int | None] = {}
    cover = lineart.coverage(copy, polarity)
    inked = cover >= _INK
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if "extent" in names:
        values["extent"] = 0 if rows.size == 0 else \
            int(min(rows[-1] - rows[0], cols[-1] - cols[0])) + 1
    if "holes" in names:
        values["holes"] = enclosed_paper(cover)
    if "ink_fill" in names:
        box = cover[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if rows.size else cover[:0]
        values["ink_fill"] = round(float(box.mean()), 4) if box.size else 0.0
    return values


def _in_frame(facts: SourceFacts, matrix: np.ndarray, width: int, height: int) -> float:
    """The share of the source's content points the map carries inside the output frame."""
    if facts.traced is not None:
        points = facts.traced.centre.points
    else:
        src_h, src_w = facts.pixels.shape[:2]
        ys, xs = np.meshgrid(np.linspace(0, src_h - 1, _FRAME_GRID),
                             np.linspace(0, src_w - 1, _FRAME_GRID), indexing="ij")
        points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    forward = np.linalg.inv(matrix)
    moved = points @ forward[:2, :2].T + forward[:2, 2]
    w = points @ forward[2, :2] + forward[2, 2]
    moved = moved / w[:, None]
    inside = ((moved[:, 0] >= -0.5) & (moved[:, 0] <= width - 0.5)
              & (moved[:, 1] >= -0.5) & (moved[:, 1] <= height - 0.5) & (w > 0))
    return float(inside.mean()) if len(points) else 1.0
