"""Pure kernels on uint8 arrays (H, W, C): no randomness, no I/O."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image, ImageOps

from expand.io import codec

if TYPE_CHECKING:  # config imports the catalogue, whose kernels live here
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
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    # from_centre @ rotation, and the product with the zoom's diagonal, written out: each of their
    # entries has one term, so they are exact whatever the order. The three other products have
    # several terms: NumPy's, as they always were, for the same bits.
    rotation = np.array([[math.cos(t), -math.sin(t), cx], [math.sin(t), math.cos(t), cy],
                         [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=float)
    shearing = np.array([[1, -math.sin(s), 0], [0, math.cos(s), 0], [0, 0, 1]])
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=float)
    matrix: np.ndarray = (rotation @ shift @ shearing * (zx, zy, 1.0)) @ to_centre
    return matrix


_EYE = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def is_identity(matrix: np.ndarray, atol: float = 1e-12) -> bool:
    """Every entry of the 3x3 map within atol of the identity's (NaN never is). Over Python
    floats: on 9 values NumPy's per-call overhead is most of the work, and this runs per output."""
    return all(abs(value - one) <= atol for value, one in zip(matrix.ravel().tolist(), _EYE))


def warp_affine(
    image: np.ndarray, matrix: np.ndarray, fill_mode: FillMode, cval: float, has_alpha: bool
) -> np.ndarray:
    """One bilinear resample; with constant fill the colour takes cval and alpha takes 0."""
    return warp(image, matrix[:2], fill_mode, _fill(cval, image.shape[2], has_alpha))


#: The largest warp source given a replicated margin (pixels with the margin, 64 MB as RGBA).
_MARGIN_PIXELS = 16_000_000


