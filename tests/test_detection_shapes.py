"""bench/detection_shapes.py: the files it writes state the truth it returns."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.detection_shapes import TrueShape, make_dataset, rasterise
from expand.annotations import Layout

SIZE = (96, 64)  # not square: a swapped width and height shows


def _agrees(mask: np.ndarray, polygon: tuple[float, ...]) -> None:
    """`mask` is the polygon's pixel centres inside, by an independent test (OpenCV's, on each
    centre of the polygon's box and 1 px around it; centres on the outline may go either way)."""
    height, width = mask.shape
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    xs, ys = contour[:, 0, 0], contour[:, 0, 1]
    rows = range(max(0, int(ys.min()) - 1), min(height, int(ys.max()) + 2))
    columns = range(max(0, int(xs.min()) - 1), min(width, int(xs.max()) + 2))
    for i in rows:
        for j in columns:
            side = cv2.pointPolygonTest(contour, (j + 0.5, i + 0.5), False)
            if side != 0:
                assert mask[i, j] == (side > 0), (i, j)
    outside = np.ones_like(mask)
    outside[rows.start:rows.stop, columns.start:columns.stop] = False
    assert not mask[outside].any()


def _near(box: tuple[float, float, float, float], shape: tuple[int, ...]) -> np.ndarray:
    near = np.zeros(shape[:2], dtype=bool)
    x0, y0, x1, y1 = box
    near[max(0, int(y0) - 1):int(y1) + 2, max(0, int(x0) - 1):int(x1) + 2] = True
    return near


def test_rasterise_is_the_pixel_centres_inside_the_polygon() -> None:
    triangle = (10.2, 5.7, 80.9, 20.1, 30.3, 60.6)
    _agrees(rasterise(triangle, SIZE), triangle)
    square = (2.0, 3.0, 5.0, 3.0, 5.0, 6.0, 2.0, 6.0)  # centres 2.5..4.5 x 3.5..5.5
    assert rasterise(square, SIZE).sum() == 9


def test_yolo_lines_are_the_truth_normalised(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path, Layout.YOLO, 8, SIZE, seed=4)
    width, height = SIZE
    kinds = set()
    for rel, shapes in truth.items():
        image = np.asarray(Image.open(tmp_path / rel).convert("RGB"))
        assert image.shape == (height, width, 3)
        label = tmp_path / "labels" / (Path(rel).relative_to("images").with_suffix(".txt"))
        lines = label.read_text().splitlines()
        assert len(lines) == len(shapes) >= 1
        for line, shape in zip(lines, shapes):
            kinds.add(shape.written_as)
            values = [float(v) for v in line.split()[1:]]
            assert int(line.split()[0]) == shape.category
            if shape.written_as == "box":
                x0, y0, x1, y1 = shape.box
                want = [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width,
                        (y1 - y0) / height]
            else:
                want = [v / (width if k % 2 == 0 else height)
                        for k, v in enumerate(shape.polygon)]
                xs, ys = shape.polygon[0::2], shape.polygon[1::2]
                assert shape.box == (min(xs), min(ys), max(xs), max(ys))
            assert values == pytest.approx(want, abs=5e-7)
            mask = rasterise(shape.polygon, SIZE)
            _agrees(mask, shape.polygon)
            assert mask.sum() > 10
            assert np.all(image[mask] == shape.colour)  # the pixels are the shape's
    assert kinds == {"box", "polygon"}
    assert "names:\n  0: circle\n  1: rectangle\n  2: triangle\n" in \
        (tmp_path / "data.yaml").read_text()


def test_masks_are_the_polygons_rasterised(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path, Layout.MASKS, 3, SIZE, seed=5, splits=("train", "val"))
    assert sorted(truth) == ["images/train/shape_0000.png", "images/train/shape_0002.png",
                             "images/val/shape_0001.png"]
    for rel, shapes in truth.items():
        label = np.asarray(Image.open(tmp_path / "masks" / Path(rel).relative_to("images")))
        assert label.shape == (SIZE[1], SIZE[0]) and label.dtype == np.uint8
        for shape in shapes:  # boxes 2 px apart: around a shape, its label is its own
            _agrees((label == shape.category + 1) & _near(shape.box, label.shape),
                    shape.polygon)
        covered = np.zeros_like(label, dtype=bool)
        for shape in shapes:
            covered |= rasterise(shape.polygon, SIZE)
        assert np.array_equal(label > 0, covered)


def test_coco_builds_in_pycocotools_with_the_truth(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    truth = make_dataset(tmp_path, Layout.COCO, 12, SIZE, seed=6)
    index = COCO(str(tmp_path / "annotations.json"))
    assert [c["name"] for c in index.loadCats(index.getCatIds())] == \
        ["circle", "rectangle", "triangle"]
    kinds = set()
    for image in index.loadImgs(index.getImgIds()):
        shapes: list[TrueShape] = truth[f"images/{image['file_name']}"]
        annotations = index.loadAnns(index.getAnnIds(imgIds=image["id"]))
        assert len(annotations) == len(shapes)
        for annotation, shape in zip(annotations, shapes):
            kinds.add(shape.written_as)
            assert annotation["category_id"] == shape.category + 1
            x0, y0, x1, y1 = shape.box
            assert annotation["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0])
            if shape.written_as.startswith("rle"):
                assert np.array_equal(index.annToMask(annotation).astype(bool),
                                      rasterise(shape.polygon, SIZE))
            elif shape.written_as == "polygon":  # pycocotools' own rasteriser: near, not equal
                mask, true = index.annToMask(annotation).astype(bool), rasterise(shape.polygon,
                                                                                 SIZE)
                assert (mask & true).sum() / (mask | true).sum() > 0.8
            else:
                assert "segmentation" not in annotation
    assert kinds == {"box", "polygon", "rle", "rle-uncompressed"}


def test_the_seed_fixes_the_bytes_and_the_images_across_layouts(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    first = make_dataset(tmp_path / "a", Layout.COCO, 3, SIZE, seed=7)
    again = make_dataset(tmp_path / "b", Layout.COCO, 3, SIZE, seed=7)
    yolo = make_dataset(tmp_path / "c", Layout.YOLO, 3, SIZE, seed=7)
    assert files(tmp_path / "a") == files(tmp_path / "b") and first == again
    assert {k: v for k, v in files(tmp_path / "a").items() if k.startswith("images/")} == \
        {k: v for k, v in files(tmp_path / "c").items() if k.startswith("images/")}
    assert [[s.polygon for s in v] for v in first.values()] == \
        [[s.polygon for s in v] for v in yolo.values()]
    assert json.loads((tmp_path / "a" / "annotations.json").read_text())["images"][0] == \
        {"id": 1, "file_name": "shape_0000.png", "width": SIZE[0], "height": SIZE[1]}
