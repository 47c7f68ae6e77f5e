"""`expand preview`: a sheet of a few sources per class and what a config makes of them."""

from __future__ import annotations

from typing import Any

from PIL import Image

from expand import codec, storage
from expand.config import ExpandConfig
from expand.discover import discover_store, spread
from expand.errors import ImageReadError, NotLineArtError
from expand.runner import check_class_overrides
from expand.sheet import Cell, Section, contact_sheet, display, fit
from expand.worker import draw_copy, encode_output, read_decoded, trace_or_skip


def _f(value: float, digits: int = 2) -> str:
    """`value` rounded to `digits` places, trailing zeros of the fraction dropped."""
    text = f"{value:.{digits}f}"
    if digits:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


#: Caption order: what may change a label first (flips, turns, crops, erasing), then the rest.
_FIRST = ("random_crop", "random_resized_crop", "random_erasing", "perspective")


def describe(params: dict[str, Any] | None) -> list[str]:
    """The drawn parameters that changed something, as short phrases, those that may change a
    label first (a manifest `params` row; None for an original)."""
    if params is None:
        return ["original"]
    parts = []
    flips = ("H" if params["flip_horizontal"] else "") + ("V" if params["flip_vertical"] else "")
    if flips:
        parts.append(f"flip {flips}")
    if params["theta"]:
        parts.append(f"rot {_f(params['theta'], 0)}°")
    extras = [(n, p) for n, p in params.items() if isinstance(p, dict)]
    parts += [_describe_extra(n, p) for n, p in extras if n in _FIRST]
    if params["shear"]:
        parts.append(f"shear {_f(params['shear'], 0)}°")
    if (params["zx"], params["zy"]) != (1.0, 1.0):
        parts.append(f"zoom {_f(params['zx'])}/{_f(params['zy'])}")
    if params["tx"] or params["ty"]:
        parts.append(f"tx {_f(params['tx'], 1)} ty {_f(params['ty'], 1)}")
    parts += [_describe_extra(n, p) for n, p in extras if n not in _FIRST]
    if params["channel_shift_intensity"] is not None:
        parts.append(f"chshift {_f(params['channel_shift_intensity'], 0)}")
    if params["brightness"] is not None:
        parts.append(f"bright {_f(params['brightness'])}")
    return parts or ["identity"]


def _describe_extra(name: str, p: dict[str, Any]) -> str:
    if name in ("random_crop", "random_resized_crop"):
        return f"crop {_f(p['w'], 0)}x{_f(p['h'], 0)}"
    if name == "perspective":
        return "perspective"
    if name == "color_jitter":
        return "jitter " + " ".join(f"{k[0]}{_f(v)}" for k, v in p.items()
                                    if v != (0.0 if k == "hue" else 1.0))
    if name == "random_erasing":
        return f"erase {p['w']}x{p['h']}"
    if name == "gaussian_noise":
        return f"noise {_f(p['sigma'], 1)}"
    if name == "gaussian_blur":
        return f"blur {_f(p['sigma'])}"
    if name == "jpeg":
        return f"jpeg q{p['quality']}"
    if name == "stroke_preserve":
        return "strokes kept"
    if name == "stroke_width":
        return f"width x{_f(p['factor'])}"
    if name == "wobble":
        return f"wobble {_f(p['amplitude'], 3)}"
    if name == "placement":
        return f"place {_f(p['size'])} at {_f(p['u'])},{_f(p['v'])}"
    if name == "ink_paper":
        return f"ink {_f(p['ink'])} paper {_f(p['paper'])}"
    if name == "autocontrast":
        return f"autocontrast {_f(p['cutoff_pct'], 1)}%"
    values = " ".join(_f(v) for v in p.values())
    return f"{name} {values}".strip()


def preview(config: ExpandConfig, per_class: int, variants: int,
            cell: int) -> tuple[Image.Image, list[Cell], list[str]]:
    """Draw the sheet: per class, `per_class` sources, each original then `variants` copies, as
    the run with this config would write them (copy k is the run's copy k, decoded from the
    bytes it would write), captioned with their main parameters.

    Returns:
        The picture, its cells (boxes and captions), and the sources that could not be read.

    Raises:
        DatasetLayoutError, ConfigError: SRC or the per-class overrides do not fit.
    """
    src = storage.open_store(config.src, config.storage_options)
    dataset = discover_store(src, follow_symlinks=config.follow_symlinks)
    check_class_overrides(config, dataset.classes)
    names = config.augment.transform_names()
    sections: list[Section] = []
    unreadable: list[str] = []
    for label in dataset.classes:
        members = [s for s in dataset.sources if s.label == label]
        augment = config.augment.for_class(label)
        rows: list[list[Cell]] = []
        for source in spread(members, per_class):
            try:
                decoded = read_decoded(src, source.rel_path, config.resize,
                                       config.max_image_pixels)[1]
            except ImageReadError as exc:
                unreadable.append(str(exc))
                continue
            try:
                traced = trace_or_skip(decoded, augment, source.rel_path)
            except NotLineArtError as exc:
                unreadable.append(str(exc))
                continue
            height, width = decoded.pixels.shape[:2]
            row = [Cell(fit(display(decoded.pixels, decoded.has_alpha), cell),
                        [source.rel_path.split("/")[-1], f"{width}x{height} {decoded.mode}"],
                        {"class": label, "source": source.rel_path, "copy": None})]
            for copy in range(variants):
                pixels, params = draw_copy(decoded, augment, config.seed, source.rel_path, copy,
                                           traced)
                written = codec.decode(encode_output(pixels, decoded, config).data, "copy")
                row.append(Cell(fit(display(written.pixels, written.has_alpha), cell),
                                [f"copy {copy}", *describe(params.to_dict(names))],
                                {"class": label, "source": source.rel_path, "copy": copy}))
            rows.append(row)
        shown = len(rows)
        sections.append(Section(f"{label}: {len(members)} source{'s' if len(members) != 1 else ''}"
                                f", {shown} shown, original then copies 0-{variants - 1}", rows))
    further = ", ".join(names) if names else "none"
    title = [f"expand preview of {config.src}",
             (f"seed {config.seed}; preset {config.preset or '(none)'}; further transforms: "
              f"{further}")]
    image, cells = contact_sheet(title, sections, cell)
    return image, cells, unreadable
