"""Acceptance 3 of issue 26: a run on filled shapes whose truth is known; every written box,
polygon and mask lies within 1 px of the truth, mapped by each copy's own recorded params.

The truth's map is found from the pixels, not from the code that maps targets: the row's params
warp an image whose pixels hold their own coordinates (bilinear interpolation of a ramp is
exact), and the affine map is fitted to what lands where. The label files are read by readers
written here to the formats' specifications (YOLO's text lines; COCO through pycocotools)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from bench.detection_shapes import TrueShape, make_dataset, rasterise
from expand.annotations import Layout
from expand.augment.params import AugmentParams
from expand.augment.pipeline import apply_params
from expand.config import AugmentConfig, ExpandConfig
from expand.run.runner import expand_dataset

SIZE = (96, 64)
W, H = SIZE
GEOMETRY = AugmentConfig(rotation_range=25.0, width_shift_range=0.15, height_shift_range=0.15,
                         shear_range=10.0, zoom_range=(0.8, 1.25), horizontal_flip=True,
                         vertical_flip=True, fill_mode="constant")
TOLERANCE = 1.0  # px
FRAME = np.array([[0.0, 0.0], [W, 0.0], [W, H], [0.0, H]])


def _run(layout: Layout, tmp_path: Path) -> tuple[Path, Path, dict[str, list[TrueShape]]]:
    src, out = tmp_path / "src", tmp_path / "out"
    truth = make_dataset(src, layout, 12, SIZE, seed=5)
    summary = expand_dataset(ExpandConfig(src=src, out=out, copies=5, augment=GEOMETRY, seed=11))
    assert summary.exit_code == 0 and summary.images_written == 60
    return src, out, truth


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def _forward(params: dict[str, Any]) -> Any:
    """Source point (continuous) -> output point, for the row's params: fitted to where the
    pixels of a coordinate ramp land when warped by the run's pixel path."""
    xs, ys = np.meshgrid(np.arange(W), np.arange(H))
    ramp = np.stack([xs + 1, ys + 1, np.full_like(xs, 255)], axis=-1).astype(np.uint8)
    warped = apply_params(ramp, AugmentParams.from_dict(params), GEOMETRY, False).astype(float)
    inside = warped[..., 2] == 255  # no fill mixed in
    assert inside.sum() > 100
    oi, oj = np.nonzero(inside)
    design = np.stack([oj, oi, np.ones_like(oj)], axis=1).astype(float)
    source = np.stack([warped[..., 0][inside] - 1, warped[..., 1][inside] - 1], axis=1)
    fitted, *_ = np.linalg.lstsq(design, source, rcond=None)  # output index -> source index
    linear, offset = fitted[:2].T, fitted[2]
    inverse = np.linalg.inv(linear)

    def forward(points: np.ndarray) -> np.ndarray:
        return (points - 0.5 - offset) @ inverse.T + 0.5

    return forward


def _ring(flat: Any) -> np.ndarray:
    return np.asarray(flat, float).reshape(-1, 2)


def _distance_to_edges(points: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Each point's distance to the closed polyline `ring`."""
    a, b = ring, np.roll(ring, -1, axis=0)
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    nearest = a + t[..., None] * ab
    return np.sqrt(((points[:, None] - nearest) ** 2).sum(-1)).min(axis=1)


def _in_frame(points: np.ndarray) -> np.ndarray:
    return (points[:, 0] >= 0) & (points[:, 0] <= W) & (points[:, 1] >= 0) & (points[:, 1] <= H)


def _assert_polygon_near(written: np.ndarray, truth: np.ndarray, where: str) -> None:
    """Both ways: each written vertex is on the truth's outline or the frame's (a clipped
    object's corner), each truth vertex inside the frame on the written outline."""
    off = np.minimum(_distance_to_edges(written, truth), _distance_to_edges(written, FRAME))
    assert off.max() <= TOLERANCE, f"{where}: a written vertex {off.max():.2f} px off"
    kept = truth[_in_frame(truth)]
    if len(kept):
        back = _distance_to_edges(kept, written)
        assert back.max() <= TOLERANCE, f"{where}: a true vertex {back.max():.2f} px off"


def _clip_box(box: np.ndarray) -> np.ndarray:
    return np.array([max(box[0], 0), max(box[1], 0), min(box[2], W), min(box[3], H)])


def _bounds(points: np.ndarray) -> np.ndarray:
    return np.array([*points.min(axis=0), *points.max(axis=0)])


def _true_box(shape: TrueShape, forward: Any) -> np.ndarray | None:
    """A polygon object's box: the bounds of its mapped outline cut at the frame (found on a
    fine raster of the mapped outline); a mask's, those of the pixels whose centre is inside
    the mapped outline; a box-only object's: the bounds of its mapped corners."""
    if shape.written_as == "box":
        x0, y0, x1, y1 = shape.box
        return _clip_box(_bounds(forward(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))))
    ring = forward(_ring(shape.polygon))
    fine = 1 if shape.written_as.startswith("rle") else 8  # a mask's box: its pixels' bounds
    mask = rasterise(tuple((ring * fine).ravel()), (W * fine, H * fine))
    rows, cols = np.nonzero(mask)
    if not len(rows):
        return None  # wholly outside the frame
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]) / fine


