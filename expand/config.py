"""What a run may vary and what it does: frozen, validated once, resolved from preset, file and CLI."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

import tomllib

from expand.annotations import Layout
from expand.augment.checks import Checks
from expand.augment.idg import (
    KERAS,
    PROBABILITY,
    Caption,
    Setting,
    any_shift,
    between,
    declared,
    each_between,
    fired,
    given,
    numbers,
    probabilities,
    shift_x,
    shift_y,
    symmetric,
)
from expand.augment.transform_base import AnyTransform, Transform, probability, short
from expand.augment.transforms import check_pipeline, transform_from_dict
from expand.errors import ConfigError, did_you_mean
from expand.exec.execution import ExecutorSpec
from expand.io.storage import Location, as_location

if TYPE_CHECKING:
    from expand.run.splits import Split  # splits runs parts through the runner, which needs config

FillMode = Literal["constant", "nearest", "reflect", "wrap"]
OutputFormat = Literal["same", "png", "jpeg", "webp"]
ShiftRange = float | int | tuple[float, ...]

FILL_MODES: tuple[str, ...] = ("constant", "nearest", "reflect", "wrap")
OUTPUT_FORMATS: tuple[str, ...] = ("same", "png", "jpeg", "webp")

#: ImageDataGenerator arguments that are not augmentation, with the reason they stay out.
KERAS_NOT_OFFLINE: dict[str, str] = {
    "rescale": "it scales pixel values for the model, not the images on disk: do it in the model "
    "(keras.layers.Rescaling)",
    "featurewise_center": "it normalises with dataset statistics at training time, not on disk",
    "samplewise_center": "it normalises each sample at training time, not on disk",
    "featurewise_std_normalization": "it normalises with dataset statistics at training time",
    "samplewise_std_normalization": "it normalises each sample at training time, not on disk",
    "zca_whitening": "whitening is a training-time normalisation; saved 8-bit images cannot hold it",
    "zca_epsilon": "it belongs to zca_whitening, a training-time normalisation",
    "preprocessing_function": "a config file is data, never code; run your function in the "
    "training input pipeline",
    "validation_split": "splitting belongs to training: `train fit` splits by source image, "
    "without leaking copies",
    "data_format": "images on disk have no data format; files are written channels-last",
    "dtype": "files on disk are 8-bit images",
    "interpolation_order": "the warp is bilinear (Keras's default order 1)",
}


# Upper bounds of every number a run takes, checked where the settings are made (so the command
# line, a config file and the Python API share them): an absurd value is one line, never a plan
# the size of the value, a worker's overflow or a fork without end.
MAX_COPIES = 100_000  # per source
MAX_PER_CLASS_TARGET = 1_000_000  # images per class
MAX_SEED = 2**63 - 1
MAX_SIDE = 16_384  # --resize, each side; shifts in pixels
MAX_RESIZE_PIXELS = 2 * 89_478_485  # --resize's area: Pillow's refusal limit for sources
MAX_IMAGE_PIXELS = 2**30  # --max-image-pixels
MAX_DEGREES = 360.0  # rotation_range, shear_range
MAX_ZOOM = 100.0  # zoom_range values (and 1 / the smallest)
MAX_BRIGHTNESS = 100.0  # brightness_range values
MAX_LEVELS = 255.0  # channel_shift_range, |cval|: 8-bit images

#: `layout`'s values: detected, or one of the layouts
LAYOUTS: tuple[str, ...] = ("auto", *(layout.value for layout in Layout))
DEFAULT_MIN_VISIBILITY = 0.25


def _as_pair(name: str, value: Any, high: float = math.inf) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{name}: expected two numbers [low, high], got {value!r}")
    low, top = (_as_number(name, v) for v in value)
    if low > top:
        raise ConfigError(f"{name}: low must not exceed high, got [{low}, {top}]")
    if top > high:
        raise ConfigError(f"{name}: values must be <= {high:g}, got [{low:g}, {top:g}]")
    return (float(low), float(top))


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: Any, high: float) -> float:
    number = _as_number(name, value)
    if not 0 <= number <= high:
        raise ConfigError(f"{name}: must be between 0 and {high:g}, got {value!r}")
    return number


def _shift_range(name: str, value: Any) -> ShiftRange:
    """Keep Keras's three meanings apart: float (uniform), int (integer pixels), list (choices).
    Pixels are bounded by the largest side an image may have."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a number or a list of numbers, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= MAX_SIDE:
            raise ConfigError(f"{name}: must be between 0 and {MAX_SIDE}, got {value}")
        return value
    if isinstance(value, float):
        return _non_negative(name, value, MAX_SIDE)
    if isinstance(value, (list, tuple)) and value:
        return tuple(_non_negative(name, v, MAX_SIDE) for v in value)
    raise ConfigError(f"{name}: expected a number or a non-empty list of numbers, got {value!r}")


