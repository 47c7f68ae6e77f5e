"""The catalogue beyond ImageDataGenerator: each transform's settings, frozen and validated once.

A config lists these in order (`[[transforms]]` in a version-2 config file). Geometric ones
(random_crop, random_resized_crop, perspective) are composed with Keras's affine into one resample
wherever they are listed; pixel-level ones run after it, in the order listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping

from expand.errors import ConfigError, did_you_mean

Pair = tuple[float, float]


def probability(name: str, value: Any) -> float:
    """A probability in [0, 1]; the message names the field, the range and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name}: expected a probability in [0, 1], got {value!r}")
    return float(value)


def scalar_in(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    """A number in [low, high] (or (low, high] when `open_low`)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and low <= value <= high and not (open_low and value == low))
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(f"{name}: expected a number in {bracket}{low:g}, {high:g}], "
                          f"got {value!r}")
    return float(value)


def pair_in(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> Pair:
    """[low, high] inside the allowed interval, low <= high (a fixed value is [v, v])."""
    bracket = "(" if open_low else "["
    allowed = f"[a, b] with a <= b, both in {bracket}{low:g}, {high:g}]"
    if not isinstance(value, (list, tuple)) or len(value) != 2 \
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ConfigError(f"{name}: expected {allowed}, got {value!r}")
    a, b = float(value[0]), float(value[1])
    inside = all(math.isfinite(v) and low <= v <= high and not (open_low and v == low)
                 for v in (a, b))
    if not inside or a > b:
        raise ConfigError(f"{name}: expected {allowed}, got {list(value)!r}")
    return (a, b)


@dataclass(frozen=True)
class Transform:
    """Base of the catalogue: a name (its random stream and manifest key) and a probability."""

    name: ClassVar[str]
    geometric: ClassVar[bool] = False
    p: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", probability(f"{self.name}.p", self.p))
        self._check()

    def _check(self) -> None:
        """Subclasses validate and normalise their own fields here."""

    def _set(self, field: str, value: Any) -> None:
        object.__setattr__(self, field, value)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else value
        return data


@dataclass(frozen=True)
class RandomCrop(Transform):
    """A window of `size_frac` of each side at a uniform position, scaled back to the frame."""

    name: ClassVar[str] = "random_crop"
    geometric: ClassVar[bool] = True
    size_frac: float = 0.875

    def _check(self) -> None:
        self._set("size_frac", scalar_in(f"{self.name}.size_frac", self.size_frac, 0.0, 1.0,
                                         open_low=True))


@dataclass(frozen=True)
class RandomResizedCrop(Transform):
    """torchvision's RandomResizedCrop at the image's own size: area `scale`, aspect `ratio`."""

    name: ClassVar[str] = "random_resized_crop"
    geometric: ClassVar[bool] = True
    scale: Pair = (0.08, 1.0)
    ratio: Pair = (3 / 4, 4 / 3)

    def _check(self) -> None:
        self._set("scale", pair_in(f"{self.name}.scale", self.scale, 0.0, 1.0, open_low=True))
        self._set("ratio", pair_in(f"{self.name}.ratio", self.ratio, 0.0, 100.0, open_low=True))


@dataclass(frozen=True)
class Perspective(Transform):
    """torchvision's RandomPerspective: each corner moves inward by up to `distortion` x half
    a side."""

    name: ClassVar[str] = "perspective"
    geometric: ClassVar[bool] = True
    distortion: float = 0.3

    def _check(self) -> None:
        self._set("distortion", scalar_in(f"{self.name}.distortion", self.distortion, 0.0, 1.0))


@dataclass(frozen=True)
class ColorJitter(Transform):
    """Factors for brightness, contrast, saturation (1 = unchanged) and a hue turn (0 =
    unchanged, 0.5 = half the colour circle)."""

    name: ClassVar[str] = "color_jitter"
    brightness: Pair = (1.0, 1.0)
    contrast: Pair = (1.0, 1.0)
    saturation: Pair = (1.0, 1.0)
    hue: Pair = (0.0, 0.0)

    def _check(self) -> None:
        for part in ("brightness", "contrast", "saturation"):
            self._set(part, pair_in(f"{self.name}.{part}", getattr(self, part), 0.0, 10.0))
        self._set("hue", pair_in(f"{self.name}.hue", self.hue, -0.5, 0.5))


@dataclass(frozen=True)
class Grayscale(Transform):
    """ITU-R 601 luma in every colour channel (an RGB image stays RGB)."""

    name: ClassVar[str] = "grayscale"


@dataclass(frozen=True)
class Gamma(Transform):
    """v -> 255 (v / 255) ** gamma; gamma > 1 darkens the mid-tones."""

    name: ClassVar[str] = "gamma"
    gamma: Pair = (0.8, 1.25)

    def _check(self) -> None:
        self._set("gamma", pair_in(f"{self.name}.gamma", self.gamma, 0.0, 10.0, open_low=True))


@dataclass(frozen=True)
class Equalize(Transform):
    """Histogram equalisation per colour channel (Pillow's ImageOps.equalize)."""

    name: ClassVar[str] = "equalize"


@dataclass(frozen=True)
class Autocontrast(Transform):
    """Stretch each colour channel to 0..255 after cutting `cutoff_pct` percent at each end."""

    name: ClassVar[str] = "autocontrast"
    cutoff_pct: Pair = (0.0, 0.0)

    def _check(self) -> None:
        self._set("cutoff_pct", pair_in(f"{self.name}.cutoff_pct", self.cutoff_pct, 0.0, 49.0))


@dataclass(frozen=True)
class GaussianNoise(Transform):
    """Additive Gaussian noise of standard deviation `sigma` grey levels, per pixel and channel."""

    name: ClassVar[str] = "gaussian_noise"
    sigma: Pair = (2.0, 10.0)

    def _check(self) -> None:
        self._set("sigma", pair_in(f"{self.name}.sigma", self.sigma, 0.0, 255.0))


@dataclass(frozen=True)
class GaussianBlur(Transform):
    """Gaussian blur of standard deviation `sigma` pixels."""

    name: ClassVar[str] = "gaussian_blur"
    sigma: Pair = (0.1, 1.5)

    def _check(self) -> None:
        self._set("sigma", pair_in(f"{self.name}.sigma", self.sigma, 0.0, 50.0))


@dataclass(frozen=True)
class Sharpen(Transform):
    """Unsharp mask: v + amount (v - blur(v, 1 px)); amount 0 leaves the image unchanged."""

    name: ClassVar[str] = "sharpen"
    amount: Pair = (0.2, 1.0)

    def _check(self) -> None:
        self._set("amount", pair_in(f"{self.name}.amount", self.amount, 0.0, 10.0))


@dataclass(frozen=True)
class JpegQuality(Transform):
    """A JPEG round trip at a quality drawn from `quality` (whole numbers): a re-saved photo."""

    name: ClassVar[str] = "jpeg"
    quality: Pair = (30.0, 90.0)

    def _check(self) -> None:
        low, high = pair_in(f"{self.name}.quality", self.quality, 1.0, 100.0)
        if low != int(low) or high != int(high):
            raise ConfigError(f"{self.name}.quality: expected whole numbers [a, b] in [1, 100], "
                              f"got {list(self.quality)!r}")
        self._set("quality", (int(low), int(high)))


@dataclass(frozen=True)
class RandomErasing(Transform):
    """Cutout: a rectangle of `scale` of the area and aspect `ratio` filled with grey `value`."""

    name: ClassVar[str] = "random_erasing"
    scale: Pair = (0.02, 0.2)
    ratio: Pair = (0.3, 3.3)
    value: int = 0

    def _check(self) -> None:
        self._set("scale", pair_in(f"{self.name}.scale", self.scale, 0.0, 1.0, open_low=True))
        self._set("ratio", pair_in(f"{self.name}.ratio", self.ratio, 0.0, 100.0, open_low=True))
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            raise ConfigError(f"{self.name}.value: expected a whole number in [0, 255], "
                              f"got {value!r}")


# ---- line art (expand/lineart.py): strokes handled as strokes ----
# Any of these makes the class's sources line art: each is traced once (polarity, centre lines,
# stroke width) and one that is not line art is skipped with the reason. Geometry then fills
# with the paper colour, never by replicating the edge.


@dataclass(frozen=True)
class StrokePreserve(Transform):
    """The copy's whole geometric map (Keras's affine, crops, perspective, placement) moves the
    strokes' centre lines, which are drawn again at the source's own stroke width."""

    name: ClassVar[str] = "stroke_preserve"
    geometric: ClassVar[bool] = True


@dataclass(frozen=True)
class StrokeWidth(Transform):
    """Strokes redrawn `factor` times as wide as they would otherwise be (the source's width
    with stroke_preserve, the zoomed width without)."""

    name: ClassVar[str] = "stroke_width"
    geometric: ClassVar[bool] = True
    factor: Pair = (0.6, 1.8)

    def _check(self) -> None:
        self._set("factor", pair_in(f"{self.name}.factor", self.factor, 0.0, 10.0,
                                    open_low=True))


@dataclass(frozen=True)
class StrokeWobble(Transform):
    """A smooth 'hand wobble' of the strokes: a sine displacement field of amplitude
    `amplitude` and wavelength `wavelength`, both fractions of the frame's shorter side."""

    name: ClassVar[str] = "wobble"
    geometric: ClassVar[bool] = True
    amplitude: Pair = (0.0, 0.03)
    wavelength: Pair = (0.3, 1.0)

    def _check(self) -> None:
        self._set("amplitude", pair_in(f"{self.name}.amplitude", self.amplitude, 0.0, 0.5))
        self._set("wavelength", pair_in(f"{self.name}.wavelength", self.wavelength, 0.0, 10.0,
                                        open_low=True))


@dataclass(frozen=True)
class Placement(Transform):
    """After the rest of the geometry, the drawing is scaled so that its box spans `size` of
    the frame (its longer side relative to the frame's), and put anywhere in the frame."""

    name: ClassVar[str] = "placement"
    geometric: ClassVar[bool] = True
    size: Pair = (0.4, 0.95)

    def _check(self) -> None:
        self._set("size", pair_in(f"{self.name}.size", self.size, 0.0, 2.0, open_low=True))


@dataclass(frozen=True)
class InkPaper(Transform):
    """Ink and paper levels moved toward each other by fractions of their contrast (0: kept;
    negative: apart, clipped to 0-255), anti-aliasing kept."""

    name: ClassVar[str] = "ink_paper"
    ink: Pair = (0.0, 0.4)
    paper: Pair = (0.0, 0.15)

    def _check(self) -> None:
        self._set("ink", pair_in(f"{self.name}.ink", self.ink, -1.0, 1.0))
        self._set("paper", pair_in(f"{self.name}.paper", self.paper, -1.0, 1.0))
        if self.ink[1] + self.paper[1] >= 0.95:
            raise ConfigError(f"{self.name}: ink and paper may meet (highest ink + highest paper "
                              f"must stay below 0.95), got {list(self.ink)!r} and "
                              f"{list(self.paper)!r}")


LINE_ART: tuple[str, ...] = ("stroke_preserve", "stroke_width", "wobble", "placement",
                             "ink_paper")

CATALOGUE: dict[str, type[Transform]] = {cls.name: cls for cls in (
    RandomCrop, RandomResizedCrop, Perspective, ColorJitter, Grayscale, Gamma, Equalize,
    Autocontrast, GaussianNoise, GaussianBlur, Sharpen, JpegQuality, RandomErasing,
    StrokePreserve, StrokeWidth, StrokeWobble, Placement, InkPaper)}


def transform_from_dict(entry: Any, where: str) -> Transform:
    """One `[[transforms]]` entry → its frozen settings.

    Raises:
        ConfigError: naming `where` (for example `transforms[2]`), the field, what is allowed and
            the value received.
    """
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table with a name, got {entry!r}")
    name = entry.get("name")
    if name not in CATALOGUE:
        raise ConfigError(f"{where}.name: expected one of {', '.join(CATALOGUE)}, got {name!r}"
                          + did_you_mean(name, CATALOGUE))
    cls = CATALOGUE[name]
    allowed = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "name":
            continue
        if key not in allowed:
            raise ConfigError(f"{where} ({name}): unknown key '{key}'"
                              f"{did_you_mean(key, allowed)} (allowed: name, {', '.join(allowed)})")
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where} {exc}") from None


def check_pipeline(transforms: tuple[Transform, ...], where: str) -> None:
    """A name appears once (it keys a random stream and a manifest entry); one crop at most."""
    seen: set[str] = set()
    for transform in transforms:
        if transform.name in seen:
            raise ConfigError(f"{where}: '{transform.name}' is listed twice; each transform "
                              "appears once")
        seen.add(transform.name)
    if {"random_crop", "random_resized_crop"} <= seen:
        raise ConfigError(f"{where}: random_crop and random_resized_crop both crop; list one")
