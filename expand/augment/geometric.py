"""Geometric catalogue transforms: each a map composed with Keras's affine into one resample."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from expand.augment import functional as F
from expand.augment.seeding import Rng
from expand.augment.transform_base import (
    GeometricTransform,
    Pair,
    Params,
    pair_in,
    scalar_in,
    short,
)
from expand.errors import ConfigError


@dataclass(frozen=True)
class CropBox(Params):
    """random_crop, random_resized_crop: the window taken, in source pixels (edges at 0 and the
    width), scaled to the whole frame. The identity is (0, 0, width, height)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Corners(Params):
    """perspective: where the image's corners (top-left, top-right, bottom-right, bottom-left
    pixel centres) land in the output. The identity leaves them in place."""

    corners: tuple[tuple[float, float], ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Corners:
        return cls(tuple((float(x), float(y)) for x, y in data["corners"]))


#: Crops come first in the forward order, perspective after Keras's affine.
_CROP_ORDER, _PERSPECTIVE_ORDER = -20, 20


@dataclass(frozen=True)
class _Crop(GeometricTransform[CropBox]):
    params_type: ClassVar[type[Params]] = CropBox
    caption_first: ClassVar[bool] = True
    order: ClassVar[int] = _CROP_ORDER  # the two crops exclude each other (check_pipeline)

    @classmethod
    def matrix(cls, params: CropBox, width: int, height: int) -> np.ndarray:
        return F.crop_matrix(params.x, params.y, params.w, params.h, width, height)

    @classmethod
    def caption(cls, params: CropBox) -> str:
        return f"crop {short(params.w, 0)}x{short(params.h, 0)}"


@dataclass(frozen=True)
class RandomCrop(_Crop):
    """A window of `size_frac` of each side at a uniform position, scaled back to the frame."""

    name: ClassVar[str] = "random_crop"
    size_frac: float = 0.875

    def _check(self) -> None:
        self._set("size_frac", scalar_in(f"{self.name}.size_frac", self.size_frac, 0.0, 1.0,
                                         open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> CropBox:
        w, h = self.size_frac * width, self.size_frac * height
        return CropBox(float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), w, h)


@dataclass(frozen=True)
class RandomResizedCrop(_Crop):
    """torchvision's RandomResizedCrop at the image's own size: area `scale`, aspect `ratio`."""

    name: ClassVar[str] = "random_resized_crop"
    scale: Pair = (0.08, 1.0)
    ratio: Pair = (3 / 4, 4 / 3)

    def _check(self) -> None:
        self._set("scale", pair_in(f"{self.name}.scale", self.scale, 0.0, 1.0, open_low=True))
        self._set("ratio", pair_in(f"{self.name}.ratio", self.ratio, 0.0, 100.0, open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> CropBox:
        """torchvision's rule: up to 10 tries at an area and aspect that fit, else the central
        crop closest to the allowed aspects."""
        area = width * height
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * float(rng.uniform(*self.scale))
            aspect = math.exp(float(rng.uniform(*log_ratio)))
            w, h = math.sqrt(target * aspect), math.sqrt(target / aspect)
            if 0 < w <= width and 0 < h <= height:
                x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
                return CropBox(x, y, w, h)
        w, h = float(width), float(height)
        if width / height < self.ratio[0]:
            h = w / self.ratio[0]
        elif width / height > self.ratio[1]:
            w = h * self.ratio[1]
        return CropBox((width - w) / 2, (height - h) / 2, w, h)


@dataclass(frozen=True)
class Perspective(GeometricTransform[Corners]):
    """torchvision's RandomPerspective: each corner moves inward by up to `distortion` x half
    a side."""

    name: ClassVar[str] = "perspective"
    params_type: ClassVar[type[Params]] = Corners
    caption_first: ClassVar[bool] = True
    order: ClassVar[int] = _PERSPECTIVE_ORDER
    projective: ClassVar[bool] = True
    distortion: float = 0.3

    def _check(self) -> None:
        self._set("distortion", scalar_in(f"{self.name}.distortion", self.distortion, 0.0, 1.0))

    def sample(self, rng: Rng, width: int, height: int) -> Corners:
        dx, dy = self.distortion * (width - 1) / 2, self.distortion * (height - 1) / 2
        moves = rng.uniform(0.0, 1.0, size=(4, 2)) * (dx, dy)
        right, bottom = width - 1.0, height - 1.0
        corners = ((moves[0, 0], moves[0, 1]), (right - moves[1, 0], moves[1, 1]),
                   (right - moves[2, 0], bottom - moves[2, 1]), (moves[3, 0], bottom - moves[3, 1]))
        return Corners(tuple((float(x), float(y)) for x, y in corners))

    @classmethod
    def matrix(cls, params: Corners, width: int, height: int) -> np.ndarray:
        return F.perspective_matrix(params.corners, width, height)

    @classmethod
    def caption(cls, params: Corners) -> str:
        return "perspective"


@dataclass(frozen=True)
class Turn(Params):
    """rot90: the number of quarter turns, counter-clockwise as np.rot90 turns an array."""

    k: int


#: After the crop, before Keras's affine: the turn acts on the (cropped) source.
_TURN_ORDER = -10


@dataclass(frozen=True)
class Rot90(GeometricTransform[Turn]):
    """An exact quarter, half or three-quarter turn (`k` quarter turns, drawn uniformly from the
    listed ones, counter-clockwise as np.rot90) about the frame's centre, in the one resample.

    The frame keeps its size. On a square image the turn moves whole pixels (exactly np.rot90);
    on a non-square one, a quarter turn leaves part of the image outside the frame and fills the
    corners it uncovers by the fill mode (paper, for line art), and if the width and height differ
    in parity its samples fall between pixels and are interpolated. A half turn is exact on any
    frame.
    """

    name: ClassVar[str] = "rot90"
    params_type: ClassVar[type[Params]] = Turn
    caption_first: ClassVar[bool] = True
    order: ClassVar[int] = _TURN_ORDER
    k: tuple[int, ...] = (1, 2, 3)

    def _check(self) -> None:
        k = self.k
        if not isinstance(k, (list, tuple)) or not k or len(set(k)) != len(k) \
                or any(isinstance(v, bool) or v not in (1, 2, 3) for v in k):
            raise ConfigError(f"{self.name}.k: expected distinct quarter-turn counts from "
                              f"[1, 2, 3], got {k!r}")
        self._set("k", tuple(int(v) for v in k))

    def sample(self, rng: Rng, width: int, height: int) -> Turn:
        return Turn(self.k[int(rng.integers(len(self.k)))])

    @classmethod
    def matrix(cls, params: Turn, width: int, height: int) -> np.ndarray:
        # Output (x, y) samples the input at centre + Q^k ((x, y) - centre), Q the quarter turn
        # (x, y) -> (-y, x) in image coordinates (y down): whole entries, no round-off.
        turn = np.linalg.matrix_power(np.array([[0, -1], [1, 0]]), params.k % 4).astype(float)
        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        matrix = np.eye(3)
        matrix[:2, :2] = turn
        matrix[:2, 2] = centre - turn @ centre
        return matrix

    @classmethod
    def caption(cls, params: Turn) -> str:
        return f"turn {90 * params.k}°"
