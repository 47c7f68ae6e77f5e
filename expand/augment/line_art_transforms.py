"""Line-art catalogue transforms (expand/augment/lineart.py does the tracing and drawing).

Any of these makes the class's sources line art: each is traced once (polarity, centre lines,
stroke width) and one that is not line art is skipped with the reason. Geometry then fills with
the paper colour, never by replicating the edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from expand.augment import lineart
from expand.augment.seeding import Rng
from expand.augment.transform_base import (
    Applied,
    Pair,
    PaperTransform,
    Params,
    StrokePlan,
    StrokeTransform,
    pair_in,
    scalar_in,
    short,
    uniform,
)
from expand.errors import ConfigError


@dataclass(frozen=True)
class Factor(Params):
    """stroke_width: the multiplier of the stroke width (1: unchanged)."""

    factor: float


@dataclass(frozen=True)
class WobbleField(Params):
    """wobble: amplitude and wavelength as fractions of the frame's shorter side, and the four
    phases (radians) of lineart.Wobble's sine field."""

    amplitude: float
    wavelength: float
    phases: tuple[float, float, float, float]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WobbleField:
        a, b, c, d = (float(v) for v in data["phases"])
        return cls(data["amplitude"], data["wavelength"], (a, b, c, d))


@dataclass(frozen=True)
class Place(Params):
    """placement: the drawing's box spans `size` of the frame; u, v in [0, 1] are where it
    sits in the room left (0: against the left/top edge, 1: against the right/bottom)."""

    size: float
    u: float
    v: float


@dataclass(frozen=True)
class PenWidth(Params):
    """pen: the pen's width in output pixels, and the cap (a fraction of the placed drawing's
    shorter side) it was drawn under, so that a row replays without the config."""

    width_px: float
    max_width_frac: float


@dataclass(frozen=True)
class Levels(Params):
    """ink_paper: fractions of the contrast by which ink and paper move toward each other."""

    ink: float
    paper: float


@dataclass(frozen=True)
class StrokePreserve(StrokeTransform[Applied]):
    """The copy's whole geometric map (Keras's affine, crops, perspective, placement) moves the
    strokes' centre lines, which are drawn again at the source's own stroke width."""

    name: ClassVar[str] = "stroke_preserve"
    params_type: ClassVar[type[Params]] = Applied

    def sample(self, rng: Rng, width: int, height: int) -> Applied:
        return Applied()

    @classmethod
    def plan(cls, params: Applied, plan: StrokePlan, traced: lineart.Traced, width: int,
             height: int) -> StrokePlan:
        return replace(plan, keep_width=True)

    @classmethod
    def caption(cls, params: Applied) -> str:
        return "strokes kept"