def _zoom(name: str, value: Any) -> tuple[float, float]:
    """Keras's float z means [1 - z, 1 + z]."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        z = _non_negative(name, value, 1.0)
        value = (1.0 - z, 1.0 + z)
    low, high = _as_pair(name, value, MAX_ZOOM)
    if low < 1 / MAX_ZOOM:
        raise ConfigError(f"{name}: values must be >= {1 / MAX_ZOOM:g}, got [{low}, {high}]")
    return (low, high)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    return value


def _fill_mode(name: str, value: Any) -> str:
    if value not in FILL_MODES:
        raise ConfigError(f"{name}: expected one of {', '.join(FILL_MODES)}, got {value!r}")
    return str(value)


def _fill_value(name: str, value: Any) -> float:
    number = _as_number(name, value)
    if abs(number) > MAX_LEVELS:
        raise ConfigError(f"{name}: must be between {-MAX_LEVELS:g} and {MAX_LEVELS:g} (8-bit "
                          f"images), got {value!r}")
    return number


def _brightness(name: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    low, high = _as_pair(name, value, MAX_BRIGHTNESS)
    if low < 0:
        raise ConfigError(f"{name}: values must be >= 0, got [{low}, {high}]")
    return (low, high)


_degrees = partial(_non_negative, high=MAX_DEGREES)
_levels = partial(_non_negative, high=MAX_LEVELS)


def _keras(default: Any, **declaration: Any) -> Any:
    """The field of an ImageDataGenerator setting: Keras's default and its declaration."""
    return field(default=default, metadata={KERAS: Setting(**declaration)})


def _chance(default: float) -> Any:
    """The probability field of a Keras transform (Keras: always on, flips half of the time)."""
    return field(default=default, metadata=PROBABILITY)


_FLIPS = Caption(0, lambda p: "flip " + ("H" if p["flip_horizontal"] else "")
                 + ("V" if p["flip_vertical"] else "")
                 if p["flip_horizontal"] or p["flip_vertical"] else None)
_SHIFTS = Caption(4, lambda p: f"tx {short(p['tx'], 1)} ty {short(p['ty'], 1)}"
                  if p["tx"] or p["ty"] else None)

#: Which colour is ink for the line-art transforms: detected per source, or given.
POLARITIES: tuple[str, ...] = ("auto", "dark-on-light", "light-on-dark")


