"""Pixel-level catalogue transforms: each a pure kernel run after the one resample."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from expand.augment import functional as F
from expand.augment.seeding import Rng
from expand.augment.transform_base import (
    Applied,
    Pair,
    Params,
    PixelTransform,
    pair_in,
    short,
    uniform,
)
from expand.errors import ConfigError


@dataclass(frozen=True)
class Jitter(Params):
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0


@dataclass(frozen=True)
class GammaValue(Params):
    gamma: float


@dataclass(frozen=True)
class Cutoff(Params):
    cutoff_pct: float


@dataclass(frozen=True)
class Noise(Params):
    """The noise field is drawn from `seed` (a field cannot go into a manifest row)."""

    sigma: float
    seed: int


@dataclass(frozen=True)
class Sigma(Params):
    sigma: float


@dataclass(frozen=True)
class Amount(Params):
    amount: float


@dataclass(frozen=True)
class Quality(Params):
    quality: int


@dataclass(frozen=True)
class Erase(Params):
    """The erased rectangle in output pixels (w or h 0: nothing erased) and its grey value."""

    x: int
    y: int
    w: int
    h: int
    value: int


@dataclass(frozen=True)
class ColorJitter(PixelTransform[Jitter]):
    """Factors for brightness, contrast, saturation (1 = unchanged) and a hue turn (0 =
    unchanged, 0.5 = half the colour circle)."""

    name: ClassVar[str] = "color_jitter"
    params_type: ClassVar[type[Params]] = Jitter
    brightness: Pair = (1.0, 1.0)
    contrast: Pair = (1.0, 1.0)
    saturation: Pair = (1.0, 1.0)
    hue: Pair = (0.0, 0.0)

    def _check(self) -> None:
        for part in ("brightness", "contrast", "saturation"):
            self._set(part, pair_in(f"{self.name}.{part}", getattr(self, part), 0.0, 10.0))
        self._set("hue", pair_in(f"{self.name}.hue", self.hue, -0.5, 0.5))

    def sample(self, rng: Rng, width: int, height: int) -> Jitter:
        return Jitter(uniform(rng, self.brightness), uniform(rng, self.contrast),
                      uniform(rng, self.saturation), uniform(rng, self.hue))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Jitter, has_alpha: bool) -> np.ndarray:
        return F.color_jitter(image, params.brightness, params.contrast, params.saturation,
                              params.hue, has_alpha)

    @classmethod
    def caption(cls, params: Jitter) -> str:
        parts = {"brightness": params.brightness, "contrast": params.contrast,
                 "saturation": params.saturation, "hue": params.hue}
        return "jitter " + " ".join(f"{k[0]}{short(v)}" for k, v in parts.items()
                                    if v != (0.0 if k == "hue" else 1.0))


@dataclass(frozen=True)
class Grayscale(PixelTransform[Applied]):
    """ITU-R 601 luma in every colour channel (an RGB image stays RGB)."""

    name: ClassVar[str] = "grayscale"
    params_type: ClassVar[type[Params]] = Applied

    def sample(self, rng: Rng, width: int, height: int) -> Applied:
        return Applied()

    @classmethod
    def kernel(cls, image: np.ndarray, params: Applied, has_alpha: bool) -> np.ndarray:
        return F.grayscale(image, has_alpha)


@dataclass(frozen=True)
class Gamma(PixelTransform[GammaValue]):
    """v -> 255 (v / 255) ** gamma; gamma > 1 darkens the mid-tones."""

    name: ClassVar[str] = "gamma"
    params_type: ClassVar[type[Params]] = GammaValue
    gamma: Pair = (0.8, 1.25)

    def _check(self) -> None:
        self._set("gamma", pair_in(f"{self.name}.gamma", self.gamma, 0.0, 10.0, open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> GammaValue:
        return GammaValue(uniform(rng, self.gamma))

    @classmethod
    def kernel(cls, image: np.ndarray, params: GammaValue, has_alpha: bool) -> np.ndarray:
        return F.adjust_gamma(image, params.gamma, has_alpha)


@dataclass(frozen=True)
class Equalize(PixelTransform[Applied]):
    """Histogram equalisation per colour channel (Pillow's ImageOps.equalize)."""

    name: ClassVar[str] = "equalize"
    params_type: ClassVar[type[Params]] = Applied

    def sample(self, rng: Rng, width: int, height: int) -> Applied:
        return Applied()

    @classmethod
    def kernel(cls, image: np.ndarray, params: Applied, has_alpha: bool) -> np.ndarray:
        return F.equalize(image, has_alpha)


@dataclass(frozen=True)
class Autocontrast(PixelTransform[Cutoff]):
    """Stretch each colour channel to 0..255 after cutting `cutoff_pct` percent at each end."""

    name: ClassVar[str] = "autocontrast"
    params_type: ClassVar[type[Params]] = Cutoff
    cutoff_pct: Pair = (0.0, 0.0)

    def _check(self) -> None:
        self._set("cutoff_pct", pair_in(f"{self.name}.cutoff_pct", self.cutoff_pct, 0.0, 49.0))

    def sample(self, rng: Rng, width: int, height: int) -> Cutoff:
        return Cutoff(uniform(rng, self.cutoff_pct))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Cutoff, has_alpha: bool) -> np.ndarray:
        return F.autocontrast(image, params.cutoff_pct, has_alpha)

    @classmethod
    def caption(cls, params: Cutoff) -> str:
        return f"autocontrast {short(params.cutoff_pct, 1)}%"


