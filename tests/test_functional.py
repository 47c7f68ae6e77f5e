"""Kernels and the pipeline on a non-square 40x80 (height x width) image."""

from __future__ import annotations

import math

import numpy as np

from expand.augment import functional as F
from expand.augment.functional import affine_matrix, is_identity
from expand.augment.params import AugmentParams
from expand.augment.pipeline import apply_params
from expand.config import AugmentConfig
from expand.io import codec

H, W = 40, 80


def _centroid(image: np.ndarray) -> tuple[float, float]:
    weights = image[..., 0].astype(float)
    rows, cols = np.indices(weights.shape)
    return (float((rows * weights).sum() / weights.sum()),
            float((cols * weights).sum() / weights.sum()))


def _marker(row: int, col: int) -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    image[row:row + 2, col:col + 2] = 255
    return image


BLACK = AugmentConfig(fill_mode="constant", cval=0)


def test_identity_parameters_give_back_the_input() -> None:
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert np.array_equal(apply_params(image, AugmentParams(), BLACK, False), image)


def test_positive_tx_moves_content_left_and_ty_moves_it_up() -> None:
    image = _marker(19, 39)  # centroid (19.5, 39.5), the true centre
    r0, c0 = _centroid(image)
    r, c = _centroid(apply_params(image, AugmentParams(tx=12.0), BLACK, False))
    assert (r, c) == (r0, c0 - 12)
    r, c = _centroid(apply_params(image, AugmentParams(ty=6.0), BLACK, False))
    assert (r, c) == (r0 - 6, c0)


def test_rotation_and_zoom_pivot_on_the_true_centre_of_a_non_square_image() -> None:
    image = _marker(19, 39)
    for params in (AugmentParams(theta=37.0), AugmentParams(zx=0.5, zy=0.5),
                   AugmentParams(zx=1.6, zy=0.7), AugmentParams(shear=20.0)):
        r, c = _centroid(apply_params(image, params, BLACK, False))
        assert abs(r - 19.5) < 0.05 and abs(c - 39.5) < 0.05, params


def test_positive_theta_turns_content_counter_clockwise() -> None:
    image = _marker(19, 49)  # 10 px right of centre
    r, c = _centroid(apply_params(image, AugmentParams(theta=90.0), BLACK, False))
    assert abs(r - (19.5 - 10)) < 0.05 and abs(c - 39.5) < 0.05  # now 10 px above centre


def test_zoom_below_one_magnifies() -> None:
    image = _marker(19, 49)  # 10 px right of centre
    r, c = _centroid(apply_params(image, AugmentParams(zx=0.5, zy=0.5), BLACK, False))
    assert abs(c - (39.5 + 20)) < 0.05 and abs(r - 19.5) < 0.05


def test_constant_fills_with_cval_and_transparent_alpha() -> None:
    rgba = np.full((H, W, 4), 200, np.uint8)
    out = apply_params(rgba, AugmentParams(tx=10.0), AugmentConfig(fill_mode="constant", cval=77),
                       True)
    assert (out[:, -10:, :3] == 77).all() and (out[:, -10:, 3] == 0).all()
    assert (out[:, :-10] == 200).all()


def test_wrap_tiles_the_image() -> None:
    image = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = apply_params(image, AugmentParams(tx=10.0, ty=-3.0), AugmentConfig(fill_mode="wrap"),
                       False)
    assert np.array_equal(out, np.roll(np.roll(image, -10, axis=1), 3, axis=0))


def test_nearest_and_reflect_fill_from_the_edge() -> None:
    image = np.tile(np.arange(W, dtype=np.uint8)[None, :, None] * 3, (H, 1, 3))
    nearest = apply_params(image, AugmentParams(tx=-5.0), AugmentConfig(fill_mode="nearest"), False)
    assert (nearest[:, :5] == 0).all()
    reflect = apply_params(image, AugmentParams(tx=-5.0), AugmentConfig(fill_mode="reflect"), False)
    assert list(reflect[0, :6, 0]) == [12, 9, 6, 3, 0, 0]  # d c b a | a b ...


