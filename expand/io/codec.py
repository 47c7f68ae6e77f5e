"""Decode sources into uint8 arrays with a fixed mode policy; encode outputs without EXIF/XMP;
name the versions of the libraries that do both (they decide the bytes)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import PIL
from PIL import Image, ImageOps, UnidentifiedImageError, features

from expand.errors import ImageReadError

FORMAT_EXTENSIONS: dict[str, str] = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
# Pillow format name → output format under --format same; others become PNG (lossless, any mode).
_SAME_FORMAT: dict[str, str] = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp"}
# The colour space an ICC profile must declare (header bytes 16-20) to describe pixels of a mode.
_ICC_SPACE: dict[str, bytes] = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}


def library_versions() -> dict[str, str | None]:
    """The code that decodes, warps and encodes: a change here may change output bytes."""
    return {
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "zlib": features.version("zlib"),
        "libjpeg": features.version("jpg"),
        "libwebp": features.version("webp"),
    }


class SourcePixels(np.ndarray):
    """A decoded source's pixels, read-only (every copy starts from them: none may change them),
    holding what the kernels prepared from them once for all copies (functional's warp: BGRX, a
    margin). The cache lives exactly as long as the pixels; an array derived from them (a view,
    a result) starts with an empty one of its own."""

    prepared: dict[str, tuple[np.ndarray, tuple[int, int]]]

    def __array_finalize__(self, obj: object) -> None:
        self.prepared = {}


def source_pixels(pixels: np.ndarray) -> SourcePixels:
    """`pixels` as a source's: read-only, with a cache of their prepared forms."""
    frozen = pixels.view(SourcePixels)
    frozen.flags.writeable = False
    return frozen


