from __future__ import annotations

import numpy as np
import pytest

from expand.augment import transforms as T
from expand.augment.params import AugmentParams, sample_params, stream_names
from expand.augment.seeding import rng_for, source_key
from expand.config import AugmentConfig


def _draw(config: AugmentConfig, copy: int, size: tuple[int, int] = (80, 40),
          source: str = "c/a.png", seed: int = 0) -> AugmentParams:
    key = source_key(source)
    return sample_params(config, lambda name: rng_for(seed, key, copy, name), size)


def test_parameters_stay_within_their_ranges_over_many_draws() -> None:
    config = AugmentConfig(rotation_range=25, width_shift_range=0.1, height_shift_range=0.2,
                           shear_range=8, zoom_range=[0.8, 2.0], channel_shift_range=30,
                           brightness_range=[0.5, 1.5], horizontal_flip=True)
    draws = [_draw(config, k) for k in range(2000)]
    assert all(-25 <= p.theta <= 25 for p in draws)
    assert all(abs(p.tx) <= 0.1 * 80 for p in draws)
    assert all(abs(p.ty) <= 0.2 * 40 for p in draws)
    assert all(-8 <= p.shear <= 8 for p in draws)
    assert all(0.8 <= p.zx <= 2.0 and 0.8 <= p.zy <= 2.0 for p in draws)
    assert all(-30 <= p.channel_shift_intensity <= 30 for p in draws)  # type: ignore[operator]
    assert all(0.5 <= p.brightness <= 1.5 for p in draws)  # type: ignore[operator]
    # the ranges are used, not just respected: the extremes are approached
    assert max(abs(p.tx) for p in draws) > 7.5 and max(abs(p.ty) for p in draws) > 7.5
    assert max(p.theta for p in draws) > 24 and min(p.theta for p in draws) < -24
    assert len({p.zx for p in draws}) == len(draws) and any(p.zx != p.zy for p in draws)
    assert 0.45 < np.mean([p.flip_horizontal for p in draws]) < 0.55
    assert not any(p.flip_vertical for p in draws)


def test_shift_range_types_follow_keras() -> None:
    ints = [_draw(AugmentConfig(width_shift_range=5), k).tx for k in range(500)]
    assert set(ints) == {float(v) for v in range(-4, 5)}  # int n: ±{0..n-1} whole pixels
    pixels = [_draw(AugmentConfig(width_shift_range=5.0), k).tx for k in range(500)]
    assert all(-5 <= v <= 5 for v in pixels) and len(set(pixels)) == 500  # float >= 1: pixels
    choices = {_draw(AugmentConfig(width_shift_range=[0.1, 0.2]), k).tx  # type: ignore[arg-type]
               for k in range(500)}
    assert sorted(choices) == pytest.approx([-16.0, -8.0, 8.0, 16.0])  # ±value x width


def test_zero_config_draws_the_identity() -> None:
    assert _draw(AugmentConfig(), 3) == AugmentParams()


def test_streams_are_keyed_by_seed_source_and_copy_only() -> None:
    config = AugmentConfig(rotation_range=30)
    assert _draw(config, 1) == _draw(config, 1)
    assert _draw(config, 1) != _draw(config, 2)
    assert _draw(config, 1) != _draw(config, 1, source="c/b.png")
    assert _draw(config, 1) != _draw(config, 1, seed=1)


def test_each_transform_has_its_own_stream() -> None:
    """Turning one transform on or off leaves every other transform's draws unchanged."""
    base = AugmentConfig(rotation_range=30, zoom_range=0.2)
    more = AugmentConfig(rotation_range=30, zoom_range=0.2, width_shift_range=0.3, shear_range=10,
                         horizontal_flip=True, brightness_range=[0.5, 1.5])
    for k in range(50):
        a, b = _draw(base, k), _draw(more, k)
        assert (a.theta, a.zx, a.zy) == (b.theta, b.zx, b.zy)


def test_params_round_trip_through_a_dict() -> None:
    params = _draw(AugmentConfig(rotation_range=30, channel_shift_range=5, vertical_flip=True), 7)
    assert AugmentParams.from_dict(params.to_dict()) == params


@pytest.mark.parametrize("config", [
    AugmentConfig(),
    AugmentConfig(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1,
                  shear_range=0.5, zoom_range=[0.8, 2.0], horizontal_flip=True,
                  vertical_flip=True),
    AugmentConfig(width_shift_range=[0.0], height_shift_range=3, zoom_range=0.0,
                  channel_shift_range=20, brightness_range=[0.5, 1.5]),
    AugmentConfig(rotation_range=10, rotation_p=0.0, horizontal_flip=True, horizontal_flip_p=0.5,
                  transforms=tuple(T.CATALOGUE[name]() for name in sorted(T.CATALOGUE)
                                   if name != "random_crop")),
], ids=["nothing", "shapes-tutorial", "pixel-keras", "probabilities-and-catalogue"])
def test_stream_names_are_the_streams_sample_params_draws_from(config: AugmentConfig) -> None:
    """The worker makes these streams' seeds together beforehand; any other is made on its own."""
    key = source_key("c/a.png")
    for copy in range(20):
        asked: list[str] = []

        def stream(name: str, copy: int = copy, asked: list[str] = asked) -> np.random.Generator:
            asked.append(name)
            return rng_for(0, key, copy, name)

        sample_params(config, stream, (80, 40))
        assert tuple(asked) == stream_names(config)
