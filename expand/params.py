"""Sampled parameters and the one place where random numbers are drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from expand.config import AugmentConfig, ShiftRange


@dataclass(frozen=True)
class AugmentParams:
    """What was drawn for one output, under the keys and sign conventions of Keras's
    `apply_transform` (`tx` is the horizontal shift in pixels, positive moving content left;
    `zx` < 1 magnifies horizontally). Recorded in the manifest; enough to replay the output."""

    theta: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    shear: float = 0.0
    zx: float = 1.0
    zy: float = 1.0
    flip_horizontal: bool = False
    flip_vertical: bool = False
    channel_shift_intensity: float | None = None
    brightness: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentParams:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


_FIELDS = tuple(AugmentParams.__dataclass_fields__)


def _shift(rng: np.random.Generator, shift_range: ShiftRange, size: int) -> float:
    """Keras's rule: float → uniform, int n → ±{0..n-1}, list → ±choice; × size if max < 1."""
    if isinstance(shift_range, tuple):
        value = float(shift_range[int(rng.integers(len(shift_range)))]) * _sign(rng)
        largest = max(shift_range)
    elif isinstance(shift_range, int):
        value = float(rng.integers(shift_range)) * _sign(rng)
        largest = shift_range
    else:
        value = float(rng.uniform(-shift_range, shift_range))
        largest = shift_range
    return value * size if largest < 1 else value


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.integers(2) else -1.0


def _is_on(shift_range: ShiftRange) -> bool:
    return any(shift_range) if isinstance(shift_range, tuple) else bool(shift_range)


def sample_params(
    config: AugmentConfig,
    stream: Callable[[str], np.random.Generator],
    size: tuple[int, int],
) -> AugmentParams:
    """Draw one output's parameters. `stream(name)` gives that transform's own generator.

    Args:
        config: the augmentation settings.
        stream: maps a transform name to its random generator for this output.
        size: (width, height) of the image the parameters apply to.
    """
    width, height = size
    theta = tx = ty = shear = 0.0
    zx = zy = 1.0
    channel_shift: float | None = None
    brightness: float | None = None
    if config.rotation_range:
        r = config.rotation_range
        theta = float(stream("rotation").uniform(-r, r))
    if _is_on(config.width_shift_range):
        tx = _shift(stream("width_shift"), config.width_shift_range, width)
    if _is_on(config.height_shift_range):
        ty = _shift(stream("height_shift"), config.height_shift_range, height)
    if config.shear_range:
        s = config.shear_range
        shear = float(stream("shear").uniform(-s, s))
    if config.zoom_range != (1.0, 1.0):
        zx, zy = (float(v) for v in stream("zoom").uniform(*config.zoom_range, size=2))
    flip_h = bool(config.horizontal_flip and stream("horizontal_flip").random() < 0.5)
    flip_v = bool(config.vertical_flip and stream("vertical_flip").random() < 0.5)
    if config.channel_shift_range:
        c = config.channel_shift_range
        channel_shift = float(stream("channel_shift").uniform(-c, c))
    if config.brightness_range is not None:
        brightness = float(stream("brightness").uniform(*config.brightness_range))
    return AugmentParams(theta, tx, ty, shear, zx, zy, flip_h, flip_v, channel_shift, brightness)