class RgbView(np.ndarray):
    """An RGB image that is a view of a BGRX array, no copy, knowing that array: a warped copy
    is made as BGRX (OpenCV's 4-channel vector path), and the encoder, which wants BGR, takes
    the BGRX back. An array derived from it (another view, a result) does not know it."""

    bgrx: np.ndarray | None

    def __array_finalize__(self, obj: object) -> None:
        self.bgrx = None


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
    """L, LA, RGB, RGBA are kept (L and RGB with a colour key become LA and RGBA); everything
    else gets the one documented conversion."""
    mode = image.mode
    if mode in ("L", "RGB", "1") and "transparency" in image.info:
        # A colour key (PNG's tRNS chunk): its pixels become transparent, as a palette's do.
        return image.convert("RGBA" if mode == "RGB" else "LA")
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
# Pillow registers its common formats on the first open; done at import, the forkserver
# does it once for every worker it forks.
Image.preinit()


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
            icc = image.info.get("icc_profile") or None
            pixels = _opencv_jpeg(data, image) if resize is None else None
            if pixels is not None:
                return Decoded(source_pixels(pixels), False, source_format, icc, notes)
            image.load()
            image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ImageReadError(f"{name}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{name}: cannot decode ({exc})") from None
    image = _normalise_mode(image)
    if resize is not None and image.size != resize:
        image = image.resize(resize, Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return Decoded(source_pixels(np.ascontiguousarray(pixels)), image.mode in ("LA", "RGBA"),
                   source_format, icc, notes)


_ORIENTATION = 0x0112


def _opencv_jpeg(data: bytes, image: Image.Image) -> np.ndarray | None:
    """The pixels of an upright RGB or grey JPEG, decoded by OpenCV: the same libjpeg-turbo
    decode as Pillow's, to the byte (480 kinds of JPEG checked by hand; a hypothesis test in
    tests/test_codec.py), and quicker to an array than through Pillow. None for anything
    else, and where OpenCV fails (a truncated file): Pillow then decodes it, or says what is wrong
    with it."""
    if image.format != "JPEG" or image.mode not in ("RGB", "L") \
            or image.getexif().get(_ORIENTATION, 1) != 1:
        return None
    flags = (cv2.IMREAD_COLOR_RGB if image.mode == "RGB" else cv2.IMREAD_GRAYSCALE) \
        | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        return None
    if pixels is None or pixels.shape[:2] != (image.height, image.width):
        return None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels


def probe(data: bytes) -> tuple[str, tuple[int, int]]:
    """The format (Pillow's name: "JPEG", "PNG", ...) and (width, height), from the header,
    without decoding pixels.

    Raises:
        ImageReadError: not an image Pillow can read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            return image.format or "", image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"cannot read the header ({exc})") from None


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


#: The PNG level written by OpenCV's fast settings (the default); other levels use Pillow.
FAST_PNG_LEVEL = 1
_CV_MODES = ("L", "RGB", "RGBA")
_TO_BGR = {"RGB": cv2.COLOR_RGB2BGR, "RGBA": cv2.COLOR_RGBA2BGRA}


@cache
def opencv_params(fmt: str, quality: int) -> tuple[int, ...]:
    """OpenCV's settings for the formats it writes here (also used by bench/'s floor).

    JPEG: baseline, 4:2:0, standard tables: the same bytes as Pillow's at the same quality (both
    are libjpeg-turbo). PNG: Sub filter, zlib level 1, run-length strategy: OpenCV's own default
    for speed, spelled out so that a change of OpenCV's defaults cannot change our bytes.
    """
    if fmt == "jpeg":
        return (cv2.IMWRITE_JPEG_QUALITY, quality)
    return (cv2.IMWRITE_PNG_COMPRESSION, FAST_PNG_LEVEL,
            cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
            cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + \
        struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _with_png_icc(data: bytes, icc_profile: bytes) -> bytes:
    """An iCCP chunk right after IHDR (signature 8 bytes, IHDR 25), written as Pillow writes it."""
    chunk = _png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile))
    return data[:33] + chunk + data[33:]


_ICC_MARKER = b"ICC_PROFILE\0"
_ICC_CHUNK = 65519  # a marker segment holds at most 65533 bytes after its length field


def _with_jpeg_icc(data: bytes, icc_profile: bytes) -> bytes:
    """APP2 ICC_PROFILE segments after SOI and the JFIF APP0 segment, as Pillow writes them."""
    parts = [icc_profile[i:i + _ICC_CHUNK] for i in range(0, len(icc_profile), _ICC_CHUNK)]
    segments = b"".join(
        b"\xff\xe2" + struct.pack(">H", 2 + len(_ICC_MARKER) + 2 + len(part)) + _ICC_MARKER
        + bytes((number, len(parts))) + part for number, part in enumerate(parts, 1))
    at = 2
    if data[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:at] + segments + data[at:]


def rgb_view(bgrx: np.ndarray) -> RgbView:
    """The RGB view of a BGRX array (see RgbView); only a contiguous one is handed back whole."""
    view = bgrx[..., 2::-1].view(RgbView)
    if bgrx.flags.c_contiguous and bgrx.dtype == np.uint8:
        view.bgrx = bgrx
    return view


def bgrx_of(pixels: np.ndarray) -> np.ndarray | None:
    """The whole BGRX array of which `pixels` is exactly rgb_view, else None."""
    return pixels.bgrx if isinstance(pixels, RgbView) else None


def _for_opencv(pixels: np.ndarray, mode: str, fmt: str) -> np.ndarray:
    """What cv2.imencode takes: contiguous BGR(A) or grey. An RGB view of BGRX (a warped copy)
    goes as it is for JPEG (the encoder drops X row by row: the same bytes, tested) and in one
    pass to BGR for PNG, instead of two full-image passes (narrowing, then swapping)."""
    bgrx = bgrx_of(pixels) if mode == "RGB" else None
    if bgrx is not None:
        return bgrx if fmt == "jpeg" else cv2.cvtColor(bgrx, cv2.COLOR_BGRA2BGR)
    pixels = np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, _TO_BGR[mode]) if mode in _TO_BGR else pixels


def _writes_with_opencv(fmt: str, png_level: int, mode: str) -> bool:
    fast_png = fmt == "png" and png_level == FAST_PNG_LEVEL
    return mode in _CV_MODES and (fmt == "jpeg" or fast_png)


def _encode_opencv(pixels: np.ndarray, mode: str, fmt: str, quality: int,
                   icc_profile: bytes | None) -> bytes:
    ok, buffer = cv2.imencode(FORMAT_EXTENSIONS[fmt], _for_opencv(pixels, mode, fmt),
                              opencv_params(fmt, quality))
    if not ok:
        raise ValueError(f"OpenCV could not encode a {mode} image as {fmt}")
    data = buffer.tobytes()
    if icc_profile:
        data = (_with_png_icc if fmt == "png" else _with_jpeg_icc)(data, icc_profile)
    return data


def encode(pixels: np.ndarray, has_alpha: bool, fmt: str, quality: int, png_level: int,
           icc_profile: bytes | None) -> Encoded:
    """Encode with no EXIF or XMP (GPS and serials stay private) but with the ICC profile.

    The profile is written only when its colour space is the written one: a CMYK or Lab source
    converted to RGB, or grey written as RGB WebP, would otherwise be mis-rendered by viewers.
    JPEG, and PNG at FAST_PNG_LEVEL, are written by OpenCV (the faster encoders); other PNG
    levels, LA as PNG, and WebP by Pillow.

    Args:
        pixels: uint8 array, height x width x channels (1 to 4).
        has_alpha: whether the last channel is alpha (dropped for JPEG).
        fmt: "png", "jpeg" or "webp".
        quality: JPEG and WebP quality, 1 to 100.
        png_level: zlib compression level, 0 to 9; 1 is OpenCV's fast encoder.
        icc_profile: the source's profile, or None.
    """
    channels = pixels.shape[2]
    if fmt == "jpeg" and has_alpha:
        pixels = pixels[..., :-1]  # JPEG has no alpha: dropped, as Keras's load_img does
        channels -= 1
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    written = "RGBA" if fmt == "webp" and mode == "LA" else \
        "RGB" if fmt == "webp" and mode == "L" else mode
    icc = icc_profile if icc_profile and icc_profile[16:20] == _ICC_SPACE[written] else None
    if _writes_with_opencv(fmt, png_level, mode):
        data = _encode_opencv(pixels, mode, fmt, quality, icc)
        return Encoded(data, mode)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    if written != mode:
        # WebP has no grey mode; Pillow would convert silently and `mode` would misreport the file.
        image = image.convert(written)
    options: dict[str, object] = {}
    if icc is not None:
        options["icc_profile"] = icc
    if fmt == "png":
        options["compress_level"] = png_level
    elif fmt == "jpeg":
        options["quality"] = quality
    elif fmt == "webp":
        options["quality"] = quality
        options["method"] = 4
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **options)
    return Encoded(buffer.getvalue(), written)
