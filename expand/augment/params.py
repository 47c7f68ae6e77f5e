"""Sampled parameters and the one place where random numbers are drawn."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any

import numpy as np

from expand.augment.idg import Draw, Setting
from expand.augment.seeding import Rng
from expand.augment.transform_base import Params
from expand.augment.transforms import CATALOGUE
from expand.config import KERAS_SETTINGS, AugmentConfig


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


@cache
def _keras_draws(config: AugmentConfig) -> tuple[tuple[str, Setting, Draw], ...]:
    """The Keras settings that draw under `config` (name, declaration, draw), in field order,
    the draw order: decided once per config and process, not once per copy. Values are read
    from the config itself: equal configs may differ in a value's type (5 and 5.0 shift
    differently), and the cache is keyed by equality."""
    return tuple((name, setting, setting.draw) for name, setting in KERAS_SETTINGS
                 if setting.draw is not None and setting.on(getattr(config, name)))


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
    for name, setting, draw in _keras_draws(config):
        rng = stream(setting.stream)
        if _fires(rng, getattr(config, setting.p_key)):
            keras.update(zip(setting.params, draw(getattr(config, name), rng, size)))
    extra = []
    for transform in config.transforms:
        rng = stream(transform.name)
        drawn = transform.sample(rng, width, height) if _fires(rng, transform.p) else None
        extra.append((transform.name, drawn))
    return AugmentParams(**keras, extra=tuple(extra))