def _match(written: list[tuple[int, np.ndarray, np.ndarray | None]], shapes: list[TrueShape],
           forward: Any, where: str, category_offset: int = 0) -> None:
    """The written objects are the kept truths, in the source's order: each box within 1 px of
    its truth's, each polygon on its truth's mapped outline."""
    candidates = list(shapes)
    for category, box, polygon in written:
        while candidates:
            shape = candidates.pop(0)
            if shape.category + category_offset != category:
                continue
            true_box = _true_box(shape, forward)
            if true_box is not None and np.abs(true_box - box).max() <= TOLERANCE:
                break
        else:
            raise AssertionError(f"{where}: object {category} {box} matches no true shape")
        if polygon is not None:
            _assert_polygon_near(polygon, forward(_ring(shape.polygon)), where)


def _near(box: np.ndarray | None, other: np.ndarray) -> bool:
    return box is not None and bool(np.abs(box - other).max() <= TOLERANCE)


def _yolo_objects(text: str) -> list[tuple[int, np.ndarray, np.ndarray | None]]:
    """YOLO's format as its documentation states it: one object a line, `class cx cy w h`
    normalised (a box), or `class x1 y1 x2 y2 ...` normalised (a polygon, 3 points or more)."""
    objects = []
    for line in text.splitlines():
        words = line.split()
        category, values = int(words[0]), np.array([float(w) for w in words[1:]])
        assert np.all((values >= 0) & (values <= 1)), line
        if len(values) == 4:
            cx, cy, bw, bh = values * [W, H, W, H]
            objects.append((category, np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2,
                                                cy + bh / 2]), None))
        else:
            assert len(values) >= 6 and len(values) % 2 == 0, line
            ring = values.reshape(-1, 2) * [W, H]
            objects.append((category, _bounds(ring), ring))
    return objects


@pytest.mark.slow
def test_yolo_boxes_and_polygons_follow_each_copy(tmp_path: Path) -> None:
    _, out, truth = _run(Layout.YOLO, tmp_path)
    objects = 0
    for row in _rows(out):
        targets = row["targets"]
        written = _yolo_objects((out / targets["file"]).read_text())
        assert len(written) == targets["kept"] + targets["clipped"]
        assert targets["kept"] + targets["clipped"] + targets["dropped"] == \
            len(truth[row["source"]])
        _match(written, truth[row["source"]], _forward(row["params"]), row["file_name"])
        objects += len(written)
    assert objects > 60


def _mask_near(mask: np.ndarray, ring: np.ndarray, where: str) -> None:
    """Every pixel where `mask` and the raster of `ring` differ has its centre within 1 px of
    the ring's outline."""
    true_mask = rasterise(tuple(ring.ravel()), SIZE)
    rows, cols = np.nonzero(mask.astype(bool) != true_mask)
    if len(rows):
        centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
        assert _distance_to_edges(centres, ring).max() <= TOLERANCE, where


@pytest.mark.slow
def test_coco_boxes_polygons_and_rle_follow_each_copy(tmp_path: Path) -> None:
    _, out, truth = _run(Layout.COCO, tmp_path)
    index = COCO(str(out / "annotations.json"))
    rows = {row["file_name"].split("/", 1)[1]: row for row in _rows(out)}
    assert len(index.getImgIds()) == len(rows) == 60
    kinds = set()
    for image in index.loadImgs(index.getImgIds()):
        row = rows[image["file_name"]]
        assert (image["width"], image["height"]) == (row["width"], row["height"])
        annotations = index.loadAnns(index.getAnnIds(imgIds=[image["id"]]))
        targets = row["targets"]
        assert len(annotations) == targets["kept"] + targets["clipped"]
        forward = _forward(row["params"])
        written = []
        shapes = truth[row["source"]]
        for annotation in annotations:
            x, y, bw, bh = annotation["bbox"]
            segmentation = annotation["segmentation"]
            polygon = _ring(segmentation[0]) if isinstance(segmentation, list) and segmentation \
                else None
            kinds.add("box" if segmentation == [] else "polygon" if polygon is not None
                      else "rle")
            written.append((annotation["category_id"], np.array([x, y, x + bw, y + bh]),
                            polygon))
            if isinstance(segmentation, dict):  # an RLE object: its mask, as pycocotools reads it
                mask = index.annToMask(annotation)
                assert annotation["area"] == int(mask.sum())
                owner = [s for s in shapes if s.written_as.startswith("rle")
                         and s.category + 1 == annotation["category_id"]
                         and _near(_true_box(s, forward), written[-1][1])]
                assert owner, row["file_name"]
                _mask_near(mask, forward(_ring(owner[0].polygon)), row["file_name"])
        _match(written, shapes, forward, row["file_name"], category_offset=1)
    assert kinds == {"box", "polygon", "rle"}


@pytest.mark.slow
def test_semantic_masks_follow_each_copy_and_pair_by_name(tmp_path: Path) -> None:
    _, out, truth = _run(Layout.MASKS, tmp_path)
    images = sorted(p.relative_to(out / "images") for p in (out / "images").rglob("*.png"))
    masks = sorted(p.relative_to(out / "masks") for p in (out / "masks").rglob("*.png"))
    assert [p.with_suffix("") for p in masks] == [p.with_suffix("") for p in images]
    for row in _rows(out):
        label = np.asarray(Image.open(out / row["targets"]["file"]))
        assert label.shape == (H, W)
        forward = _forward(row["params"])
        rings = [(shape.category + 1, forward(_ring(shape.polygon)))
                 for shape in truth[row["source"]]]
        expected = np.zeros((H, W), np.uint8)
        for value, ring in rings:
            expected[rasterise(tuple(ring.ravel()), SIZE)] = value
        rows, cols = np.nonzero(label != expected)
        if len(rows):  # each pixel that differs is at most 1 px from an outline
            centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
            gaps = np.min([_distance_to_edges(centres, ring) for _, ring in rings], axis=0)
            assert gaps.max() <= TOLERANCE, row["file_name"]
