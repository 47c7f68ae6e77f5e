"""The run path of annotated layouts (issue 26): settings, refusals, discovery, the run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench.detection_shapes import make_dataset
from expand.annotations import Layout
from expand.augment.checks import Checks
from expand.config import AugmentConfig, ExpandConfig, preset
from expand.errors import ConfigError
from expand.io.discover import discover
from expand.run.runner import expand_dataset
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


# --- discovery and the run -------------------------------------------------------------------

SIZE = (96, 64)
#: affine geometry only (acceptance 3), `constant` fill: objects cut at the frame are clipped
GEOMETRY = AugmentConfig(rotation_range=25.0, width_shift_range=0.15, height_shift_range=0.15,
                         shear_range=10.0, zoom_range=(0.8, 1.25), horizontal_flip=True,
                         vertical_flip=True, fill_mode="constant")


def _dataset(root: Path, layout: Layout, count: int = 12) -> dict[str, list[object]]:
    return make_dataset(root, layout, count, SIZE, seed=3)  # type: ignore[return-value]


def _run(src: Path, out: Path, **kw: object) -> object:
    settings: dict[str, object] = {"copies": 5, "augment": GEOMETRY, "seed": 7}
    settings.update(kw)
    return expand_dataset(ExpandConfig(src=src, out=out, **settings))  # type: ignore[arg-type]


def _rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def test_the_images_folder_is_the_one_class_of_an_annotated_layout(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _dataset(src, Layout.YOLO, 3)
    (src / "README.txt").write_text("about")
    (src / "classes.txt").write_text("circle\n")
    found = discover(src, layout=Layout.YOLO)
    assert found.classes == ("images",) and len(found.sources) == 3
    assert found.top_level_files == ("README.txt",)  # labels/, data.yaml: not junk, not classes
    assert found.copied == ("data.yaml", "classes.txt")
    assert discover(src).classes == ("images", "labels")  # as class folders, when asked


def test_a_yolo_run_writes_a_label_per_image_and_copies_data_yaml(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _dataset(src, Layout.YOLO, 4)
    summary = _run(src, out, include_originals=True)
    assert summary.exit_code == 0  # type: ignore[attr-defined]
    assert (out / "data.yaml").read_bytes() == (src / "data.yaml").read_bytes()
    rows = _rows(out)
    assert len(rows) == 4 * 6 and not (out / "README.md").exists()
    assert json.loads((out / "run.json").read_text())["manifest_schema"] == 4
    for row in rows:
        targets = row["targets"]
        assert isinstance(targets, dict)
        name = str(row["file_name"])
        stem = name.split("/", 1)[1].rsplit(".", 1)[0]
        assert targets["file"] == f"labels/{stem}.txt"
        data = (out / targets["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == targets["sha256"]
        if row["copy"] is None:  # the original's labels, as they were read
            source = src / "labels" / (Path(name).name.split("__")[0].rsplit(".", 1)[0] + ".txt")
            assert targets["kept"] == len(source.read_text().splitlines())
        assert targets["kept"] + targets["clipped"] == len(data.decode().splitlines())
