"""Draw a harder 24x24 test set of circles, rectangles and triangles, independently of `expand`.

The tutorial's images are one person's large, centred, upright shapes in ~2 px black strokes.
These are drawn by other rules: smaller, off-centre, rotated, skewed (sheared and stretched),
with thin, thick, dashed or sketchy double strokes in grey or black ink, sometimes left open.
Plain PIL + numpy, drawn 8x larger and reduced (soft edges like a pen); nothing comes from
`expand`, so a model cannot do well here just by having seen expand's own transforms.

    python bench/hard_shapes.py OUT [--per-class 100] [--seed 0]

Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 24
SCALE = 8
CLASSES = ("circle", "rectangle", "triangle")
STYLES = ("solid", "dashed", "sketchy")

Points = list[tuple[float, float]]


def _outline(shape: str, rng: np.random.Generator) -> Points:
    """A closed outline around the origin, radius about 1, before any placement."""
    if shape == "circle":
        return [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 73)[:-1]]
    if shape == "rectangle":
        h = rng.uniform(0.45, 1.0)
        corners = [(-1.0, -h), (1.0, -h), (1.0, h), (-1.0, h)]
    else:
        angles = np.radians([90, 210, 330] + rng.uniform(-20, 20, size=3))
        radii = rng.uniform(0.8, 1.1, size=3)
        corners = [(r * math.cos(a), -r * math.sin(a)) for a, r in zip(angles, radii)]
    dense: Points = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
        dense += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, 16)[:-1]]
    return dense


def _place(points: Points, shape: str, rng: np.random.Generator) -> tuple[Points, float]:
    """Stretch, shear, rotate, shrink and move the outline into the 24x24 frame (pixels)."""
    aspect = rng.uniform(0.75, 1.3) if shape == "circle" else rng.uniform(0.7, 1.4)
    shear = rng.uniform(-0.45, 0.45)
    angle = math.radians(rng.uniform(-180, 180) if shape == "triangle" else rng.uniform(-45, 45))
    radius = rng.uniform(3.5, 7.5)
    moved = []
    for x, y in points:
        x, y = x * aspect, y / aspect
        x = x + shear * y
        x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
        moved.append((x * radius, y * radius))
    margin = 1.5
    xs, ys = zip(*moved)
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    if span > SIZE - 2 * margin:  # a long, stretched shape: shrink it to fit the frame
        fit = (SIZE - 2 * margin) / span
        moved, radius = [(x * fit, y * fit) for x, y in moved], radius * fit
        xs, ys = zip(*moved)
    cx = rng.uniform(margin - min(xs), SIZE - margin - max(xs))
    cy = rng.uniform(margin - min(ys), SIZE - margin - max(ys))
    return [(x + cx, y + cy) for x, y in moved], radius


def _stroke(draw: ImageDraw.ImageDraw, path: Points, width: float, ink: int, style: str,
            rng: np.random.Generator) -> None:
    big = [(x * SCALE, y * SCALE) for x, y in path]
    pixels = max(1, round(width * SCALE))
    if style == "dashed":
        dash, gap = rng.uniform(2.5, 4.0) * SCALE, rng.uniform(1.0, 1.5) * SCALE
        run, drawing, segment = 0.0, True, [big[0]]
        for a, b in itertools.pairwise(big):
            run += math.dist(a, b)
            segment.append(b)
            if run >= (dash if drawing else gap):
                if drawing:
                    draw.line(segment, fill=(ink,) * 3, width=pixels, joint="curve")
                drawing, run, segment = not drawing, 0.0, [b]
        if drawing and len(segment) > 1:
            draw.line(segment, fill=(ink,) * 3, width=pixels, joint="curve")
        return
    passes = 2 if style == "sketchy" else 1
    for _ in range(passes):
        jitter = 0.5 * SCALE if style == "sketchy" else 0.0
        shaky = [(x + rng.normal(0, jitter / 3), y + rng.normal(0, jitter / 3)) for x, y in big]
        draw.line(shaky, fill=(ink,) * 3, width=pixels, joint="curve")


def draw(shape: str, rng: np.random.Generator) -> Image.Image:
    """One hard example of `shape`, 24x24 RGB, dark strokes on a light background."""
    path, radius = _place(_outline(shape, rng), shape, rng)
    if rng.random() < 0.25:  # left open: the pen stops short of where it started
        path = path[: int(len(path) * rng.uniform(0.85, 0.95))]
    else:
        path = path + path[:2]
    paper = int(rng.integers(235, 256))
    image = Image.new("RGB", (SIZE * SCALE, SIZE * SCALE), (paper,) * 3)
    # thick strokes would fill a small shape in, and dashes would break it into dots
    width = float(rng.uniform(0.6, min(2.6, radius / 3)))
    style = STYLES[int(rng.integers(len(STYLES)))]
    if style == "dashed" and radius < 5:
        style = "solid"
    _stroke(ImageDraw.Draw(image), path, width, int(rng.integers(0, 110)), style, rng)
    return image.resize((SIZE, SIZE), Image.Resampling.BOX)


def write_hard_set(out: Path, per_class: int, seed: int) -> None:
    """OUT/<class>/<class>NNN.png for the three classes."""
    for index, shape in enumerate(CLASSES):
        (out / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng([seed, index, i])
            draw(shape, rng).save(out / shape / f"{shape}{i:03d}.png")


def set_main(description: str, write: Callable[[Path, int, int], None], seed: int) -> int:
    """The command line of a shape-set generator: OUT, --per-class, --seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out", type=Path, help="folder to write (must be empty or absent)")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=seed)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty", file=sys.stderr)
        return 2
    write(args.out, args.per_class, args.seed)
    print(f"wrote {len(CLASSES) * args.per_class} images to {args.out}")
    return 0


def main() -> int:
    return set_main(__doc__.splitlines()[0], write_hard_set, seed=0)

if __name__ == "__main__":
    sys.exit(main())
