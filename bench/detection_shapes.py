"""A synthetic detection and segmentation dataset whose truth is known exactly: filled circles,
rectangles (some rotated) and triangles of distinct colours on a textured background, written
as YOLO, COCO or semantic masks, with each shape's true polygon, box and category returned.

    python -m bench.detection_shapes OUT --layout yolo|coco|masks [--count 20] [--size 256x192]
        [--seed 0] [--format png|jpeg] [--splits train,val]

Coordinates are continuous pixel coordinates (COCO's, expand.annotations): the image spans
[0, W] x [0, H]. A shape's pixels are exactly the pixels whose centre lies inside its true
polygon (`rasterise`), painted hard-edged, so an image, its masks and its polygons agree to the
pixel. Shapes never overlap and stay 1 px inside the frame: every object is whole and visible.
The same seed gives the same images and shapes in every layout (only the label files differ) and
the same bytes on every run. Categories are 0-based (YOLO's class ids); COCO's category_id is
category + 1, and a semantic label PNG holds category + 1 inside a shape, 0 elsewhere.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from expand.annotations import Layout

NAMES = ("circle", "rectangle", "triangle")
CIRCLE_POINTS = 48
#: distinct fills, far from the grey background and from black (a constant fill) (RGB)
COLOURS = ((230, 40, 40), (40, 200, 60), (50, 80, 230), (240, 220, 30), (200, 40, 210),
           (30, 210, 220), (250, 140, 20), (250, 250, 250))
EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}


@dataclass(frozen=True)
class TrueShape:
    """One shape as drawn: its exact outline and how its layout's label file states it."""

    category: int  # 0 circle, 1 rectangle, 2 triangle
    #: the true outline, a flat ring (x, y, x, y, ...) in continuous pixel coordinates
    polygon: tuple[float, ...]
    box: tuple[float, float, float, float]  # x0, y0, x1, y1: the polygon's bounds
    colour: tuple[int, int, int]  # RGB fill
    #: "box" or "polygon" (YOLO, COCO), "rle" or "rle-uncompressed" (COCO), "mask" (masks)
    written_as: str


