"""Sampled parameters and the one place where random numbers are drawn."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any, Union

import numpy as np

from expand import transforms as T
from expand.config import KERAS_SETTINGS, AugmentConfig
from expand.idg import Setting
from expand.seeding import Rng

# ---- what each further transform drew (its manifest entry under its own name) ----


@dataclass(frozen=True)
class CropBox:
    """random_crop, random_resized_crop: the window taken, in source pixels (edges at 0 and the
    width), scaled to the whole frame. The identity is (0, 0, width, height)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Corners:
    """perspective: where the image's corners (top-left, top-right, bottom-right, bottom-left
    pixel centres) land in the output. The identity leaves them in place."""

    corners: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Jitter:
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0


@dataclass(frozen=True)
class Applied:
    """grayscale, equalize: nothing to draw but whether they fired ({} in the manifest)."""


@dataclass(frozen=True)
class GammaValue:
    gamma: float


@dataclass(frozen=True)
class Cutoff:
    cutoff_pct: float


@dataclass(frozen=True)
class Noise:
    """The noise field is drawn from `seed` (a field cannot go into a manifest row)."""

    sigma: float
    seed: int


@dataclass(frozen=True)
class Sigma:
    sigma: float


@dataclass(frozen=True)
class Amount:
    amount: float


@dataclass(frozen=True)
class Quality:
    quality: int


@dataclass(frozen=True)
class Erase:
    """The erased rectangle in output pixels (w or h 0: nothing erased) and its grey value."""

    x: int
    y: int
    w: int
    h: int
    value: int


@dataclass(frozen=True)
class Factor:
    """stroke_width: the multiplier of the stroke width (1: unchanged)."""

    factor: float


@dataclass(frozen=True)
class WobbleField:
    """wobble: amplitude and wavelength as fractions of the frame's shorter side, and the four
    phases (radians) of lineart.Wobble's sine field."""

    amplitude: float
    wavelength: float
    phases: tuple[float, float, float, float]


@dataclass(frozen=True)
class Place:
    """placement: the drawing's box spans `size` of the frame; u, v in [0, 1] are where it
    sits in the room left (0: against the left/top edge, 1: against the right/bottom)."""

    size: float
    u: float
    v: float


@dataclass(frozen=True)
class Levels:
    """ink_paper: fractions of the contrast by which ink and paper move toward each other."""

    ink: float
    paper: float


TransformParams = Union[CropBox, Corners, Jitter, Applied, GammaValue, Cutoff, Noise, Sigma,
                        Amount, Quality, Erase, Factor, WobbleField, Place, Levels]

PARAMS_TYPES: dict[str, type[TransformParams]] = {
    "random_crop": CropBox, "random_resized_crop": CropBox, "perspective": Corners,
    "color_jitter": Jitter, "grayscale": Applied, "gamma": GammaValue, "equalize": Applied,
    "autocontrast": Cutoff, "gaussian_noise": Noise, "gaussian_blur": Sigma, "sharpen": Amount,
    "jpeg": Quality, "random_erasing": Erase, "stroke_preserve": Applied,
    "stroke_width": Factor, "wobble": WobbleField, "placement": Place, "ink_paper": Levels,
}


def _params_from_dict(name: str, data: dict[str, Any] | None) -> TransformParams | None:
    if data is None:
        return None
    cls = PARAMS_TYPES[name]
    values = {f.name: data[f.name] for f in fields(cls)}
    if cls is Corners:
        values["corners"] = tuple((float(x), float(y)) for x, y in values["corners"])
    if cls is WobbleField:
        values["phases"] = tuple(float(v) for v in values["phases"])
    return cls(**values)


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
    extra: tuple[tuple[str, TransformParams | None], ...] = ()

    def get(self, name: str) -> TransformParams | None:
        if not self.extra:  # most runs list no further transform: no scan, per output
            return None
        return next((p for n, p in self.extra if n == name), None)

    def drew_any(self, names: tuple[str, ...]) -> bool:
        """Whether any of `names` fired for this output."""
        return any(p is not None for n, p in self.extra if n in names)

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
        extra = tuple((k, _params_from_dict(k, v)) for k, v in data.items() if k in PARAMS_TYPES)
        return cls(**keras, extra=extra)


KERAS_PARAM_KEYS: tuple[str, ...] = tuple(k for _, s in KERAS_SETTINGS for k in s.params)
#: What each of those keys holds when its transform did not fire (or is off).
KERAS_IDENTITY: dict[str, Any] = {f.name: f.default for f in fields(AugmentParams)
                                  if f.name in KERAS_PARAM_KEYS}


def keras_fired(setting: Setting, params: Mapping[str, Any]) -> bool:
    """Whether a manifest row's `params` show that one of Keras's transforms did something (a
    draw that lands exactly on the identity, such as an integer shift of 0, counts as not)."""
    return any(params[key] != KERAS_IDENTITY[key] for key in setting.params)


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
    keras: dict[str, Any] = {}
    for name, setting in KERAS_SETTINGS:  # in field order, which is the draw order
        value = getattr(config, name)
        if setting.draw is not None and setting.on(value):
            rng = stream(setting.stream)
            if _fires(rng, getattr(config, setting.p_key)):
                keras.update(zip(setting.params, setting.draw(value, rng, size)))
    extra = []
    for transform in config.transforms:
        rng = stream(transform.name)
        drawn = _SAMPLERS[transform.name](transform, rng, width, height) \
            if _fires(rng, transform.p) else None
        extra.append((transform.name, drawn))
    return AugmentParams(**keras, extra=tuple(extra))