@dataclass(frozen=True)
class AugmentConfig:
    """ImageDataGenerator's augmentation arguments, with its names, defaults and meanings, plus a
    probability for each, the further transforms in order, and per-class overrides.

    Defaults are Keras's own, so a ported config means what it meant there. Each of Keras's
    settings is declared here once, with its metadata (expand.augment.idg.Setting): the command line,
    `config init`, the draws, the manifest's keys, preview and inspect follow from it. Field order
    is the draw order and the manifest's; a Caption's number is its place in a caption (what may
    change a label first: see expand.augment.idg.LABEL_CAPTIONS). `transforms` accepts Transform objects or their
    `[[transforms]]` tables; `classes` maps a class to the keys it overrides (resolved here
    against this config, into full configs of their own).
    """

    rotation_range: float = _keras(
        0.0, check=_degrees, help="Degrees: theta ~ U(-r, r).", metavar="DEG",
        stream="rotation", params=("theta",), draw=symmetric,
        caption=Caption(1, lambda p: f"rot {short(p['theta'], 0)}°" if p["theta"] else None))
    width_shift_range: ShiftRange = _keras(
        0.0, check=_shift_range, option=str, parse=numbers, metavar="R",
        help="Shift: fraction of the width (< 1) or pixels.",
        stream="width_shift", params=("tx",), on=any_shift, draw=shift_x, caption=_SHIFTS)
    height_shift_range: ShiftRange = _keras(
        0.0, check=_shift_range, option=str, parse=numbers, metavar="R",
        help="Shift: fraction of the height (< 1) or pixels.",
        stream="height_shift", params=("ty",), on=any_shift, draw=shift_y, caption=_SHIFTS)
    shear_range: float = _keras(
        0.0, check=_degrees, help="Shear angle, degrees (Keras 1: radians).", metavar="DEG",
        stream="shear", params=("shear",), draw=symmetric,
        caption=Caption(2, lambda p: f"shear {short(p['shear'], 0)}°" if p["shear"] else None))
    zoom_range: tuple[float, float] = _keras(
        (1.0, 1.0), check=_zoom, option=str, parse=numbers, metavar="Z",
        help="z for [1-z, 1+z], or LOW,HIGH; < 1 zooms in.",
        stream="zoom", params=("zx", "zy"), on=lambda z: z != (1.0, 1.0), draw=each_between,
        caption=Caption(3, lambda p: f"zoom {short(p['zx'])}/{short(p['zy'])}"
                        if (p["zx"], p["zy"]) != (1.0, 1.0) else None))
    horizontal_flip: bool = _keras(
        False, check=_flag, option=bool, help="Mirror left-right (half of the time).",
        stream="horizontal_flip", params=("flip_horizontal",), draw=fired, caption=_FLIPS)
    vertical_flip: bool = _keras(
        False, check=_flag, option=bool, help="Upside down (a 6 becomes a 9).",
        stream="vertical_flip", params=("flip_vertical",), draw=fired, caption=_FLIPS)
    fill_mode: FillMode = _keras(
        "nearest", check=_fill_mode, option=str, choices=FILL_MODES, metavar="MODE",
        help="nearest, reflect, wrap or constant (cval).")
    cval: float = _keras(0.0, check=_fill_value, help="Fill value of fill mode constant.",
                         metavar="V")
    channel_shift_range: float = _keras(
        0.0, check=_levels, help="One c ~ U(-r, r) added to every channel.", metavar="R",
        stream="channel_shift", params=("channel_shift_intensity",), draw=symmetric,
        caption=Caption(5, lambda p: None if p["channel_shift_intensity"] is None
                        else f"chshift {short(p['channel_shift_intensity'], 0)}"))
    brightness_range: tuple[float, float] | None = _keras(
        None, check=_brightness, option=str, parse=numbers, metavar="LOW,HIGH",
        help="Pixel values times b ~ U(low, high).", example=(0.8, 1.2),
        stream="brightness", params=("brightness",), on=given, draw=between,
        caption=Caption(6, lambda p: None if p["brightness"] is None
                        else f"bright {short(p['brightness'])}"))
    rotation_p: float = _chance(1.0)
    width_shift_p: float = _chance(1.0)
    height_shift_p: float = _chance(1.0)
    shear_p: float = _chance(1.0)
    zoom_p: float = _chance(1.0)
    horizontal_flip_p: float = _chance(0.5)
    vertical_flip_p: float = _chance(0.5)
    channel_shift_p: float = _chance(1.0)
    brightness_p: float = _chance(1.0)
    transforms: tuple[AnyTransform, ...] = ()
    polarity: str = "auto"
    #: Per-output checks (expand/augment/checks.py): a `[checks]` table or Checks; None: no checks, and
    #: the manifest keeps schema 2.
    checks: Checks | None = None
    classes: tuple[tuple[str, AugmentConfig], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, setting in KERAS_SETTINGS:
            set_(self, name, setting.check(name, getattr(self, name)))
        for name in KERAS_PROBABILITIES:
            set_(self, name, probability(name, getattr(self, name)))
        set_(self, "transforms", _transforms(self.transforms, "transforms"))
        if self.polarity not in POLARITIES:
            raise ConfigError(f"polarity: expected one of {', '.join(POLARITIES)}, "
                              f"got {self.polarity!r}")
        set_(self, "checks", Checks.from_value(self.checks))
        set_(self, "classes", self._resolve_classes(self.classes))

    def _resolve_classes(self, classes: Any) -> tuple[tuple[str, AugmentConfig], ...]:
        if isinstance(classes, tuple) and all(isinstance(c, AugmentConfig) for _, c in classes):
            return classes
        if not isinstance(classes, Mapping):
            raise ConfigError(f"classes: expected a table of class name -> settings, "
                              f"got {classes!r}")
        base = self._settings()
        resolved = []
        for label, overrides in sorted(classes.items()):
            where = f"classes.{label}"
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"{where}: expected a table of settings, got {overrides!r}")
            if "classes" in overrides:
                raise ConfigError(f"{where}: overrides cannot hold classes of their own")
            kwargs = _augment_kwargs(overrides, where=where)
            try:
                resolved.append((str(label), AugmentConfig(**{**base, **kwargs})))
            except ConfigError as exc:
                raise ConfigError(f"{where}.{exc}") from None
        return tuple(resolved)

    def for_class(self, label: str) -> AugmentConfig:
        """The settings that apply to one class (its override, or these)."""
        return next((config for name, config in self.classes if name == label), self)

    def transform_names(self) -> tuple[str, ...]:
        """Every listed transform of any class, in order: the manifest's extra `params` keys."""
        names: list[str] = []
        for config in (self, *(c for _, c in self.classes)):
            names += [t.name for t in config.transforms if t.name not in names]
        return tuple(names)

    def notes(self) -> list[str]:
        """Warnings about settings that are valid but probably not what the user meant."""
        if 0 < self.shear_range < 2:
            return [f"shear_range={self.shear_range:g} is in degrees (±{self.shear_range:g}° is "
                    "barely visible); Keras 1 used radians: multiply by 57.3 if you meant those"]
        return []

    def to_dict(self) -> dict[str, Any]:
        """The run.json form; keys added after version 1 appear only when they do something."""
        data = self._settings()
        if self.classes:
            # In full: a class entry is read back over the base settings, so a key left out
            # would take the base's value, not the default.
            data["classes"] = {label: config._settings(full=True) for label, config in self.classes}
        return data

    def _settings(self, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {key: getattr(self, key) for key in KERAS_KEYS}
        data.update({k: list(v) for k, v in data.items() if isinstance(v, tuple)})
        data.update({key: getattr(self, key) for key, default in KERAS_PROBABILITIES.items()
                     if full or getattr(self, key) != default})
        if full or self.transforms:
            data["transforms"] = [t.to_dict() for t in self.transforms]
        if full or self.polarity != "auto":
            data["polarity"] = self.polarity
        if full or self.checks is not None:
            data["checks"] = None if self.checks is None else self.checks.to_dict()
        return data

    def any_checks(self) -> bool:
        """Whether any class runs per-output checks: the manifest's rows then have schema 3."""
        return any(c.checks is not None for c in (self, *(c for _, c in self.classes)))

    def line_art(self) -> bool:
        """Whether a line-art transform is listed: the sources are then traced as line art."""
        return any(t.line_art for t in self.transforms)

    @classmethod
    def from_keras(cls, **kwargs: Any) -> AugmentConfig:
        """Port `ImageDataGenerator(**kwargs)`; non-augmentation arguments raise ConfigError."""
        return cls(**_augment_kwargs(kwargs, where="from_keras"))


def _transforms(value: Any, where: str) -> tuple[AnyTransform, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of transforms, got {value!r}")
    listed = tuple(v if isinstance(v, Transform) else transform_from_dict(v, f"{where}[{i}]")
                   for i, v in enumerate(value))
    check_pipeline(listed, where)
    return listed


#: Keras's settings as AugmentConfig declares them, in field order (the draw order).
KERAS_SETTINGS: tuple[tuple[str, Setting], ...] = declared(AugmentConfig)
KERAS_KEYS: tuple[str, ...] = tuple(name for name, _ in KERAS_SETTINGS)
#: The probability of each of Keras's transforms, with its default. Written to run.json only when
#: changed, so a run that does not use them records exactly what it did before they existed.
KERAS_PROBABILITIES: dict[str, float] = probabilities(AugmentConfig)
#: Keys that exist from config version 2 on.
V2_KEYS: frozenset[str] = frozenset({*KERAS_PROBABILITIES, "transforms", "classes", "polarity",
                                     "checks"})
AUGMENT_KEYS: frozenset[str] = frozenset(f.name for f in fields(AugmentConfig))

PRESETS: dict[str, dict[str, Any]] = {
    # Label-preserving on natural photos: small geometry, mirror images, nothing upside down.
    "default": {
        "rotation_range": 10.0,
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "zoom_range": 0.1,
        "horizontal_flip": True,
        "fill_mode": "reflect",
    },
    # The settings of the Keras shapes tutorial's save_to_dir example.
    "shapes-tutorial": {
        "rotation_range": 15.0,
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "shear_range": 0.5,
        "zoom_range": [0.8, 2.0],
        "horizontal_flip": True,
        "vertical_flip": True,
        "fill_mode": "nearest",
    },
    # Line art (sketches, doodles, shapes, diagrams), version 4 (issue 23, chosen on drawings by
    # other people, docs/line-art.md): upright mostly (a full turn a third of the time; quarter
    # turns and both flips), any skew and aspect, a mild perspective; half of the copies centred
    # and filling most of the frame, as size-normalised datasets keep drawings, the rest anywhere
    # and smaller; strokes redrawn with a 0.8-2 px pen capped by the placed size, a hand wobble,
    # ink often lighter than the source's, and mostly stretched (a resized crop of any aspect:
    # the placement fits the whole drawing back); copies thinner than 3 px, with a hole closed
    # or opened, or a blob, drawn again.
    "line-art": {
        "rotation_range": 180.0,
        "rotation_p": 0.35,
        "shear_range": 20.0,
        "zoom_range": [0.5, 2.0],
        "horizontal_flip": True,
        "vertical_flip": True,
        "fill_mode": "constant",
        "transforms": [
            {"name": "perspective", "p": 0.5, "distortion": 0.15},
            {"name": "stroke_preserve"},
            {"name": "placement", "size": [0.4, 0.8], "centred_p": 0.5,
             "centred_size": [0.75, 0.9]},
            {"name": "pen", "width_px": [0.8, 2.0], "max_width_frac": 0.25},
            {"name": "wobble", "p": 0.5, "amplitude": [0.0, 0.03], "wavelength": [0.4, 1.0]},
            {"name": "rot90", "p": 0.5},
            {"name": "ink_paper", "p": 0.7, "ink": [0.0, 0.5], "paper": [0.0, 0.0]},
            {"name": "random_resized_crop", "p": 0.9, "scale": [0.1, 1.0],
             "ratio": [0.15, 6.0]},
        ],
        "checks": {"max_attempts": 4, "min_extent_px": 3, "topology": True,
                   "max_ink_fill_frac": 0.6},
    },
    # No augmentation: copies equal to the (re-encoded, optionally resized) source.
    "none": {},
    # Label-preserving on natural photos, from barely visible to strong: mirror images, no
    # upside-down ones; each further transform fires only part of the time.
    "light": {
        "rotation_range": 8.0,
        "width_shift_range": 0.05,
        "height_shift_range": 0.05,
        "zoom_range": 0.05,
        "horizontal_flip": True,
        "fill_mode": "reflect",
        "transforms": [
            {"name": "color_jitter", "p": 0.5, "brightness": [0.9, 1.1],
             "contrast": [0.9, 1.1], "saturation": [0.9, 1.1], "hue": [0.0, 0.0]},
        ],
    },
    "medium": {
        "rotation_range": 15.0,
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "zoom_range": 0.1,
        "horizontal_flip": True,
        "fill_mode": "reflect",
        "transforms": [
            {"name": "random_resized_crop", "p": 0.5, "scale": [0.6, 1.0],
             "ratio": [0.8, 1.25]},
            {"name": "color_jitter", "p": 0.8, "brightness": [0.8, 1.2],
             "contrast": [0.8, 1.2], "saturation": [0.8, 1.2], "hue": [-0.03, 0.03]},
            {"name": "grayscale", "p": 0.1},
            {"name": "gaussian_blur", "p": 0.2, "sigma": [0.1, 1.0]},
        ],
    },
    "heavy": {
        "rotation_range": 25.0,
        "width_shift_range": 0.15,
        "height_shift_range": 0.15,
        "shear_range": 10.0,
        "zoom_range": 0.2,
        "horizontal_flip": True,
        "fill_mode": "reflect",
        "transforms": [
            {"name": "random_resized_crop", "p": 0.6, "scale": [0.4, 1.0],
             "ratio": [0.75, 1.333]},
            {"name": "perspective", "p": 0.3, "distortion": 0.3},
            {"name": "color_jitter", "p": 0.8, "brightness": [0.6, 1.4],
             "contrast": [0.6, 1.4], "saturation": [0.6, 1.4], "hue": [-0.06, 0.06]},
            {"name": "grayscale", "p": 0.2},
            {"name": "gamma", "p": 0.3, "gamma": [0.7, 1.4]},
            {"name": "gaussian_blur", "p": 0.3, "sigma": [0.2, 1.5]},
            {"name": "gaussian_noise", "p": 0.3, "sigma": [3.0, 12.0]},
            {"name": "jpeg", "p": 0.3, "quality": [30, 90]},
            {"name": "random_erasing", "p": 0.4, "scale": [0.02, 0.15], "ratio": [0.3, 3.3],
             "value": 0},
        ],
    },
}


#: The per-class override `config init` shows (commented) when a preset has none: why, and keys.
CLASS_EXAMPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "six": ("a flip would turn a 6 into a 9", {"vertical_flip": False}),
}

#: Presets whose settings changed since they first shipped: run.json records the version (as
#: `preset_version`), and a DIR made with another version of the preset is refused. A preset
#: absent here is at version 1, which run.json leaves out (its bytes stay as they were).
PRESET_VERSIONS: dict[str, int] = {"line-art": 4}


def _augment_kwargs(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in KERAS_NOT_OFFLINE:
            raise ConfigError(f"{where}: '{key}' is an ImageDataGenerator argument that does not "
                              f"belong to offline expansion: {KERAS_NOT_OFFLINE[key]}")
        if key not in AUGMENT_KEYS:
            raise ConfigError(f"{where}: unknown augmentation parameter '{key}'"
                              + did_you_mean(key, sorted({*AUGMENT_KEYS, *RUN_KEYS, "preset"})))
        out[key] = value
    return out


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"--preset: unknown preset '{name}'{did_you_mean(name, PRESETS)} "
                          f"(known: {', '.join(PRESETS)})")
    return dict(PRESETS[name])


def parse_size(text: str) -> tuple[int, int]:
    """'224x224' or '320x240' (width x height) → (width, height)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"resize: expected WIDTHxHEIGHT such as 224x224, got {text!r}") from None
    return (width, height)


@dataclass(frozen=True)
class ExpandConfig:
    """One run: where from, where to, how many copies, how to encode, and the augmentation."""

    src: Location  # a Path, or a URL (s3://bucket/train) kept as given
    out: Location
    copies: int = 10
    seed: int = 0
    workers: int = 1
    image_format: OutputFormat = "same"
    quality: int = 90
    png_level: int = 1  # codec.FAST_PNG_LEVEL: OpenCV's fast settings
    resize: tuple[int, int] | None = None
    include_originals: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    preset: str | None = None
    max_image_pixels: int | None = None
    follow_symlinks: bool = False
    rebuild: bool = False
    prune: bool = False
    # How and where the run works, not what it writes: never in run.json (options may hold keys).
    scheduler: str | None = None  # with workers: the ExecutorSpec (see `executor`)
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    per_class_target: int | None = None
    split: Split | None = None  # the part of a split this run writes (expand.run.splits)
    #: no augmentation option, config or preset was given: the `default` preset was chosen
    #: for the user, so a layout may adapt it (run/labels.py); not part of the output's settings
    default_implied: bool = field(default=False, compare=False, repr=False)
    #: how SRC holds its labels: "auto" (detected when the run opens SRC) or a Layout's value
    layout: str = "auto"
    #: the share of an object's mapped area that must stay in the frame for it to be kept
    min_visibility: float = DEFAULT_MIN_VISIBILITY

    def __post_init__(self) -> None:
        object.__setattr__(self, "src", as_location(self.src))
        object.__setattr__(self, "out", as_location(self.out))
        self._check_layout()
        _check_int("copies", self.copies, 0, MAX_COPIES)
        if self.per_class_target is not None:
            _check_int("per_class_target", self.per_class_target, 1, MAX_PER_CLASS_TARGET)
        _check_int("seed", self.seed, 0, MAX_SEED)
        ExecutorSpec(self.workers, self.scheduler)  # raises ConfigError for a bad value
        _check_int("quality", self.quality, 1, 100)
        _check_int("png_level", self.png_level, 0, 9)
        if self.image_format not in OUTPUT_FORMATS:
            raise ConfigError(f"format: expected one of {', '.join(OUTPUT_FORMATS)}, "
                              f"got {self.image_format!r}")
        if self.copies == 0 and not self.include_originals and self.per_class_target is None:
            raise ConfigError("copies: 0 copies without --include-originals writes nothing")
        if self.max_image_pixels is not None:
            _check_int("max_image_pixels", self.max_image_pixels, 1, MAX_IMAGE_PIXELS)
        if self.resize is not None:
            if not isinstance(self.resize, (tuple, list)) or len(self.resize) != 2:
                raise ConfigError(f"resize: expected [width, height], got {self.resize!r}")
            width, height = self.resize
            _check_int("resize width", width, 1, MAX_SIDE)
            _check_int("resize height", height, 1, MAX_SIDE)
            limit = min(MAX_RESIZE_PIXELS, self.max_image_pixels or MAX_RESIZE_PIXELS)
            if width * height > limit:
                raise ConfigError(f"resize: {width}x{height} is {width * height:,} pixels, more "
                                  f"than the {limit:,} an image may have")

    def _check_layout(self) -> None:
        """The layout's own settings, and the settings that cannot keep its targets right:
        refused before any work, one line each."""
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout: expected one of {', '.join(LAYOUTS)}, "
                              f"got {self.layout!r}")
        visibility = self.min_visibility
        if isinstance(visibility, bool) or not isinstance(visibility, (int, float)) \
                or not 0.0 <= visibility <= 1.0:
            raise ConfigError(f"min_visibility: expected a fraction in [0, 1], got {visibility!r}")
        object.__setattr__(self, "min_visibility", float(visibility))
        layout = self.annotated
        if layout is None:
            return
        what = f"layout {layout.value}"
        if self.split is not None:
            raise ConfigError(f"--val/--test: not for {what} (a split of images and their "
                              "labels is not written yet); split SRC's images/ yourself")
        if self.resize is not None:
            raise ConfigError(f"resize: not for {what} (its labels are not resized)")
        configs = (self.augment, *(c for _, c in self.augment.classes))
        line_art = sorted({t.name for c in configs for t in c.transforms if t.line_art})
        if line_art:
            raise ConfigError(f"transforms: {line_art[0]} redraws the strokes, which its labels "
                              f"cannot follow; not for {what}")
        if layout.has_objects and self.default_implied and self.augment.fill_mode != "constant":
            # The default's reflect fill would copy objects in without their boxes: nothing was
            # asked for, so boxes and polygons take its geometry with a constant fill.
            object.__setattr__(self, "augment", replace(self.augment, fill_mode="constant"))
            configs = (self.augment,)
        if layout.has_objects:
            filled = sorted({c.fill_mode for c in configs} & {"reflect", "wrap"})
            if filled:
                raise ConfigError(f"fill_mode: {filled[0]} copies objects into the frame without "
                                  f"their boxes; {what} takes constant or nearest (--fill-mode)")
            object.__setattr__(self, "augment", _with_object_check(self.augment))

    @property
    def annotated(self) -> Layout | None:
        """The layout when it is one with labels beside the images (yolo, coco, masks)."""
        return None if self.layout in ("auto", Layout.CLASSES.value) else Layout(self.layout)

    @property
    def executor(self) -> ExecutorSpec:
        """Where the run's tasks go."""
        return ExecutorSpec(self.workers, self.scheduler)

    def determining(self) -> dict[str, Any]:
        """Everything that decides the output bytes (goes into run.json); not DIR, not workers.

        Settings added after schema 1 appear only when not at their default, so an older run's
        run.json keeps its bytes. With `per_class_target`, `copies` (unused) is null."""
        optional = {"max_image_pixels": self.max_image_pixels,
                    "follow_symlinks": self.follow_symlinks or None,
                    "per_class_target": self.per_class_target,
                    "split": self.split.to_dict() if self.split else None,
                    "preset_version": PRESET_VERSIONS.get(self.preset or ""),
                    "layout": self.layout if self.annotated is not None else None,
                    "min_visibility": self.min_visibility if self.annotated is not None
                    else None}
        return {
            "src": str(self.src),
            "copies": None if self.per_class_target is not None else self.copies,
            "seed": self.seed,
            "format": self.image_format,
            "quality": self.quality,
            "png_level": self.png_level,
            "resize": list(self.resize) if self.resize else None,
            "include_originals": self.include_originals,
            "preset": self.preset,
            "augment": self.augment.to_dict(),
            **{k: v for k, v in optional.items() if v is not None},
        }


def _with_object_check(augment: AugmentConfig) -> AugmentConfig:
    """`augment` with the check that a copy keeps an object (min_objects 1) in every class
    whose checks do not set it: on by default where there are objects to lose."""
    def checked(config: AugmentConfig) -> AugmentConfig:
        checks = config.checks
        if checks is None:
            return replace(config, checks=Checks(min_objects=1))
        if checks.min_objects is None:
            return replace(config, checks=replace(checks, min_objects=1))
        return config
    return replace(checked(augment), classes=tuple((label, checked(config))
                                                   for label, config in augment.classes))


def _check_int(name: str, value: Any, low: int | None, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected a whole number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name}: must be {bounds}, got {value}")


RUN_KEYS: dict[str, str] = {
    "copies": "copies",
    "seed": "seed",
    "format": "image_format",
    "quality": "quality",
    "png_level": "png_level",
    "resize": "resize",
    "include_originals": "include_originals",
    "max_image_pixels": "max_image_pixels",
    "follow_symlinks": "follow_symlinks",
    "per_class_target": "per_class_target",
    "layout": "layout",
    "min_visibility": "min_visibility",
}
CONFIG_VERSIONS = (1, 2)


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or JSON config: data only, never code."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}"
                          f" ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings at the top level")
    version = data.pop("version", 1)
    if version not in CONFIG_VERSIONS or isinstance(version, bool):
        raise ConfigError(f"{path}: version: expected 1 or 2, got {version!r}")
    newer = sorted(V2_KEYS & {*data, *(k for c in _tables(data.get("classes")) for k in c)})
    if version == 1 and newer:
        raise ConfigError(f"{path}: {newer[0]}: needs `version = 2` at the top of the file")
    return data


