"""The run path of annotated layouts (issue 26): settings, refusals, discovery, the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from expand.augment.checks import Checks
from expand.config import AugmentConfig, ExpandConfig, preset
from expand.errors import ConfigError
from expand.run.splits import Split
from tests.test_cli import expand


def _config(tmp_path: Path, **kw: object) -> ExpandConfig:
    return ExpandConfig(src=tmp_path / "src", out=tmp_path / "out", **kw)  # type: ignore[arg-type]


def test_a_class_folder_run_records_no_layout(tmp_path: Path) -> None:
    for layout in ("auto", "classes"):
        recorded = _config(tmp_path, layout=layout).determining()
        assert "layout" not in recorded and "min_visibility" not in recorded
    assert _config(tmp_path).augment.checks is None


@pytest.mark.parametrize("layout", ["yolo", "coco", "masks"])
def test_an_annotated_run_records_its_layout_and_threshold(tmp_path: Path, layout: str) -> None:
    recorded = _config(tmp_path, layout=layout, min_visibility=0.5).determining()
    assert recorded["layout"] == layout and recorded["min_visibility"] == 0.5


def test_object_layouts_check_that_a_copy_keeps_an_object(tmp_path: Path) -> None:
    checks = _config(tmp_path, layout="yolo").augment.checks
    assert checks is not None and checks.min_objects == 1 and checks.names() == ("objects",)
    given = AugmentConfig(checks=Checks(min_luma_std=2.0), classes={"images": {}})
    config = _config(tmp_path, layout="coco", augment=given).augment
    assert config.checks == Checks(min_luma_std=2.0, min_objects=1)
    assert config.for_class("images").checks == config.checks
    off = _config(tmp_path, layout="coco", augment=AugmentConfig(checks=Checks(min_objects=0)))
    assert off.augment.checks == Checks(min_objects=0)  # the user turned it off
    assert _config(tmp_path, layout="masks").augment.checks is None  # no objects to lose


@pytest.mark.parametrize(("layout", "settings", "said"), [
    ("yolo", {"augment": AugmentConfig(fill_mode="reflect")}, "fill_mode: reflect"),
    ("coco", {"augment": AugmentConfig(classes={"images": {"fill_mode": "wrap"}})},
     "fill_mode: wrap"),
    ("masks", {"augment": AugmentConfig(**preset("line-art"))}, "redraws the strokes"),
    ("yolo", {"split": Split("train", 0.2)}, "--val/--test"),
    ("masks", {"resize": (32, 32)}, "resize"),
    ("yolo", {"min_visibility": 1.5}, "min_visibility"),
])
def test_settings_that_cannot_keep_targets_right_are_refused(
        tmp_path: Path, layout: str, settings: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError, match=said.replace("/", ".")):
        _config(tmp_path, layout=layout, **settings)


def test_masks_take_any_fill_mode(tmp_path: Path) -> None:
    """A mask is warped with the image's own fill mode: a reflected object comes labelled."""
    for mode in ("reflect", "wrap"):
        _config(tmp_path, layout="masks", augment=AugmentConfig(fill_mode=mode))


def test_the_command_line_refuses_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "src" / "images").mkdir(parents=True)
    done = expand("run", tmp_path / "src", "--out", tmp_path / "out", "--layout", "yolo",
                  "--fill-mode", "wrap")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "fill_mode: wrap" in done.stderr
    done = expand("run", tmp_path / "src", "--out", tmp_path / "out", "--layout", "voc")
    assert done.returncode == 2 and "layout: expected one of auto" in done.stderr
