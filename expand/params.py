"""Sampled parameters and the one place where random numbers are drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np

from expand.config import AugmentConfig, ShiftRange
from expand.seeding import Rng
from expand.transform_base import Params
from expand.transforms import CATALOGUE


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
    #: Each listed further transform, in config order: what it drew, or None if it did not fire.
    extra: tuple[tuple[str, Params | None], ...] = ()

    def get(self, name: str) -> Params | None:
        if not self.extra:  # most runs list no further transform: no scan, per output
            return None
        return next((p for n, p in self.extra if n == name), None)

    def to_dict(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Keras's keys, then one entry per further transform (`names`: every transform of the
        run, so that all rows have the same keys; one not listed for this class is null)."""
        data = {k: getattr(self, k) for k in KERAS_PARAM_KEYS}
        for name in names if names is not None else tuple(n for n, _ in self.extra):
            drawn = self.get(name)
            data[name] = None if drawn is None else asdict(drawn)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentParams:
        keras = {k: data[k] for k in KERAS_PARAM_KEYS if k in data}
        extra = tuple((k, None if v is None else CATALOGUE[k].params_type.from_dict(v))
                      for k, v in data.items() if k in CATALOGUE)
        return cls(**keras, extra=extra)


KERAS_PARAM_KEYS: tuple[str, ...] = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal",
                                     "flip_vertical", "channel_shift_intensity", "brightness")


def _shift(rng: Rng, shift_range: ShiftRange, size: int) -> float:
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


def _sign(rng: Rng) -> float:
    return 1.0 if rng.integers(2) else -1.0


def _is_on(shift_range: ShiftRange) -> bool:
    return any(shift_range) if isinstance(shift_range, tuple) else bool(shift_range)


def _fires(rng: Rng, p: float) -> bool:
    """The coin: none at p = 1 (so Keras's always-on transforms draw exactly what they did)."""
    if p >= 1.0:
        return True
    if p <= 0.0:
        return False
    return bool(rng.random() < p)


@cache
def stream_names(config: AugmentConfig) -> tuple[str, ...]:
    """The streams sample_params draws from under `config`, in its order, read off one draw
    (which streams it asks for depends on the config, not on what they give): their seeds can be
    made together for all copies of a source (seeding.SourceStreams). Once per config and
    process."""
    asked: list[str] = []

    def stream(name: str) -> Rng:
        asked.append(name)
        return np.random.default_rng(0)

    sample_params(config, stream, (64, 64))
    return tuple(asked)


def sample_params(
    config: AugmentConfig,
    stream: Callable[[str], Rng],
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
        rng, r = stream("rotation"), config.rotation_range
        theta = float(rng.uniform(-r, r)) if _fires(rng, config.rotation_p) else 0.0
    if _is_on(config.width_shift_range):
        rng = stream("width_shift")
        tx = _shift(rng, config.width_shift_range, width) if _fires(rng, config.width_shift_p) \
            else 0.0
    if _is_on(config.height_shift_range):
        rng = stream("height_shift")
        ty = _shift(rng, config.height_shift_range, height) if _fires(rng, config.height_shift_p) \
            else 0.0
    if config.shear_range:
        rng, s = stream("shear"), config.shear_range
        shear = float(rng.uniform(-s, s)) if _fires(rng, config.shear_p) else 0.0
    if config.zoom_range != (1.0, 1.0):
        rng = stream("zoom")
        if _fires(rng, config.zoom_p):
            zx, zy = (float(v) for v in rng.uniform(*config.zoom_range, size=2))
    flip_h = bool(config.horizontal_flip
                  and _fires(stream("horizontal_flip"), config.horizontal_flip_p))
    flip_v = bool(config.vertical_flip and _fires(stream("vertical_flip"), config.vertical_flip_p))
    if config.channel_shift_range:
        rng, c = stream("channel_shift"), config.channel_shift_range
        if _fires(rng, config.channel_shift_p):
            channel_shift = float(rng.uniform(-c, c))
    if config.brightness_range is not None:
        rng = stream("brightness")
        if _fires(rng, config.brightness_p):
            brightness = float(rng.uniform(*config.brightness_range))
    extra = []
    for transform in config.transforms:
        rng = stream(transform.name)
        drawn = transform.sample(rng, width, height) if _fires(rng, transform.p) else None
        extra.append((transform.name, drawn))
    return AugmentParams(theta, tx, ty, shear, zx, zy, flip_h, flip_v, channel_shift, brightness,
                         tuple(extra))
