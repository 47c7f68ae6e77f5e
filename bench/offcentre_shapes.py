"""Draw the procedural off-centre test set of issue 23: small, off-centre, skewed shapes, 24x24.

Like the one other person's drawings the issue measured: closed outlines in one solid stroke
(1-2.2 px), placed small (about 30-60 % of the frame) anywhere in it, rotated, sheared and
stretched. The outline is bench/hard_shapes.py's (nothing comes from `expand`); that set
also has dashed, doubled and open strokes, which this one leaves out.

    python bench/offcentre_shapes.py OUT [--per-class 100] [--seed 23]

Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.hard_shapes import CLASSES, SCALE, SIZE, _outline, set_main

Points = list[tuple[float, float]]


def _place(points: Points, shape: str, rng: np.random.Generator) -> tuple[Points, float]:
    """Stretch, shear, rotate and shrink the outline, then put it anywhere in the frame (px)."""
    aspect = rng.uniform(0.7, 1.4)
    shear = rng.uniform(-0.45, 0.45)
    angle = rng.uniform(-np.pi, np.pi)
    radius = rng.uniform(3.5, 7.0)
    moved = []
    for x, y in points:
        x, y = x * aspect + shear * y / aspect, y / aspect
        moved.append(((x * np.cos(angle) - y * np.sin(angle)) * radius,
                      (x * np.sin(angle) + y * np.cos(angle)) * radius))
    margin = 1.5
    xs, ys = zip(*moved)
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    if span > 0.95 * (SIZE - 2 * margin):  # a long, stretched shape: shrink it to fit
        fit = 0.95 * (SIZE - 2 * margin) / span
        moved, radius = [(x * fit, y * fit) for x, y in moved], radius * fit
        xs, ys = zip(*moved)
    cx = rng.uniform(margin - min(xs), SIZE - margin - max(xs))
    cy = rng.uniform(margin - min(ys), SIZE - margin - max(ys))
    return [(x + cx, y + cy) for x, y in moved], radius


def draw(shape: str, rng: np.random.Generator) -> Image.Image:
    """One off-centre example of `shape`: 24x24 RGB, a dark closed stroke on light paper."""
    path, radius = _place(_outline(shape, rng), shape, rng)
    path = path + path[:2]
    paper = int(rng.integers(235, 256))
    image = Image.new("RGB", (SIZE * SCALE, SIZE * SCALE), (paper,) * 3)
    width = float(rng.uniform(1.0, min(2.2, radius / 3)))
    ink = int(rng.integers(0, 80))
    ImageDraw.Draw(image).line([(x * SCALE, y * SCALE) for x, y in path], fill=(ink,) * 3,
                               width=max(1, round(width * SCALE)), joint="curve")
    return image.resize((SIZE, SIZE), Image.Resampling.BOX)


def write_set(out: Path, per_class: int, seed: int) -> None:
    """OUT/<class>/<class>NNN.png for the three classes."""
    for index, shape in enumerate(CLASSES):
        (out / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(shape, np.random.default_rng([seed, index, i])).save(
                out / shape / f"{shape}{i:03d}.png")


def main() -> int:
    return set_main(__doc__.splitlines()[0], write_set, seed=23)

if __name__ == "__main__":
    sys.exit(main())
