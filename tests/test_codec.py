"""codec: the mode policy, EXIF orientation, metadata privacy, ICC, bad files, resize, formats."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from expand.errors import ImageReadError
from expand.io.codec import (
    FORMAT_EXTENSIONS,
    Decoded,
    _opencv_jpeg,
    bgrx_of,
    decode,
    encode,
    output_format,
    rgb_view,
)

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>serial-XMP-1234</rdf:RDF></x:xmpmeta>'
OUTPUT_FORMATS = ("png", "jpeg", "webp")
PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
PNG_LEVELS = (1, 6)  # OpenCV's fast encoder, Pillow's


def _save(path: Path, image: Image.Image, **params: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **params)
    return path


def _decode(path: Path, resize: tuple[int, int] | None = None) -> Decoded:
    return decode(path.read_bytes(), path.name, resize)


def _reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _noise(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0xA431] = "BODY-SERIAL-5678"  # BodySerialNumber
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def _with_colour_space(profile: bytes, space: bytes) -> bytes:
    """A profile whose header declares `space`: the header is all the encoder looks at."""
    return profile[:16] + space + profile[20:]


# --- mode policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "channels", "has_alpha"),
                         [("L", 1, False), ("LA", 2, True), ("RGB", 3, False), ("RGBA", 4, True)])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_plain_modes_are_kept_pixel_for_pixel(tmp_path: Path, mode: str, channels: int,
                                              has_alpha: bool, suffix: str) -> None:
    pixels = _noise(7, 5, channels)
    path = _save(tmp_path / f"a{suffix}", Image.fromarray(pixels))
    decoded = _decode(path)
    assert decoded.mode == mode
    assert decoded.has_alpha is has_alpha
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == (7, 5, channels)
    np.testing.assert_array_equal(decoded.pixels.reshape(pixels.shape), pixels)


def test_rgba_alpha_values_survive(tmp_path: Path) -> None:
    pixels = _noise(4, 4, 4)
    pixels[0, 0, 3], pixels[0, 1, 3] = 0, 255
    decoded = _decode(_save(tmp_path / "a.png", Image.fromarray(pixels)))
    assert decoded.has_alpha
    np.testing.assert_array_equal(decoded.pixels[..., 3], pixels[..., 3])


def _palette_image() -> Image.Image:
    image = Image.new("P", (3, 2))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.putdata([0, 1, 2, 2, 1, 0])
    return image


@pytest.mark.parametrize("suffix", [".png", ".gif", ".bmp"])
def test_palette_without_transparency_becomes_rgb(tmp_path: Path, suffix: str) -> None:
    path = _save(tmp_path / f"p{suffix}", _palette_image())
    assert Image.open(path).mode == "P"
    decoded = _decode(path)
    assert decoded.mode == "RGB" and not decoded.has_alpha
    np.testing.assert_array_equal(decoded.pixels[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_transparency_becomes_rgba(tmp_path: Path, suffix: str) -> None:
    path = _save(tmp_path / f"p{suffix}", _palette_image(), transparency=1)
    decoded = _decode(path)
    assert decoded.mode == "RGBA" and decoded.has_alpha
    np.testing.assert_array_equal(decoded.pixels[..., 3], [[255, 0, 255], [255, 0, 255]])
    np.testing.assert_array_equal(decoded.pixels[0, 0], [255, 0, 0, 255])


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_cmyk_becomes_rgb(tmp_path: Path, suffix: str) -> None:
    image = Image.new("CMYK", (8, 8), (0, 0, 0, 0))  # white
    image.paste((255, 0, 0, 0), (0, 0, 8, 4))  # cyan on the top half
    path = _save(tmp_path / f"c{suffix}", image)
    assert Image.open(path).mode == "CMYK"
    decoded = _decode(path)
    assert decoded.mode == "RGB" and not decoded.has_alpha
    tolerance = 0 if suffix == ".tif" else 8
    np.testing.assert_allclose(decoded.pixels[1, 1], [0, 255, 255], atol=tolerance)
    np.testing.assert_allclose(decoded.pixels[6, 6], [255, 255, 255], atol=tolerance)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_is_scaled_to_8_bit_not_clipped(tmp_path: Path, suffix: str) -> None:
    samples = np.array([[0, 32768, 65535, 1000, 257]], dtype=np.uint16)
    path = _save(tmp_path / f"deep{suffix}", Image.fromarray(samples))
    assert Image.open(path).mode == "I;16"
    decoded = _decode(path)
    assert decoded.mode == "L"
    np.testing.assert_array_equal(decoded.pixels[..., 0], [[0, 128, 255, 4, 1]])


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_bilevel_becomes_l_with_0_and_255(tmp_path: Path, suffix: str) -> None:
    bits = np.array([[True, False, True], [False, True, False]])
    path = _save(tmp_path / f"bits{suffix}", Image.fromarray(bits))
    assert Image.open(path).mode == "1"
    decoded = _decode(path)
    assert decoded.mode == "L"
    np.testing.assert_array_equal(decoded.pixels[..., 0], np.where(bits, 255, 0))


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    frames = [Image.new("RGB", (6, 4), colour) for colour in colours]
    path = _save(tmp_path / "anim.gif", frames[0], save_all=True, append_images=frames[1:],
                 duration=100, loop=0)
    assert getattr(Image.open(path), "n_frames", 1) == 3
    decoded = _decode(path)
    assert decoded.pixels.shape == (4, 6, 3)
    assert (decoded.pixels == [255, 0, 0]).all()


# --- EXIF orientation -------------------------------------------------------------------------


@pytest.mark.parametrize(("orientation", "turns"), [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, turns: int) -> None:
    pixels = np.zeros((16, 32, 3), dtype=np.uint8)
    pixels[:, :16] = 255  # left half white: easy to follow through a rotation
    path = _save(tmp_path / "photo.jpg", Image.fromarray(pixels), quality=95,
                 exif=_exif(orientation).tobytes())
    stored = np.asarray(Image.open(path))  # what the file holds, before orientation
    decoded = _decode(path)
    np.testing.assert_array_equal(decoded.pixels, np.rot90(stored, turns))
    if orientation == 6:  # 90° clockwise: the left half ends up on top
        assert decoded.pixels.shape == (32, 16, 3)
        assert decoded.pixels[:16].mean() > 200 and decoded.pixels[16:].mean() < 50
    if orientation == 3:  # 180°: the white half ends up on the right
        assert decoded.pixels[:, 16:].mean() > 200 and decoded.pixels[:, :16].mean() < 50


def test_orientation_is_not_applied_twice_by_a_viewer_of_the_output(tmp_path: Path) -> None:
    path = _save(tmp_path / "photo.jpg", Image.fromarray(_noise(8, 12, 3)),
                 exif=_exif(6).tobytes())
    decoded = _decode(path)
    for fmt in OUTPUT_FORMATS:
        out = _reopen(encode(decoded.pixels, decoded.has_alpha, fmt, 90, 6, None).data)
        assert out.size == (8, 12)
        assert 0x0112 not in out.getexif()


# --- metadata: no EXIF/XMP out, ICC kept ------------------------------------------------------


def _source_with_metadata(tmp_path: Path, fmt: str) -> Path:
    image = Image.fromarray(_noise(10, 12, 3))
    exif = _exif().tobytes()
    path = tmp_path / f"meta{FORMAT_EXTENSIONS[fmt]}"
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        return _save(path, image, pnginfo=info, exif=exif, icc_profile=SRGB_ICC)
    return _save(path, image, exif=exif, xmp=XMP, icc_profile=SRGB_ICC)


@pytest.mark.parametrize("png_level", PNG_LEVELS)
@pytest.mark.parametrize("source_fmt", OUTPUT_FORMATS)
@pytest.mark.parametrize("out_fmt", OUTPUT_FORMATS)
def test_output_has_no_exif_or_xmp_but_keeps_icc(tmp_path: Path, source_fmt: str,
                                                 out_fmt: str, png_level: int) -> None:
    path = _source_with_metadata(tmp_path, source_fmt)
    source = Image.open(path)
    assert source.getexif() and "xmp" in source.info  # the source really carries both
    decoded = _decode(path)
    assert decoded.icc_profile == SRGB_ICC
    data = encode(decoded.pixels, decoded.has_alpha, out_fmt, 90, png_level,
                  decoded.icc_profile).data
    out = _reopen(data)
    assert out.format == PILLOW_FORMAT[out_fmt]
    assert not out.getexif()
    assert not {"exif", "xmp", "XML:com.adobe.xmp"} & set(out.info)
    assert b"serial-XMP-1234" not in data and b"BODY-SERIAL-5678" not in data
    assert out.info.get("icc_profile") == SRGB_ICC


def test_no_icc_in_gives_no_icc_out(tmp_path: Path) -> None:
    decoded = _decode(_save(tmp_path / "a.png", Image.fromarray(_noise(4, 4, 3))))
    assert decoded.icc_profile is None
    for fmt in OUTPUT_FORMATS:
        out = _reopen(encode(decoded.pixels, False, fmt, 90, 6, None).data)
        assert "icc_profile" not in out.info


def test_a_cmyk_profile_is_not_attached_to_the_rgb_output(tmp_path: Path) -> None:
    # Pillow converts CMYK to RGB without the profile: kept, it would describe the wrong pixels.
    cmyk_profile = _with_colour_space(SRGB_ICC, b"CMYK")
    path = _save(tmp_path / "print.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)),
                 icc_profile=cmyk_profile)
    decoded = _decode(path)
    assert decoded.mode == "RGB"
    for fmt in OUTPUT_FORMATS:
        assert "icc_profile" not in _reopen(encode(decoded.pixels, False, fmt, 90, 6,
                                                   decoded.icc_profile).data).info


def test_a_lab_image_converted_to_rgb_drops_its_lab_profile(tmp_path: Path) -> None:
    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    path = _save(tmp_path / "lab.tif", Image.new("LAB", (6, 6), (60, 140, 110)),
                 icc_profile=lab_profile)
    decoded = _decode(path)
    assert decoded.mode == "RGB"
    out = _reopen(encode(decoded.pixels, False, "png", 90, 6, decoded.icc_profile).data)
    assert "icc_profile" not in out.info


@pytest.mark.parametrize("png_level", PNG_LEVELS)
def test_a_grey_profile_stays_on_grey_png_and_jpeg_but_not_on_rgb_webp(tmp_path: Path,
                                                                       png_level: int) -> None:
    grey_profile = _with_colour_space(SRGB_ICC, b"GRAY")
    path = _save(tmp_path / "grey.png", Image.fromarray(_noise(6, 6, 1)), icc_profile=grey_profile)
    decoded = _decode(path)
    assert decoded.mode == "L" and decoded.icc_profile == grey_profile
    for fmt in ("png", "jpeg"):
        out = _reopen(encode(decoded.pixels, False, fmt, 90, png_level,
                             decoded.icc_profile).data)
        assert out.mode == "L" and out.info.get("icc_profile") == grey_profile
    webp = encode(decoded.pixels, False, "webp", 90, 6, decoded.icc_profile)
    out = _reopen(webp.data)
    assert out.mode == webp.mode == "RGB"
    assert "icc_profile" not in out.info


# --- encode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("png_level", PNG_LEVELS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_encoded_mode_is_what_a_reader_gets(fmt: str, channels: int, png_level: int) -> None:
    encoded = encode(_noise(9, 11, channels).reshape(9, 11, channels), channels in (2, 4), fmt,
                     90, png_level, SRGB_ICC)
    out = _reopen(encoded.data)
    assert out.mode == encoded.mode
    assert out.size == (11, 9)


@pytest.mark.parametrize(("channels", "expected"), [(4, "RGB"), (2, "L")])
def test_jpeg_drops_alpha(channels: int, expected: str) -> None:
    pixels = np.zeros((8, 8, channels), dtype=np.uint8)
    pixels[..., :-1] = (200, 50, 100)[: channels - 1]
    # Fully transparent: the colour channels are written as they are, not blended with anything.
    encoded = encode(pixels, True, "jpeg", 100, 6, None)
    out = _reopen(encoded.data)
    assert out.format == "JPEG" and out.mode == encoded.mode == expected
    np.testing.assert_allclose(np.asarray(out, dtype=float).reshape(8, 8, -1),
                               pixels[..., :-1], atol=3)


@pytest.mark.parametrize("png_level", [0, *PNG_LEVELS, 9])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip_is_lossless(tmp_path: Path, channels: int, png_level: int) -> None:
    pixels = _noise(13, 7, channels).reshape(13, 7, channels)
    path = tmp_path / "out.png"
    path.write_bytes(encode(pixels, channels in (2, 4), "png", 90, png_level, None).data)
    decoded = _decode(path)
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert decoded.has_alpha is (channels in (2, 4))


@pytest.mark.parametrize("png_level", PNG_LEVELS)
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_encoding_is_deterministic(fmt: str, channels: int, png_level: int) -> None:
    pixels = _noise(20, 30, channels, seed=channels).reshape(20, 30, channels)
    first = encode(pixels, channels == 4, fmt, 85, png_level, SRGB_ICC).data
    second = encode(pixels.copy(), channels == 4, fmt, 85, png_level, SRGB_ICC).data
    assert first == second
    other = pixels.copy()
    other[0, 0, 0] ^= 0xFF
    assert encode(other, channels == 4, fmt, 85, png_level, SRGB_ICC).data != first


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_jpeg_bytes_are_pillows_at_the_same_quality(channels: int) -> None:
    # OpenCV writes JPEG (faster); both are libjpeg-turbo with the same settings, ICC included.
    pixels = _noise(24, 40, channels, seed=5).reshape(24, 40, channels)
    grey = channels == 1
    profile = _with_colour_space(SRGB_ICC, b"GRAY") if grey else SRGB_ICC
    for icc in (None, profile, profile + bytes(70_000)):  # the last one needs two APP2 segments
        buffer = io.BytesIO()
        image = Image.fromarray(pixels[..., 0] if grey else pixels[..., :3])
        image.save(buffer, "JPEG", quality=75, **({"icc_profile": icc} if icc else {}))
        assert encode(pixels, channels == 4, "jpeg", 75, 1, icc).data == buffer.getvalue()


def test_the_fast_png_is_opencvs_default_and_other_levels_are_pillows() -> None:
    pixels = _noise(16, 16, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=6)
    assert encode(pixels, False, "png", 90, 6, None).data == buffer.getvalue()
    ok, fast = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]))
    assert ok and encode(pixels, False, "png", 90, 1, None).data == fast.tobytes()


def test_quality_and_png_level_are_used() -> None:
    pixels = _noise(32, 32, 3)
    assert len(encode(pixels, False, "jpeg", 20, 6, None).data) < len(
        encode(pixels, False, "jpeg", 95, 6, None).data)
    assert len(encode(pixels, False, "webp", 20, 6, None).data) < len(
        encode(pixels, False, "webp", 95, 6, None).data)
    smooth = np.tile(np.arange(64, dtype=np.uint8), (64, 1))[..., None]
    assert len(encode(smooth, False, "png", 90, 9, None).data) < len(
        encode(smooth, False, "png", 90, 0, None).data)


# --- bad files --------------------------------------------------------------------------------


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_noise(64, 64, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_noise(64, 64, 3)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("x.png", lambda: b"this is a text file, not a picture\n", "not an image"),
    ("empty.jpg", lambda: b"", "empty file"),
    ("cut.png", lambda: _png_bytes()[: len(_png_bytes()) // 2], "truncated"),
    ("cut.jpg", lambda: _jpeg_bytes()[: len(_jpeg_bytes()) // 2], "truncated"),
    ("header-only.png", lambda: _png_bytes()[:40], "not an image"),
])
def test_unreadable_file_raises_image_read_error_naming_it(tmp_path: Path, name: str,
                                                           content: Any, reason: str) -> None:
    path = tmp_path / "cls" / name
    path.parent.mkdir()
    path.write_bytes(content())
    with pytest.raises(ImageReadError) as caught:
        decode(path.read_bytes(), f"cls/{name}")
    message = str(caught.value)
    assert message.startswith(f"cls/{name}: ")
    assert reason in message
    assert "\n" not in message


def test_decompression_bomb_is_an_image_read_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "big.png", Image.new("L", (40, 40)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # error threshold is twice this
    with pytest.raises(ImageReadError, match="big.png.*decompression bomb"):
        _decode(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"]),
       fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_file_never_escapes_as_another_error(fmt: str, fraction: float) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_noise(24, 20, 3)).convert("P" if fmt == "GIF" else "RGB").save(buffer, fmt)
    data = buffer.getvalue()
    cut = data[: int(len(data) * fraction)]
    try:
        decoded = decode(cut, "cls/cut")
    except ImageReadError as exc:
        assert "cls/cut" in str(exc)
    else:  # only trailing chunks may be missing: every pixel row must be there
        assert decoded.pixels.shape[:2] == (24, 20)


# --- resize and output format -----------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 60), height=st.integers(1, 60), channels=st.sampled_from([1, 2, 3, 4]))
def test_resize_gives_exactly_the_requested_size(width: int, height: int, channels: int) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_noise(17, 23, channels)).save(buffer, "PNG")
    decoded = decode(buffer.getvalue(), "a.png", (width, height))
    assert decoded.pixels.shape == (height, width, channels)
    assert decoded.has_alpha is (channels in (2, 4))


def test_resize_applies_after_exif_orientation(tmp_path: Path) -> None:
    path = _save(tmp_path / "photo.jpg", Image.fromarray(_noise(20, 40, 3)),
                 exif=_exif(6).tobytes())
    assert _decode(path).pixels.shape == (40, 20, 3)
    assert _decode(path, resize=(30, 10)).pixels.shape == (10, 30, 3)


def test_resize_to_the_same_size_keeps_pixels(tmp_path: Path) -> None:
    pixels = _noise(9, 9, 3)
    decoded = _decode(_save(tmp_path / "a.png", Image.fromarray(pixels)), resize=(9, 9))
    np.testing.assert_array_equal(decoded.pixels, pixels)


@pytest.mark.parametrize(("suffix", "params", "expected"), [
    (".png", {}, "png"),
    (".jpg", {}, "jpeg"),
    (".jpeg", {}, "jpeg"),
    (".webp", {}, "webp"),
    (".bmp", {}, "png"),
    (".gif", {}, "png"),
    (".tif", {}, "png"),
    (".tiff", {"compression": "tiff_deflate"}, "png"),
])
def test_same_format_maps_source_formats(tmp_path: Path, suffix: str, params: dict[str, Any],
                                         expected: str) -> None:
    image = Image.fromarray(_noise(5, 5, 3))
    decoded = _decode(_save(tmp_path / f"a{suffix}", image, **params))
    fmt = output_format("same", decoded.source_format)
    assert fmt == expected
    assert FORMAT_EXTENSIONS[fmt] in (".png", ".jpg", ".webp")


def test_a_multi_picture_jpeg_counts_as_jpeg(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 6), (250, 0, 0)), Image.new("RGB", (8, 6), (0, 0, 250))]
    path = _save(tmp_path / "stereo.jpg", frames[0], format="MPO", save_all=True,
                 append_images=frames[1:])
    decoded = _decode(path)
    assert decoded.source_format == "MPO"
    assert output_format("same", decoded.source_format) == "jpeg"
    np.testing.assert_allclose(decoded.pixels[3, 4], [250, 0, 0], atol=6)


@pytest.mark.parametrize("requested", OUTPUT_FORMATS)
@pytest.mark.parametrize("source_format", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_explicit_format_wins(requested: str, source_format: str) -> None:
    assert output_format(requested, source_format) == requested


def test_format_extensions_match_what_is_written() -> None:
    pixels = _noise(4, 4, 3)
    for fmt, extension in FORMAT_EXTENSIONS.items():
        written = _reopen(encode(pixels, False, fmt, 90, 6, None).data).format
        assert Image.registered_extensions()[extension] == written


@settings(max_examples=60, deadline=None)
@given(size=st.tuples(st.integers(1, 300), st.integers(1, 300)), mode=st.sampled_from(["RGB", "L"]),
       quality=st.integers(5, 100), subsampling=st.sampled_from([0, 1, 2]),
       progressive=st.booleans(), orientation=st.sampled_from([None, 1, 3, 6]))
def test_a_jpeg_decodes_to_pillows_pixels(size: tuple[int, int], mode: str, quality: int,
                                         subsampling: int, progressive: bool,
                                         orientation: int | None) -> None:
    """Upright RGB and grey JPEGs are decoded by OpenCV: to Pillow's very pixels."""
    width, height = size
    noise = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(cv2.GaussianBlur(noise, (5, 5), 2)).convert(mode).save(
        buffer, "JPEG", quality=quality, subsampling=subsampling, progressive=progressive,
        exif=_exif(orientation))
    data = buffer.getvalue()
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    decoded = decode(data, "x.jpg")
    assert decoded.pixels.shape[2] == (3 if mode == "RGB" else 1)
    assert np.array_equal(decoded.pixels.reshape(reference.shape), reference)
    assert not decoded.pixels.flags.writeable and not decoded.has_alpha
    fast = _opencv_jpeg(data, Image.open(io.BytesIO(data)))
    if orientation in (None, 1):  # OpenCV's own pixels, not only decode()'s
        assert fast is not None and np.array_equal(fast.reshape(reference.shape), reference)
    else:
        assert fast is None  # Pillow turns it upright


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(height=st.integers(1, 90), width=st.integers(1, 90), seed=st.integers(0, 2**32 - 1),
       quality=st.integers(1, 100))
