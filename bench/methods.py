"""The anchors `expand` is compared with, each run in a fresh process by bench/run.py.

    python -m bench.methods {keras,albumentations,floor,floor-1} SRC OUT --copies N --format png|jpeg
        [--quality 75]

prints one JSON line: `import_s` (interpreter start to libraries imported) and `work_s` (from
then to the last file written). Library imports happen inside the functions, never at the top of
this module: the floor's pool workers must not import what the other methods need.

Every method does the same job as `expand SRC --out OUT` with the pipeline below: N augmented
copies of every SRC/<class>/<image>, written into OUT/<class>/.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

STARTED = time.perf_counter()

# after STARTED: the methods' timings include their own imports, this one too
from expand.config import PRESETS  # noqa: E402

#: The workloads' pipeline (../shared/docs/performance-anchors.md) is the shapes tutorial's, which
#: `expand` ships as a preset: one definition for every method.
PIPELINE = dict(PRESETS["shapes-tutorial"])
EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}


def sources(src: Path) -> list[tuple[str, Path]]:
    """(class, path) for every image, sorted: the same listing for every method."""
    return [(cls.name, path) for cls in sorted(src.iterdir()) if cls.is_dir()
            for path in sorted(cls.iterdir()) if path.suffix.lower() in (".png", ".jpg")]


def keras(src: Path, out: Path, copies: int, fmt: str, quality: int) -> float:
    """The tutorial loop: `flow(x, batch_size=1, save_to_dir=...)` per image, as blog posts do.

    Keras saves with Pillow's defaults: PNG level 6, JPEG quality 75 (`quality` cannot be passed;
    the benchmark uses 75 for everyone). One folder per class, so classes are not mixed.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    image = tf.keras.preprocessing.image
    imported = time.perf_counter()
    if fmt == "jpeg" and quality != 75:
        raise SystemExit("keras: the tutorial loop always writes JPEG quality 75")
    datagen = image.ImageDataGenerator(**PIPELINE)
    np.random.seed(0)
    for label, path in sources(src):
        target = out / label
        target.mkdir(parents=True, exist_ok=True)
        x = image.img_to_array(image.load_img(path))[None]
        written = 0
        for _ in datagen.flow(x, batch_size=1, save_to_dir=str(target), save_prefix=path.stem,
                              save_format=fmt):
            written += 1
            if written >= copies:
                break
    return imported


def albumentations(src: Path, out: Path, copies: int, fmt: str, quality: int) -> float:
    """Albumentations with OpenCV decode and encode, one process, as its docs show it: each
    source read once, `Compose` called per copy, `cv2.imwrite` (OpenCV's default PNG settings,
    JPEG at `quality`). The closest pipeline: one Affine (zoom as independent per-axis scale,
    Keras's [0.8, 2.0] sampling scale being 0.5-1.25x magnification), then the two flips."""
    import albumentations as A
    import cv2

    imported = time.perf_counter()
    transform = A.Compose([
        A.Affine(rotate=(-15, 15), translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)},
                 shear={"x": (-0.5, 0.5), "y": (0, 0)},
                 scale={"x": (0.5, 1.25), "y": (0.5, 1.25)}, keep_ratio=False,
                 interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_REPLICATE, p=1.0),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
    ], seed=0)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    extension = EXTENSIONS[fmt]
    for label, path in sources(src):
        target = out / label
        target.mkdir(parents=True, exist_ok=True)
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        for copy in range(copies):
            augmented = transform(image=pixels)["image"]
            cv2.imwrite(str(target / f"{path.stem}_{copy}{extension}"), augmented, params)
    return imported


def _floor_init() -> None:
    import cv2

    cv2.setNumThreads(1)


def _floor_source(job: tuple[str, str, str, int, str, tuple[int, ...], int]) -> int:
    import cv2
    import numpy as np

    path, target, stem, copies, extension, params, seed = job
    with open(path, "rb") as handle:
        pixels = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
    height, width = pixels.shape[:2]
    rng = np.random.default_rng(seed)
    for copy in range(copies):
        theta = math.radians(rng.uniform(-15, 15))
        zx, zy = rng.uniform(0.8, 2.0, 2)
        tx, ty = rng.uniform(-0.1, 0.1) * width, rng.uniform(-0.1, 0.1) * height
        cx, cy = (width - 1) / 2, (height - 1) / 2
        a, b = math.cos(theta) * zx, -math.sin(theta) * zy
        c, d = math.sin(theta) * zx, math.cos(theta) * zy
        matrix = np.array([[a, b, cx + tx - a * cx - b * cy], [c, d, cy + ty - c * cx - d * cy]])
        warped = cv2.warpAffine(pixels, matrix, (width, height),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
        _, data = cv2.imencode(extension, warped, params)
        with open(os.path.join(target, f"{stem}_{copy}{extension}"), "wb") as handle:
            handle.write(data)
    return copies


def floor(src: Path, out: Path, copies: int, fmt: str, quality: int,
          processes: int = 2) -> float:
    """The unavoidable work on 2 processes: decode each source once (OpenCV), one warpAffine per
    output, encode with the encoder and settings `expand` uses (expand.io.codec.opencv_params),
    plain writes; a forked pool (the cheapest start), one OpenCV thread per process. Sources go
    several to a message, as `expand` sends them, by a simpler rule (up to 4, at least 6
    messages per process; `expand`'s gives 1 to 4 here): with one source a message, Pool's cost
    per message (about 0.6 ms of the parent's CPU) had slowed the floor by 7% on W2 JPEG.
    With one process (floor-1), the same work in this process, as `expand --workers 1` does it:
    what the machine gives a second process on this work, against which to read `expand`'s."""
    import multiprocessing

    from expand.io.codec import opencv_params

    imported = time.perf_counter()
    params = opencv_params(fmt, quality)
    jobs = []
    for seed, (label, path) in enumerate(sources(src)):
        (out / label).mkdir(parents=True, exist_ok=True)
        jobs.append((str(path), str(out / label), path.stem, copies, EXTENSIONS[fmt], params, seed))
    if processes == 1:
        _floor_init()
        for job in jobs:
            _floor_source(job)
        return imported
    chunk = max(1, min(4, len(jobs) // 12))
    with multiprocessing.get_context("fork").Pool(processes, initializer=_floor_init) as pool:
        for _ in pool.imap_unordered(_floor_source, jobs, chunk):
            pass
    return imported


METHODS: dict[str, Callable[[Path, Path, int, str, int], float]] = {
    "keras": keras, "albumentations": albumentations, "floor": floor,
    "floor-1": functools.partial(floor, processes=1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=sorted(METHODS))
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, required=True)
    parser.add_argument("--format", choices=sorted(EXTENSIONS), required=True)
    parser.add_argument("--quality", type=int, default=75)
    args = parser.parse_args()
    imported = METHODS[args.method](args.src, args.out, args.copies, args.format, args.quality)
    done = time.perf_counter()
    print(json.dumps({"import_s": imported - STARTED, "work_s": done - imported}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
