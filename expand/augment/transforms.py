"""The catalogue beyond ImageDataGenerator: the explicit list of transform definitions.

A definition (expand/augment/transform_base.py) holds a transform's settings, params type, draw, effect
and caption; the families live in expand/augment/geometric.py, expand/augment/photometric.py and
expand/augment/line_art_transforms.py. Adding a transform is one definition and its line here.

A config lists these in order (`[[transforms]]` in a version-2 config file). Geometric ones are
composed with Keras's affine into one resample at their declared order wherever they are listed;
pixel-level ones run after it, in the order listed.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

from expand.augment.geometric import Perspective, RandomCrop, RandomResizedCrop, Rot90
from expand.augment.line_art_transforms import (
    InkPaper,
    Pen,
    Placement,
    StrokePreserve,
    StrokeWidth,
    StrokeWobble,
)
from expand.augment.photometric import (
    Autocontrast,
    ColorJitter,
    Equalize,
    Gamma,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    JpegQuality,
    RandomErasing,
    Sharpen,
    Solarize,
)
from expand.augment.transform_base import AnyTransform, Transform
from expand.errors import ConfigError, did_you_mean

#: Every catalogue transform, by name, in the order `expand config init` offers them.
CATALOGUE: dict[str, type[Transform[Any]]] = {cls.name: cls for cls in (
    RandomCrop, RandomResizedCrop, Perspective, ColorJitter, Grayscale, Gamma, Equalize,
    Autocontrast, GaussianNoise, GaussianBlur, Sharpen, JpegQuality, RandomErasing,
    StrokePreserve, StrokeWidth, StrokeWobble, Placement, InkPaper, Solarize, Rot90, Pen)}


def transform_from_dict(entry: Any, where: str) -> AnyTransform:
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


def check_pipeline(transforms: tuple[AnyTransform, ...], where: str) -> None:
    """A name appears once (it keys a random stream and a manifest entry); one crop at most."""
    seen: set[str] = set()
    for transform in transforms:
        if transform.name in seen:
            raise ConfigError(f"{where}: '{transform.name}' is listed twice; each transform "
                              "appears once")
        seen.add(transform.name)
    if {"random_crop", "random_resized_crop"} <= seen:
        raise ConfigError(f"{where}: random_crop and random_resized_crop both crop; list one")
