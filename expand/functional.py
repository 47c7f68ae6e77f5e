"""Pure kernels on uint8 arrays (H, W, C): no randomness, no I/O."""

from __future__ import annotations

import math

import cv2
import numpy as np

from expand.config import FillMode

# SciPy's legacy 'wrap' (period n-1) and 'constant' (no blending at the edge) are Keras's; we
# tile the image and fill with cval instead (OpenCV's WRAP and CONSTANT), which agree with Keras
# everywhere the sampled point lies inside the image.
_BORDERS: dict[str, int] = {
    "nearest": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT,
    "wrap": cv2.BORDER_WRAP,
    "constant": cv2.BORDER_CONSTANT,
}


def affine_matrix(
    theta: float, tx: float, ty: float, shear: float, zx: float, zy: float, width: int, height: int
) -> np.ndarray:
    """The inverse (output → input) map in (x = column, y = row) pixel coordinates.

    Keras's composition R·S·Sh·Z, pivoting on the true centre ((w-1)/2, (h-1)/2): Keras pivots
    non-square images on the wrong point, which also shifts them.
    """
    t = math.radians(theta)
    s = math.radians(shear)
    rotation = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=float)
    shearing = np.array([[1, -math.sin(s), 0], [0, math.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]], dtype=float)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=float)
    from_centre = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=float)
    matrix: np.ndarray = from_centre @ rotation @ shift @ shearing @ zoom @ to_centre
    return matrix


_EYE = np.eye(3)


def is_identity(matrix: np.ndarray) -> bool:
    return bool((np.abs(matrix - _EYE) <= 1e-12).all())


def warp_affine(
    image: np.ndarray, matrix: np.ndarray, fill_mode: FillMode, cval: float, has_alpha: bool
) -> np.ndarray:
    """One bilinear resample; with constant fill the colour takes cval and alpha takes 0."""
    height, width = image.shape[:2]
    channels = image.shape[2]
    fill = [float(min(max(round(cval), 0), 255))] * channels
    if has_alpha:
        fill[-1] = 0.0
    warped = cv2.warpAffine(
        image, matrix[:2], (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=_BORDERS[fill_mode],
        borderValue=tuple(fill),
    )
    return warped.reshape(height, width, channels)


def channel_shift(image: np.ndarray, intensity: float, has_alpha: bool) -> np.ndarray:
    """Keras's shift: one value added to every colour channel, clipped to the image's own range."""
    colour = image[..., :-1] if has_alpha else image
    low, high = int(colour.min()), int(colour.max())
    shifted = np.clip(np.rint(colour.astype(np.float32) + np.float32(intensity)), low, high)
    return _replace_colour(image, shifted.astype(np.uint8), has_alpha)


def adjust_brightness(image: np.ndarray, factor: float, has_alpha: bool) -> np.ndarray:
    """Multiply colour values by `factor`, rounded and clipped (Keras truncates)."""
    colour = image[..., :-1] if has_alpha else image
    scaled = np.clip(np.rint(colour.astype(np.float32) * np.float32(factor)), 0, 255)
    return _replace_colour(image, scaled.astype(np.uint8), has_alpha)


def flip(image: np.ndarray, horizontal: bool, vertical: bool) -> np.ndarray:
    """Mirror left-right and/or upside down, in one pass (OpenCV: 30x faster than a NumPy copy
    of a reversed view, the same pixels)."""
    if not (horizontal or vertical):
        return image
    code = -1 if horizontal and vertical else 1 if horizontal else 0
    return cv2.flip(image, code).reshape(image.shape)


def flip_horizontal(image: np.ndarray) -> np.ndarray:
    return flip(image, True, False)


def flip_vertical(image: np.ndarray) -> np.ndarray:
    return flip(image, False, True)


def _replace_colour(image: np.ndarray, colour: np.ndarray, has_alpha: bool) -> np.ndarray:
    if not has_alpha:
        return colour
    return np.concatenate([colour, image[..., -1:]], axis=2)
