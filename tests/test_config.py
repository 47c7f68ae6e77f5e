from __future__ import annotations

import json
from pathlib import Path

import pytest

from expand.config import AugmentConfig, ExpandConfig, resolve_config
from expand.errors import ConfigError


def _resolve(tmp_path: Path, **kw: object) -> ExpandConfig:
    args: dict[str, object] = {"cli_run": {}, "cli_augment": {}}
    args.update(kw)
    return resolve_config(tmp_path / "src", tmp_path / "out", **args)  # type: ignore[arg-type]


def test_no_options_use_the_default_preset(tmp_path: Path) -> None:
    config = _resolve(tmp_path)
    assert config.preset == "default"
    assert config.augment.horizontal_flip and not config.augment.vertical_flip
    assert config.augment.rotation_range > 0


def test_any_augmentation_option_starts_from_keras_defaults(tmp_path: Path) -> None:
    config = _resolve(tmp_path, cli_augment={"rotation_range": 20})
    assert config.preset is None
    assert config.augment == AugmentConfig(rotation_range=20)
    assert config.augment.horizontal_flip is False  # Keras's default, not the preset's


def test_config_file_starts_from_keras_defaults_and_cli_overrides_it(tmp_path: Path) -> None:
    path = tmp_path / "aug.toml"
    path.write_text('rotation_range = 15\nzoom_range = 0.2\nhorizontal_flip = true\ncopies = 7\n'
                    'fill_mode = "wrap"\n')
    config = _resolve(tmp_path, config_file=path, cli_augment={"rotation_range": 5},
                      cli_run={"seed": 4})
    assert config.augment.rotation_range == 5
    assert config.augment.zoom_range == (0.8, 1.2)
    assert config.augment.fill_mode == "wrap"
    assert config.copies == 7 and config.seed == 4
    assert config.augment.width_shift_range == 0.0


def test_json_config_ports_an_imagedatagenerator_dict(tmp_path: Path) -> None:
    keras_kwargs = {"rotation_range": 10, "width_shift_range": 0.2, "height_shift_range": 0.2,
                    "shear_range": 0.7, "zoom_range": [0.9, 2.2], "horizontal_flip": True,
                    "vertical_flip": True, "fill_mode": "nearest"}
    path = tmp_path / "idg.json"
    path.write_text(json.dumps(keras_kwargs))
    config = _resolve(tmp_path, config_file=path)
    assert config.augment == AugmentConfig.from_keras(**keras_kwargs)
    assert config.augment.zoom_range == (0.9, 2.2)


@pytest.mark.parametrize("key", ["rescale", "featurewise_center", "zca_whitening",
                                 "preprocessing_function", "validation_split"])
def test_keras_arguments_outside_offline_expansion_are_refused_with_a_reason(key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'.*does not belong to offline expansion"):
        AugmentConfig.from_keras(**{key: 1})


@pytest.mark.parametrize("kwargs, field", [
    ({"rotation_range": -1}, "rotation_range"),
    ({"zoom_range": [1.2, 0.8]}, "zoom_range"),
    ({"zoom_range": [0, 1]}, "zoom_range"),
    ({"fill_mode": "mirror"}, "fill_mode"),
    ({"brightness_range": [0.5]}, "brightness_range"),
    ({"width_shift_range": "0.1"}, "width_shift_range"),
    ({"horizontal_flip": "yes"}, "horizontal_flip"),
    ({"channel_shift_range": float("nan")}, "channel_shift_range"),
])
def test_invalid_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        AugmentConfig(**kwargs)  # type: ignore[arg-type]


def test_shift_ranges_keep_keras_types() -> None:
    config = AugmentConfig(width_shift_range=5, height_shift_range=[0.1, 0.2])  # type: ignore[arg-type]
    assert config.width_shift_range == 5 and isinstance(config.width_shift_range, int)
    assert config.height_shift_range == (0.1, 0.2)


def test_small_shear_warns_about_radians() -> None:
    assert any("radians" in n for n in AugmentConfig(shear_range=0.5).notes())
    assert AugmentConfig(shear_range=20).notes() == []


def test_unknown_key_and_bad_files_are_config_errors(tmp_path: Path) -> None:
    bad_key = tmp_path / "a.toml"
    bad_key.write_text("rotation = 3\n")
    with pytest.raises(ConfigError, match="unknown augmentation parameter 'rotation'"):
        _resolve(tmp_path, config_file=bad_key)
    broken = tmp_path / "b.json"
    broken.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        _resolve(tmp_path, config_file=broken)
    with pytest.raises(ConfigError, match="cannot read"):
        _resolve(tmp_path, config_file=tmp_path / "missing.toml")


def test_run_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quality"):
        ExpandConfig(src=tmp_path, out=tmp_path / "o", quality=0)
    with pytest.raises(ConfigError, match="resize"):
        _resolve(tmp_path, cli_run={"resize": "224"})
    assert _resolve(tmp_path, cli_run={"resize": "320x240"}).resize == (320, 240)
