"""What a detection or segmentation dataset says of one image: the types that `io` reads and
writes and `augment` maps through a copy's geometry, so neither knows the other."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class Layout(str, Enum):
    """How SRC holds its labels (docs/detection.md)."""

    CLASSES = "classes"  # SRC/<class>/<images>: a label per image, from its folder
    YOLO = "yolo"  # images/ and labels/ (one .txt per image: boxes or polygons, normalised)
    COCO = "coco"  # images/ and one COCO JSON: boxes, polygons, RLE masks
    MASKS = "masks"  # images/ and masks/: a label PNG per image, same stem

    @property
    def has_objects(self) -> bool:
        """Boxes and polygons: objects that `reflect` and `wrap` would copy in unlabelled."""
        return self in (Layout.YOLO, Layout.COCO)


@dataclass(frozen=True)
class Target:
    """One annotated object. Coordinates are continuous pixel coordinates (COCO's): pixel
    (row i, column j) covers [j, j+1) x [i, i+1), so the image spans [0, W] x [0, H]."""

    category: int
    #: x0, y0, x1, y1 (x0 <= x1, y0 <= y1)
    box: tuple[float, float, float, float]
    #: each a flat ring (x, y, x, y, ...) of at least 3 points; () for a box-only object
    polygons: tuple[tuple[float, ...], ...] = ()
    #: an instance mask (H, W) bool (a COCO RLE object), else None
    mask: np.ndarray | None = field(default=None, compare=False)
    iscrowd: bool = False


@dataclass(frozen=True)
class ImageTargets:
    """An image's annotations: its objects (YOLO, COCO) or its label image (semantic masks)."""

    objects: tuple[Target, ...] = ()
    #: a semantic label image (H, W), uint8 or uint16, one value a class; None for objects
    label_image: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TargetCounts:
    """What a copy's geometry did to its source's objects (recorded in the manifest row)."""

    kept: int = 0  # wholly inside the frame
    clipped: int = 0  # partly outside, cut at the frame, visible enough to keep
    dropped: int = 0  # outside, or less visible than the threshold

    def __add__(self, other: TargetCounts) -> TargetCounts:
        return TargetCounts(self.kept + other.kept, self.clipped + other.clipped,
                            self.dropped + other.dropped)

    def as_dict(self) -> dict[str, Any]:
        """The counts by name, as the manifest row and the run's summary give them."""
        return asdict(self)
