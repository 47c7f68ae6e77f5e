"""ImageDataGenerator's settings: what the metadata of each AugmentConfig field declares.

Each of Keras's settings is one field of `config.AugmentConfig` whose metadata (a `Setting`) says
how its value is checked, read from the command line, drawn from its random stream, recorded in the
manifest and captioned. The command line, `config init`, sample_params, preview and inspect read
these declarations instead of listing the settings again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

from expand.errors import ConfigError

if TYPE_CHECKING:
    from expand.augment.seeding import Rng

#: The metadata of a field declared as an ImageDataGenerator setting ({KERAS: Setting}), and of
#: a field that is the probability of one (named `Setting.p_key`).
KERAS = "keras"
PROBABILITY = {"probability": True}

#: Caption orders below this come before the catalogue's label-changing captions (crops, erasing,
#: perspective); from PIXEL_CAPTIONS on, after every catalogue caption.
LABEL_CAPTIONS, PIXEL_CAPTIONS = 2, 5


@dataclass(frozen=True)
class Caption:
    """One phrase of a copy's caption (None when what it shows did nothing). Settings that share
    a phrase (the two flips, the two shifts) share one Caption. `order`: where it goes, what may
    change a label first (see LABEL_CAPTIONS)."""

    order: int
    text: Callable[[Mapping[str, Any]], str | None]


Draw = Callable[[Any, "Rng", tuple[int, int]], tuple[Any, ...]]


@dataclass(frozen=True)
class Setting:
    """One ImageDataGenerator setting, as its AugmentConfig field declares it.

    Attributes:
        check: (name, value) → the value, validated and normalised; raises ConfigError.
        help: the command line's help and `config init`'s comment.
        option: the option's type (float, bool or str); str options are read by `parse`.
        parse: (name, text) → value, for str options.
        metavar: what the option's value looks like in --help.
        choices: the values shell completion offers.
        stream: the random stream it draws from ("" if it draws nothing: the fill's settings).
        params: the manifest's `params` keys it fills, in order.
        on: whether a value switches the transform on (then its stream is drawn from).
        draw: (value, rng, (width, height)) → the values of `params`, when the transform fires
            (called by params.sample_params only, with the setting's own stream).
        caption: how a drawn row shows it in preview's and inspect's captions.
        example: the value `config init` shows, commented, when the setting is off (None).
    """

    check: Callable[[str, Any], Any]
    help: str
    option: type = float
    parse: Callable[[str, str], Any] | None = None
    metavar: str = ""
    choices: tuple[str, ...] = ()
    stream: str = ""
    params: tuple[str, ...] = ()
    on: Callable[[Any], bool] = bool
    draw: Draw | None = None
    caption: Caption | None = None
    example: Any = None

    @cached_property
    def p_key(self) -> str:
        """The field of its probability (ours: Keras's are always on, the flips half the time)."""
        return f"{self.stream}_p"


def declared(cls: type) -> tuple[tuple[str, Setting], ...]:
    """The settings of a dataclass declared with `Setting` metadata, in field order."""
    found: tuple[Field[Any], ...] = fields(cls)
    return tuple((f.name, f.metadata[KERAS]) for f in found if KERAS in f.metadata)


def probabilities(cls: type) -> dict[str, float]:
    """The probability fields of a dataclass, with their defaults, in field order."""
    found: tuple[Field[Any], ...] = fields(cls)
    return {f.name: float(f.default) for f in found  # type: ignore[arg-type]
            if f.metadata == PROBABILITY}


# ---- parsing command-line text ----

def number(name: str, text: str) -> int | float:
    """'5' stays an int (Keras: integer pixels), '5.0' and '0.1' are floats."""
    try:
        return int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else float(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {text!r}") from None


def numbers(name: str, text: str) -> int | float | list[int | float]:
    """'0.1' → 0.1, '5' → 5, '0.8,2.0' or '[0.8, 2.0]' → [0.8, 2.0]."""
    values = [number(name, part) for part in text.strip().strip("[]()").split(",")
              if part.strip()]
    return values[0] if len(values) == 1 and "," not in text else values


# ---- when a setting is on, and what it draws ----

def any_shift(value: Any) -> bool:
    return any(value) if isinstance(value, tuple) else bool(value)


def given(value: Any) -> bool:
    return value is not None


def symmetric(value: float, rng: Rng, size: tuple[int, int]) -> tuple[float]:
    """U(-v, v)."""
    return (float(rng.uniform(-value, value)),)


def between(value: tuple[float, float], rng: Rng, size: tuple[int, int]) -> tuple[float]:
    """U(low, high)."""
    return (float(rng.uniform(*value)),)


def each_between(value: tuple[float, float], rng: Rng,
                 size: tuple[int, int]) -> tuple[float, float]:
    """Two values ~ U(low, high), one drawing: zoom's zx and zy."""
    zx, zy = (float(v) for v in rng.uniform(*value, size=2))
    return (zx, zy)


def shift_x(value: Any, rng: Rng, size: tuple[int, int]) -> tuple[float]:
    return (_shift(rng, value, size[0]),)


def shift_y(value: Any, rng: Rng, size: tuple[int, int]) -> tuple[float]:
    return (_shift(rng, value, size[1]),)


def fired(value: Any, rng: Rng, size: tuple[int, int]) -> tuple[bool]:
    """Nothing to draw beyond the coin: the flips."""
    return (True,)


def _shift(rng: Rng, shift_range: Any, size: int) -> float:
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


# ---- captions ----
