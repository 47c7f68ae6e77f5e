"""Apply sampled parameters in Keras's order: one affine, channel shift, flips, brightness."""

from __future__ import annotations

import numpy as np

from expand import functional as F
from expand.config import AugmentConfig
from expand.params import AugmentParams


def apply_params(
    image: np.ndarray, params: AugmentParams, config: AugmentConfig, has_alpha: bool
) -> np.ndarray:
    """A pure function of the image and the parameters; a stage at identity is skipped.

    Args:
        image: uint8 array (H, W, C), alpha last when `has_alpha`.
        params: what was drawn for this output.
        config: supplies the fill mode and cval (settings, not draws).
        has_alpha: whether the last channel is alpha (warped, never shifted or brightened).
    """
    height, width = image.shape[:2]
    matrix = F.affine_matrix(params.theta, params.tx, params.ty, params.shear,
                             params.zx, params.zy, width, height)
    out = image
    if not F.is_identity(matrix):
        out = F.warp_affine(out, matrix, config.fill_mode, config.cval, has_alpha)
    if params.channel_shift_intensity is not None:
        out = F.channel_shift(out, params.channel_shift_intensity, has_alpha)
    out = F.flip(out, params.flip_horizontal, params.flip_vertical)
    if params.brightness is not None:
        out = F.adjust_brightness(out, params.brightness, has_alpha)
    return out