def _uniform(rng: Rng, bounds: tuple[float, float]) -> float:
    """U(a, b), with no draw for a fixed value (a == b): that part of the transform is off."""
    low, high = bounds
    return float(low) if low == high else float(rng.uniform(low, high))


def _random_crop(t: Any, rng: Rng, width: int, height: int) -> CropBox:
    w, h = t.size_frac * width, t.size_frac * height
    return CropBox(float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), w, h)


def _random_resized_crop(t: Any, rng: Rng, width: int, height: int) -> CropBox:
    """torchvision's rule: up to 10 tries at an area and aspect that fit, else the central crop
    closest to the allowed aspects."""
    area = width * height
    log_ratio = (math.log(t.ratio[0]), math.log(t.ratio[1]))
    for _ in range(10):
        target = area * float(rng.uniform(*t.scale))
        aspect = math.exp(float(rng.uniform(*log_ratio)))
        w, h = math.sqrt(target * aspect), math.sqrt(target / aspect)
        if 0 < w <= width and 0 < h <= height:
            x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
            return CropBox(x, y, w, h)
    w, h = float(width), float(height)
    if width / height < t.ratio[0]:
        h = w / t.ratio[0]
    elif width / height > t.ratio[1]:
        w = h * t.ratio[1]
    return CropBox((width - w) / 2, (height - h) / 2, w, h)


def _perspective(t: Any, rng: Rng, width: int, height: int) -> Corners:
    dx, dy = t.distortion * (width - 1) / 2, t.distortion * (height - 1) / 2
    moves = rng.uniform(0.0, 1.0, size=(4, 2)) * (dx, dy)
    right, bottom = width - 1.0, height - 1.0
    corners = ((moves[0, 0], moves[0, 1]), (right - moves[1, 0], moves[1, 1]),
               (right - moves[2, 0], bottom - moves[2, 1]), (moves[3, 0], bottom - moves[3, 1]))
    return Corners(tuple((float(x), float(y)) for x, y in corners))


def _color_jitter(t: Any, rng: Rng, width: int, height: int) -> Jitter:
    return Jitter(_uniform(rng, t.brightness), _uniform(rng, t.contrast),
                  _uniform(rng, t.saturation), _uniform(rng, t.hue))


def _erase(t: Any, rng: Rng, width: int, height: int) -> Erase:
    """torchvision's RandomErasing: up to 10 tries at a rectangle that fits, else nothing."""
    log_ratio = (math.log(t.ratio[0]), math.log(t.ratio[1]))
    for _ in range(10):
        target = width * height * float(rng.uniform(*t.scale))
        aspect = math.exp(float(rng.uniform(*log_ratio)))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w < width and 0 < h < height:
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return Erase(x, y, w, h, t.value)
    return Erase(0, 0, 0, 0, t.value)


_SAMPLERS: dict[str, Callable[[Any, Rng, int, int], TransformParams]] = {
    T.RandomCrop.name: _random_crop,
    T.RandomResizedCrop.name: _random_resized_crop,
    T.Perspective.name: _perspective,
    T.ColorJitter.name: _color_jitter,
    T.Grayscale.name: lambda t, rng, w, h: Applied(),
    T.Gamma.name: lambda t, rng, w, h: GammaValue(_uniform(rng, t.gamma)),
    T.Equalize.name: lambda t, rng, w, h: Applied(),
    T.Autocontrast.name: lambda t, rng, w, h: Cutoff(_uniform(rng, t.cutoff_pct)),
    T.GaussianNoise.name: lambda t, rng, w, h: Noise(_uniform(rng, t.sigma),
                                                     int(rng.integers(2**32))),
    T.GaussianBlur.name: lambda t, rng, w, h: Sigma(_uniform(rng, t.sigma)),
    T.Sharpen.name: lambda t, rng, w, h: Amount(_uniform(rng, t.amount)),
    T.JpegQuality.name: lambda t, rng, w, h: Quality(int(rng.integers(t.quality[0],
                                                                      t.quality[1] + 1))),
    T.RandomErasing.name: _erase,
    T.StrokePreserve.name: lambda t, rng, w, h: Applied(),
    T.StrokeWidth.name: lambda t, rng, w, h: Factor(_uniform(rng, t.factor)),
    T.StrokeWobble.name: lambda t, rng, w, h: WobbleField(
        _uniform(rng, t.amplitude), _uniform(rng, t.wavelength),
        tuple(float(v) for v in rng.uniform(0.0, 2.0 * math.pi, size=4))),  # type: ignore[arg-type]
    T.Placement.name: lambda t, rng, w, h: Place(_uniform(rng, t.size), float(rng.uniform()),
                                                 float(rng.uniform())),
    T.InkPaper.name: lambda t, rng, w, h: Levels(_uniform(rng, t.ink), _uniform(rng, t.paper)),
}


def noise_field(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The standard-normal field of a gaussian_noise entry: a pure function of its recorded seed."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
