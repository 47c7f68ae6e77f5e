"""Apply sampled parameters: all geometry in one resample, Keras's pixel steps, then the list."""

from __future__ import annotations

from typing import Any

import numpy as np

from expand.augment import functional as F
from expand.augment import lineart
from expand.augment.params import AugmentParams
from expand.augment.transform_base import (
    KERAS_AFFINE_ORDER,
    GeometricTransform,
    PaperTransform,
    Params,
    PixelTransform,
    StrokePlan,
    StrokeTransform,
)
from expand.augment.transforms import CATALOGUE
from expand.config import AugmentConfig


def geometry(params: AugmentParams, width: int, height: int) -> tuple[np.ndarray, bool]:
    """The output -> input map of every geometric draw, composed, and whether it is projective.

    Forward order: the geometric transforms by their declared order, Keras's affine about the
    centre at KERAS_AFFINE_ORDER (crops before it, perspective after). The map applies them
    backwards, so the image is resampled once.
    """
    matrix = F.affine_matrix(params.theta, params.tx, params.ty, params.shear,
                             params.zx, params.zy, width, height)
    maps: list[tuple[type[GeometricTransform[Any]], Params]] = []
    for name, drawn in params.extra:
        definition = CATALOGUE[name]
        if drawn is not None and issubclass(definition, GeometricTransform):
            maps.append((definition, drawn))
    maps.sort(key=lambda found: found[0].order)
    # Those before the affine, nearest first: with one map on each side the product is the one
    # always computed, (crop @ affine) @ perspective, for the same bits.
    for definition, drawn in reversed(maps):
        if definition.order < KERAS_AFFINE_ORDER:
            matrix = definition.matrix(drawn, width, height) @ matrix
    for definition, drawn in maps:
        if definition.order >= KERAS_AFFINE_ORDER:
            matrix = matrix @ definition.matrix(drawn, width, height)
    return matrix, any(definition.projective for definition, _ in maps)


def trace_source(image: np.ndarray, config: AugmentConfig) -> lineart.Traced | None:
    """The source's trace when the config lists a line-art transform, else None.

    Raises:
        NotLineArtError: the config asks for line-art transforms and this is not line art.
    """
    return lineart.trace(image, config.polarity) if config.line_art() else None


def _warp_on_paper(image: np.ndarray, matrix: np.ndarray, projective: bool,
                   polarity: lineart.Polarity, has_alpha: bool) -> np.ndarray:
    """One bilinear resample of line art; what comes from outside the image is paper."""
    fill = [float(np.clip(round(v), 0, 255)) for v in polarity.paper]
    if has_alpha:
        fill.append(0.0 if polarity.transparent_paper else 255.0)
    return F.warp(image, matrix if projective else matrix[:2], "constant", fill)


def _stroke_plan(params: AugmentParams, traced: lineart.Traced, matrix: np.ndarray, width: int,
                 height: int) -> StrokePlan:
    plan = StrokePlan(matrix)
    for name, drawn in params.extra:
        definition = CATALOGUE[name]
        if drawn is not None and issubclass(definition, StrokeTransform):
            plan = definition.plan(drawn, plan, traced, width, height)
    return plan


def output_map(params: AugmentParams, traced: lineart.Traced | None, width: int,
               height: int) -> np.ndarray:
    """The copy's whole output -> input map: the geometry, and for line art the placement (what
    the per-output checks carry the source's content through)."""
    matrix, _ = geometry(params, width, height)
    if traced is None:
        return matrix
    return _stroke_plan(params, traced, matrix, width, height).matrix


def copy_polarity(params: AugmentParams, traced: lineart.Traced) -> lineart.Polarity:
    """The ink and paper of the copy these parameters make: the source's, as repainted by the
    paper steps that fired (a copy with lighter ink keeps its strokes for the checks)."""
    polarity = traced.polarity
    for name, drawn in params.extra:
        definition = CATALOGUE[name]
        if drawn is not None and issubclass(definition, PaperTransform):
            polarity = definition.repainted(drawn, polarity)
    return polarity


