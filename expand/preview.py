"""`expand preview`: a sheet of a few sources per class and what a config makes of them."""

from __future__ import annotations

from typing import Any

from PIL import Image

from expand import codec, storage
from expand.checks import SourceFacts
from expand.config import ExpandConfig
from expand.discover import SourceImage, discover_store
from expand.errors import ImageReadError, NotLineArtError
from expand.runner import check_class_overrides
from expand.sheet import Cell, Section, contact_sheet, display, fit
from expand.transform_base import short as _f
from expand.transforms import CATALOGUE
from expand.worker import draw_output, encode_output, trace_or_skip


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
    extras = [(CATALOGUE[n], CATALOGUE[n].params_type.from_dict(p))
              for n, p in params.items() if isinstance(p, dict)]
    parts += [t.caption(p) for t, p in extras if t.caption_first]
    if params["shear"]:
        parts.append(f"shear {_f(params['shear'], 0)}°")
    if (params["zx"], params["zy"]) != (1.0, 1.0):
        parts.append(f"zoom {_f(params['zx'])}/{_f(params['zy'])}")
    if params["tx"] or params["ty"]:
        parts.append(f"tx {_f(params['tx'], 1)} ty {_f(params['ty'], 1)}")
    parts += [t.caption(p) for t, p in extras if not t.caption_first]
    if params["channel_shift_intensity"] is not None:
        parts.append(f"chshift {_f(params['channel_shift_intensity'], 0)}")
    if params["brightness"] is not None:
        parts.append(f"bright {_f(params['brightness'])}")
    return parts or ["identity"]


def _picks(members: list[SourceImage], count: int) -> list[SourceImage]:
    """`count` sources spread evenly over the class's sorted list (always the first one)."""
    n = len(members)
    shown = min(count, n)  # each source once, also in a class smaller than `count`
    return [members[i * n // shown] for i in range(shown)]


def preview(config: ExpandConfig, per_class: int, variants: int,
            cell: int) -> tuple[Image.Image, list[Cell], list[str]]:
    """Draw the sheet: per class, `per_class` sources, each original then `variants` copies, as
    the run with this config would write them (copy k is the run's copy k, drawn again as the
    run would when it fails a check, decoded from the bytes it would write), captioned with
    their main parameters.

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
        for source in _picks(members, per_class):
            try:
                decoded = codec.decode(src.read_bytes(source.rel_path), source.rel_path,
                                       config.resize, config.max_image_pixels)
            except (OSError, ImageReadError) as exc:
                message = getattr(exc, "strerror", None) or str(exc)
                unreadable.append(message if message.startswith(f"{source.rel_path}:")
                                  else f"{source.rel_path}: {message}")
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
            facts = SourceFacts.of(decoded.pixels, traced) if augment.checks else None
            for copy in range(variants):
                pixels, params, checked = draw_output(decoded, augment, config.seed,
                                                      source.rel_path, copy, traced, None, facts)
                written = codec.decode(encode_output(pixels, decoded, config).data, "copy")
                drafts = f" (draft {checked['attempt']})" if checked and checked["attempt"] else ""
                row.append(Cell(fit(display(written.pixels, written.has_alpha), cell),
                                [f"copy {copy}{drafts}", *describe(params.to_dict(names))],
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