def _prepared(image: np.ndarray, fill_mode: FillMode) -> tuple[np.ndarray, tuple[int, int]]:
    """The image to warp and its margin (x, y), made once for all copies of a read-only source
    (codec makes decoded pixels read-only, so the prepared form cannot go stale).

    - RGB gains a fourth channel, as BGRX: OpenCV's bilinear warp has a vector path for 4
      channels and not for 3; BGRX takes that path, to the same values (tested), and in BGR
      order the encoder takes the warped copy without a full-image pass (codec).
    - Under `nearest` fill the image gets a replicated margin of half its size on each side:
      OpenCV computes every output pixel that samples outside the source one at a time, off
      the vector path, and a zoomed-out copy is mostly such pixels. Replicating into a margin
      and then at its edge is the same fill; only the float rounding of the shifted
      coordinates differs, by at most 1 grey level on a few pixels in ten thousand.
    """
    # kept by a decoded source itself (codec.SourcePixels): it lives as long as the source, and
    # threads (Dask runs several in a worker) each find their own source's
    cache = image.prepared if isinstance(image, codec.SourcePixels) and \
        not image.flags.writeable else None
    found = cache.get(fill_mode) if cache is not None else None
    if found is not None:
        return found
    height, width, channels = image.shape
    prepared = cv2.cvtColor(image, cv2.COLOR_RGB2BGRA) if channels == 3 else image
    margin = (width // 2, height // 2)
    if fill_mode != "nearest" or 4 * width * height > _MARGIN_PIXELS:
        margin = (0, 0)
    else:
        prepared = cv2.copyMakeBorder(prepared, margin[1], margin[1], margin[0], margin[0],
                                      cv2.BORDER_REPLICATE)
    if cache is not None and prepared is not image:
        cache[fill_mode] = (prepared, margin)
    return prepared, margin


def _fill(cval: float, channels: int, has_alpha: bool) -> list[float]:
    """The constant fill: cval for colour, transparent for alpha."""
    fill = [float(min(max(round(cval), 0), 255))] * channels
    if has_alpha:
        fill[-1] = 0.0
    return fill


def warp_labels(labels: np.ndarray, matrix: np.ndarray, fill_mode: str) -> np.ndarray:
    """A label image (H, W) by the image's inverse map and border rule, with nearest neighbour
    (labels are never blended); a constant fill is 0, the background."""
    height, width = labels.shape
    projective = matrix[2, 0] != 0.0 or matrix[2, 1] != 0.0 or matrix[2, 2] != 1.0
    resample = cv2.warpPerspective if projective else cv2.warpAffine
    warped: np.ndarray = resample(
        np.ascontiguousarray(labels), np.asarray(matrix if projective else matrix[:2], float),
        (width, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=_BORDERS[fill_mode], borderValue=0)
    return warped


def warp(image: np.ndarray, matrix: np.ndarray, fill_mode: FillMode,
         fill: list[float]) -> np.ndarray:
    """One bilinear resample by an inverse map, affine (2x3) or projective (3x3); `fill`: a value
    per channel, for the constant fill mode."""
    height, width, channels = image.shape
    prepared, (mx, my) = _prepared(image, fill_mode)
    if mx or my:  # sample (x + mx, y + my): the map followed by a shift
        matrix = np.array(matrix, dtype=float)
        if len(matrix) == 2:
            matrix[:, 2] += (mx, my)
        else:
            matrix[0] += mx * matrix[2]
            matrix[1] += my * matrix[2]
    widened = channels == 3  # warped as BGRX, handed on as its RGB view
    resample = cv2.warpAffine if len(matrix) == 2 else cv2.warpPerspective
    warped = resample(prepared, matrix, (width, height),
                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                      borderMode=_BORDERS[fill_mode],
                      borderValue=tuple(fill[::-1] + [0.0] if widened else fill))
    if widened:
        return codec.rgb_view(warped)
    return np.asarray(warped).reshape(height, width, channels)


#: Every uint8 value, as the float32 the per-value kernels compute in.
_LEVELS = np.arange(256, dtype=np.float32)


def _with_colours(image: np.ndarray, has_alpha: bool) -> tuple[np.ndarray, int, bool]:
    """The array to work on (a warped copy's whole BGRX, else the image), how many of its
    channels are colour (alpha and the X of BGRX are not), and whether it is BGRX."""
    bgrx = codec.bgrx_of(image)
    if bgrx is not None:
        return bgrx, 3, True
    return image, image.shape[2] - (1 if has_alpha else 0), False


def _map_colour(image: np.ndarray, table: np.ndarray, has_alpha: bool) -> np.ndarray:
    """Each colour value v replaced by table[v] (256 uint8), alpha kept. A kernel of one value
    at a time, computed on the 256 levels in float32 and looked up, gives the very values it
    gives computed pixel by pixel, in one pass instead of five over float32 copies. A warped
    copy stays BGRX for the encoder."""
    target, colours, widened = _with_colours(image, has_alpha)
    tables = np.repeat(table[:, None], target.shape[2], axis=1)
    tables[:, colours:] = np.arange(256, dtype=np.uint8)[:, None]
    mapped = cv2.LUT(np.ascontiguousarray(target), tables.reshape(256, 1, -1))
    mapped = mapped.reshape(target.shape)
    return codec.rgb_view(mapped) if widened else mapped


def channel_shift(image: np.ndarray, intensity: float, has_alpha: bool) -> np.ndarray:
    """Keras's shift: one value added to every colour channel, clipped to the image's own range.
    The range is reduced over rows first, a contiguous pass: the colour channels alone of BGRX
    or RGBA are strided, which makes their min and max slow."""
    target, colours, _ = _with_colours(image, has_alpha)
    low = int(target.min(axis=0)[:, :colours].min())
    high = int(target.max(axis=0)[:, :colours].max())
    table = np.clip(np.rint(_LEVELS + np.float32(intensity)), low, high).astype(np.uint8)
    return _map_colour(image, table, has_alpha)


def adjust_brightness(image: np.ndarray, factor: float, has_alpha: bool) -> np.ndarray:
    """Multiply colour values by `factor`, rounded and clipped (Keras truncates)."""
    table = np.clip(np.rint(_LEVELS * np.float32(factor)), 0, 255).astype(np.uint8)
    return _map_colour(image, table, has_alpha)


def flip(image: np.ndarray, horizontal: bool, vertical: bool, in_place: bool = False
         ) -> np.ndarray:
    """Mirror left-right and/or upside down with OpenCV's flip: one pass, instead of a NumPy copy
    of a reversed view (the same pixels).

    `in_place`: the caller owns `image` (a copy it has just made), which is then flipped where
    it is: a second full-size buffer would be written and read again for nothing. OpenCV swaps
    the two mirrored pixels or rows in one step, so flipping in place gives the same pixels
    (tested).
    """
    if not (horizontal or vertical):
        return image
    code = -1 if horizontal and vertical else 1 if horizontal else 0
    target, _, widened = _with_colours(image, False)  # a warped copy stays BGRX for the encoder
    if in_place and target.flags.c_contiguous and target.flags.writeable:
        cv2.flip(target, code, dst=target)
        return image
    flipped = cv2.flip(target, code)
    return codec.rgb_view(flipped) if widened else flipped.reshape(image.shape)


def _replace_colour(image: np.ndarray, colour: np.ndarray, has_alpha: bool) -> np.ndarray:
    if not has_alpha:
        return colour
    return np.concatenate([colour, image[..., -1:]], axis=2)


# ---- geometry beyond Keras's affine: output -> input maps, composed into the one warp ----


def crop_matrix(x: float, y: float, w: float, h: float, width: int, height: int) -> np.ndarray:
    """Map the output frame onto the window [x, x+w] x [y, y+h] (pixel edges) of the input."""
    sx, sy = w / width, h / height
    # pixel centres: output column c covers edges [c, c+1], so it samples x + (c + 0.5) sx - 0.5
    return np.array([[sx, 0, x + 0.5 * sx - 0.5], [0, sy, y + 0.5 * sy - 0.5], [0, 0, 1]],
                    dtype=float)


def perspective_matrix(corners: tuple[tuple[float, float], ...], width: int,
                       height: int) -> np.ndarray:
    """The homography taking the output back to the input, given where the input's corner pixel
    centres land (top-left, top-right, bottom-right, bottom-left)."""
    frame = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                     dtype=np.float32)
    matrix: np.ndarray = cv2.getPerspectiveTransform(np.array(corners, dtype=np.float32), frame)
    return matrix.astype(float)


def warp_perspective(
    image: np.ndarray, matrix: np.ndarray, fill_mode: FillMode, cval: float, has_alpha: bool
) -> np.ndarray:
    """warp_affine's twin for a homography: one bilinear resample, the same fill rules."""
    return warp(image, matrix, fill_mode, _fill(cval, image.shape[2], has_alpha))


# ---- pixel-level kernels: colour channels only; alpha passes through unchanged ----


def _colour(image: np.ndarray, has_alpha: bool) -> np.ndarray:
    return image[..., :-1] if has_alpha else image


def _to_uint8(values: np.ndarray) -> np.ndarray:
    rounded: np.ndarray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return rounded


def _luma(colour: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma (Pillow's RGB -> L weights) as float32, shape (H, W, 1)."""
    if colour.shape[2] == 1:
        return colour.astype(np.float32)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (colour.astype(np.float32) @ weights)[..., None]


def color_jitter(image: np.ndarray, brightness: float, contrast: float, saturation: float,
                 hue: float, has_alpha: bool) -> np.ndarray:
    """torchvision's ColorJitter in a fixed order (brightness, contrast, saturation, hue); a
    factor at its identity (1, 1, 1, 0) is skipped. Saturation and hue leave grey images alone."""
    if (brightness, contrast, saturation, hue) == (1.0, 1.0, 1.0, 0.0):
        return image
    colour = _colour(image, has_alpha)
    grey = colour.shape[2] == 1
    values = colour.astype(np.float32)
    if brightness != 1.0:
        values = np.clip(values * np.float32(brightness), 0, 255)
    if contrast != 1.0:
        mean = np.float32(_luma(values).mean())
        values = np.clip(mean + np.float32(contrast) * (values - mean), 0, 255)
    if saturation != 1.0 and not grey:
        luma = _luma(values)
        values = np.clip(luma + np.float32(saturation) * (values - luma), 0, 255)
    if hue != 0.0 and not grey:
        hsv = cv2.cvtColor(values / 255.0, cv2.COLOR_RGB2HSV)  # H in degrees, [0, 360)
        hsv[..., 0] = np.mod(hsv[..., 0] + np.float32(hue * 360.0), 360.0)
        values = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    return _replace_colour(image, _to_uint8(values), has_alpha)


def grayscale(image: np.ndarray, has_alpha: bool) -> np.ndarray:
    """Luma in every colour channel: the mode (and the dataset's channel count) stays the same."""
    colour = _colour(image, has_alpha)
    if colour.shape[2] == 1:
        return image
    luma = _to_uint8(_luma(colour))
    return _replace_colour(image, np.repeat(luma, colour.shape[2], axis=2), has_alpha)


def adjust_gamma(image: np.ndarray, gamma: float, has_alpha: bool) -> np.ndarray:
    if gamma == 1.0:
        return image
    return _map_colour(image, _to_uint8(255.0 * (np.arange(256) / 255.0) ** gamma), has_alpha)


def _pil_colour(image: np.ndarray, has_alpha: bool) -> Image.Image:
    colour = _colour(image, has_alpha)
    return Image.fromarray(colour[..., 0] if colour.shape[2] == 1 else colour)


def _from_pil(image: np.ndarray, result: Image.Image, has_alpha: bool) -> np.ndarray:
    pixels = np.asarray(result, dtype=np.uint8)
    return _replace_colour(image, pixels.reshape(*pixels.shape[:2], -1), has_alpha)


def equalize(image: np.ndarray, has_alpha: bool) -> np.ndarray:
    """Pillow's histogram equalisation, per colour channel."""
    return _from_pil(image, ImageOps.equalize(_pil_colour(image, has_alpha)), has_alpha)


def autocontrast(image: np.ndarray, cutoff_pct: float, has_alpha: bool) -> np.ndarray:
    """Pillow's autocontrast per colour channel: `cutoff_pct` percent of each end is clipped."""
    return _from_pil(image, ImageOps.autocontrast(_pil_colour(image, has_alpha),
                                                  cutoff=cutoff_pct), has_alpha)


def add_noise(image: np.ndarray, noise: np.ndarray, sigma: float, has_alpha: bool) -> np.ndarray:
    """Add `sigma` x a standard-normal field (shape of the colour channels), rounded and clipped."""
    if sigma == 0.0:
        return image
    values = _colour(image, has_alpha).astype(np.float32) + noise * np.float32(sigma)
    return _replace_colour(image, _to_uint8(values), has_alpha)


def _blur(colour: np.ndarray, sigma: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(colour, (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REFLECT_101)
    return blurred.reshape(colour.shape)


def gaussian_blur(image: np.ndarray, sigma: float, has_alpha: bool) -> np.ndarray:
    if sigma == 0.0:
        return image
    colour = _colour(image, has_alpha).astype(np.float32)
    return _replace_colour(image, _to_uint8(_blur(colour, sigma)), has_alpha)


def sharpen(image: np.ndarray, amount: float, has_alpha: bool) -> np.ndarray:
    """Unsharp mask with a 1-pixel Gaussian."""
    if amount == 0.0:
        return image
    colour = _colour(image, has_alpha).astype(np.float32)
    sharpened = colour + np.float32(amount) * (colour - _blur(colour, 1.0))
    return _replace_colour(image, _to_uint8(sharpened), has_alpha)


def jpeg_round_trip(image: np.ndarray, quality: int, has_alpha: bool) -> np.ndarray:
    """Encode the colour channels as JPEG at `quality` and decode them (4:2:0, Pillow's libjpeg)."""
    buffer = io.BytesIO()
    _pil_colour(image, has_alpha).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return _from_pil(image, Image.open(buffer), has_alpha)


def erase(image: np.ndarray, x: int, y: int, w: int, h: int, value: int,
          has_alpha: bool) -> np.ndarray:
    """Fill a rectangle of the colour channels with one grey value."""
    if w == 0 or h == 0:
        return image
    out = image.copy()
    channels = out.shape[2] - (1 if has_alpha else 0)
    out[y:y + h, x:x + w, :channels] = value
    return out