def test_brightness_multiplies_rounds_and_clips_colour_but_not_alpha() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 100, 255, 7, 180
    out = apply_params(rgba, AugmentParams(brightness=1.5), AugmentConfig(), True)
    assert out[0, 0].tolist() == [150, 255, 10, 180]  # 7 * 1.5 = 10.5 → 10 (round half even)
    out = apply_params(rgba, AugmentParams(brightness=0.3), AugmentConfig(), True)
    assert out[0, 0].tolist() == [30, 76, 2, 180]  # no min-max stretch afterwards


def test_channel_shift_adds_one_value_clipped_to_the_image_range() -> None:
    image = np.zeros((1, 2, 3), np.uint8)
    image[0, 0], image[0, 1] = (10, 100, 250), (20, 20, 20)
    out = apply_params(image, AugmentParams(channel_shift_intensity=20.0), AugmentConfig(), False)
    assert out[0, 0].tolist() == [30, 120, 250] and out[0, 1].tolist() == [40, 40, 40]


def test_flips_reverse_columns_and_rows() -> None:
    image = np.random.default_rng(2).integers(0, 256, (H, W, 1), dtype=np.uint8)
    out = apply_params(image, AugmentParams(flip_horizontal=True, flip_vertical=True),
                       AugmentConfig(), False)
    assert np.array_equal(out, image[::-1, ::-1])


def _float_brightness(colour: np.ndarray, factor: float) -> np.ndarray:
    scaled = np.clip(np.rint(colour.astype(np.float32) * np.float32(factor)), 0, 255)
    return scaled.astype(np.uint8)


def _float_shift(colour: np.ndarray, intensity: float) -> np.ndarray:
    low, high = int(colour.min()), int(colour.max())
    return np.clip(np.rint(colour.astype(np.float32) + np.float32(intensity)), low,
                   high).astype(np.uint8)


def test_brightness_channel_shift_and_gamma_by_table_equal_the_per_pixel_computation() -> None:
    """The kernels look each value up in a table computed on the 256 levels: the result must be
    the per-pixel computation's (float32 for Keras's two), bit for bit, with alpha and BGRX's X
    left alone."""
    rng = np.random.default_rng(10)
    for trial in range(60):
        channels = 1 + trial % 4
        has_alpha = channels in (2, 4)
        low, high = sorted(int(v) for v in rng.integers(0, 256, 2))
        image = rng.integers(low, high + 1, (int(rng.integers(1, 50)), int(rng.integers(1, 50)),
                                             channels), dtype=np.uint8)
        images = [image]
        if channels == 3:  # a warped copy: an RGB view of BGRX, X anything
            bgrx = np.concatenate([image[..., ::-1], rng.integers(0, 256, (*image.shape[:2], 1),
                                                                  dtype=np.uint8)], axis=2)
            images.append(codec.rgb_view(bgrx))
        factor = float(rng.choice([0.0, 1.0, 2.5, rng.uniform(0.2, 1.8)]))
        intensity = float(rng.choice([-300.0, 0.0, 300.0, rng.uniform(-60, 60)]))
        for original in images:
            colour = original[..., :-1] if has_alpha else original
            gamma = factor or 0.5
            levels = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255)
            for out, expected in (
                    (F.adjust_brightness(original, factor, has_alpha),
                     _float_brightness(colour, factor)),
                    (F.channel_shift(original, intensity, has_alpha),
                     _float_shift(colour, intensity)),
                    (F.adjust_gamma(original, gamma, has_alpha),
                     levels.astype(np.uint8)[colour])):
                assert out.shape == original.shape
                assert np.array_equal(out[..., :-1] if has_alpha else out, expected)
                if has_alpha:
                    assert np.array_equal(out[..., -1], original[..., -1])
                if codec.bgrx_of(original) is not None:
                    assert codec.bgrx_of(out) is not None  # still BGRX for the encoder


