"""YOLO label files (Ultralytics' format): one object a line, `class cx cy w h` (a box) or
`class x1 y1 x2 y2 ...` (a polygon of at least 3 points), every coordinate normalised to 0..1 by
the image's width or height; blank lines are allowed and a missing file means no objects.

Sizes are (width, height), as the image's. Reading allows coordinates up to `OVERSHOOT` outside
0..1 (exporters round, and a box may touch the frame) and clips them into the frame; anything
further out is an error, as in Ultralytics' own label check."""

from __future__ import annotations

import math

from expand.annotations import ImageTargets, Target
from expand.errors import AnnotationError

#: How far outside 0..1 a normalised coordinate may be (a fraction of the side) before the line is
#: refused: rounding and boxes that touch the frame stay, coordinates of another size do not.
OVERSHOOT = 0.01


def read_yolo(text: str, where: str, size: tuple[int, int]) -> ImageTargets:
    """The objects of a YOLO label file, in pixels of an image of `size` (width, height).

    Raises:
        AnnotationError: "`where`:line: what is wrong" on the first malformed line.
    """
    objects: list[Target] = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        words = line.split()
        if words:
            try:
                objects.append(_object(words, size))
            except ValueError as error:
                raise AnnotationError(f"{where}:{number}: {error}") from None
    return ImageTargets(objects=tuple(objects))


def _object(words: list[str], size: tuple[int, int]) -> Target:
    count = len(words)
    if count != 5 and (count < 7 or count % 2 == 0):
        raise ValueError(f"{count} values; a line is 'class cx cy w h' (5 values) or 'class x1 y1 "
                         "x2 y2 x3 y3 ...' (a polygon of at least 3 points: an odd count >= 7)")
    numbers = []
    for word in words:
        try:
            value = float(word)
        except ValueError:
            raise ValueError(f"{word!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{word!r} is not a finite number")
        numbers.append(value)
    category = numbers[0]
    if category < 0 or category != int(category):
        raise ValueError(f"class {words[0]!r} is not a non-negative integer")
    values = numbers[1:]
    for word, value in zip(words[1:], values):
        if not -OVERSHOOT <= value <= 1 + OVERSHOOT:
            raise ValueError(f"coordinate {word} is outside 0..1 (not normalised?)")
    width, height = size
    if count == 5:
        cx, cy, w, h = values
        if w <= 0 or h <= 0:
            raise ValueError("zero-size box (width or height is 0)")
        x0, x1 = _clip(cx - w / 2) * width, _clip(cx + w / 2) * width
        y0, y1 = _clip(cy - h / 2) * height, _clip(cy + h / 2) * height
        if x1 <= x0 or y1 <= y0:
            raise ValueError("zero-size box once clipped to the image")
        return Target(category=int(category), box=(x0, y0, x1, y1))
    xs = [_clip(value) * width for value in values[0::2]]
    ys = [_clip(value) * height for value in values[1::2]]
    if max(xs) <= min(xs) or max(ys) <= min(ys):
        raise ValueError("zero-size polygon (its points lie on one row or column)")
    ring = tuple(coordinate for point in zip(xs, ys) for coordinate in point)
    return Target(category=int(category), box=(min(xs), min(ys), max(xs), max(ys)),
                  polygons=(ring,))


def _clip(value: float) -> float:
    return min(max(value, 0.0), 1.0) + 0.0  # + 0.0: -0.0 would be written "-0.000000"


def yolo_text(targets: ImageTargets, size: tuple[int, int]) -> str:
    """A YOLO label file of `targets` on an image of `size` (width, height): a box line for a
    box-only object, a polygon line for one with polygons (several rings are joined in order into
    one, as YOLO holds one polygon a line), 6 decimals, clamped to 0..1. No objects: "".
    Rings of fewer than 3 points are left out: a 2-point line would read as a box."""
    width, height = size
    lines = []
    for target in targets.objects:
        rings = [ring for ring in target.polygons if len(ring) >= 6]
        if rings:
            points = [coordinate / (width if i % 2 == 0 else height)
                      for ring in rings for i, coordinate in enumerate(ring)]
        else:
            x0, y0, x1, y1 = (_clip(target.box[0] / width), _clip(target.box[1] / height),
                              _clip(target.box[2] / width), _clip(target.box[3] / height))
            points = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
        lines.append(" ".join([str(target.category), *(f"{_clip(v):.6f}" for v in points)]))
    return "".join(line + "\n" for line in lines)
