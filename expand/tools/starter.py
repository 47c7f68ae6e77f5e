"""`expand config init`: a commented version-2 config file that loads back to the same settings."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from expand.augment.transforms import CATALOGUE
from expand.config import CLASS_EXAMPLE, KERAS_SETTINGS, AugmentConfig, ExpandConfig

_COLUMN = 34


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _line(key: str, value: Any, note: str = "") -> str:
    text = f"{key} = {_toml(value)}"
    return f"{text.ljust(_COLUMN)}# {note}" if note else text


def _transform_table(entry: dict[str, Any], commented: bool) -> list[str]:
    prefix = "# " if commented else ""
    lines = [f"{prefix}[[transforms]]"]
    lines += [f"{prefix}{_line(k, v)}" for k, v in entry.items()]
    return lines


def starter_text(config: ExpandConfig, origin: str) -> str:
    """The config file for `config`'s run keys and augmentation, every key explained.

    Args:
        config: resolved settings (a preset, say) to start from.
        origin: one phrase for the header (where these settings came from).
    """
    augment = config.augment
    lines = [
        "# expand config, version 2: data only, never code.",
        f"# Made by `expand config init` from {origin}.",
        "# Use: expand SRC --out DIR --config THIS_FILE   (command-line options override it)",
        "# Preview first: expand preview SRC --out sheet.png --config THIS_FILE",
        "version = 2",
        "",
        "# ---- the run ----",
        _line("copies", config.copies, "augmented copies per source image"),
        _line("seed", config.seed, "same seed, same files"),
        _line("format", config.image_format, "same, png, jpeg or webp"),
        _line("quality", config.quality, "JPEG and WebP quality"),
        _line("png_level", config.png_level, "PNG level: 1 fast (OpenCV), 0 and 2-9 Pillow's"),
        _line("include_originals", config.include_originals, "also write each source"),
    ]
    lines.append(_line("resize", list(config.resize), "WIDTH, HEIGHT before augmenting")
                 if config.resize else "# resize = [224, 224]             # before augmenting")
    lines.append(_line("per_class_target", config.per_class_target, "images per class")
                 if config.per_class_target else
                 "# per_class_target = 500          # balance the classes (instead of copies)")
    lines += ["", "# ---- ImageDataGenerator's transforms, under its names and meanings ----",
              "# Each *_p is the probability that the transform fires (Keras: 1; flips 0.5).",
              "# All geometry (these, crops, perspective) is composed into one resample."]
    for key, setting in KERAS_SETTINGS:
        value = getattr(augment, key)
        if value is None:
            lines.append(f"# {_line(key, setting.example, 'off; ' + setting.help)}")
        else:
            lines.append(_line(key, value, setting.help))
        if setting.stream:
            lines.append(_line(setting.p_key, getattr(augment, setting.p_key)))
    lines += ["", "# ---- further transforms, in order ----",
              "# Pixel-level ones run after the geometry in the order listed here; each has a",
              "# probability p and records what it drew in the manifest under its name."]
    for transform in augment.transforms:
        lines += ["", *_transform_table(transform.to_dict(), commented=False)]
    listed = {t.name for t in augment.transforms}
    others = [name for name in CATALOGUE if name not in listed]
    if others:
        lines += ["", "# More transforms to list (remove the # of the lines of one):"]
        for name in others:
            cls = CATALOGUE[name]
            doc = " ".join((cls.__doc__ or "").split())
            lines += ["#", f"# {name}: {doc}", *_transform_table(cls(p=0.5).to_dict(),
                                                                  commented=True)]
    lines += ["", "# ---- per-output checks: a copy that fails one is drawn again ----",
              "# (docs/output-format.md: the checks, their values in the manifest)"]
    if augment.checks is not None:
        lines += ["[checks]", *(_line(k, v) for k, v in augment.checks.to_dict().items())]
    else:
        lines += ["# [checks]", "# max_attempts = 4",
                  "# " + _line("topology", True, "line art: as many enclosed paper regions as "
                               "the source")]
    lines += ["", "# ---- per-class overrides: keys here replace the settings above ----"]
    for label, override in augment.classes:
        lines += _class_table(label, override, augment)
    if not augment.classes:
        label, (note, overrides) = next(iter(CLASS_EXAMPLE.items()))
        lines += [f"# [classes.{label}]".ljust(_COLUMN) + f"# {note}",
                  *(f"# {_line(k, v)}" for k, v in overrides.items())]
    return "\n".join(lines) + "\n"


def _class_table(label: str, override: AugmentConfig, base: AugmentConfig) -> list[str]:
    """Only the keys that differ from the base; a changed list is written in full."""
    bare = re.fullmatch(r"[A-Za-z0-9_-]+", label)
    lines = [f"[classes.{label if bare else json.dumps(label)}]"]
    for f in fields(AugmentConfig):
        if f.name in ("transforms", "classes", "checks"):
            continue
        value = getattr(override, f.name)
        if value != getattr(base, f.name) and value is not None:
            lines.append(_line(f.name, value))
    if override.checks != base.checks:
        lines.append("checks = {" + ", ".join(f"{k} = {_toml(v)}" for k, v in
                                              (override.checks.to_dict() if override.checks
                                               else {}).items()) + "}")
    if override.transforms != base.transforms:
        lines.append(_line("transforms", []) if not override.transforms else
                     "transforms = [" + ", ".join(
                         "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in t.to_dict().items()) + "}"
                         for t in override.transforms) + "]")
    return lines