def test_a_flip_in_place_gives_the_pixels_of_a_flip_into_a_new_array() -> None:
    """OpenCV's flip is run on the warped copy where it is (apply_params owns it): odd and even
    sizes, 1 to 4 channels, each direction, and an RGB view of BGRX (how a warped copy comes)."""
    rng = np.random.default_rng(8)
    for height, width in ((1, 1), (7, 5), (40, 80), (33, 64), (768, 1024)):
        for channels in (1, 2, 3, 4):
            image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
            images = [image]
            if channels == 3:
                images.append(codec.rgb_view(np.ascontiguousarray(image[..., [2, 1, 0, 0]])))
            for original in images:
                for horizontal, vertical in ((True, False), (False, True), (True, True)):
                    expected = original[::-1 if vertical else 1, ::-1 if horizontal else 1]
                    copied = F.flip(original, horizontal, vertical)
                    mine = original.copy() if codec.bgrx_of(original) is None else \
                        codec.rgb_view(codec.bgrx_of(original).copy())
                    buffer = codec.bgrx_of(mine)
                    flipped = F.flip(mine, horizontal, vertical, in_place=True)
                    assert np.array_equal(copied, expected) and np.array_equal(flipped, expected)
                    assert flipped is mine  # no new array: the caller's own was flipped
                    assert buffer is None or codec.bgrx_of(flipped) is buffer


def test_apply_params_leaves_the_source_alone_when_it_flips() -> None:
    """The copy is flipped in place only when the pipeline made it; a flip of the source itself
    (no geometry drawn) goes into a new array, and a read-only source stays as it was."""
    rng = np.random.default_rng(9)
    for channels in (1, 3, 4):
        image = rng.integers(0, 256, (H, W, channels), dtype=np.uint8)
        before = image.copy()
        for theta in (0.0, 20.0):
            params = AugmentParams(theta=theta, flip_horizontal=True, flip_vertical=True)
            out = apply_params(image, params, AugmentConfig(), channels == 4)
            assert np.array_equal(image, before) and not np.shares_memory(out, image)
        image.flags.writeable = False
        out = apply_params(image, AugmentParams(flip_horizontal=True), AugmentConfig(),
                           channels == 4)
        assert np.array_equal(out, before[:, ::-1])


def test_affine_matrix_is_the_product_of_the_six_matrices_to_the_bit() -> None:
    """Keras's composition about the centre, from_centre @ R @ shift @ shear @ zoom @ to_centre
    as NumPy multiplies it: the function writes two one-term products out, which must not change
    a bit (the warp's fixed-point coordinates would then move a pixel by a grey level)."""
    rng = np.random.default_rng(6)
    for k in range(20_000):
        theta, shear = (0.0 if k % 5 == 0 else float(rng.uniform(-180, 180)),
                        0.0 if k % 5 == 1 else float(rng.uniform(-60, 60)))
        tx, ty = (0.0, 0.0) if k % 5 == 2 else (float(v) for v in rng.uniform(-80, 80, 2))
        zx, zy = (1.0, 1.0) if k % 5 == 3 else (float(v) for v in rng.uniform(0.1, 4.0, 2))
        width, height = (int(v) for v in rng.integers(1, 3000, 2))
        t, s = math.radians(theta), math.radians(shear)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        product = (np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=float)
                   @ np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0],
                               [0, 0, 1]])
                   @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=float)
                   @ np.array([[1, -math.sin(s), 0], [0, math.cos(s), 0], [0, 0, 1]])
                   @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]], dtype=float)
                   @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=float))
        assert np.array_equal(affine_matrix(theta, tx, ty, shear, zx, zy, width, height),
                              product), (theta, tx, ty, shear, zx, zy, width, height)


def test_is_identity_takes_each_entry_within_the_tolerance_and_never_nan() -> None:
    """The stage skipped at identity: every entry of the map within atol of the identity's, as
    NumPy's |m - I| <= atol compares them (it was written so until the Python form)."""
    rng = np.random.default_rng(7)
    for _ in range(2_000):
        matrix = np.eye(3) + rng.choice([0.0, 1e-13, -1e-13, 5e-10, 1e-3], (3, 3))
        for atol in (1e-12, 1e-9):
            assert is_identity(matrix, atol) == bool((np.abs(matrix - np.eye(3)) <= atol).all())
    nan = np.eye(3)
    nan[2, 1] = np.nan
    assert not is_identity(nan) and not is_identity(nan, atol=1.0)
    assert is_identity(affine_matrix(0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 24, 17))
    assert not is_identity(affine_matrix(0.0, 0.0, 0.0, 0.0, 1.0 + 1e-9, 1.0, 24, 17))