def rasterise(polygon: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels whose centre (j + 0.5, i + 0.5) lies inside the ring (even-odd)."""
    width, height = size
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    mask = np.zeros((height, width), dtype=bool)
    if x1 <= x0 or y1 <= y0:
        return mask
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for (ax, ay), (bx, by) in zip(points, np.roll(points, -1, axis=0)):
        if ay == by:
            continue  # a horizontal edge crosses no horizontal ray
        crosses = (ay > ys) != (by > ys)  # (rows, 1)
        at = ax + (ys - ay) * (bx - ax) / (by - ay)  # the edge's x on each row
        inside ^= crosses & (xs < at)
    mask[y0:y1, x0:x1] = inside
    return mask


def _outline(category: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 2) points around the origin, at most `radius` from it."""
    if category == 0:
        angles = np.linspace(0.0, 2 * math.pi, CIRCLE_POINTS, endpoint=False)
        return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if category == 1:
        half_w = radius * rng.uniform(0.5, 0.95)
        half_h = math.sqrt(radius ** 2 - half_w ** 2) * rng.uniform(0.5, 1.0)
        corners = np.array([(-half_w, -half_h), (half_w, -half_h), (half_w, half_h),
                            (-half_w, half_h)])
        angle = 0.0 if rng.uniform() < 0.4 else rng.uniform(0.0, math.pi / 2)
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        rotated: np.ndarray = corners @ turn.T
        return rotated
    angles = rng.uniform(0, 2 * math.pi) + np.radians([0, 120, 240] + rng.uniform(-25, 25, 3))
    radii = radius * rng.uniform(0.7, 1.0, 3)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _shapes(rng: np.random.Generator, size: tuple[int, int]) -> list[tuple[int, np.ndarray]]:
    """1-4 (category, (N, 2) polygon) that do not overlap (boxes 2 px apart), 1 px inside."""
    width, height = size
    wanted = int(rng.integers(1, 5))
    placed: list[tuple[int, np.ndarray]] = []
    boxes: list[np.ndarray] = []
    short = min(width, height)
    for _ in range(wanted * 20):
        if len(placed) == wanted:
            break
        category = int(rng.integers(0, len(NAMES)))
        radius = rng.uniform(0.08, 0.24) * short
        outline = _outline(category, max(radius, 4.0), rng)
        low, high = outline.min(axis=0), outline.max(axis=0)
        if np.any(high - low > np.array([width, height]) - 2.0):
            continue
        centre = rng.uniform(1.0 - low, np.array([width, height]) - 1.0 - high)
        polygon = outline + centre
        box = np.concatenate([polygon.min(axis=0), polygon.max(axis=0)])
        if any(box[0] < b[2] + 2 and b[0] < box[2] + 2 and box[1] < b[3] + 2
               and b[1] < box[3] + 2 for b in boxes):
            continue
        placed.append((category, polygon))
        boxes.append(box)
    return placed


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a mid-grey gradient with ripples and noise, no saturated colour."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(100, 150)
    angle, wave = rng.uniform(0, math.pi), rng.uniform(4, 16)
    ripple = 12 * np.sin((np.cos(angle) * xx + np.sin(angle) * yy) / wave)
    tint = rng.uniform(-10, 10, 3).astype(np.float32)
    noise = rng.normal(0, 8, (height, width, 3)).astype(np.float32)
    image = base + ripple[..., None] + tint + noise + 20 * (xx / width)[..., None]
    pixels: np.ndarray = np.clip(image, 0, 255).astype(np.uint8)
    return pixels


def _written_as(layout: Layout, draw: float) -> str:
    """How a layout's label file states a shape, from one uniform draw made in every layout."""
    if layout is Layout.YOLO:
        return "box" if draw < 0.25 else "polygon"
    if layout is Layout.COCO:
        if draw < 0.2:
            return "box"
        if draw < 0.3:
            return "rle"
        if draw < 0.4:
            return "rle-uncompressed"
        return "polygon"
    return "mask"


def _flat(polygon: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in polygon.reshape(-1))


def _yolo_line(shape: TrueShape, size: tuple[int, int]) -> str:
    width, height = size
    if shape.written_as == "box":
        x0, y0, x1, y1 = shape.box
        values = [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width,
                  (y1 - y0) / height]
    else:
        values = [v / (width if k % 2 == 0 else height) for k, v in enumerate(shape.polygon)]
    return " ".join([str(shape.category), *(f"{v:.6f}" for v in values)])


def uncompressed_rle(mask: np.ndarray) -> dict[str, object]:
    """COCO's uncompressed RLE: run lengths of 0s then 1s, alternating, in column-major order."""
    flat = mask.T.reshape(-1)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)  # the counts start with a run of 0s, here empty
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def _coco_annotation(shape: TrueShape, size: tuple[int, int]) -> dict[str, object]:
    from pycocotools import mask as mask_utils  # a bench dependency, absent from expand

    x0, y0, x1, y1 = shape.box
    entry: dict[str, object] = {"category_id": shape.category + 1, "iscrowd": 0,
                                "bbox": [x0, y0, x1 - x0, y1 - y0]}
    points = np.asarray(shape.polygon).reshape(-1, 2)
    if shape.written_as == "box":
        entry["area"] = (x1 - x0) * (y1 - y0)
    elif shape.written_as == "polygon":
        entry["segmentation"] = [list(shape.polygon)]
        shoelace = np.dot(points[:, 0], np.roll(points[:, 1], -1)) \
            - np.dot(points[:, 1], np.roll(points[:, 0], -1))
        entry["area"] = abs(float(shoelace)) / 2
    else:
        mask = rasterise(shape.polygon, size)
        entry["area"] = int(mask.sum())
        if shape.written_as == "rle":
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            entry["segmentation"] = {"size": [int(v) for v in rle["size"]],
                                     "counts": rle["counts"].decode("ascii")}
        else:
            entry["segmentation"] = uncompressed_rle(mask)
    return entry


