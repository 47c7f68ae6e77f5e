from __future__ import annotations

import json
from pathlib import Path

import pytest

from expand.config import PRESET_VERSIONS, PRESETS, AugmentConfig, ExpandConfig, resolve_config
from expand.errors import ConfigError
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset
from expand.tools.starter import starter_text


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


# ---- version 2: probabilities, further transforms, per-class overrides, the starter, presets ----

V2 = """version = 2
rotation_range = 20
rotation_p = 0.5
horizontal_flip = true
copies = 3

[[transforms]]
name = "color_jitter"
p = 0.8
brightness = [0.8, 1.2]

[[transforms]]
name = "gaussian_blur"
sigma = [0.5, 1.0]

[classes.triangle]
horizontal_flip = false
transforms = [{name = "grayscale", p = 0.5}]
"""


def test_a_version_2_file_reads_in_order_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "v2.toml"
    path.write_text(V2)
    config = _resolve(tmp_path, config_file=path)
    augment = config.augment
    assert augment.rotation_p == 0.5 and augment.horizontal_flip_p == 0.5
    assert [t.name for t in augment.transforms] == ["color_jitter", "gaussian_blur"]
    assert augment.transforms[0].brightness == (0.8, 1.2)  # type: ignore[attr-defined]
    assert augment.transforms[1].p == 1.0
    triangle = augment.for_class("triangle")
    assert not triangle.horizontal_flip and triangle.rotation_p == 0.5
    assert [t.name for t in triangle.transforms] == ["grayscale"]
    assert augment.for_class("circle") is augment
    assert augment.transform_names() == ("color_jitter", "gaussian_blur", "grayscale")
    assert AugmentConfig(**config.determining()["augment"]) == augment  # run.json reads back


@pytest.mark.parametrize("text, message", [
    ("rotation_p = 0.5\n", "rotation_p: needs `version = 2`"),
    ('version = 1\n[[transforms]]\nname = "gamma"\n', "transforms: needs `version = 2`"),
    ("version = 3\n", "version: expected 1 or 2, got 3"),
    ("version = 2\nrotation_p = 1.5\n", "rotation_p: expected a probability in [0, 1], got 1.5"),
    ('version = 2\n[[transforms]]\nname = "gaussian_blur"\nsigma = [3, 1]\n',
     "transforms[0] gaussian_blur.sigma: expected [a, b] with a <= b, both in [0, 50], "
     "got [3, 1]"),
    ('version = 2\n[[transforms]]\nname = "gamma"\n[[transforms]]\nname = "gamma"\n',
     "'gamma' is listed twice"),
    ("version = 2\n[classes.c]\nzoom_range = [2, 1]\n", "classes.c.zoom_range"),
    ("version = 2\n[classes.c]\nrescale = 0.5\n", "does not belong to offline expansion"),
    ("version = 2\ncopies = 3\nper_class_target = 9\n", "copies and per_class_target both"),
])
def test_version_2_errors_name_the_field_range_and_value(tmp_path: Path, text: str,
                                                         message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        _resolve(tmp_path, config_file=path)
    assert message in str(error.value)


def test_a_version_1_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "v1.toml"
    path.write_text("version = 1\nrotation_range = 15\nhorizontal_flip = true\n")
    assert _resolve(tmp_path, config_file=path).augment == \
        AugmentConfig(rotation_range=15, horizontal_flip=True)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_init_loads_back_unchanged(tmp_path: Path, name: str) -> None:
    from tests.test_cli import expand

    path = tmp_path / "starter.toml"
    done = expand("config", "init", path, "--preset", name)
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    loaded = _resolve(tmp_path, config_file=path)
    original = _resolve(tmp_path, preset_name=name)
    assert loaded.augment == original.augment
    version = {"preset_version": PRESET_VERSIONS[name]} if name in PRESET_VERSIONS else {}
    assert loaded.determining() | {"preset": name} | version == original.determining()
    assert starter_text(loaded, f"preset {name!r}") == text  # written again: the same file
    assert expand("config", "init", path).returncode == 2  # no silent overwrite
    assert expand("config", "init").stdout == starter_text(_resolve(tmp_path), "preset 'default'")


def test_the_starter_writes_class_overrides_that_load_back(tmp_path: Path) -> None:
    path = tmp_path / "v2.toml"
    path.write_text(V2)
    config = _resolve(tmp_path, config_file=path)
    starter = tmp_path / "starter.toml"
    starter.write_text(starter_text(config, "a test"))
    assert _resolve(tmp_path, config_file=starter).augment == config.augment


def test_default_and_none_presets_are_unchanged() -> None:
    assert PRESETS["default"] == {"rotation_range": 10.0, "width_shift_range": 0.1,
                                  "height_shift_range": 0.1, "zoom_range": 0.1,
                                  "horizontal_flip": True, "fill_mode": "reflect"}
    assert PRESETS["none"] == {}
    assert {"light", "medium", "heavy", "shapes-tutorial"} <= set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs_on_the_samples(samples_train: Path, tmp_path: Path,
                                          name: str) -> None:
    out = tmp_path / name
    config = _resolve(tmp_path, preset_name=name, cli_run={"copies": 2})
    summary = expand_dataset(ExpandConfig(src=samples_train, out=out, copies=2,
                                          augment=config.augment, preset=name))
    assert summary.exit_code == 0 and summary.images_written == 45 * 2
    rows = list(read_manifest(out))
    assert len({tuple(r["params"]) for r in rows}) == 1
    names = config.augment.transform_names()
    assert set(rows[0]["params"]) >= {"theta", "tx", "brightness", *names}
    assert len(summary.unchanged) == (90 if name == "none" else 0)
