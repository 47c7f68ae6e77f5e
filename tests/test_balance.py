"""--per-class-target, per-class overrides, and outputs identical to another or to their source."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import ConfigError
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset


def _uneven(src: Path, samples_train: Path) -> Path:
    """circle 15, rectangle 4, triangle 7 sources."""
    shutil.copytree(samples_train, src)
    for path in sorted((src / "rectangle").iterdir())[4:]:
        path.unlink()
    for path in sorted((src / "triangle").iterdir())[7:]:
        path.unlink()
    return src


def test_per_class_target_balances_with_the_documented_remainder_rule(
        samples_train: Path, tmp_path: Path) -> None:
    src = _uneven(tmp_path / "src", samples_train)
    out = tmp_path / "out"
    summary = expand_dataset(ExpandConfig(src=src, out=out, per_class_target=30,
                                          augment=AugmentConfig(rotation_range=20)))
    assert summary.images_per_class == {"circle": 30, "rectangle": 30, "triangle": 30}
    rows = list(read_manifest(out))
    copies = Counter(r["source"] for r in rows)
    # triangle: 30 = 7 x 4 + 2: the two sources with the smallest SHA-256 of their path get 5
    triangles = sorted((r for r in copies if r.startswith("triangle/")),
                       key=lambda r: hashlib.sha256(r.encode()).hexdigest())
    assert [copies[t] for t in triangles] == [5, 5, 4, 4, 4, 4, 4]
    assert {copies[r] for r in copies if r.startswith("rectangle/")} == {8, 7}  # 30 = 4 x 7 + 2
    assert {copies[r] for r in copies if r.startswith("circle/")} == {2}
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["per_class_target"] == 30 and run["config"]["copies"] is None
    assert {k: v["images"] for k, v in run["counts"]["classes"].items()} == \
        {"circle": 30, "rectangle": 30, "triangle": 30}


def test_per_class_target_with_originals_and_a_class_above_it(samples_train: Path,
                                                              tmp_path: Path) -> None:
    src = _uneven(tmp_path / "src", samples_train)
    summary = expand_dataset(ExpandConfig(src=src, out=tmp_path / "out", per_class_target=10,
                                          include_originals=True,
                                          augment=AugmentConfig(rotation_range=20)))
    assert summary.images_per_class == {"circle": 15, "rectangle": 10, "triangle": 10}
    assert any("circle: 15 images, above --per-class-target 10" in w for w in summary.warnings)


def test_run_json_has_no_new_keys_when_the_new_features_are_off(samples_train: Path,
                                                               tmp_path: Path) -> None:
    expand_dataset(ExpandConfig(src=samples_train, out=tmp_path / "o", copies=1,
                                augment=AugmentConfig(rotation_range=5)))
    config = json.loads((tmp_path / "o" / "run.json").read_text())["config"]
    assert set(config) == {"src", "copies", "seed", "format", "quality", "png_level", "resize",
                           "include_originals", "preset", "augment"}
    assert set(config["augment"]) == set(AugmentConfig().to_dict()) and \
        len(config["augment"]) == 11


def test_class_overrides_apply_to_their_class_only(samples_train: Path, tmp_path: Path) -> None:
    augment = AugmentConfig(rotation_range=20, horizontal_flip=True, horizontal_flip_p=1.0,
                            transforms=[{"name": "gaussian_blur", "p": 0.5}],  # type: ignore[list-item]
                            classes={"triangle": {"horizontal_flip": False, "transforms": [  # type: ignore[arg-type]
                                {"name": "grayscale"}]}})
    out = tmp_path / "out"
    expand_dataset(ExpandConfig(src=samples_train, out=out, copies=4, augment=augment))
    rows = list(read_manifest(out))
    assert len({tuple(r["params"]) for r in rows}) == 1  # every row has the same keys
    for row in rows:
        params = row["params"]
        if row["label"] == "triangle":
            assert not params["flip_horizontal"] and params["gaussian_blur"] is None
            assert params["grayscale"] == {}
        else:
            assert params["flip_horizontal"] and params["grayscale"] is None
    with pytest.raises(ConfigError, match="classes.squares: no class folder"):
        expand_dataset(ExpandConfig(src=samples_train, out=tmp_path / "o2", copies=1,
                                    augment=AugmentConfig(classes={"squares": {}})))  # type: ignore[arg-type]


def test_identical_outputs_are_reported_not_recorded(samples_train: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    shutil.copy(src / "circle" / "circle001.png", src / "circle" / "twin.png")
    out = tmp_path / "out"
    summary = expand_dataset(ExpandConfig(src=src, out=out, copies=2, include_originals=True,
                                          augment=AugmentConfig()))  # no augmentation at all
    groups = {frozenset(g) for g in summary.duplicates}
    assert frozenset({"circle/circle001.png__aug0000.png", "circle/circle001.png__aug0001.png",
                      "circle/circle001.png__orig.png", "circle/twin.png__aug0000.png",
                      "circle/twin.png__aug0001.png", "circle/twin.png__orig.png"}) in groups
    assert len(summary.unchanged) == 46 * 2  # every copy is its source
    assert "duplicates" not in (out / "run.json").read_text()
    augmented = expand_dataset(ExpandConfig(src=src, out=tmp_path / "aug", copies=2,
                                            augment=AugmentConfig(rotation_range=30)))
    # twins share pixels but not random streams (keyed by path): their copies differ
    assert augmented.unchanged == () and augmented.duplicates == ()
    assert Image.open(out / "circle" / "twin.png__aug0000.png").size == (24, 24)


def test_raising_the_target_on_a_finished_run_only_adds_copies(samples_train: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    augment = AugmentConfig(rotation_range=20)
    expand_dataset(ExpandConfig(src=samples_train, out=out, per_class_target=20, augment=augment))
    before = {r["file_name"]: r["sha256"] for r in read_manifest(out)}
    summary = expand_dataset(ExpandConfig(src=samples_train, out=out, per_class_target=40,
                                          augment=augment))
    after = {r["file_name"]: r["sha256"] for r in read_manifest(out)}
    assert summary.images_per_class == {"circle": 40, "rectangle": 40, "triangle": 40}
    assert summary.kept == 60 and {k: after[k] for k in before} == before