def noise_field(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The standard-normal field of a gaussian_noise entry: a pure function of its recorded seed."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


@dataclass(frozen=True)
class GaussianNoise(PixelTransform[Noise]):
    """Additive Gaussian noise of standard deviation `sigma` grey levels, per pixel and channel."""

    name: ClassVar[str] = "gaussian_noise"
    params_type: ClassVar[type[Params]] = Noise
    sigma: Pair = (2.0, 10.0)

    def _check(self) -> None:
        self._set("sigma", pair_in(f"{self.name}.sigma", self.sigma, 0.0, 255.0))

    def sample(self, rng: Rng, width: int, height: int) -> Noise:
        return Noise(uniform(rng, self.sigma), int(rng.integers(2**32)))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Noise, has_alpha: bool) -> np.ndarray:
        shape = (*image.shape[:2], image.shape[2] - (1 if has_alpha else 0))
        return F.add_noise(image, noise_field(params.seed, shape), params.sigma, has_alpha)

    @classmethod
    def caption(cls, params: Noise) -> str:
        return f"noise {short(params.sigma, 1)}"


@dataclass(frozen=True)
class GaussianBlur(PixelTransform[Sigma]):
    """Gaussian blur of standard deviation `sigma` pixels."""

    name: ClassVar[str] = "gaussian_blur"
    params_type: ClassVar[type[Params]] = Sigma
    sigma: Pair = (0.1, 1.5)

    def _check(self) -> None:
        self._set("sigma", pair_in(f"{self.name}.sigma", self.sigma, 0.0, 50.0))

    def sample(self, rng: Rng, width: int, height: int) -> Sigma:
        return Sigma(uniform(rng, self.sigma))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Sigma, has_alpha: bool) -> np.ndarray:
        return F.gaussian_blur(image, params.sigma, has_alpha)

    @classmethod
    def caption(cls, params: Sigma) -> str:
        return f"blur {short(params.sigma)}"


@dataclass(frozen=True)
class Sharpen(PixelTransform[Amount]):
    """Unsharp mask: v + amount (v - blur(v, 1 px)); amount 0 leaves the image unchanged."""

    name: ClassVar[str] = "sharpen"
    params_type: ClassVar[type[Params]] = Amount
    amount: Pair = (0.2, 1.0)

    def _check(self) -> None:
        self._set("amount", pair_in(f"{self.name}.amount", self.amount, 0.0, 10.0))

    def sample(self, rng: Rng, width: int, height: int) -> Amount:
        return Amount(uniform(rng, self.amount))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Amount, has_alpha: bool) -> np.ndarray:
        return F.sharpen(image, params.amount, has_alpha)


