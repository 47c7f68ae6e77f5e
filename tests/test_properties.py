"""Property-based: every valid config gives images of the right size and mode; every invalid one
gives a clear error that names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from expand.augment.params import sample_params
from expand.augment.pipeline import apply_params
from expand.augment.seeding import rng_for, source_key
from expand.config import AugmentConfig, ExpandConfig
from expand.errors import ConfigError
from expand.io import codec

MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
unit = st.floats(0, 0.99, allow_nan=False)
shift = st.one_of(unit, st.integers(0, 12), st.floats(1, 30),
                  st.lists(st.floats(0, 0.9), min_size=1, max_size=3))
pair = st.tuples(st.floats(0.2, 1.5), st.floats(0, 1.5)).map(lambda p: [p[0], p[0] + p[1]])
valid_config = st.fixed_dictionaries({
    "rotation_range": st.floats(0, 360),
    "width_shift_range": shift,
    "height_shift_range": shift,
    "shear_range": st.floats(0, 60),
    "zoom_range": st.one_of(st.floats(0, 0.9), pair),
    "horizontal_flip": st.booleans(),
    "vertical_flip": st.booleans(),
    "fill_mode": st.sampled_from(["nearest", "reflect", "wrap", "constant"]),
    "cval": st.floats(-50, 255),
    "brightness_range": st.one_of(st.none(), pair),
    "channel_shift_range": st.floats(0, 255),
})


@settings(max_examples=150, deadline=None)
@given(kwargs=valid_config, mode=st.sampled_from(list(MODES)), width=st.integers(1, 48),
       height=st.integers(1, 48), seed=st.integers(0, 2**32), fmt=st.sampled_from(["png", "webp"]))
def test_every_valid_config_gives_an_image_of_the_source_size_and_mode(
        kwargs: dict[str, Any], mode: str, width: int, height: int, seed: int, fmt: str) -> None:
    config = AugmentConfig(**kwargs)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, MODES[mode]),
                                                  dtype=np.uint8)
    key = source_key("c/x.png")
    params = sample_params(config, lambda name: rng_for(seed, key, 0, name), (width, height))
    has_alpha = mode in ("LA", "RGBA")
    out = apply_params(pixels, params, config, has_alpha)
    assert out.shape == pixels.shape and out.dtype == np.uint8
    encoded = codec.encode(out, has_alpha, fmt, 90, 1, None)
    decoded = codec.decode(encoded.data, "x")
    assert decoded.pixels.shape[:2] == (height, width)
    assert decoded.mode == encoded.mode


FIELDS_AND_BAD_VALUES = st.sampled_from([
    ("rotation_range", -5), ("rotation_range", "ten"), ("rotation_range", float("inf")),
    ("width_shift_range", -1), ("width_shift_range", []), ("width_shift_range", True),
    ("height_shift_range", [0.1, -0.2]), ("shear_range", -0.1), ("zoom_range", [2, 1]),
    ("zoom_range", -3.0), ("zoom_range", [0, 0.5]), ("zoom_range", [1, 2, 3]),
    ("horizontal_flip", 1), ("vertical_flip", "no"), ("fill_mode", "mirror"),
    ("cval", None), ("brightness_range", [1.5, 0.5]), ("brightness_range", 0.5),
    ("brightness_range", [-1, 1]), ("channel_shift_range", float("nan")),
])


@settings(max_examples=100, deadline=None)
@given(valid=valid_config, bad=FIELDS_AND_BAD_VALUES)
def test_every_invalid_value_is_a_config_error_naming_its_field(
        valid: dict[str, Any], bad: tuple[str, Any]) -> None:
    field, value = bad
    try:
        AugmentConfig(**{**valid, field: value})
    except ConfigError as exc:
        assert str(exc).startswith(f"{field}:"), str(exc)
        assert "\n" not in str(exc)
    else:
        raise AssertionError(f"{field}={value!r} was accepted")


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["copies", "seed", "workers", "quality", "png_level"]),
       value=st.one_of(st.integers(-10**6, -1), st.just(10**9), st.just(1.5), st.just("3")))
def test_invalid_run_settings_name_their_field(field: str, value: Any) -> None:
    assume(not (field in ("copies", "seed", "workers") and value == 10**9))  # valid there
    try:
        ExpandConfig(src=Path("s"), out=Path("o"), **{field: value})
    except ConfigError as exc:
        assert str(exc).startswith(f"{field}:"), str(exc)
    else:
        raise AssertionError(f"{field}={value!r} was accepted")
