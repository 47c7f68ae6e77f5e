"""Apply sampled parameters: all geometry in one resample, Keras's pixel steps, then the list."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from expand import functional as F
from expand import params as P
from expand.config import AugmentConfig
from expand.params import AugmentParams


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


def apply_params(
    image: np.ndarray, params: AugmentParams, config: AugmentConfig, has_alpha: bool
) -> np.ndarray:
    """A pure function of the image and the parameters; a stage at identity is skipped.

    Order: one resample for all geometry; Keras's channel shift, flips and brightness; then the
    pixel-level transforms in the order the config lists them.

    Args:
        image: uint8 array (H, W, C), alpha last when `has_alpha`.
        params: what was drawn for this output.
        config: supplies the fill mode, cval and the order of the list (settings, not draws).
        has_alpha: whether the last channel is alpha (warped, never shifted or brightened).
    """
    height, width = image.shape[:2]
    matrix, projective = geometry(params, width, height)
    out = image
    # A perspective at its identity still goes through float32 corners: allow its round-off.
    if not F.is_identity(matrix, atol=1e-9 if projective else 1e-12):
        warp = F.warp_perspective if projective else F.warp_affine
        out = warp(out, matrix, config.fill_mode, config.cval, has_alpha)
    if params.channel_shift_intensity is not None:
        out = F.channel_shift(out, params.channel_shift_intensity, has_alpha)
    out = F.flip(out, params.flip_horizontal, params.flip_vertical)
    if params.brightness is not None:
        out = F.adjust_brightness(out, params.brightness, has_alpha)
    for transform in config.transforms:
        drawn = params.get(transform.name)
        if drawn is not None and not transform.geometric:
            out = _PIXEL_KERNELS[transform.name](out, drawn, has_alpha)
    return out