@dataclass(frozen=True)
class StrokeWidth(StrokeTransform[Factor]):
    """Strokes redrawn `factor` times as wide as they would otherwise be (the source's width
    with stroke_preserve, the zoomed width without)."""

    name: ClassVar[str] = "stroke_width"
    params_type: ClassVar[type[Params]] = Factor
    factor: Pair = (0.6, 1.8)

    def _check(self) -> None:
        self._set("factor", pair_in(f"{self.name}.factor", self.factor, 0.0, 10.0,
                                    open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> Factor:
        return Factor(uniform(rng, self.factor))

    @classmethod
    def plan(cls, params: Factor, plan: StrokePlan, traced: lineart.Traced, width: int,
             height: int) -> StrokePlan:
        return replace(plan, factor=params.factor)

    @classmethod
    def caption(cls, params: Factor) -> str:
        return f"width x{short(params.factor)}"


@dataclass(frozen=True)
class StrokeWobble(StrokeTransform[WobbleField]):
    """A smooth 'hand wobble' of the strokes: a sine displacement field of amplitude
    `amplitude` and wavelength `wavelength`, both fractions of the frame's shorter side."""

    name: ClassVar[str] = "wobble"
    params_type: ClassVar[type[Params]] = WobbleField
    amplitude: Pair = (0.0, 0.03)
    wavelength: Pair = (0.3, 1.0)

    def _check(self) -> None:
        self._set("amplitude", pair_in(f"{self.name}.amplitude", self.amplitude, 0.0, 0.5))
        self._set("wavelength", pair_in(f"{self.name}.wavelength", self.wavelength, 0.0, 10.0,
                                        open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> WobbleField:
        amplitude, wavelength = uniform(rng, self.amplitude), uniform(rng, self.wavelength)
        a, b, c, d = (float(v) for v in rng.uniform(0.0, 2.0 * math.pi, size=4))
        return WobbleField(amplitude, wavelength, (a, b, c, d))

    @classmethod
    def plan(cls, params: WobbleField, plan: StrokePlan, traced: lineart.Traced, width: int,
             height: int) -> StrokePlan:
        if params.amplitude <= 0:
            return plan
        side = min(width, height)
        return replace(plan, wobble=lineart.Wobble(params.amplitude * side,
                                                   params.wavelength * side, params.phases))

    @classmethod
    def caption(cls, params: WobbleField) -> str:
        return f"wobble {short(params.amplitude, 3)}"


@dataclass(frozen=True)
class Placement(StrokeTransform[Place]):
    """After the rest of the geometry, the drawing is scaled so that its box spans `size` of
    the frame (its longer side relative to the frame's), and put anywhere in the frame; or,
    with probability `centred_p`, centred at `centred_size`, as size-normalised datasets of
    drawings keep them."""

    name: ClassVar[str] = "placement"
    params_type: ClassVar[type[Params]] = Place
    added_later: ClassVar[tuple[str, ...]] = ("centred_p", "centred_size")
    size: Pair = (0.4, 0.95)
    centred_p: float = 0.0
    centred_size: Pair = (0.75, 0.9)

    def _check(self) -> None:
        self._set("size", pair_in(f"{self.name}.size", self.size, 0.0, 2.0, open_low=True))
        self._set("centred_p", scalar_in(f"{self.name}.centred_p", self.centred_p, 0.0, 1.0))
        self._set("centred_size", pair_in(f"{self.name}.centred_size", self.centred_size, 0.0,
                                          2.0, open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> Place:
        # No draw for the choice when it is off: configs without it keep their streams.
        if self.centred_p > 0.0 and float(rng.uniform()) < self.centred_p:
            return Place(uniform(rng, self.centred_size), 0.5, 0.5)
        return Place(uniform(rng, self.size), float(rng.uniform()), float(rng.uniform()))

    @classmethod
    def plan(cls, params: Place, plan: StrokePlan, traced: lineart.Traced, width: int,
             height: int) -> StrokePlan:
        """The inverse map with the placement appended: the ink box, carried by the geometry so
        far, is scaled to span `size` of the frame and put at (u, v) of the room left."""
        matrix = plan.matrix
        x0, y0, x1, y1 = lineart.box_through(traced.bbox, matrix)
        box_w, box_h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
        scale = params.size / max(box_w / width, box_h / height)
        tx = params.u * (width - scale * box_w) - 0.5 - scale * x0
        ty = params.v * (height - scale * box_h) - 0.5 - scale * y0
        forward = np.array([[scale, 0.0, tx], [0.0, scale, ty], [0.0, 0.0, 1.0]])
        placed: np.ndarray = matrix @ np.linalg.inv(forward)
        return replace(plan, matrix=placed)

    @classmethod
    def caption(cls, params: Place) -> str:
        return f"place {short(params.size)} at {short(params.u)},{short(params.v)}"


@dataclass(frozen=True)
class Pen(StrokeTransform[PenWidth]):
    """Strokes drawn with a pen `width_px` output pixels wide (drawn from the range), whatever
    the source's width or the zoom, but never wider than `max_width_frac` of the placed
    drawing's shorter side: a copy placed small keeps its holes. `stroke_width`, when it fires,
    still multiplies the width; the cap applies last."""

    name: ClassVar[str] = "pen"
    params_type: ClassVar[type[Params]] = PenWidth
    width_px: Pair = (1.5, 3.0)
    max_width_frac: float = 0.15

    def _check(self) -> None:
        self._set("width_px", pair_in(f"{self.name}.width_px", self.width_px, 0.0, 100.0,
                                      open_low=True))
        self._set("max_width_frac", scalar_in(f"{self.name}.max_width_frac", self.max_width_frac,
                                              0.0, 1.0, open_low=True))

    def sample(self, rng: Rng, width: int, height: int) -> PenWidth:
        return PenWidth(uniform(rng, self.width_px), self.max_width_frac)

    @classmethod
    def plan(cls, params: PenWidth, plan: StrokePlan, traced: lineart.Traced, width: int,
             height: int) -> StrokePlan:
        return replace(plan, pen=(params.width_px, params.max_width_frac))

    @classmethod
    def caption(cls, params: PenWidth) -> str:
        return f"pen {short(params.width_px, 1)} px"


@dataclass(frozen=True)
class InkPaper(PaperTransform[Levels]):
    """Ink and paper levels moved toward each other by fractions of their contrast (0: kept;
    negative: apart, clipped to 0-255), anti-aliasing kept."""

    name: ClassVar[str] = "ink_paper"
    params_type: ClassVar[type[Params]] = Levels
    ink: Pair = (0.0, 0.4)
    paper: Pair = (0.0, 0.15)

    def _check(self) -> None:
        self._set("ink", pair_in(f"{self.name}.ink", self.ink, -1.0, 1.0))
        self._set("paper", pair_in(f"{self.name}.paper", self.paper, -1.0, 1.0))
        if self.ink[1] + self.paper[1] >= 0.95:
            raise ConfigError(f"{self.name}: ink and paper may meet (highest ink + highest paper "
                              f"must stay below 0.95), got {list(self.ink)!r} and "
                              f"{list(self.paper)!r}")

    def sample(self, rng: Rng, width: int, height: int) -> Levels:
        return Levels(uniform(rng, self.ink), uniform(rng, self.paper))

    @classmethod
    def repaint(cls, image: np.ndarray, params: Levels, polarity: lineart.Polarity) -> np.ndarray:
        if (params.ink, params.paper) == (0.0, 0.0):
            return image
        return lineart.repaint(image, polarity, params.ink, params.paper)

    @classmethod
    def repainted(cls, params: Levels, polarity: lineart.Polarity) -> lineart.Polarity:
        return lineart.repainted(polarity, params.ink, params.paper)

    @classmethod
    def caption(cls, params: Levels) -> str:
        return f"ink {short(params.ink)} paper {short(params.paper)}"
