"""Semantic label PNGs (images/ and masks/, one label PNG per image, same stem): one value a class,
read and written losslessly. 8-bit (L), 16-bit (I;16) and palette (P) files are read as their
values; a palette file's indices are the classes and its palette is kept for the output."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from expand.errors import AnnotationError

#: zlib level of written label PNGs: fixed, so the bytes depend on the labels only; labels are
#: flat regions, which the fast level writes at about half the time of the default.
LABEL_PNG_LEVEL = 1
#: OpenCV's PNG settings for grey labels: no filter and run-length matches suit flat regions
#: (several times faster than Pillow at the same level, files about as small)
_GREY_PNG = (cv2.IMWRITE_PNG_COMPRESSION, LABEL_PNG_LEVEL,
             cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
             cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE)
_EIGHT_BIT = frozenset({"1", "L", "P"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I"})


def _open(data: bytes, where: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise AnnotationError(f"{where}: not a readable PNG ({error})") from None
    if image.format != "PNG":
        raise AnnotationError(f"{where}: a label image must be a PNG, found {image.format}")
    return image


def read_label_png(data: bytes, where: str) -> np.ndarray:
    """The label values of a label PNG: (H, W) uint8 (L, P: the palette indices, 1-bit: 0/1) or
    uint16 (16-bit).

    Raises:
        AnnotationError: not a PNG, or a colour one ("`where`: what is wrong").
    """
    image = _open(data, where)
    if image.mode in _EIGHT_BIT:
        return np.asarray(image, dtype=np.uint8)
    if image.mode in _SIXTEEN_BIT:
        values = np.asarray(image)
        if values.min(initial=0) < 0 or values.max(initial=0) > 0xFFFF:
            raise AnnotationError(f"{where}: label values outside 0..65535")
        return values.astype(np.uint16)
    raise AnnotationError(f"{where}: a label PNG has one value a pixel (L, I;16 or P), found "
                          f"mode {image.mode}")


def label_palette(data: bytes, where: str) -> bytes | None:
    """The RGB palette of a palette label PNG (to write its outputs with it), else None.

    Raises:
        AnnotationError: not a readable PNG.
    """
    image = _open(data, where)
    palette = image.getpalette("RGB") if image.mode == "P" else None
    return None if palette is None else bytes(palette)


def label_png(label: np.ndarray, palette: bytes | None = None) -> bytes:
    """`label` (H, W) uint8 or uint16 as a PNG: L, P (uint8 with `palette`) or I;16.

    Raises:
        ValueError: another dtype or shape, or a palette for 16-bit labels.
    """
    if label.ndim != 2 or label.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a label image is (H, W) uint8 or uint16, not {label.shape} "
                         f"{label.dtype}")
    if palette is None:  # L or 16-bit grey
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(label), _GREY_PNG)
        if not ok:
            raise ValueError(f"OpenCV cannot write a {label.shape} label image as PNG")
        return bytes(encoded)
    if label.dtype == np.uint16:
        raise ValueError("a palette needs 8-bit labels")
    height, width = label.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(label).tobytes())
    image.putpalette(palette)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=LABEL_PNG_LEVEL)
    return buffer.getvalue()
