"""What a catalogue transform is: one definition of its settings, draw, effect and caption.

A definition is a frozen dataclass of validated settings (what a config lists) whose class also
declares the params type it draws (what the manifest records under its name), how it draws from
its own stream (`sample`) and how it is described (`caption`, `fired`). What it does is its kind:

- `GeometricTransform`: a pure map params -> 3x3 matrix, composed into the one resample at its
  `order` (Keras's affine sits at `KERAS_AFFINE_ORDER`);
- `PixelTransform`: a pure kernel (image, params, has_alpha) -> image, run after the geometry
  in the order the config lists;
- `StrokeTransform`, `PaperTransform`: line-art steps (they need the source's trace).

The catalogue itself is the explicit list in expand/augment/transforms.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from expand.augment import lineart
from expand.augment.seeding import Rng
from expand.errors import ConfigError

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


def uniform(rng: Rng, bounds: tuple[float, float]) -> float:
    """U(a, b), with no draw for a fixed value (a == b): that part of the transform is off."""
    low, high = bounds
    return float(low) if low == high else float(rng.uniform(low, high))


def short(value: float, digits: int = 2) -> str:
    """`value` rounded to `digits` places, trailing zeros of the fraction dropped (captions)."""
    text = f"{value:.{digits}f}"
    if digits:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass(frozen=True)
class Params:
    """What one transform drew for one output: a frozen value, its fields the manifest entry."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        """A manifest entry back to the value (JSON lists become the tuples they were)."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Applied(Params):
    """Nothing to draw but whether the transform fired ({} in the manifest)."""


P = TypeVar("P", bound=Params)

#: Where Keras's affine sits among the geometric transforms' `order`s.
KERAS_AFFINE_ORDER = 0


@dataclass(frozen=True)
class Transform(Generic[P]):
    """A catalogue transform: a name (its random stream and manifest key) and a probability."""

    name: ClassVar[str]
    #: The type `sample` returns; `AugmentParams.from_dict` reads a manifest entry back with it.
    params_type: ClassVar[type[Params]]
    #: Whether listing it makes a class's sources line art (traced once, geometry on paper).
    line_art: ClassVar[bool] = False
    #: Captioned with what may change a label (flips, turns, crops, erasing), before the rest.
    caption_first: ClassVar[bool] = False
    #: Settings added after the transform was released: recorded only when set away from their
    #: defaults, so that run.json, and the resume of a DIR made before them, stay as they were.
    added_later: ClassVar[tuple[str, ...]] = ()
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
            if f.name in self.added_later and value == f.default:
                continue
            data[f.name] = list(value) if isinstance(value, tuple) else value
        return data

    def sample(self, rng: Rng, width: int, height: int) -> P:
        """Draw this output's params from the transform's own stream (it fired: the coin has
        already been tossed on the same stream)."""
        raise NotImplementedError

    @classmethod
    def caption(cls, params: P) -> str:
        """A short phrase for the preview and inspect sheets: the name and the drawn numbers."""
        values = " ".join(short(v) for v in asdict(params).values())
        return f"{cls.name} {values}".strip()

    @classmethod
    def fired(cls, params: P | None) -> bool:
        """Whether a manifest row shows it fired (compared with `p` by `expand inspect`)."""
        return params is not None


#: Any definition's settings, as a config holds them.
AnyTransform = Transform[Any]


@dataclass(frozen=True)
class GeometricTransform(Transform[P]):
    """A map composed into the one resample, with Keras's affine and the other maps.

    The forward order is by `order` (smaller first; Keras's affine at KERAS_AFFINE_ORDER); two
    definitions share an order only if a config cannot list both.
    """

    order: ClassVar[int]
    #: Whether `matrix` may be a homography (its last row other than (0, 0, 1)).
    projective: ClassVar[bool] = False

    @classmethod
    def matrix(cls, params: P, width: int, height: int) -> np.ndarray:
        """The output -> input map (3x3, x = column, y = row, pixel centres at integers) of a
        frame of `width` x `height`; its inverse carries points, boxes or polygons forward."""
        raise NotImplementedError


@dataclass(frozen=True)
class PixelTransform(Transform[P]):
    """A pure kernel after the geometry; alpha, when `has_alpha`, passes through unchanged."""

    @classmethod
    def kernel(cls, image: np.ndarray, params: P, has_alpha: bool) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class StrokePlan:
    """How line art's geometry is done: the output -> input map (placement included), whether
    the strokes keep the source's own width, a factor on the width, a wobble field, and a pen
    (width in output pixels, cap as a fraction of the placed drawing's shorter side)."""

    matrix: np.ndarray
    keep_width: bool = False
    factor: float = 1.0
    wobble: lineart.Wobble | None = None
    pen: tuple[float, float] | None = None


@dataclass(frozen=True)
class StrokeTransform(Transform[P]):
    """A line-art step of the geometry: it changes how the strokes are carried and drawn."""

    line_art: ClassVar[bool] = True

    @classmethod
    def plan(cls, params: P, plan: StrokePlan, traced: lineart.Traced, width: int,
             height: int) -> StrokePlan:
        raise NotImplementedError


@dataclass(frozen=True)
class PaperTransform(Transform[P]):
    """A line-art step after the geometry, given the source's ink and paper."""

    line_art: ClassVar[bool] = True

    @classmethod
    def repaint(cls, image: np.ndarray, params: P, polarity: lineart.Polarity) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def repainted(cls, params: P, polarity: lineart.Polarity) -> lineart.Polarity:
        """The ink and paper of a copy this step repainted (the checks measure against them)."""
        raise NotImplementedError