def test_an_rgb_view_of_bgrx_encodes_to_the_bytes_of_its_copy(height: int, width: int,
                                                              seed: int, quality: int) -> None:
    """A warped copy reaches the encoder as a view of its BGRX array: JPEG takes the BGRX as it
    is, PNG one conversion; the bytes are those of the same pixels as a plain RGB array."""
    bgrx = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    view = rgb_view(bgrx)
    plain = np.ascontiguousarray(bgrx[..., 2::-1])
    assert bgrx_of(view) is bgrx and bgrx_of(plain) is None
    for fmt, level in (("jpeg", 1), ("png", 1), ("png", 6)):
        assert encode(view, False, fmt, quality, level, None) == \
            encode(plain, False, fmt, quality, level, None)


def test_only_the_exact_view_is_taken_for_bgrx() -> None:
    bgrx = np.zeros((6, 5, 4), np.uint8)
    assert bgrx_of(rgb_view(bgrx)) is bgrx
    assert bgrx_of(rgb_view(bgrx)[1:]) is None  # a part of it
    assert bgrx_of(rgb_view(bgrx)[:, ::-1]) is None  # mirrored by NumPy, not by us
    assert bgrx_of(bgrx[..., :3]) is None  # BGR, not RGB
    assert bgrx_of(rgb_view(bgrx[:, :4])) is None  # a view of a view: not contiguous
    assert bgrx_of(np.zeros((6, 5, 3), np.uint8)) is None
