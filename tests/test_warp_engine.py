"""The warp's fast forms (a fourth channel for RGB, a replicated margin under `nearest`) against
OpenCV's plain warp of the image as decoded: the same values, or within one grey level."""

from __future__ import annotations

import gc
import threading
import weakref

import cv2
import numpy as np
import pytest

from expand.augment import functional as F
from expand.io.codec import bgrx_of, decode, source_pixels

FLAGS = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
BORDERS = {"nearest": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT,
           "wrap": cv2.BORDER_WRAP, "constant": cv2.BORDER_CONSTANT}


def _photo(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """Smooth content with edges: gradients plus a few sharp rectangles, read-only as decoded."""
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([(rows * (c + 1) * 3 + cols * (5 - c)) % 256 for c in range(channels)], -1)
    for _ in range(4):
        y, x = rng.integers(0, height), rng.integers(0, width)
        image[y:y + height // 4, x:x + width // 3] = rng.integers(0, 256, channels)
    return source_pixels(np.ascontiguousarray(image.astype(np.uint8)))


def _maps(rng: np.random.Generator, width: int, height: int, count: int) -> list[np.ndarray]:
    """Keras-like maps: rotation, shift, shear and zoom in [0.5, 2.5] (mostly out, much fill)."""
    return [F.affine_matrix(float(rng.uniform(-30, 30)), float(rng.uniform(-0.2, 0.2)) * width,
                            float(rng.uniform(-0.2, 0.2)) * height, float(rng.uniform(-20, 20)),
                            float(rng.uniform(0.5, 2.5)), float(rng.uniform(0.5, 2.5)),
                            width, height) for _ in range(count)]


def _plain(image: np.ndarray, matrix: np.ndarray, fill_mode: str, fill: list[float]) -> np.ndarray:
    height, width, channels = image.shape
    warp = cv2.warpPerspective if len(matrix) == 3 and not np.allclose(matrix[2], (0, 0, 1)) \
        else cv2.warpAffine
    out = warp(image, matrix if warp is cv2.warpPerspective else matrix[:2], (width, height),
               flags=FLAGS, borderMode=BORDERS[fill_mode], borderValue=tuple(fill))
    return np.asarray(out).reshape(height, width, channels)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_without_a_margin_the_fast_form_gives_the_very_values(fill_mode: str,
                                                              channels: int) -> None:
    rng = np.random.default_rng(channels)
    image = _photo(rng, 61, 97, channels)
    for matrix in _maps(rng, 97, 61, 12):
        fill = [37.0] * channels
        ours = F.warp_affine(image, matrix, fill_mode, 37, False)  # type: ignore[arg-type]
        assert np.array_equal(ours, _plain(image, matrix, fill_mode, fill))


def test_perspective_takes_the_same_fast_forms() -> None:
    rng = np.random.default_rng(7)
    image = _photo(rng, 80, 120, 3)
    matrix = F.perspective_matrix(((6.0, 3.0), (110.0, 9.0), (115.0, 70.0), (2.0, 76.0)), 120, 80)
    for fill_mode in ("reflect", "constant"):
        ours = F.warp_perspective(image, matrix, fill_mode, 0, False)  # type: ignore[arg-type]
        assert np.array_equal(ours, _plain(image, matrix, fill_mode, [0.0] * 3))
    ours = F.warp_perspective(image, matrix, "nearest", 0, False)
    plain = _plain(image, matrix, "nearest", [0.0] * 3)
    assert np.abs(ours.astype(int) - plain).max() <= 1


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_nearest_with_a_margin_is_within_one_level_on_a_few_values(channels: int) -> None:
    rng = np.random.default_rng(10 + channels)
    image = _photo(rng, 150, 224, channels)
    differing = []
    for matrix in _maps(rng, 224, 150, 20):
        ours = F.warp_affine(image, matrix, "nearest", 0, False)
        plain = _plain(image, matrix, "nearest", [0.0] * channels)
        assert np.abs(ours.astype(int) - plain).max() <= 1
        differing.append(float((ours != plain).mean()))
    assert np.mean(differing) < 1e-3


def test_samples_far_beyond_the_margin_still_take_the_edge_value() -> None:
    image = _photo(np.random.default_rng(3), 40, 60, 3)
    shifted = np.array([[1.0, 0.0, 500.0], [0.0, 1.0, -300.0]])  # every sample far outside
    ours = F.warp_affine(image, np.vstack([shifted, [0, 0, 1]]), "nearest", 0, False)
    assert np.array_equal(ours, np.broadcast_to(image[0, -1], ours.shape))


def test_a_writeable_array_is_never_cached_so_changing_it_changes_the_warp() -> None:
    image = np.array(_photo(np.random.default_rng(4), 50, 70, 3))  # writeable
    matrix = _maps(np.random.default_rng(5), 70, 50, 1)[0]
    before = F.warp_affine(image, matrix, "nearest", 0, False)
    image[:] = 255 - image
    after = F.warp_affine(image, matrix, "nearest", 0, False)
    assert np.abs(after.astype(int) - (255 - before.astype(int))).max() <= 1


def test_decoded_pixels_are_read_only() -> None:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(buffer, "PNG")
    pixels = decode(buffer.getvalue(), "x.png").pixels
    with pytest.raises(ValueError):
        pixels[0, 0, 0] = 1


def test_a_sources_prepared_form_lives_as_long_as_the_source() -> None:
    """The source's pixels hold it (no table keyed by id()): it goes when they go, and an array
    made from them starts with none of its own."""
    image = _photo(np.random.default_rng(8), 60, 90, 3)
    matrix = _maps(np.random.default_rng(9), 90, 60, 1)[0]
    F.warp_affine(image, matrix, "nearest", 0, False)
    assert set(image.prepared) == {"nearest"}
    held = weakref.ref(image.prepared["nearest"][0])
    assert not image[1:].prepared
    del image
    gc.collect()
    assert held() is None


def test_threads_warping_different_sources_each_get_their_own() -> None:
    rng = np.random.default_rng(12)
    sources = [_photo(rng, 70, 100, 3) for _ in range(4)]
    matrices = _maps(rng, 100, 70, 6)
    expected = [[F.warp_affine(np.array(s), m, "nearest", 0, False) for m in matrices]
                for s in sources]  # writeable copies: never cached
    failures: list[int] = []

    def work(index: int) -> None:
        for _ in range(30):
            for m, want in zip(matrices, expected[index]):
                if not np.array_equal(F.warp_affine(sources[index], m, "nearest", 0, False),
                                      want):
                    failures.append(index)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sources))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_an_rgb_copy_stays_bgrx_through_the_warp_and_the_flips() -> None:
    """The warp hands on RGB as a view of what it warped (BGRX), with the values of a plain warp
    of the RGB image (constant fill in its own colour per channel); a flip keeps that form."""
    rng = np.random.default_rng(21)
    image = _photo(rng, 45, 70, 3)
    matrix = _maps(rng, 70, 45, 1)[0]
    fill = [10.0, 150.0, 240.0]
    warped = F.warp(image, matrix[:2], "constant", fill)
    assert bgrx_of(warped) is not None
    assert np.array_equal(warped, _plain(image, matrix, "constant", fill))
    for horizontal, vertical in ((True, False), (False, True), (True, True)):
        flipped = F.flip(warped, horizontal, vertical)
        assert bgrx_of(flipped) is not None
        expected = np.ascontiguousarray(warped)
        expected = expected[:, ::-1] if horizontal else expected
        expected = expected[::-1] if vertical else expected
        assert np.array_equal(flipped, expected)