def _line_art_geometry(image: np.ndarray, params: AugmentParams, traced: lineart.Traced,
                       matrix: np.ndarray, projective: bool, has_alpha: bool) -> np.ndarray:
    """Redraw the strokes (a stroke step fired and changes something) or warp the pixels onto
    paper; at the identity, the image itself."""
    height, width = image.shape[:2]
    plan = _stroke_plan(params, traced, matrix, width, height)
    matrix = plan.matrix
    identity = F.is_identity(matrix, atol=1e-9 if projective else 1e-12)
    if plan.pen is not None:
        pen_px, cap = plan.pen
        x0, y0, x1, y1 = lineart.box_through(traced.bbox, matrix)
        return lineart.draw(traced, image, matrix, (width, height),
                            min(pen_px * plan.factor, cap * min(x1 - x0, y1 - y0)), plan.wobble)
    if (plan.keep_width and not identity) or plan.factor != 1.0 or plan.wobble is not None:
        centre = ((width - 1) / 2, (height - 1) / 2)
        base = traced.width if plan.keep_width \
            else traced.width * lineart.scale_of(matrix, centre)
        return lineart.draw(traced, image, matrix, (width, height), base * plan.factor,
                            plan.wobble)
    if identity:
        return image
    return _warp_on_paper(image, matrix, projective or not np.allclose(matrix[2], (0, 0, 1)),
                          traced.polarity, has_alpha)


def apply_params(
    image: np.ndarray, params: AugmentParams, config: AugmentConfig, has_alpha: bool,
    traced: lineart.Traced | None = None,
) -> np.ndarray:
    """A pure function of the image and the parameters; a stage at identity is skipped.

    Order: one resample for all geometry; Keras's channel shift, flips and brightness; then the
    pixel-level transforms in the order the config lists them.

    Args:
        image: uint8 array (H, W, C), alpha last when `has_alpha`.
        params: what was drawn for this output.
        config: supplies the fill mode, cval and the order of the list (settings, not draws).
        has_alpha: whether the last channel is alpha (warped, never shifted or brightened).
        traced: the source's line-art trace (trace_source), made here when a line-art
            transform fired and none is given.

    Line art (a line-art transform fired): the geometry, with the placement after it, moves the
    centre lines and the strokes are drawn again, or the pixels are warped onto paper.

    Raises:
        NotLineArtError: a line-art transform fired and the image is not line art.
    """
    height, width = image.shape[:2]
    matrix, projective = geometry(params, width, height)
    out = image
    identity = F.is_identity(matrix, atol=1e-9 if projective else 1e-12)
    line_art_fired = any(drawn is not None and CATALOGUE[name].line_art
                         for name, drawn in params.extra)
    if line_art_fired or (config.line_art() and not identity):
        if traced is None:
            traced = lineart.trace(image, config.polarity)
        out = _line_art_geometry(image, params, traced, matrix, projective, has_alpha)
    # A perspective at its identity still goes through float32 corners: allow its round-off.
    elif not identity:
        warp = F.warp_perspective if projective else F.warp_affine
        out = warp(out, matrix, config.fill_mode, config.cval, has_alpha)
    if params.channel_shift_intensity is not None:
        out = F.channel_shift(out, params.channel_shift_intensity, has_alpha)
    out = F.flip(out, params.flip_horizontal, params.flip_vertical, in_place=out is not image)
    if params.brightness is not None:
        out = F.adjust_brightness(out, params.brightness, has_alpha)
    for transform in config.transforms:
        drawn = params.get(transform.name)
        if drawn is None:
            continue
        if isinstance(transform, PixelTransform):
            out = transform.kernel(out, drawn, has_alpha)
        elif isinstance(transform, PaperTransform):
            assert traced is not None  # it fired: the line-art branch above traced the source
            out = transform.repaint(out, drawn, traced.polarity)
    return out