@dataclass(frozen=True)
class JpegQuality(PixelTransform[Quality]):
    """A JPEG round trip at a quality drawn from `quality` (whole numbers): a re-saved photo."""

    name: ClassVar[str] = "jpeg"
    params_type: ClassVar[type[Params]] = Quality
    quality: Pair = (30.0, 90.0)

    def _check(self) -> None:
        low, high = pair_in(f"{self.name}.quality", self.quality, 1.0, 100.0)
        if low != int(low) or high != int(high):
            raise ConfigError(f"{self.name}.quality: expected whole numbers [a, b] in [1, 100], "
                              f"got {list(self.quality)!r}")
        self._set("quality", (int(low), int(high)))

    def sample(self, rng: Rng, width: int, height: int) -> Quality:
        low, high = int(self.quality[0]), int(self.quality[1])  # whole numbers (_check)
        return Quality(int(rng.integers(low, high + 1)))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Quality, has_alpha: bool) -> np.ndarray:
        return F.jpeg_round_trip(image, params.quality, has_alpha)

    @classmethod
    def caption(cls, params: Quality) -> str:
        return f"jpeg q{params.quality}"


@dataclass(frozen=True)
class RandomErasing(PixelTransform[Erase]):
    """Cutout: a rectangle of `scale` of the area and aspect `ratio` filled with grey `value`."""

    name: ClassVar[str] = "random_erasing"
    params_type: ClassVar[type[Params]] = Erase
    caption_first: ClassVar[bool] = True
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

    def sample(self, rng: Rng, width: int, height: int) -> Erase:
        """torchvision's RandomErasing: up to 10 tries at a rectangle that fits, else nothing."""
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = width * height * float(rng.uniform(*self.scale))
            aspect = math.exp(float(rng.uniform(*log_ratio)))
            w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < w < width and 0 < h < height:
                x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
                return Erase(x, y, w, h, self.value)
        return Erase(0, 0, 0, 0, self.value)

    @classmethod
    def kernel(cls, image: np.ndarray, params: Erase, has_alpha: bool) -> np.ndarray:
        return F.erase(image, params.x, params.y, params.w, params.h, params.value, has_alpha)

    @classmethod
    def caption(cls, params: Erase) -> str:
        return f"erase {params.w}x{params.h}"


@dataclass(frozen=True)
class Threshold(Params):
    threshold: float


@dataclass(frozen=True)
class Solarize(PixelTransform[Threshold]):
    """Colour values at or above `threshold` (drawn from [a, b] in 0..255) inverted, v -> 255 - v;
    alpha untouched."""

    name: ClassVar[str] = "solarize"
    params_type: ClassVar[type[Params]] = Threshold
    threshold: Pair = (128.0, 192.0)

    def _check(self) -> None:
        self._set("threshold", pair_in(f"{self.name}.threshold", self.threshold, 0.0, 255.0))

    def sample(self, rng: Rng, width: int, height: int) -> Threshold:
        return Threshold(uniform(rng, self.threshold))

    @classmethod
    def kernel(cls, image: np.ndarray, params: Threshold, has_alpha: bool) -> np.ndarray:
        levels = np.arange(256)
        table = np.where(levels >= params.threshold, 255 - levels, levels).astype(np.uint8)
        colours = image.shape[2] - (1 if has_alpha else 0)
        out = np.array(image)  # a copy: the input may be a read-only source or a BGRX view
        out[..., :colours] = table[image[..., :colours]]
        return out

    @classmethod
    def caption(cls, params: Threshold) -> str:
        return f"solarize {short(params.threshold, 0)}"
