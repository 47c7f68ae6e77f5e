"""Draw the bundled sample dataset: hand-drawn-looking 24x24 circles, rectangles and triangles.

Run from the repository root: `python samples/make_samples.py`. The output is committed; the
script is seeded, so running it again gives the same files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 24
SCALE = 4  # drawn 4x larger, then reduced: gives the soft edges of a real pen stroke
SPLITS = {"train": 15, "test": 5}
ROOT = Path(__file__).resolve().parent / "shapes"


def _wobble(points: list[tuple[float, float]], rng: np.random.Generator, amount: float,
            ) -> list[tuple[float, float]]:
    """Resample a closed outline densely and add smooth low-frequency noise, like a hand."""
    dense: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        steps = max(2, int(math.hypot(x1 - x0, y1 - y0) / 3))
        dense += [(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps) for t in range(steps)]
    n = len(dense)
    phase = rng.uniform(0, 2 * math.pi, size=4)
    out = []
    for i, (x, y) in enumerate(dense):
        u = 2 * math.pi * i / n
        out.append((x + amount * math.sin(2 * u + phase[0]) + amount * 0.5 * math.sin(5 * u + phase[1]),
                    y + amount * math.cos(3 * u + phase[2]) + amount * 0.5 * math.sin(4 * u + phase[3])))
    # a hand rarely closes the shape exactly: overshoot a little past the start
    overshoot = int(n * rng.uniform(0.0, 0.08))
    return out + out[: overshoot + 1]


def _outline(shape: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    c = SIZE * SCALE / 2 + rng.uniform(-6, 6, size=2)
    r = rng.uniform(26, 38)
    if shape == "circle":
        aspect = rng.uniform(0.85, 1.15)
        return [(c[0] + r * aspect * math.cos(a), c[1] + r / aspect * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, 48, endpoint=False)]
    if shape == "rectangle":
        w, h = r * rng.uniform(0.8, 1.1), r * rng.uniform(0.55, 1.0)
        tilt = math.radians(rng.uniform(-6, 6))
        corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
    else:
        tilt = math.radians(rng.uniform(-8, 8))
        corners = [(0.0, -r), (r * 0.95, r * 0.75), (-r * 0.95, r * 0.75)]
    return [(c[0] + x * math.cos(tilt) - y * math.sin(tilt),
             c[1] + x * math.sin(tilt) + y * math.cos(tilt)) for x, y in corners]


def draw(shape: str, rng: np.random.Generator) -> Image.Image:
    canvas = Image.new("L", (SIZE * SCALE, SIZE * SCALE), 255)
    pen = ImageDraw.Draw(canvas)
    line = _wobble(_outline(shape, rng), rng, amount=rng.uniform(1.0, 3.0))
    pen.line(line, fill=0, width=int(rng.integers(5, 9)), joint="curve")
    small = canvas.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return small.convert("RGB")


def main() -> None:
    rng = np.random.default_rng(20261122)
    for split, count in SPLITS.items():
        first = 1 if split == "train" else SPLITS["train"] + 1
        for shape in ("circle", "rectangle", "triangle"):
            folder = ROOT / split / shape
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(first, first + count):
                draw(shape, rng).save(folder / f"{shape}{i:03d}.png", optimize=True)


if __name__ == "__main__":
    main()
