"""Decode sources into uint8 arrays with a fixed mode policy; encode outputs without EXIF/XMP."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from expand.errors import ImageReadError

FORMAT_EXTENSIONS: dict[str, str] = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
# Pillow format name → output format under --format same; others become PNG (lossless, any mode).
_SAME_FORMAT: dict[str, str] = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp"}
# The colour space an ICC profile must declare (header bytes 16-20) to describe pixels of a mode.
_ICC_SPACE: dict[str, bytes] = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}


@dataclass(frozen=True)
class Decoded:
    """A source ready for the pipeline: pixels, whether the last channel is alpha, and its origin."""

    pixels: np.ndarray
    has_alpha: bool
    source_format: str
    icc_profile: bytes | None
    notes: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        channels = self.pixels.shape[2]
        return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]


def _normalise_mode(image: Image.Image) -> Image.Image:
    """L, LA, RGB, RGBA are kept; everything else gets the one documented conversion."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_transparency = "transparency" in image.info or mode == "PA"
        return image.convert("RGBA" if has_transparency else "RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit and 32-bit greyscale: keep the top 8 bits of the sample range, not a clip at 255.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(array * 255.0 / peak), 0, 255).astype(np.uint8), "L")
    if mode == "La":
        return image.convert("LA")
    if mode == "RGBa":
        return image.convert("RGBA")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


#: Pillow's own error threshold for decompression bombs (twice its warning limit).
DEFAULT_MAX_IMAGE_PIXELS = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)
# The limit is checked here, from the header, before any pixel is decoded, so that it can be set
# per run (above or below Pillow's); Pillow's global check would only get in the way.
Image.MAX_IMAGE_PIXELS = None


def decode(data: bytes, name: str, resize: tuple[int, int] | None = None,
           max_image_pixels: int | None = None) -> Decoded:
    """Decode, apply EXIF orientation, normalise the mode, optionally resize (before augmenting).

    Raises:
        ImageReadError: the bytes are not an image Pillow can decode completely, or the image has
            more pixels than `max_image_pixels` (default: Pillow's decompression-bomb threshold).
    """
    if not data:
        raise ImageReadError(f"{name}: empty file (0 bytes)")
    limit = max_image_pixels or DEFAULT_MAX_IMAGE_PIXELS
    notes: tuple[str, ...] = ()
    try:
        with warnings.catch_warnings():
            # Pillow's warnings (truncated reads, corrupt EXIF) would garble the progress bar.
            warnings.simplefilter("ignore")
            image: Image.Image = Image.open(io.BytesIO(data))
            source_format = image.format or ""
            width, height = image.size
            if width * height > limit:
                raise ImageReadError(f"{name}: refused as a possible decompression bomb "
                                     f"({width}x{height} = {width * height:,} pixels, limit "
                                     f"{limit:,}; --max-image-pixels raises it)")
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                notes = (f"{name}: {frames} frames; only the first is used",)
            image.load()
            image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ImageReadError(f"{name}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{name}: cannot decode ({exc})") from None
    icc = image.info.get("icc_profile") or None
    image = _normalise_mode(image)
    if resize is not None and image.size != resize:
        image = image.resize(resize, Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return Decoded(np.ascontiguousarray(pixels), image.mode in ("LA", "RGBA"), source_format, icc,
                   notes)


def output_format(requested: str, source_format: str) -> str:
    """`requested`, or under "same" the source's own format when it is one we write, else PNG."""
    if requested != "same":
        return requested
    return _SAME_FORMAT.get(source_format, "png")


@dataclass(frozen=True)
class Encoded:
    """The file's bytes and the mode a reader gets back from them."""

    data: bytes
    mode: str


def encode(pixels: np.ndarray, has_alpha: bool, fmt: str, quality: int, png_level: int,
           icc_profile: bytes | None) -> Encoded:
    """Encode with no EXIF or XMP (GPS and serials stay private) but with the ICC profile.

    The profile is written only when its colour space is the written one: a CMYK or Lab source
    converted to RGB, or grey written as RGB WebP, would otherwise be mis-rendered by viewers.

    Args:
        pixels: uint8 array, height x width x channels (1 to 4).
        has_alpha: whether the last channel is alpha (dropped for JPEG).
        fmt: "png", "jpeg" or "webp".
        quality: JPEG and WebP quality, 1 to 100.
        png_level: zlib compression level, 0 to 9.
        icc_profile: the source's profile, or None.
    """
    channels = pixels.shape[2]
    if fmt == "jpeg" and has_alpha:
        pixels = pixels[..., :-1]  # JPEG has no alpha: dropped, as Keras's load_img does
        channels -= 1
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    if fmt == "webp" and mode in ("L", "LA"):
        # WebP has no grey mode; Pillow would convert silently and `mode` would misreport the file.
        mode = "RGBA" if mode == "LA" else "RGB"
        image = image.convert(mode)
    options: dict[str, object] = {}
    if icc_profile and icc_profile[16:20] == _ICC_SPACE[mode]:
        options["icc_profile"] = icc_profile
    if fmt == "png":
        options["compress_level"] = png_level
    elif fmt == "jpeg":
        options["quality"] = quality
    elif fmt == "webp":
        options["quality"] = quality
        options["method"] = 4
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **options)
    return Encoded(buffer.getvalue(), mode)
