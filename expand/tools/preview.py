"""`expand preview`: a sheet of a few sources per class and what a config makes of them."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from expand.annotations import ImageTargets, Layout
from expand.augment.checks import SourceFacts
from expand.augment.idg import LABEL_CAPTIONS, PIXEL_CAPTIONS
from expand.augment.transforms import CATALOGUE
from expand.config import KERAS_SETTINGS, ExpandConfig
from expand.errors import AnnotationError, ImageReadError, NotLineArtError
from expand.io import codec, storage
from expand.io.discover import discover_store, spread
from expand.run.labels import read_coco_source, read_targets, resolve_layout
from expand.run.runner import check_class_overrides
from expand.run.worker import (
    TargetMapper,
    draw_output,
    encode_output,
    read_decoded,
    trace_or_skip,
)
from expand.tools.sheet import Cell, Section, contact_sheet, display, draw_targets, fit

#: The captions of Keras's transforms in their order, a shared one (the flips') once.
_KERAS_CAPTIONS = sorted({s.caption for _, s in KERAS_SETTINGS if s.caption is not None},
                         key=lambda caption: caption.order)


def describe(params: dict[str, Any] | None) -> list[str]:
    """The drawn parameters that changed something, as short phrases, those that may change a
    label first (a manifest `params` row; None for an original)."""
    if params is None:
        return ["original"]
    keras = [(c.order, text) for c in _KERAS_CAPTIONS if (text := c.text(params))]
    extras = [(CATALOGUE[n], CATALOGUE[n].params_type.from_dict(p))
              for n, p in params.items() if isinstance(p, dict)]
    parts = [text for order, text in keras if order < LABEL_CAPTIONS]
    parts += [t.caption(p) for t, p in extras if t.caption_first]
    parts += [text for order, text in keras if LABEL_CAPTIONS <= order < PIXEL_CAPTIONS]
    parts += [t.caption(p) for t, p in extras if not t.caption_first]
    parts += [text for order, text in keras if order >= PIXEL_CAPTIONS]
    return parts or ["identity"]




def drawn_tile(pixels: np.ndarray, has_alpha: bool, cell: int,
         targets: ImageTargets | None) -> Image.Image:
    """A sheet's picture of an image fitted to the cell, with its boxes, polygons and masks
    drawn when it has targets (an annotated layout)."""
    image = fit(display(pixels, has_alpha), cell)
    if targets is None:
        return image
    scale = image.width / pixels.shape[1]
    return Image.fromarray(draw_targets(np.asarray(image.convert("RGB")), targets, scale))


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
    config = resolve_layout(config, src)
    layout = config.annotated
    dataset = discover_store(src, config.follow_symlinks, layout or Layout.CLASSES)
    check_class_overrides(config, dataset.classes)
    shipped = {} if layout is not Layout.COCO else \
        {f"images/{name}": image[2] for name, image in read_coco_source(src).images.items()}
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
            labels = None
            if layout is not None:
                try:
                    labels = read_targets(layout, src, source.rel_path, (width, height),
                                          shipped.get(source.rel_path))
                except AnnotationError as exc:
                    unreadable.append(str(exc))
                    continue
            mapper = None if labels is None else \
                TargetMapper(labels, augment, (width, height), config.min_visibility)
            row = [Cell(drawn_tile(decoded.pixels, decoded.has_alpha, cell,
                                                   None if labels is None else labels.targets),
                        [source.rel_path.split("/")[-1], f"{width}x{height} {decoded.mode}"],
                        {"class": label, "source": source.rel_path, "copy": None})]
            facts = SourceFacts.of(decoded.pixels, traced) if augment.checks else None
            for copy in range(variants):
                pixels, params, checked = draw_output(
                    decoded, augment, config.seed, source.rel_path, copy, traced, None, facts,
                    None if mapper is None else mapper.objects)
                written = codec.decode(encode_output(pixels, decoded, config).data, "copy")
                drafts = f" (draft {checked['attempt']})" if checked and checked["attempt"] else ""
                row.append(Cell(drawn_tile(written.pixels, written.has_alpha, cell,
                                     None if mapper is None else mapper.mapped(params)[0]),
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
