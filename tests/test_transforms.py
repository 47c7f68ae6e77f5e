"""The further transforms: identity, bounds over many seeds, firing rates, one resample, streams."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest

from expand.augment import geometric as G
from expand.augment import line_art_transforms as LA
from expand.augment import params as P
from expand.augment import photometric as PH
from expand.augment import transform_base as B
from expand.augment import transforms as T
from expand.augment.params import AugmentParams, sample_params
from expand.augment.pipeline import apply_params
from expand.augment.seeding import rng_for, source_key
from expand.config import KERAS_PROBABILITIES, AugmentConfig
from expand.errors import ConfigError

H, W = 40, 80
SIZE = (W, H)

#: Each transform with non-trivial settings, and its identity parameters.
SETTINGS: dict[str, dict[str, Any]] = {
    "random_crop": {"size_frac": 0.7},
    "random_resized_crop": {"scale": (0.3, 0.9), "ratio": (0.5, 2.0)},
    "perspective": {"distortion": 0.5},
    "color_jitter": {"brightness": (0.5, 1.5), "contrast": (0.6, 1.4), "saturation": (0.0, 2.0),
                     "hue": (-0.2, 0.2)},
    "grayscale": {},
    "gamma": {"gamma": (0.5, 2.0)},
    "equalize": {},
    "autocontrast": {"cutoff_pct": (0.0, 5.0)},
    "gaussian_noise": {"sigma": (1.0, 20.0)},
    "gaussian_blur": {"sigma": (0.2, 3.0)},
    "sharpen": {"amount": (0.1, 2.0)},
    "jpeg": {"quality": (10, 60)},
    "random_erasing": {"scale": (0.05, 0.3), "ratio": (0.5, 2.0), "value": 128},
    # line art (identity and behaviour on drawn strokes: tests/test_lineart_transforms.py)
    "stroke_preserve": {},
    "stroke_width": {"factor": (0.5, 2.0)},
    "wobble": {"amplitude": (0.01, 0.05), "wavelength": (0.3, 0.9)},
    "placement": {"size": (0.3, 0.9)},
    "ink_paper": {"ink": (-0.2, 0.5), "paper": (0.0, 0.3)},
    # added with issue 22 (their own tests: tests/test_catalogue_registry.py)
    "solarize": {"threshold": (64.0, 192.0)},
    "rot90": {"k": (1, 3)},
    # added with issue 23 (its own tests: tests/test_pen.py)
    "pen": {"width_px": (1.0, 4.0), "max_width_frac": 0.2},
}
IDENTITY: dict[str, Any] = {
    "random_crop": G.CropBox(0.0, 0.0, W, H),
    "random_resized_crop": G.CropBox(0.0, 0.0, W, H),
    "perspective": G.Corners(((0.0, 0.0), (W - 1.0, 0.0), (W - 1.0, H - 1.0), (0.0, H - 1.0))),
    "color_jitter": PH.Jitter(1.0, 1.0, 1.0, 0.0),
    "gamma": PH.GammaValue(1.0),
    "autocontrast": PH.Cutoff(0.0),  # on an image already spanning 0..255
    "gaussian_noise": PH.Noise(0.0, 12345),
    "gaussian_blur": PH.Sigma(0.0),
    "sharpen": PH.Amount(0.0),
    "random_erasing": PH.Erase(3, 4, 0, 0, 0),
}


def _transform(name: str, p: float = 1.0) -> T.Transform:
    return T.CATALOGUE[name](p=p, **SETTINGS[name])


def _image(channels: int, seed: int = 0) -> np.ndarray:
    image = np.random.default_rng(seed).integers(0, 256, (H, W, channels), dtype=np.uint8)
    image[0, 0], image[0, 1] = 0, 255  # every channel spans 0..255
    return image


def _draw(config: AugmentConfig, copy: int, source: str = "c/a.png") -> AugmentParams:
    key = source_key(source)
    return sample_params(config, lambda name: rng_for(0, key, copy, name), SIZE)


def test_the_catalogue_is_complete() -> None:
    assert set(SETTINGS) == set(T.CATALOGUE)


@pytest.mark.parametrize("name", sorted(T.CATALOGUE))
@pytest.mark.parametrize("channels, has_alpha", [(3, False), (1, False), (4, True), (2, True)])
def test_identity_parameters_give_back_the_input(name: str, channels: int,
                                                 has_alpha: bool) -> None:
    image = _image(channels)
    config = AugmentConfig(transforms=(_transform(name),))
    not_fired = AugmentParams(extra=((name, None),))
    assert np.array_equal(apply_params(image, not_fired, config, has_alpha), image)
    if name in IDENTITY:
        params = AugmentParams(extra=((name, IDENTITY[name]),))
        assert np.array_equal(apply_params(image, params, config, has_alpha), image)


def test_parameter_free_transforms_leave_their_fixed_points_alone() -> None:
    grey_rgb = np.repeat(_image(1), 3, axis=2)
    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (4, 1, 3))  # flat histogram
    for name, image in (("grayscale", grey_rgb), ("equalize", ramp)):
        config = AugmentConfig(transforms=(_transform(name),))
        out = apply_params(image, AugmentParams(extra=((name, B.Applied()),)), config, False)
        assert np.array_equal(out, image), name


@pytest.mark.parametrize("name", sorted(T.CATALOGUE))
def test_sampled_parameters_stay_within_the_configured_bounds(name: str) -> None:
    config = AugmentConfig(transforms=(_transform(name),))
    settings = SETTINGS[name]
    draws = [_draw(config, k, source=f"c/{k % 7}.png").get(name) for k in range(500)]
    assert all(d is not None for d in draws)
    for d in draws:
        if isinstance(d, G.CropBox):
            assert 0 <= d.x and 0 <= d.y and d.x + d.w <= W + 1e-9 and d.y + d.h <= H + 1e-9
            if name == "random_crop":
                assert (d.w, d.h) == pytest.approx((0.7 * W, 0.7 * H))
            elif d != G.CropBox(0.0, 0.0, W, H):  # torchvision's fallback after 10 misses
                assert 0.3 - 1e-9 <= d.w * d.h / (W * H) <= 0.9 + 1e-9
                assert 0.5 - 1e-9 <= d.w / d.h <= 2.0 + 1e-9
        elif isinstance(d, G.Corners):
            frame = [(0, 0), (W - 1, 0), (W - 1, H - 1), (0, H - 1)]
            for (x, y), (fx, fy) in zip(d.corners, frame):
                assert abs(x - fx) <= 0.5 * (W - 1) / 2 + 1e-9
                assert abs(y - fy) <= 0.5 * (H - 1) / 2 + 1e-9
                assert 0 <= x <= W - 1 and 0 <= y <= H - 1  # inward only
        elif isinstance(d, PH.Erase):
            assert d.value == 128 and 0 <= d.x and d.x + d.w <= W and d.y + d.h <= H
            if d.w:
                assert 0.05 * W * H * 0.8 <= d.w * d.h <= 0.3 * W * H * 1.2  # rounded sides
        elif isinstance(d, PH.Noise):
            assert 1.0 <= d.sigma <= 20.0 and 0 <= d.seed < 2**32
        elif isinstance(d, B.Applied):
            pass
        elif isinstance(d, LA.WobbleField):
            assert 0.01 <= d.amplitude <= 0.05 and 0.3 <= d.wavelength <= 0.9
            assert all(0 <= phase <= 2 * np.pi for phase in d.phases)
        elif isinstance(d, LA.Place):
            assert 0.3 <= d.size <= 0.9 and 0 <= d.u <= 1 and 0 <= d.v <= 1
        elif isinstance(d, LA.PenWidth):
            assert 1.0 <= d.width_px <= 4.0 and d.max_width_frac == 0.2
        else:
            for field, value in vars(d).items():
                low, high = settings[field]
                assert low <= value <= high, (field, value)
    # the ranges are used, not just respected
    fixed = ("grayscale", "equalize", "stroke_preserve")
    assert len({repr(d) for d in draws}) >= (1 if name in fixed else 2 if name == "rot90" else 40)


def test_sampled_extremes_are_approached() -> None:
    config = AugmentConfig(transforms=(_transform("gaussian_blur"), _transform("jpeg")))
    draws = [_draw(config, k) for k in range(500)]
    sigmas = [d.get("gaussian_blur").sigma for d in draws]  # type: ignore[union-attr]
    assert min(sigmas) < 0.3 and max(sigmas) > 2.9
    assert {d.get("jpeg").quality for d in draws} == set(range(10, 61))  # type: ignore[union-attr]


def _fired_keras(params: AugmentParams) -> dict[str, bool]:
    return {"rotation_p": params.theta != 0, "width_shift_p": params.tx != 0,
            "height_shift_p": params.ty != 0, "shear_p": params.shear != 0,
            "zoom_p": (params.zx, params.zy) != (1.0, 1.0),
            "horizontal_flip_p": params.flip_horizontal, "vertical_flip_p": params.flip_vertical,
            "channel_shift_p": params.channel_shift_intensity is not None,
            "brightness_p": params.brightness is not None}


def test_firing_rates_over_10000_draws_are_within_2_points_of_p() -> None:
    names = sorted(T.CATALOGUE)
    names.remove("random_crop")  # cannot be listed with random_resized_crop; run on its own below
    probabilities = {name: 0.15 + 0.7 * i / (len(names) - 1) for i, name in enumerate(names)}
    keras_p = {name: round(0.2 + 0.07 * i, 2) for i, name in enumerate(KERAS_PROBABILITIES)}
    config = AugmentConfig(
        rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, shear_range=5,
        zoom_range=0.1, horizontal_flip=True, vertical_flip=True, channel_shift_range=10,
        brightness_range=(0.8, 1.2), **keras_p,
        transforms=tuple(_transform(n, probabilities[n]) for n in names))
    crop_only = AugmentConfig(transforms=(_transform("random_crop", 0.42),))
    fired = {name: 0 for name in [*names, *keras_p, "random_crop"]}
    draws = 10_000
    for k in range(draws):
        params = _draw(config, k)
        for name in names:
            fired[name] += params.get(name) is not None
        for name, on in _fired_keras(params).items():
            fired[name] += on
        fired["random_crop"] += _draw(crop_only, k).get("random_crop") is not None
    expected = {**probabilities, **keras_p, "random_crop": 0.42}
    off = {n: (fired[n] / draws, p) for n, p in expected.items()
           if abs(fired[n] / draws - p) > 0.02}
    assert not off, off


def test_keras_flips_default_to_half_and_p1_draws_no_coin() -> None:
    flips = [_draw(AugmentConfig(horizontal_flip=True), k).flip_horizontal for k in range(2000)]
    assert 0.45 < np.mean(flips) < 0.55
    always = AugmentConfig(horizontal_flip=True, horizontal_flip_p=1.0)
    assert all(_draw(always, k).flip_horizontal for k in range(200))
    # p = 1 draws the value first: the same values as a config without the probability key
    a, b = AugmentConfig(rotation_range=30), AugmentConfig(rotation_range=30, rotation_p=1.0)
    assert [_draw(a, k).theta for k in range(20)] == [_draw(b, k).theta for k in range(20)]


def test_a_further_transform_changes_no_other_draw() -> None:
    keras = AugmentConfig(rotation_range=30, zoom_range=0.2, horizontal_flip=True,
                          brightness_range=(0.5, 1.5))
    more = replace(keras, transforms=(_transform("gaussian_blur", 0.5), _transform("jpeg")))
    more_still = replace(keras, transforms=(_transform("sharpen"), _transform("jpeg", 0.3),
                                            _transform("gaussian_blur", 0.5)))
    for k in range(100):
        a, b, c = _draw(keras, k), _draw(more, k), _draw(more_still, k)
        assert replace(b, extra=()) == a == replace(c, extra=())
        assert b.get("gaussian_blur") == c.get("gaussian_blur")  # its own stream, any position


def test_params_round_trip_through_the_manifest_form() -> None:
    config = AugmentConfig(rotation_range=10, transforms=tuple(
        _transform(n, 0.5) for n in sorted(T.CATALOGUE) if n != "random_crop"))
    for k in range(50):
        params = _draw(config, k)
        data = params.to_dict(config.transform_names())
        assert list(data)[:10] == list(P.KERAS_PARAM_KEYS)
        assert AugmentParams.from_dict(data) == params


def test_all_geometry_is_one_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for fn in ("warpAffine", "warpPerspective", "remap", "resize"):
        original = getattr(cv2, fn)
        monkeypatch.setattr(cv2, fn, lambda *a, _f=fn, _o=original, **k: (calls.append(_f),
                                                                           _o(*a, **k))[1])
    image = _image(3)
    for names in (("random_resized_crop",), ("random_crop", "perspective"),
                  ("random_resized_crop", "perspective")):
        config = AugmentConfig(rotation_range=20, zoom_range=0.2,
                               transforms=tuple(_transform(n) for n in names))
        calls.clear()
        apply_params(image, _draw(config, 1), config, False)
        assert calls == ["warpPerspective" if "perspective" in names else "warpAffine"]


def test_a_crop_maps_its_window_onto_the_frame() -> None:
    image = np.zeros((H, W, 1), np.uint8)
    image[10:20, 20:40] = 255  # the window's content
    config = AugmentConfig(fill_mode="constant", transforms=(_transform("random_crop"),))
    params = AugmentParams(extra=(("random_crop", G.CropBox(20.0, 10.0, 20.0, 10.0)),))
    out = apply_params(image, params, config, False)[..., 0]  # the window, magnified 4x
    assert (out[2:-2, 2:-2] == 255).all()
    # the outermost samples fall between the window's edge pixels and what lies beyond them
    assert (out[0, 2:-2] < 255).all() and (out[0, 2:-2] > 0).all()
    assert np.array_equal(out, out[::-1, ::-1])  # centred: no half-pixel drift


def test_perspective_moves_the_corners_where_it_says() -> None:
    image = np.full((H, W, 1), 200, np.uint8)
    config = AugmentConfig(fill_mode="constant", cval=0, transforms=(_transform("perspective"),))
    corners = ((10.0, 5.0), (W - 1.0, 0.0), (W - 1.0, H - 1.0), (0.0, H - 1.0))
    out = apply_params(image, AugmentParams(extra=(("perspective", G.Corners(corners)),)),
                       config, False)
    assert out[0, 0, 0] == 0 and out[2, 5, 0] == 0  # the top-left corner moved in: filled
    assert out[6, 11, 0] == 200 and out[H - 1, W - 1, 0] == 200


@pytest.mark.parametrize("bad, message", [
    ({"name": "gaussian_blur", "sigma": [2, 1]},
     "transforms[0] gaussian_blur.sigma: expected [a, b] with a <= b, both in [0, 50], got [2, 1]"),
    ({"name": "gaussian_blur", "p": 1.5},
     "gaussian_blur.p: expected a probability in [0, 1], got 1.5"),
    ({"name": "jpeg", "quality": [0, 50]},
     "jpeg.quality: expected [a, b] with a <= b, both in [1, 100], got [0, 50]"),
    ({"name": "random_crop", "size_frac": 0}, "random_crop.size_frac: expected a number in (0, 1]"),
    ({"name": "color_jitter", "hue": [0, 0.7]},
     "color_jitter.hue: expected [a, b] with a <= b, both in [-0.5, 0.5], got [0, 0.7]"),
    ({"name": "blur"}, "transforms[0].name: expected one of random_crop"),
    ({"name": "gamma", "gama": [1, 2]}, "unknown key 'gama'"),
])
def test_validation_names_the_field_the_range_and_the_value(bad: dict[str, Any],
                                                            message: str) -> None:
    with pytest.raises(ConfigError) as error:
        AugmentConfig(transforms=[bad])  # type: ignore[arg-type]
    assert message in str(error.value)


def test_a_transform_is_listed_once_and_one_crop_at_most() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        AugmentConfig(transforms=[{"name": "gamma"}, {"name": "gamma"}])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="list one"):
        AugmentConfig(transforms=[{"name": "random_crop"},  # type: ignore[list-item]
                                  {"name": "random_resized_crop"}])