def _image(rng: np.random.Generator, layout: Layout, size: tuple[int, int]
           ) -> tuple[np.ndarray, list[TrueShape]]:
    image = _background(rng, size)
    shapes: list[TrueShape] = []
    colours = rng.permutation(len(COLOURS))
    for index, (category, polygon) in enumerate(_shapes(rng, size)):
        flat = _flat(polygon)
        low, high = polygon.min(axis=0), polygon.max(axis=0)
        colour = COLOURS[int(colours[index])]
        shape = TrueShape(category, flat, (float(low[0]), float(low[1]), float(high[0]),
                                           float(high[1])), colour,
                          _written_as(layout, float(rng.uniform())))
        image[rasterise(flat, size)] = colour
        shapes.append(shape)
    return image, shapes


def make_dataset(root: Path, layout: Layout, count: int, size: tuple[int, int], seed: int, *,
                 image_format: str = "png", splits: Sequence[str] = ()
                 ) -> dict[str, list[TrueShape]]:
    """Write `count` images of `size` (width, height) and their labels under `root` in `layout`;
    return image path (relative to root, e.g. images/shape_0003.png) -> its shapes, in the
    order the label file lists them. With `splits`, images go round-robin into images/<split>/."""
    if layout is Layout.CLASSES:
        raise ValueError("detection_shapes writes yolo, coco or masks, not class folders")
    extension = EXTENSIONS[image_format]
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if image_format == "jpeg" else []
    rng = np.random.default_rng(seed)
    truth: dict[str, list[TrueShape]] = {}
    coco_images: list[dict[str, object]] = []
    coco_annotations: list[dict[str, object]] = []
    width, height = size
    for index in range(count):
        folder = f"{splits[index % len(splits)]}/" if splits else ""
        rel = f"{folder}shape_{index:04d}"
        image, shapes = _image(rng, layout, size)
        path = root / "images" / f"{rel}{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write {path}")
        truth[f"images/{rel}{extension}"] = shapes
        if layout is Layout.YOLO:
            label = root / "labels" / f"{rel}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(_yolo_line(s, size) + "\n" for s in shapes))
        elif layout is Layout.MASKS:
            labels = np.zeros((height, width), dtype=np.uint8)
            for shape in shapes:
                labels[rasterise(shape.polygon, size)] = shape.category + 1
            label = root / "masks" / f"{rel}.png"
            label.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(label), labels)
        else:
            image_id = index + 1
            coco_images.append({"id": image_id, "file_name": f"{rel}{extension}",
                                "width": width, "height": height})
            for shape in shapes:
                coco_annotations.append({"id": len(coco_annotations) + 1, "image_id": image_id,
                                         **_coco_annotation(shape, size)})
    if layout is Layout.YOLO:
        names = "".join(f"  {k}: {name}\n" for k, name in enumerate(NAMES))
        (root / "data.yaml").write_text(f"path: .\ntrain: images\nval: images\nnames:\n{names}")
    elif layout is Layout.COCO:
        categories = [{"id": k + 1, "name": name, "supercategory": "shape"}
                      for k, name in enumerate(NAMES)]
        document = {"images": coco_images, "annotations": coco_annotations,
                    "categories": categories}
        (root / "annotations.json").write_text(json.dumps(document) + "\n")
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--layout", choices=[l.value for l in Layout if l is not Layout.CLASSES],
                        required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--size", default="256x192", help="WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=sorted(EXTENSIONS), default="png")
    parser.add_argument("--splits", default="", help="comma-separated sub-folders of images/")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    truth = make_dataset(args.out, Layout(args.layout), args.count, (width, height), args.seed,
                         image_format=args.format, splits=[s for s in args.splits.split(",") if s])
    print(f"{len(truth)} images, {sum(len(v) for v in truth.values())} shapes in {args.out}")


if __name__ == "__main__":
    main()
