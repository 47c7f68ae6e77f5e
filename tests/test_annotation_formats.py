"""The annotated layouts' readers and writers against real readers: pycocotools builds its index
from the COCO documents written here and decodes their masks; a YOLO reader written below from the
format's specification (not expand's) reads the label files; label PNGs round-trip and pair with
their images by name."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from expand.annotations import ImageTargets, Layout, Target
from expand.errors import AnnotationError, DatasetLayoutError
from expand.io.coco import coco_annotation, coco_document, read_coco
from expand.io.label_masks import label_palette, label_png, read_label_png
from expand.io.layouts import detect_layout, label_file_for
from expand.io.rle import rle_decode, rle_encode
from expand.io.yolo import read_yolo, yolo_text

# pycocotools' decode passes copy=False to NumPy 2's __array__: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CATEGORIES = [{"id": 1, "name": "circle", "supercategory": "shape"},
              {"id": 7, "name": "square", "extra": [1, 2]}]


def _masks() -> list[np.ndarray]:
    """Masks that exercise the encoding: empty, full, set first pixel, long runs (several 5-bit
    groups), runs shorter than the run two before (negative differences), noise."""
    rng = np.random.default_rng(5)
    blob = np.zeros((300, 200), bool)
    blob[40:260, 30:170] = True
    blob[100:120, 60:65] = False
    corner = np.zeros((7, 9), bool)
    corner[0, 0] = True
    return [np.zeros((4, 5), bool), np.ones((6, 3), bool), corner, blob,
            rng.random((31, 17)) < 0.5, rng.random((50, 64)) < 0.05]


# --- RLE -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("index", range(6))
def test_rle_strings_are_pycocotools_own(index: int) -> None:
    mask = _masks()[index]
    reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    ours = rle_encode(mask)
    assert ours == {"size": list(mask.shape), "counts": reference["counts"].decode("ascii")}
    assert np.array_equal(rle_decode(ours), mask)
    assert np.array_equal(coco_mask.decode(ours).astype(bool), mask)


def test_rle_reads_uncompressed_counts() -> None:
    mask = _masks()[3]
    uncompressed = {"size": [300, 200], "counts": [30 * 300 + 40, 220, 80, 220, 50440]}
    assert rle_decode(uncompressed).sum() == 440
    # pycocotools' reading of the same list is the reference
    compressed = coco_mask.frPyObjects(uncompressed, 300, 200)
    assert np.array_equal(rle_decode(uncompressed), coco_mask.decode(compressed).astype(bool))
    assert rle_decode({"size": list(mask.shape), "counts": _runs(mask)}).sum() == mask.sum()


def _runs(mask: np.ndarray) -> list[int]:
    flat = mask.ravel(order="F")
    runs, value, length = [], False, 0
    for pixel in flat:
        if pixel == value:
            length += 1
        else:
            runs.append(length)
            value, length = pixel, 1
    return [*runs, length]


@pytest.mark.parametrize(("rle", "what"), [
    ({"size": [2, 2], "counts": "1 1"}, "not a compressed count character"),
    ({"size": [2, 2], "counts": [1, 2]}, "cover 3 pixels"),
    ({"size": [2, 2], "counts": [5, -1]}, "negative"),
    ({"size": [2, 2], "counts": "o"}, "end inside a run"),
    ({"size": [2], "counts": [4]}, r"not \[height, width\]"),
    ({"counts": [4]}, "'size' and 'counts'"),
])
def test_rle_refuses_malformed_objects(rle: dict[str, object], what: str) -> None:
    with pytest.raises(ValueError, match=what):
        rle_decode(rle)


# --- COCO ----------------------------------------------------------------------------------------

def _disc(size: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    rows, cols = np.mgrid[0:size[1], 0:size[0]]
    return (rows - centre[1]) ** 2 + (cols - centre[0]) ** 2 <= radius ** 2


def _written(tmp_path: Path) -> tuple[Path, dict[str, list[Target]]]:
    """A COCO document written from targets of every kind, its images given out of order."""
    disc = _disc((40, 30), (20, 14), 8)
    crowd = np.zeros((30, 40), bool)
    crowd[2:6, 30:38] = True
    targets = {
        "train/b.png": [
            Target(category=1, box=(10.0, 5.0, 30.5, 25.25),
                   polygons=((10.0, 5.0, 30.5, 5.0, 10.0, 25.25),)),
            Target(category=7, box=(0.0, 0.0, 4.0, 3.0)),
        ],
        "train/a.jpg__aug0001.jpg": [
            Target(category=1, box=(12.0, 6.0, 29.0, 23.0), mask=disc),
            Target(category=7, box=(30.0, 2.0, 38.0, 6.0), mask=crowd, iscrowd=True),
            Target(category=7, box=(1.0, 1.0, 9.0, 9.0),
                   polygons=((1.0, 1.0, 5.0, 1.0, 5.0, 5.0, 1.0, 5.0),
                             (6.0, 6.0, 9.0, 6.0, 9.0, 9.0))),
        ],
        "train/a.jpg": [],
    }
    images = [(name, 40, 30, [coco_annotation(target) for target in objects])
              for name, objects in targets.items()]
    path = tmp_path / "annotations.json"
    path.write_bytes(coco_document(CATEGORIES, images))
    assert coco_document(CATEGORIES, images[::-1]) == path.read_bytes()  # the order given: none
    return path, targets


def test_a_written_coco_document_builds_its_index_in_pycocotools(tmp_path: Path) -> None:
    path, targets = _written(tmp_path)
    coco = COCO(str(path))
    assert [coco.imgs[i]["file_name"] for i in (1, 2, 3)] == sorted(targets)
    assert len(coco.anns) == 5 and sorted(coco.anns) == [1, 2, 3, 4, 5]
    assert coco.getAnnIds(imgIds=[1]) == [] and coco.getAnnIds(imgIds=[2]) == [1, 2, 3]
    assert coco.getAnnIds(imgIds=[3]) == [4, 5]
    assert coco.dataset["categories"] == CATEGORIES
    assert coco.getCatIds() == [1, 7]
    anns = coco.anns
    # a.jpg__aug0001.jpg: the disc and the crowd as RLE, decoded as encoded; the two-ring polygon
    disc, crowd = targets["train/a.jpg__aug0001.jpg"][0].mask, targets["train/a.jpg__aug0001.jpg"][1].mask
    assert disc is not None and crowd is not None
    assert np.array_equal(coco.annToMask(anns[1]).astype(bool), disc)
    assert anns[1]["area"] == int(disc.sum()) and anns[1]["iscrowd"] == 0
    assert np.array_equal(coco.annToMask(anns[2]).astype(bool), crowd)
    assert anns[2]["area"] == 32 and anns[2]["iscrowd"] == 1 and anns[2]["category_id"] == 7
    assert anns[3]["area"] == pytest.approx(16 + 4.5)
    assert coco.annToMask(anns[3]).sum() > 0
    # b.png: a triangle (area by its formula) and a box-only object
    assert anns[4]["bbox"] == [10.0, 5.0, 20.5, 20.25]
    assert anns[4]["area"] == pytest.approx(round(20.5 * 20.25 / 2, 2))
    assert anns[4]["segmentation"] == [[10.0, 5.0, 30.5, 5.0, 10.0, 25.25]]
    assert anns[5]["bbox"] == [0.0, 0.0, 4.0, 3.0] and anns[5]["area"] == 12.0
    assert anns[5]["segmentation"] == [] and anns[5]["image_id"] == 3


def test_a_written_coco_document_reads_back(tmp_path: Path) -> None:
    path, targets = _written(tmp_path)
    source = read_coco(path.read_bytes(), "annotations.json")
    assert source.problems == () and dict(source.rejected) == {}
    assert list(source.categories) == CATEGORIES
    assert set(source.images) == set(targets)
    for name, objects in targets.items():
        width, height, read = source.images[name]
        assert (width, height) == (40, 30)
        assert read.objects == tuple(objects)  # masks are not compared by ==
        for mine, theirs in zip(objects, read.objects):
            assert (mine.mask is None) == (theirs.mask is None)
            if mine.mask is not None:
                assert np.array_equal(mine.mask, theirs.mask)


def test_read_coco_takes_pycocotools_own_rle_and_polygons() -> None:
    mask = _disc((20, 10), (9, 5), 4)
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    document = {
        "images": [{"id": 3, "file_name": "x.png", "width": 20, "height": 10}],
        "annotations": [
            {"id": 9, "image_id": 3, "category_id": 1, "bbox": [5, 1, 9, 9], "iscrowd": 0,
             "segmentation": {"size": [10, 20], "counts": encoded["counts"].decode()}},
            {"id": 10, "image_id": 3, "category_id": 1, "bbox": [5, 1, 9, 9], "iscrowd": 1,
             "segmentation": {"size": [10, 20], "counts": _runs(mask)}},
            {"id": 11, "image_id": 3, "category_id": 1, "bbox": [1, 1, 2, 2],
             "segmentation": [[1, 1, 3, 1, 3, 3]]},
        ],
        "categories": [{"id": 1, "name": "disc"}],
    }
    source = read_coco(json.dumps(document).encode(), "a.json")
    width, height, targets = source.images["x.png"]
    assert (width, height) == (20, 10)
    first, second, third = targets.objects
    assert first.mask is not None and np.array_equal(first.mask, mask)
    assert second.mask is not None and np.array_equal(second.mask, mask) and second.iscrowd
    assert third.polygons == ((1.0, 1.0, 3.0, 1.0, 3.0, 3.0),) and third.box == (1.0, 1.0, 3.0, 3.0)


def test_a_bad_coco_annotation_rejects_its_image_with_one_line() -> None:
    good = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4]}
    document = {
        "images": [{"id": 1, "file_name": "good.png", "width": 8, "height": 8},
                   {"id": 2, "file_name": "flat.png", "width": 8, "height": 8},
                   {"id": 3, "file_name": "cat.png", "width": 8, "height": 8},
                   {"id": 4, "file_name": "rle.png", "width": 8, "height": 8},
                   {"id": 5, "file_name": "../escape.png", "width": 8, "height": 8}],
        "annotations": [
            good,
            {"id": 21, "image_id": 2, "category_id": 1, "bbox": [1, 1, 0, 3]},
            {"id": 22, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 3]},
            {"id": 31, "image_id": 3, "category_id": 5, "bbox": [1, 1, 2, 3]},
            {"id": 41, "image_id": 4, "category_id": 1, "bbox": [1, 1, 2, 3],
             "segmentation": {"size": [9, 8], "counts": [72]}},
            {"id": 51, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 3]},
        ],
        "categories": [{"id": 1}],
    }
    source = read_coco(json.dumps(document).encode(), "ann/coco.json")
    assert list(source.images) == ["good.png"]
    assert source.images["good.png"][2].objects == (Target(category=1, box=(0, 0, 4, 4)),)
    assert set(source.rejected) == {"flat.png", "cat.png", "rle.png", "../escape.png"}
    assert source.problems == (
        "ann/coco.json: image 5: file_name '../escape.png' is not a path inside images/",
        "ann/coco.json: annotation 21 (image flat.png): zero-size box (width or height is 0)",
        ("ann/coco.json: annotation 31 (image cat.png): category_id 5 is not one of the "
         "categories"),
        "ann/coco.json: annotation 41 (image rle.png): RLE size [9, 8] is not the image's [8, 8]",
        "ann/coco.json: annotation 51: its image_id names no image of the document",
    )
    assert all("\n" not in line for line in source.problems)


@pytest.mark.parametrize(("fields", "what"), [
    ({"bbox": [1, 1, True, 2]}, "'bbox' is not [x, y, width, height]"),
    ({"bbox": [1, 1, float("nan"), 2]}, "'bbox' is not [x, y, width, height]"),
    ({"bbox": [1, 1, 10**400, 2]}, "'bbox' is not [x, y, width, height]"),
    ({"bbox": [1, 1, "2", 2]}, "'bbox' is not [x, y, width, height]"),
    ({"bbox": [1, 1, 2]}, "'bbox' is not [x, y, width, height]"),
    ({"segmentation": [[1, 1, 3, 3]]}, "a polygon is not a flat list of at least 3 x, y points"),
    ({"segmentation": [1, 1, 3, 3, 1, 3]}, "a polygon is not a flat list"),
    ({"segmentation": [[1, 1, 3, 3, 1, float("inf")]]}, "a polygon is not a flat list"),
    ({"segmentation": "1 1 3 3"}, "neither a list of polygons nor an RLE object"),
    ({"segmentation": {"size": [8, 8], "counts": "!!"}}, "not a compressed count character"),
    ({"iscrowd": 2}, "iscrowd 2 is neither 0 nor 1"),
    ({"category_id": "1"}, "category_id '1' is not one of the categories"),
])
def test_each_bad_coco_field_is_named(fields: dict[str, object], what: str) -> None:
    annotation = {"id": 8, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], **fields}
    document = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                "annotations": [annotation], "categories": [{"id": 1}]}
    source = read_coco(json.dumps(document).encode(), "c.json")
    assert dict(source.images) == {} and list(source.rejected) == ["a.png"]
    (line,) = source.problems
    assert line.startswith("c.json: annotation 8 (image a.png): ") and what in line


def test_coco_file_names_are_normalised_and_shown_on_one_line() -> None:
    document = {
        "images": [{"id": 1, "file_name": "./train//a.jpg", "width": 8, "height": 8},
                   {"id": 2, "file_name": "b\nc.jpg", "width": 8, "height": 8}],
        "annotations": [{"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 0, 1]}],
        "categories": [{"id": 1}],
    }
    source = read_coco(json.dumps(document).encode(), "a.json")
    assert list(source.images) == ["train/a.jpg"] and list(source.rejected) == ["b\nc.jpg"]
    assert source.problems == (
        "a.json: annotation 5 (image 'b\\nc.jpg'): zero-size box (width or height is 0)",)


def test_rings_of_fewer_than_3_points_are_not_written() -> None:
    """pycocotools reads a 4-value ring as a box, and a 2-point YOLO line reads as a box."""
    sliver = Target(category=0, box=(2.0, 2.0, 6.0, 6.0),
                    polygons=((2.0, 2.0, 6.0, 6.0), (2.0, 2.0, 6.0, 2.0, 6.0, 6.0)))
    only = Target(category=0, box=(2.0, 2.0, 6.0, 6.0), polygons=((2.0, 2.0, 6.0, 6.0),))
    assert coco_annotation(sliver)["segmentation"] == [[2.0, 2.0, 6.0, 2.0, 6.0, 6.0]]
    assert coco_annotation(only)["segmentation"] == [] and coco_annotation(only)["area"] == 16.0
    text = yolo_text(ImageTargets(objects=(sliver, only)), (8, 8))
    assert text.splitlines() == ["0 0.250000 0.250000 0.750000 0.250000 0.750000 0.750000",
                                 "0 0.500000 0.500000 0.500000 0.500000"]


@pytest.mark.parametrize("data", [b"{not json", b"[]", b'{"images": [], "categories": [{}]}',
                                  b'{"images": [], "categories": [{"id": 1, "w": NaN}]}',
                                  b"[" * 100_000, b"\xff\xfe{"])
def test_an_unusable_coco_document_is_one_line(data: bytes) -> None:
    with pytest.raises(DatasetLayoutError, match=r"^a\.json: ") as caught:
        read_coco(data, "a.json")
    assert "\n" not in str(caught.value)


# --- YOLO ----------------------------------------------------------------------------------------

def _spec_yolo(text: str) -> list[tuple[int, list[float]]]:
    """A reader written from Ultralytics' description of the format, independently of expand's:
    'one row per object: class x_center y_center width height', or 'class x1 y1 x2 y2 ... xn yn'
    for segments; coordinates normalised to 0..1; class indices from 0."""
    rows = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        fields = line.split(" ")
        assert fields[0].isdigit()
        values = [float(field) for field in fields[1:]]
        assert len(values) == 4 or (len(values) >= 6 and len(values) % 2 == 0)
        assert all(0.0 <= value <= 1.0 for value in values)
        rows.append((int(fields[0]), values))
    return rows


def test_yolo_text_is_read_by_a_reader_written_to_the_specification() -> None:
    size = (64, 48)
    targets = ImageTargets(objects=(
        Target(category=0, box=(16.0, 12.0, 48.0, 36.0)),
        Target(category=3, box=(8.0, 4.0, 40.0, 28.0),
               polygons=((8.0, 4.0, 40.0, 16.0, 24.0, 28.0),)),
        Target(category=1, box=(-6.0, 40.0, 20.0, 60.0)),  # past the frame: clamped
        Target(category=2, box=(-2.0, 10.0, 30.0, 50.0),
               polygons=((-2.0, 10.0, 30.0, 50.0, 30.0, 10.0),)),
    ))
    text = yolo_text(targets, size)
    assert text.endswith("\n") and text.count("\n") == 4
    rows = _spec_yolo(text)
    assert [category for category, _ in rows] == [0, 3, 1, 2]
    assert rows[0][1] == [0.5, 0.5, 0.5, 0.5]
    assert rows[1][1] == pytest.approx([8 / 64, 4 / 48, 40 / 64, 16 / 48, 24 / 64, 28 / 48],
                                       abs=1e-6)
    assert rows[2][1] == pytest.approx([10 / 64, 44 / 48, 20 / 64, 8 / 48], abs=1e-6)
    assert rows[3][1] == pytest.approx([0, 10 / 48, 30 / 64, 1, 30 / 64, 10 / 48], abs=1e-6)
    assert all(len(word.split(".")[1]) == 6 for word in text.split() if "." in word)
    assert yolo_text(ImageTargets(), size) == ""
    mirrored = Target(category=0, box=(-0.0, 0.0, 8.0, 8.0),
                      polygons=((-0.0, -0.0, 8.0, 0.0, 8.0, 8.0),))  # as a flip may leave it
    assert "-" not in yolo_text(ImageTargets(objects=(mirrored,)), size)


def test_yolo_round_trips_through_its_reader() -> None:
    size = (64, 48)
    targets = ImageTargets(objects=(
        Target(category=2, box=(1.5, 2.25, 60.0, 47.0)),
        Target(category=0, box=(8.0, 4.0, 40.0, 28.0),
               polygons=((8.0, 4.0, 40.0, 16.0, 24.0, 28.0),)),
    ))
    read = read_yolo(yolo_text(targets, size), "labels/x.txt", size)
    assert [target.category for target in read.objects] == [2, 0]
    assert read.objects[0].box == pytest.approx(targets.objects[0].box, abs=1e-4)
    assert read.objects[0].polygons == ()
    assert read.objects[1].polygons[0] == pytest.approx(targets.objects[1].polygons[0], abs=1e-4)
    assert read.objects[1].box == pytest.approx((8.0, 4.0, 40.0, 28.0), abs=1e-4)


def test_yolo_reads_blank_lines_an_empty_file_and_a_small_overshoot() -> None:
    assert read_yolo("", "labels/x.txt", (10, 10)) == ImageTargets()
    text = "\ufeff\n0 0.5 0.5 0.2 0.4\r\n\n  \n4 1.004 0.5 0.2 1.005\n"
    read = read_yolo(text, "labels/x.txt", (100, 50))
    assert read.objects[0] == Target(category=0, box=(40.0, 15.0, 60.0, 35.0))
    assert read.objects[1].category == 4
    assert read.objects[1].box == pytest.approx((90.4, 0.0, 100.0, 50.0))  # clipped to the frame


@pytest.mark.parametrize(("line", "what"), [
    ("0 0.5 0.5 0.2", "4 values"),
    ("0 0.1 0.1 0.2 0.2 0.3", "6 values"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4", "8 values"),
    ("0 0.5 x 0.2 0.2", "'x' is not a number"),
    ("cat 0.5 0.5 0.2 0.2", "'cat' is not a number"),
    ("0 0.5 nan 0.2 0.2", "not a finite number"),
    ("-1 0.5 0.5 0.2 0.2", "class '-1' is not a non-negative integer"),
    ("1.5 0.5 0.5 0.2 0.2", "class '1.5' is not a non-negative integer"),
    ("0 0.5 0.5 1.2 0.2", "coordinate 1.2 is outside 0..1"),
    ("0 320 240 64 48", "coordinate 320 is outside 0..1"),
    ("0 0.5 0.5 0 0.2", "zero-size box"),
    ("0 0.1 0.1 0.5 0.1 0.9 0.1", "zero-size polygon"),
])
def test_a_malformed_yolo_line_is_one_line_naming_file_and_line(line: str, what: str) -> None:
    text = f"0 0.5 0.5 0.2 0.2\n\n{line}\n1 0.5 0.5 0.2 0.2\n"
    with pytest.raises(AnnotationError) as caught:
        read_yolo(text, "labels/a/b.txt", (64, 48))
    message = str(caught.value)
    assert message.startswith("labels/a/b.txt:3: ") and what in message and "\n" not in message


# --- semantic masks ------------------------------------------------------------------------------

def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_label_pngs_round_trip_8_and_16_bit() -> None:
    eight = np.random.default_rng(1).integers(0, 256, (13, 17), dtype=np.uint8)
    sixteen = np.random.default_rng(2).integers(0, 65536, (9, 11), dtype=np.uint16)
    sixteen[0, 0], sixteen[0, 1] = 65535, 256  # values that 8 bits would lose
    for label in (eight, sixteen):
        data = label_png(label)
        read = read_label_png(data, "masks/x.png")
        assert read.dtype == label.dtype and np.array_equal(read, label)
        assert label_png(read) == data  # a label written again: the same bytes
    # written by another tool (Pillow, 16-bit): read as its values
    other = read_label_png(_png(Image.fromarray(sixteen)), "masks/y.png")
    assert other.dtype == np.uint16 and np.array_equal(other, sixteen)


def test_a_palette_label_is_read_as_its_indices_and_keeps_its_palette() -> None:
    indices = np.zeros((10, 12), np.uint8)
    indices[2:6, 3:9] = 15
    indices[7:, :] = 255  # VOC's "void"
    image = Image.frombytes("P", (12, 10), indices.tobytes())
    palette = bytes(value for i in range(256) for value in (i, 255 - i, (7 * i) % 256))
    image.putpalette(palette)
    data = _png(image)
    read = read_label_png(data, "masks/voc.png")
    assert read.dtype == np.uint8 and np.array_equal(read, indices)
    kept = label_palette(data, "masks/voc.png")
    assert kept == palette
    written = Image.open(io.BytesIO(label_png(read, kept)))
    assert written.mode == "P" and np.array_equal(np.asarray(written), indices)
    assert written.palette is not None and bytes(written.palette.tobytes()) == palette
    assert label_palette(label_png(read), "x.png") is None


@pytest.mark.parametrize(("image", "what"), [
    (Image.new("RGB", (4, 4)), "mode RGB"),
    (Image.new("LA", (4, 4)), "mode LA"),
])
def test_a_colour_label_png_is_refused_in_one_line(image: Image.Image, what: str) -> None:
    with pytest.raises(AnnotationError, match=f"^masks/a.png: .*{what}"):
        read_label_png(_png(image), "masks/a.png")


def test_a_label_that_is_not_a_png_is_refused() -> None:
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="JPEG")
    with pytest.raises(AnnotationError, match="must be a PNG, found JPEG"):
        read_label_png(buffer.getvalue(), "masks/a.png")
    with pytest.raises(AnnotationError, match="^masks/a.png: not a readable PNG"):
        read_label_png(b"\x89PNG\r\n\x1a\n garbage", "masks/a.png")


def test_masks_pair_with_their_images_by_name(tmp_path: Path) -> None:
    """images/<folders>/<stem>.<ext> pairs with masks/<folders>/<stem>.png, sources and
    outputs alike."""
    src = tmp_path / "src"
    labels = {"images/train/a.jpg": np.full((6, 8), 3, np.uint16),
              "images/train/deep/b.png": np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000,
              "images/val/c.jpeg": np.eye(6, 8, dtype=np.uint16) * 300}
    for image_rel, label in labels.items():
        (src / image_rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 6)).save(src / image_rel)
        mask_rel = label_file_for(Layout.MASKS, image_rel)
        assert mask_rel is not None
        (src / mask_rel).parent.mkdir(parents=True, exist_ok=True)
        (src / mask_rel).write_bytes(label_png(label))
    assert detect_layout(src, None) is Layout.MASKS
    images = sorted(path.relative_to(src).as_posix() for path in (src / "images").rglob("*.*"))
    masks = sorted(path.relative_to(src).as_posix() for path in (src / "masks").rglob("*.png"))
    assert masks == ["masks/train/a.png", "masks/train/deep/b.png", "masks/val/c.png"]
    for image_rel in images:
        mask_rel = label_file_for(Layout.MASKS, image_rel)
        assert mask_rel is not None
        read = read_label_png((src / mask_rel).read_bytes(), mask_rel)
        assert np.array_equal(read, labels[image_rel]) and read.dtype == np.uint16
        assert read.shape == Image.open(src / image_rel).size[::-1]
    assert label_file_for(Layout.MASKS, "images/train/a.jpg__aug0003.jpg") == \
        "masks/train/a.jpg__aug0003.png"


# --- layouts -------------------------------------------------------------------------------------

def test_label_file_for_each_layout() -> None:
    assert label_file_for(Layout.YOLO, "images/a/b.jpg") == "labels/a/b.txt"
    assert label_file_for(Layout.YOLO, "images/b.jpg__aug0003.jpg") == "labels/b.jpg__aug0003.txt"
    assert label_file_for(Layout.YOLO, "images/train/x.y.png") == "labels/train/x.y.txt"
    assert label_file_for(Layout.MASKS, "images/a/b.jpg") == "masks/a/b.png"
    assert label_file_for(Layout.COCO, "images/a/b.jpg") is None
    assert label_file_for(Layout.CLASSES, "cats/b.jpg") is None
    with pytest.raises(ValueError, match="not inside images/"):
        label_file_for(Layout.YOLO, "cats/b.jpg")


def _tree(root: Path, *files: str) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"{}" if name.endswith(".json") else b"")
    return root


def test_detect_layout_by_folders(tmp_path: Path) -> None:
    assert detect_layout(_tree(tmp_path / "c", "cats/a.png", "dogs/b.png"), None) is Layout.CLASSES
    assert detect_layout(_tree(tmp_path / "y", "images/a.png", "labels/a.txt"), None) is Layout.YOLO
    assert detect_layout(_tree(tmp_path / "m", "images/a.png", "masks/a.png"), None) is Layout.MASKS
    top = _tree(tmp_path / "t", "images/a.png", "instances.json")
    assert detect_layout(top, None) is Layout.COCO
    nested = _tree(tmp_path / "n", "images/a.png", "annotations/instances_train.json")
    assert detect_layout(nested, None) is Layout.COCO
    # an expand output as SRC: annotations.json wins over run.json
    output = _tree(tmp_path / "o", "images/a.png", "annotations.json", "run.json")
    assert detect_layout(output, None) is Layout.COCO
    # images/ alone is a class folder named images
    assert detect_layout(_tree(tmp_path / "i", "images/a.png"), None) is Layout.CLASSES
    # asked: classes fits anything
    assert detect_layout(tmp_path / "y", Layout.CLASSES) is Layout.CLASSES
    assert detect_layout(tmp_path / "y", Layout.YOLO) is Layout.YOLO


@pytest.mark.parametrize(("files", "asked", "what"), [
    (("images/a.png", "labels/a.txt", "masks/a.png"), None,
     "both labels/ and masks/: say --layout yolo or --layout masks"),
    (("images/a.png", "a.json", "b.json"), None,
     r"several JSON files \(a\.json, b\.json\)"),
    (("images/a.png", "masks/a.png"), Layout.YOLO, "--layout yolo: .* has images/ but no labels/"),
    (("images/a.png", "labels/a.txt"), Layout.MASKS, "has images/ but no masks/"),
    (("images/a.png", "labels/a.txt"), Layout.COCO, r"has images/ but no COCO JSON \(at its top or in annotations/\)"),
    (("cats/a.png", "labels/a.txt"), Layout.YOLO, "has no images/ folder"),
])
def test_detect_layout_says_what_is_missing(tmp_path: Path, files: tuple[str, ...],
                                            asked: Layout | None, what: str) -> None:
    with pytest.raises(DatasetLayoutError, match=what) as caught:
        detect_layout(_tree(tmp_path / "src", *files), asked)
    assert "\n" not in str(caught.value)
