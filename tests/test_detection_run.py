"""The run path of annotated layouts (issue 26): settings, refusals, discovery, the run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.detection_shapes import make_dataset
from expand.annotations import Layout
from expand.augment.checks import Checks
from expand.config import AugmentConfig, ExpandConfig, preset
from expand.errors import ConfigError
from expand.io.discover import discover
from expand.io.storage import open_store
from expand.run.labels import read_targets
from expand.run.manifest import CHECK_KEYS, ROW_KEYS
from expand.run.runner import expand_dataset
from expand.run.splits import Split
from expand.tools.inspection import inspect_output
from expand.tools.preview import drawn_tile, preview
from expand.tools.replay import load_run, replay
from expand.tools.sheet import display, fit
from tests.conftest import snapshot
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
    done = expand("run", tmp_path / "src", "--out", tmp_path / "out", "--layout", "masks",
                  "--fill-mode", "constant")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--layout masks" in done.stderr and not (tmp_path / "out").exists()


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
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["manifest_schema"] == 4
    assert recorded["config"]["layout"] == "yolo"  # detected (auto), and recorded
    assert recorded["config"]["min_visibility"] == 0.25
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
    # the summary totals the copies' counts (originals are not copies)
    copies = [row["targets"] for row in rows if row["copy"] is not None]
    assert summary.objects == {  # type: ignore[attr-defined]
        key: sum(int(t[key]) for t in copies) for key in ("kept", "clipped", "dropped")}
    assert sum(summary.objects.values()) > 0  # type: ignore[attr-defined]


def test_the_summary_counts_objects_for_boxes_only(tmp_path: Path) -> None:
    for layout, counted in ((Layout.COCO, True), (Layout.MASKS, False)):
        src, out = tmp_path / f"src-{layout.value}", tmp_path / f"out-{layout.value}"
        _dataset(src, layout, 3)
        done = expand("run", src, "--out", out, "--copies", "3", "--rotation-range", "20",
                      "--fill-mode", "constant")
        assert done.returncode == 0, done.stderr
        assert ("objects in the copies:" in done.stdout) is counted, done.stdout
        summary = json.loads(expand("run", src, "--out", tmp_path / f"j-{layout.value}",
                                    "--copies", "3", "--rotation-range", "20", "--fill-mode",
                                    "constant", "--json").stdout)
        assert (summary["objects"] is not None) is counted


def _outputs(out: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(out).items() if not k.startswith(".expand")}


@pytest.mark.parametrize("layout", [Layout.YOLO, Layout.COCO, Layout.MASKS])
def test_one_and_two_workers_write_the_same_bytes(tmp_path: Path, layout: Layout) -> None:
    src = tmp_path / "src"
    _dataset(src, layout, 6)
    _run(src, tmp_path / "one", copies=3, workers=1)
    _run(src, tmp_path / "two", copies=3, workers=2)
    one = _outputs(tmp_path / "one")
    assert one == _outputs(tmp_path / "two")
    keys = {tuple(row) for row in _rows(tmp_path / "one")}
    assert keys == {(*ROW_KEYS, *CHECK_KEYS, "targets")}  # schema 4, masks (no checks) too
    labels = {"yolo": "labels/", "coco": "annotations.json", "masks": "masks/"}[layout.value]
    assert sum(name.startswith(labels) for name in one) == (1 if layout is Layout.COCO else 18)


def test_with_no_option_boxes_take_the_default_preset_with_a_constant_fill(tmp_path: Path
                                                                           ) -> None:
    """The default preset's reflect fill would copy objects in without their boxes: a YOLO run
    with no augmentation option takes its geometry with a constant fill; masks keep reflect."""
    for layout in (Layout.YOLO, Layout.MASKS):
        src, out = tmp_path / f"src-{layout.value}", tmp_path / f"out-{layout.value}"
        _dataset(src, layout, count=3)
        done = expand("run", src, "--out", out, "--copies", "2")
        assert done.returncode == 0, done.stderr
        recorded = json.loads((out / "run.json").read_text())["config"]
        fill = "constant" if layout is Layout.YOLO else "reflect"
        assert recorded["augment"]["fill_mode"] == fill and recorded["layout"] == layout.value
        assert recorded["augment"]["rotation_range"] == preset("default")["rotation_range"]
    done = expand("run", tmp_path / "src-yolo", "--out", tmp_path / "out-2", "--preset",
                  "default", "--fill-mode", "reflect")
    assert done.returncode == 2 and "fill_mode: reflect" in done.stderr  # asked for: refused


def test_a_malformed_annotation_skips_its_image_in_one_line(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _dataset(src, Layout.YOLO, 3)
    (src / "labels" / "shape_0001.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.5 nan\n")
    summary = _run(src, out, copies=2)
    assert summary.exit_code == 1  # type: ignore[attr-defined]
    (skipped,) = summary.skipped  # type: ignore[attr-defined]
    assert skipped.source == "images/shape_0001.png"
    assert skipped.reason.startswith("labels/shape_0001.txt:2:") and "\n" not in skipped.reason
    assert {row["source"] for row in _rows(out)} == {"images/shape_0000.png",
                                                     "images/shape_0002.png"}
    assert not list((out / "labels").glob("shape_0001*"))


def test_a_coco_annotation_that_is_wrong_skips_its_image(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _dataset(src, Layout.COCO, 3)
    document = json.loads((src / "annotations.json").read_text())
    document["annotations"][0]["bbox"] = [1, 2, -5, 3]
    (src / "annotations.json").write_text(json.dumps(document))
    summary = _run(src, out, copies=2)
    assert summary.exit_code == 1  # type: ignore[attr-defined]
    (skipped,) = summary.skipped  # type: ignore[attr-defined]
    assert skipped.source == "images/shape_0000.png" and "annotations.json" in skipped.reason
    coco = json.loads((out / "annotations.json").read_text())
    assert [image["file_name"] for image in coco["images"]] == [
        f"shape_000{i}.png__aug000{c}.png" for i in (1, 2) for c in (0, 1)]
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))


def _corner_object(src: Path) -> None:
    """One source with one small object in a corner, which large shifts often move out."""
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    pixels = np.full((64, 64, 3), 90, np.uint8)
    pixels[2:10, 2:10] = (230, 40, 40)
    Image.fromarray(pixels).save(src / "images" / "a.png")
    (src / "labels" / "a.txt").write_text("0 0.09375 0.09375 0.125 0.125\n")


def test_a_copy_that_loses_every_object_is_drawn_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _corner_object(src)
    shifts = AugmentConfig(width_shift_range=0.5, height_shift_range=0.5, fill_mode="constant")
    _run(src, tmp_path / "off", copies=12, augment=replace(shifts, checks=Checks(min_objects=0)))
    lost = [row for row in _rows(tmp_path / "off") if not row["targets"]["kept"] +
            row["targets"]["clipped"]]
    assert lost, "the shifts should lose the object in some copy"
    _run(src, tmp_path / "on", copies=12, augment=shifts)
    rows = _rows(tmp_path / "on")
    assert any(row["rejected"] for row in rows)
    for row in rows:
        kept = row["targets"]["kept"] + row["targets"]["clipped"]
        assert row["checks"] == {"objects": kept}
        assert kept or row["failed"] == ["objects"]
    redrawn = {row["copy"] for row in rows if row["attempt"]}
    assert redrawn <= {row["copy"] for row in lost}  # a copy that kept it is not drawn again


def test_a_missing_or_changed_label_is_made_again_and_prune_removes_labels(
        tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _dataset(src, Layout.YOLO, 3)
    _run(src, out, copies=3)
    expected = _outputs(out)
    (out / "labels" / "shape_0000.png__aug0001.txt").unlink()
    (out / "labels" / "shape_0001.png__aug0002.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    summary = _run(src, out, copies=3)
    assert summary.redone == 2  # type: ignore[attr-defined]
    assert _outputs(out) == expected
    _run(src, out, copies=1, prune=True)
    assert sorted(p.name for p in (out / "labels").iterdir()) == [
        f"shape_000{i}.png__aug0000.txt" for i in range(3)]


def test_an_unrecorded_label_left_by_a_stopped_run_is_removed(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _dataset(src, Layout.YOLO, 2)
    _run(src, out, copies=2)
    expected = _outputs(out)
    (out / "labels" / "shape_0000.png__aug0007.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (out / "labels" / "notes.txt").write_text("mine")
    _run(src, out, copies=2)
    assert _outputs(out) == {**expected, "labels/notes.txt": snapshot(out)["labels/notes.txt"]}


def test_replay_remakes_each_output_and_its_label(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    for layout in (Layout.YOLO, Layout.COCO, Layout.MASKS):
        _dataset(src / layout.value, layout, 2)
        _run(src / layout.value, out / layout.value, copies=2, include_originals=True)
        run = load_run(out / layout.value)
        assert all(replayed.ok for replayed in replay(run, None)), layout
    label = out / "masks" / "masks" / "shape_0001.png__aug0001.png"
    label.write_bytes((out / "masks" / "masks" / "shape_0000.png__aug0001.png").read_bytes())
    (bad,) = [r for r in replay(load_run(out / "masks"), None) if not r.ok]
    assert bad.file_name == "images/shape_0001.png__aug0001.png"
    assert "label file masks/shape_0001.png__aug0001.png has sha256" in bad.explain()
    (named,) = replay(load_run(out / "masks"), [str(label)])  # a label names its output
    assert named.file_name == bad.file_name and not named.ok


@pytest.mark.slow
def test_sigkill_then_the_same_command_gives_the_bytes_of_a_run_never_stopped(
        tmp_path: Path) -> None:
    src = tmp_path / "src"
    _dataset(src, Layout.COCO, 40)
    command = [sys.executable, "-m", "expand", "run", str(src), "--copies", "8",
               "--rotation-range", "20", "--fill-mode", "constant", "--horizontal-flip",
               "--workers", "2", "--quiet"]
    started = time.monotonic()
    subprocess.run([*command, "--out", str(tmp_path / "reference")], check=True, timeout=300,
                   stdin=subprocess.DEVNULL)
    duration = time.monotonic() - started
    expected = _outputs(tmp_path / "reference")
    hits = 0
    for trial, share in enumerate((0.45, 0.6, 0.75)):
        out = tmp_path / f"trial{trial}"
        process = subprocess.Popen([*command, "--out", str(out)], start_new_session=True,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(share * duration)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        hits += not (out / "metadata.jsonl").exists()
        subprocess.run([*command, "--out", str(out)], check=True, timeout=300,
                       stdin=subprocess.DEVNULL)
        assert _outputs(out) == expected, f"trial {trial}"
    assert hits, "a kill should land in the middle of a run"


def test_preview_and_inspect_draw_the_targets_on_their_tiles(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    truth = _dataset(src, Layout.YOLO, 2)
    config = ExpandConfig(src=src, out=out, copies=2, augment=GEOMETRY, seed=7)
    sheet, cells, unreadable = preview(config, per_class=2, variants=2, cell=128)
    assert not unreadable and len(cells) == 2 * 3
    first = cells[0]
    source = np.asarray(Image.open(src / "images" / "shape_0000.png").convert("RGB"))
    box = tuple(first.box)
    shown = np.asarray(sheet.convert("RGB").crop(box))
    plain = np.asarray(fit(display(source, False), 128))
    assert truth["images/shape_0000.png"] and not np.array_equal(shown, plain)
    labels = read_targets(Layout.YOLO, open_store(src), "images/shape_0000.png", SIZE, None)
    assert np.array_equal(shown, np.asarray(drawn_tile(source, False, 128, labels.targets)))
    expand_dataset(config)
    picture, cells, _, unreadable = inspect_output(load_run(out), per_class=2, cell=128)
    assert not unreadable
    name = "images/shape_0000.png__aug0000.png"
    cell = next(c for c in cells if c.meta.get("file_name") == name)
    written = np.asarray(Image.open(out / name).convert("RGB"))
    drawn = np.asarray(picture.convert("RGB").crop(tuple(cell.box)))
    assert not np.array_equal(drawn, np.asarray(fit(display(written, False), 128)))


def test_more_copies_later_give_the_coco_document_of_one_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _dataset(src, Layout.COCO, 3)
    _run(src, tmp_path / "grown", copies=1)
    _run(src, tmp_path / "grown", copies=3)
    _run(src, tmp_path / "once", copies=3)
    assert _outputs(tmp_path / "grown") == _outputs(tmp_path / "once")
    document = json.loads((tmp_path / "once" / "annotations.json").read_text())
    assert len(document["images"]) == 9


def test_an_image_without_a_label_file_has_no_objects_but_a_mask_is_needed(
        tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    _dataset(src, Layout.YOLO, 2)
    (src / "labels" / "shape_0001.txt").unlink()
    assert _run(src, tmp_path / "out-yolo", copies=2).exit_code == 0  # type: ignore[attr-defined]
    for row in _rows(tmp_path / "out-yolo"):
        if row["source"] == "images/shape_0001.png":
            assert row["targets"]["kept"] == 0 and row["checks"] == {"objects": None}
            assert (tmp_path / "out-yolo" / row["targets"]["file"]).read_bytes() == b""
    src = tmp_path / "masks"
    _dataset(src, Layout.MASKS, 2)
    (src / "masks" / "shape_0001.png").unlink()
    summary = _run(src, tmp_path / "out-masks", copies=2)
    (skipped,) = summary.skipped  # type: ignore[attr-defined]
    assert skipped.reason.startswith("masks/shape_0001.png: missing")
