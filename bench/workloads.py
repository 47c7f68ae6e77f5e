"""The benchmark's datasets, made deterministically: W1 (line art), W2 and W3 (photo-like JPEGs).

W1 is the bundled samples/shapes/train (45 RGB PNGs, 24x24, 3 classes x 15), as in
../shared/docs/performance-anchors.md. W2 is 60 photo-like 224x224 JPEGs (quality 90, 3 classes x
20) and W3 30 photo-like 1024x768 JPEGs (quality 90, 3 classes x 10): gradients, blobs, a shape
of the class, blur and noise, so that they compress like photos rather than flat drawings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "shapes" / "train"
CLASSES = ("circle", "rectangle", "triangle")


def photo(rng: np.random.Generator, width: int, height: int, shape: str) -> np.ndarray:
    """An RGB uint8 photo-like image: a coloured gradient, soft blobs, one shape, blur, noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, np.pi)
    t = (np.cos(angle) * xx / width + np.sin(angle) * yy / height + 1.0) / 2.0
    image = (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)
    scale = min(width, height)
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.3) * scale
        weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))[..., None]
        image = image * (1 - 0.6 * weight) + rng.uniform(0, 255, 3) * 0.6 * weight
    colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    size = rng.uniform(0.15, 0.3) * scale
    if shape == "circle":
        cv2.circle(image, (int(cx), int(cy)), int(size), colour, -1, cv2.LINE_AA)
    elif shape == "rectangle":
        cv2.rectangle(image, (int(cx - size), int(cy - size * 0.7)),
                      (int(cx + size), int(cy + size * 0.7)), colour, -1, cv2.LINE_AA)
    else:
        points = np.array([[cx, cy - size], [cx - size, cy + size * 0.8],
                           [cx + size, cy + size * 0.8]], dtype=np.int32)
        cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (0, 0), scale / 200 + 0.5)
    image += rng.normal(0, 5, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _photos(root: Path, per_class: int, width: int, height: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for label in CLASSES:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = photo(rng, width, height, label)
            Image.fromarray(pixels, "RGB").save(root / label / f"{label}{i:03d}.jpg", quality=90)
    return root


def make(name: str, root: Path, scale: int = 1) -> Path:
    """Write workload `name` (W1, W2, W3) under root/name (scale x the sources) and return it."""
    target = root / (name if scale == 1 else f"{name}x{scale}")
    if target.is_dir():
        return target
    temp = target.with_name(target.name + ".part")
    shutil.rmtree(temp, ignore_errors=True)
    if name == "W1":
        shutil.copytree(SAMPLES, temp)
    elif name == "W2":
        _photos(temp, 20 * scale, 224, 224, seed=2)
    elif name == "W3":
        _photos(temp, 10 * scale, 1024, 768, seed=3)
    else:
        raise ValueError(f"unknown workload {name!r}")
    temp.rename(target)
    return target
