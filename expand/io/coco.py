"""COCO JSON: read a source document into per-image targets (a bad annotation costs its image, not
the run) and write the output document with ids from the sorted output names, in bytes that
depend only on the targets (fixed key order, coordinates rounded to `DECIMALS`)."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, TypeGuard

from expand.annotations import ImageTargets, Target
from expand.errors import DatasetLayoutError
from expand.io.rle import rle_decode, rle_encode

#: Decimals of written coordinates and areas: a hundredth of a pixel, as COCO's own files.
DECIMALS = 2
#: An RLE mask is decoded only for an image this small: Pillow refuses larger sources anyway, and a
#: document's own width and height would otherwise let it ask for any memory.
MAX_MASK_PIXELS = 2 * 89_478_485


@dataclass(frozen=True)
class CocoSource:
    """What a source COCO document says, per image file name (relative to images/)."""

    categories: tuple[dict[str, Any], ...]  # verbatim: the output keeps them as they are
    #: file_name -> (width, height, targets), for the images whose every annotation is usable
    images: Mapping[str, tuple[int, int, ImageTargets]] = field(default_factory=dict)
    #: one line each, naming the file and the image or annotation id
    problems: tuple[str, ...] = ()
    #: file_name -> the first problem of that image: it is not in `images`, the run skips it
    rejected: Mapping[str, str] = field(default_factory=dict)


def read_coco(data: bytes, where: str) -> CocoSource:
    """The images, targets and categories of a COCO document read from `where`.

    Raises:
        DatasetLayoutError: the document as a whole is unusable (not JSON, no images list,
            malformed categories): no image of it could be trusted.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:  # RecursionError: nested without end
        raise DatasetLayoutError(f"{where}: not a JSON document ({error})") from None
    return coco_source(document, where)


def coco_source(document: Any, where: str) -> CocoSource:
    """read_coco of a document already parsed (a manifest row's annotations are checked by the
    same rules without a trip through JSON text).

    Raises:
        DatasetLayoutError: as read_coco.
    """
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DatasetLayoutError(f"{where}: not a COCO document (no 'images' list)")
    annotations = document.get("annotations", [])
    categories = document.get("categories", [])
    if not isinstance(annotations, list):
        raise DatasetLayoutError(f"{where}: 'annotations' is not a list")
    if not isinstance(categories, list) or not all(
            isinstance(category, dict) and _is_int(category.get("id")) for category in categories):
        raise DatasetLayoutError(f"{where}: 'categories' is not a list of objects with an integer "
                                 "'id'")
    try:  # they are written out verbatim, and the output is strict JSON
        json.dumps(categories, allow_nan=False)
    except ValueError:
        raise DatasetLayoutError(f"{where}: 'categories' hold NaN or Infinity") from None
    category_ids = frozenset(category["id"] for category in categories)

    problems: list[str] = []
    rejected: dict[str, str] = {}
    by_id: dict[object, tuple[str, int, int]] = {}
    names: set[str] = set()
    for number, image in enumerate(document["images"], start=1):
        label = f"image {image.get('id')!r}" if isinstance(image, dict) else f"image #{number}"
        try:
            image_id, name, width, height = _image(image, names, by_id)
        except ValueError as error:
            line = f"{where}: {label}: {error}"
            problems.append(line)
            named = image.get("file_name") if isinstance(image, dict) else None
            if isinstance(named, str) and named:
                rejected.setdefault(PurePosixPath(named).as_posix(), line)
            continue
        names.add(name)
        by_id[image_id] = (name, width, height)

    objects: dict[str, list[Target]] = {name: [] for name, _, _ in by_id.values()}
    for number, annotation in enumerate(annotations, start=1):
        ann_id = annotation.get("id") if isinstance(annotation, dict) else None
        label = f"annotation {ann_id!r}" if ann_id is not None else f"annotation #{number}"
        if not isinstance(annotation, dict) or annotation.get("image_id") not in by_id:
            problems.append(f"{where}: {label}: its image_id names no image of the document")
            continue
        name, width, height = by_id[annotation["image_id"]]
        try:
            objects[name].append(_target(annotation, (width, height), category_ids))
        except ValueError as error:
            line = f"{where}: {label} (image {_shown(name)}): {error}"
            problems.append(line)
            rejected.setdefault(name, line)

    images = {name: (width, height, ImageTargets(objects=tuple(objects[name])))
              for name, width, height in by_id.values() if name not in rejected}
    return CocoSource(categories=tuple(categories), images=images, problems=tuple(problems),
                      rejected=rejected)


def _shown(name: str) -> str:
    """A file name in a problem line: as it is, or quoted and escaped if it would break the line."""
    return name if name.isprintable() else repr(name)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(values: list[Any]) -> bool:
    """Finite ints and floats only: JSON's NaN, Infinity and huge integers are no coordinates."""
    if not set(map(type, values)) <= {int, float}:  # type(): True is not a number here
        return False
    try:
        return math.isfinite(math.fsum(values))
    except (OverflowError, ValueError):  # an int beyond a float, inf - inf
        return False