def _tables(classes: Any) -> list[Mapping[str, Any]]:
    if not isinstance(classes, Mapping):
        return []
    return [c for c in classes.values() if isinstance(c, Mapping)]


def resolve_config(
    src: Location,
    out: Location,
    *,
    cli_run: Mapping[str, Any],
    cli_augment: Mapping[str, Any],
    preset_name: str | None = None,
    config_file: Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ExpandConfig:
    """Layer the settings: base (preset or Keras defaults) < config file < CLI options.

    With no augmentation option, no config and no preset, the `default` preset is used. Once any of
    them is given, unspecified parameters take ImageDataGenerator's defaults.
    """
    file_data = load_config_file(config_file) if config_file is not None else {}
    where = str(config_file) if config_file is not None else "config"
    file_preset = file_data.pop("preset", None)
    file_run = {k: file_data.pop(k) for k in list(file_data) if k in RUN_KEYS}
    file_augment = _augment_kwargs(file_data, where=where)

    name = preset_name or file_preset
    implied = name is None and not cli_augment and config_file is None
    if implied:
        name = "default"
    augment = preset(name) if name is not None else {}
    augment.update(file_augment)
    augment.update(cli_augment)

    for layer, label in ((file_run, f"{where}: copies and per_class_target"),
                         (cli_run, "--copies and --per-class-target")):
        if "copies" in layer and "per_class_target" in layer:
            raise ConfigError(f"{label} both given; give one (per_class_target decides the "
                              "copies of each source)")
    if "copies" in cli_run:  # the command line's --copies replaces the file's per_class_target
        file_run.pop("per_class_target", None)
    run: dict[str, Any] = {}
    for key, value in {**file_run, **cli_run}.items():
        if key == "resize" and isinstance(value, str):
            value = parse_size(value)
        elif key == "resize" and isinstance(value, list):
            value = tuple(value)
        run[RUN_KEYS.get(key, key)] = value
    try:
        return ExpandConfig(src=src, out=out, workers=workers, augment=AugmentConfig(**augment),
                            preset=name, scheduler=scheduler, default_implied=implied,
                            storage_options=dict(storage_options or {}), **run)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None

