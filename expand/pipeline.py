"""Apply sampled parameters: all geometry in one resample, Keras's pixel steps, then the list."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from expand import functional as F
from expand import lineart
from expand import params as P
from expand.config import AugmentConfig
from expand.params import AugmentParams
from expand.transforms import LINE_ART


def geometry(params: AugmentParams, width: int, height: int) -> tuple[np.ndarray, bool]:
    """The output -> input map of every geometric draw, composed, and whether it is projective.

    Forward order: crop (random_crop or random_resized_crop), then Keras's affine about the
    centre, then perspective. The map applies them backwards, so the image is resampled once.
    """
    matrix = F.affine_matrix(params.theta, params.tx, params.ty, params.shear,
                             params.zx, params.zy, width, height)
    for name in ("random_crop", "random_resized_crop"):
        box = params.get(name)
        if isinstance(box, P.CropBox):
            matrix = F.crop_matrix(box.x, box.y, box.w, box.h, width, height) @ matrix
    corners = params.get("perspective")
    if isinstance(corners, P.Corners):
        matrix = matrix @ F.perspective_matrix(corners.corners, width, height)
        return matrix, True
    return matrix, False


#: Each pixel-level transform's kernel, called with (image, what it drew, has_alpha).
_PIXEL_KERNELS: dict[str, Callable[[np.ndarray, Any, bool], np.ndarray]] = {
    "color_jitter": lambda im, p, a: F.color_jitter(im, p.brightness, p.contrast,
                                                    p.saturation, p.hue, a),
    "grayscale": lambda im, p, a: F.grayscale(im, a),
    "gamma": lambda im, p, a: F.adjust_gamma(im, p.gamma, a),
    "equalize": lambda im, p, a: F.equalize(im, a),
    "autocontrast": lambda im, p, a: F.autocontrast(im, p.cutoff_pct, a),
    "gaussian_noise": lambda im, p, a: F.add_noise(
        im, P.noise_field(p.seed, (*im.shape[:2], im.shape[2] - (1 if a else 0))), p.sigma, a),
    "gaussian_blur": lambda im, p, a: F.gaussian_blur(im, p.sigma, a),
    "sharpen": lambda im, p, a: F.sharpen(im, p.amount, a),
    "jpeg": lambda im, p, a: F.jpeg_round_trip(im, p.quality, a),
    "random_erasing": lambda im, p, a: F.erase(im, p.x, p.y, p.w, p.h, p.value, a),
}


def trace_source(image: np.ndarray, config: AugmentConfig) -> lineart.Traced | None:
    """The source's trace when the config lists a line-art transform, else None.

    Raises:
        NotLineArtError: the config asks for line-art transforms and this is not line art.
    """
    return lineart.trace(image, config.polarity) if config.line_art() else None


def _placement(matrix: np.ndarray, place: P.Place, traced: lineart.Traced, width: int,
               height: int) -> np.ndarray:
    """The inverse map with the placement appended: the ink box, carried by the geometry so
    far, is scaled to span `size` of the frame and put at (u, v) of the room left."""
    left, top, right, bottom = traced.bbox
    corners = np.array([[left - 0.5, top - 0.5, 1], [right - 0.5, top - 0.5, 1],
                        [right - 0.5, bottom - 0.5, 1], [left - 0.5, bottom - 0.5, 1]])
    moved = corners @ np.linalg.inv(matrix).T
    moved = moved[:, :2] / moved[:, 2:]
    (x0, y0), (x1, y1) = moved.min(axis=0), moved.max(axis=0)
    box_w, box_h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    scale = place.size / max(box_w / width, box_h / height)
    tx = place.u * (width - scale * box_w) - 0.5 - scale * x0
    ty = place.v * (height - scale * box_h) - 0.5 - scale * y0
    forward = np.array([[scale, 0.0, tx], [0.0, scale, ty], [0.0, 0.0, 1.0]])
    placed: np.ndarray = matrix @ np.linalg.inv(forward)
    return placed


def _warp_on_paper(image: np.ndarray, matrix: np.ndarray, projective: bool,
                   polarity: lineart.Polarity, has_alpha: bool) -> np.ndarray:
    """One bilinear resample of line art; what comes from outside the image is paper."""
    fill = [float(np.clip(round(v), 0, 255)) for v in polarity.paper]
    if has_alpha:
        fill.append(0.0 if polarity.transparent_paper else 255.0)
    return F.warp(image, matrix if projective else matrix[:2], "constant", fill)


def _line_art_geometry(image: np.ndarray, params: AugmentParams, traced: lineart.Traced,
                       matrix: np.ndarray, projective: bool, has_alpha: bool) -> np.ndarray:
    """Redraw the strokes (stroke_preserve, stroke_width or wobble fired and change something)
    or warp the pixels onto paper; at the identity, the image itself."""
    height, width = image.shape[:2]
    place = params.get("placement")
    if isinstance(place, P.Place):
        matrix = _placement(matrix, place, traced, width, height)
    identity = F.is_identity(matrix, atol=1e-9 if projective else 1e-12)
    preserve = params.get("stroke_preserve") is not None
    factor = params.get("stroke_width")
    factor_value = factor.factor if isinstance(factor, P.Factor) else 1.0
    field = params.get("wobble")
    wobble = None
    if isinstance(field, P.WobbleField) and field.amplitude > 0:
        side = min(width, height)
        wobble = lineart.Wobble(field.amplitude * side, field.wavelength * side, field.phases)
    if (preserve and not identity) or factor_value != 1.0 or wobble is not None:
        centre = ((width - 1) / 2, (height - 1) / 2)
        base = traced.width if preserve else traced.width * lineart.scale_of(matrix, centre)
        return lineart.draw(traced, image, matrix, (width, height), base * factor_value, wobble)
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
    if params.drew_any(LINE_ART) or (config.line_art() and not identity):
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
        if isinstance(drawn, P.Levels):
            if (drawn.ink, drawn.paper) != (0.0, 0.0):
                assert traced is not None
                out = lineart.repaint(out, traced.polarity, drawn.ink, drawn.paper)
        elif drawn is not None and not transform.geometric:
            out = _PIXEL_KERNELS[transform.name](out, drawn, has_alpha)
    return out