def _image(image: object, names: set[str], by_id: Mapping[object, object]
           ) -> tuple[object, str, int, int]:
    if not isinstance(image, dict):
        raise ValueError("not an object")  # noqa: TRY004  (a file's fault, not a caller's)
    image_id, name = image.get("id"), image.get("file_name")
    width, height = image.get("width"), image.get("height")
    if not (_is_int(image_id) or isinstance(image_id, str)):
        raise ValueError("no integer 'id'")
    if image_id in by_id:
        raise ValueError("a second image with this id")
    if not isinstance(name, str) or not name:
        raise ValueError("no 'file_name'")
    path = PurePosixPath(name)  # "./a.jpg" and "a//b.jpg" name a.jpg and a/b.jpg
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in name:
        raise ValueError(f"file_name {name!r} is not a path inside images/")
    name = path.as_posix()
    if name in names:
        raise ValueError(f"a second image named {name!r}")
    if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
        raise ValueError("'width' and 'height' are not positive integers")
    return image_id, name, width, height


def _target(annotation: dict[str, Any], size: tuple[int, int], category_ids: frozenset[int]
            ) -> Target:
    category = annotation.get("category_id")
    if not _is_int(category) or category not in category_ids:
        raise ValueError(f"category_id {category!r} is not one of the categories")
    bbox = annotation.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and _numbers(bbox)):
        raise ValueError("'bbox' is not [x, y, width, height]")
    x, y, w, h = (float(value) for value in bbox)
    if w <= 0 or h <= 0:
        raise ValueError("zero-size box (width or height is 0)")
    crowd = annotation.get("iscrowd", 0)
    if crowd not in (0, 1):
        raise ValueError(f"iscrowd {crowd!r} is neither 0 nor 1")
    segmentation = annotation.get("segmentation", [])
    polygons: tuple[tuple[float, ...], ...] = ()
    mask = None
    if isinstance(segmentation, dict):
        width, height = size
        # Before decoding: a size of its own would let a few bytes of counts ask for any memory.
        if segmentation.get("size") != [height, width]:
            raise ValueError(f"RLE size {segmentation.get('size')!r} is not the image's "
                             f"[{height}, {width}]")
        if width * height > MAX_MASK_PIXELS:
            raise ValueError(f"an RLE mask of {width} x {height} pixels, larger than an image "
                             "that can be read")
        mask = rle_decode(segmentation)  # its ValueError says what is wrong
    elif isinstance(segmentation, list):
        for ring in segmentation:
            if not (isinstance(ring, list) and len(ring) >= 6 and len(ring) % 2 == 0
                    and _numbers(ring)):
                raise ValueError("a polygon is not a flat list of at least 3 x, y points")
        polygons = tuple(tuple(map(float, ring)) for ring in segmentation)
    else:
        raise ValueError(  # noqa: TRY004  (a file's fault, not a caller's)
            "'segmentation' is neither a list of polygons nor an RLE object")
    return Target(category=category, box=(x, y, x + w, y + h), polygons=polygons, mask=mask,
                  iscrowd=bool(crowd))


def _round(value: float) -> float:
    return round(value, DECIMALS) + 0.0  # + 0.0: no "-0.0" in the file


def polygon_area(ring: Sequence[float]) -> float:
    """The area of a flat ring (x, y, x, y, ...), by the shoelace formula."""
    xs, ys = ring[0::2], ring[1::2]
    twice = sum(xs[i - 1] * ys[i] - xs[i] * ys[i - 1] for i in range(len(xs)))
    return abs(twice) / 2


def coco_annotation(target: Target) -> dict[str, Any]:
    """`target` as a COCO annotation, without id and image_id (coco_document gives them):
    polygons when it has them, else its mask as RLE (compressed counts), else the box only; area
    = the polygons' area, the mask's pixel count, or the box's area. Rings of fewer than 3 points
    are left out: pycocotools reads a ring of 2 points as a box."""
    x0, y0, x1, y1 = target.box
    rings = [ring for ring in target.polygons if len(ring) >= 6]
    segmentation: Any
    if rings:
        segmentation = [[_round(value) for value in ring] for ring in rings]
        area = sum(polygon_area(ring) for ring in rings)
    elif target.mask is not None:
        segmentation = rle_encode(target.mask)
        area = int(target.mask.sum())
    else:
        segmentation = []
        area = (x1 - x0) * (y1 - y0)
    return {
        "category_id": target.category,
        "bbox": [_round(x0), _round(y0), _round(x1 - x0), _round(y1 - y0)],
        "area": area if isinstance(area, int) else _round(area),
        "iscrowd": int(target.iscrowd),
        "segmentation": segmentation,
    }


def coco_document(categories: Sequence[Mapping[str, Any]],
                  images: Sequence[tuple[str, int, int, Sequence[Mapping[str, Any]]]]) -> bytes:
    """The output COCO document: `images` are (file_name, width, height, its coco_annotation
    dicts); image ids 1.. follow the sorted file names, annotation ids 1.. follow the images in
    that order and each image's annotations in theirs; categories are kept verbatim.

    Raises:
        ValueError: two images with one file name.
    """
    ordered = sorted(images, key=lambda image: image[0])
    for before, after in itertools.pairwise(ordered):
        if before[0] == after[0]:
            raise ValueError(f"two output images are named {before[0]!r}")
    image_rows: list[dict[str, Any]] = []
    annotation_rows: list[dict[str, Any]] = []
    for image_id, (name, width, height, objects) in enumerate(ordered, start=1):
        image_rows.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for annotation in objects:
            annotation_rows.append({"id": len(annotation_rows) + 1, "image_id": image_id,
                                    **{key: value for key, value in annotation.items()
                                       if key not in ("id", "image_id")}})
    document = {"images": image_rows, "annotations": annotation_rows,
                "categories": [dict(category) for category in categories]}
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("ascii")
