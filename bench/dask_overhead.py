"""Dask's overhead on one machine: W2 of performance-anchors.md through the local process pool and
through a Dask LocalCluster, round-robin in one run (these machines drift up to 2x within an hour,
so only ratios measured side by side mean anything). Not a test.

    python bench/dask_overhead.py [--rounds 3] [--workers 2] [--json PATH]

W2: 60 RGB JPEGs (quality 90), 224x224, photo-like (gradients, blobs, shapes, blur, noise), 3
classes x 20, 10 copies each = 600 outputs, once as PNG and once as JPEG (quality 75), with the
anchors' pipeline (the `shapes-tutorial` preset: rotation 15, shifts 0.1, shear 0.5, zoom
[0.8, 2.0], both flips, nearest). Variants, each timed around `expand_dataset` (imports excluded):

- pool: the local process pool (`--workers N`), its start-up included;
- dask-local: `--scheduler local`, the LocalCluster's start-up and shut-down included;
- dask-running: a LocalCluster already running (an existing cluster), only the client connects.

Every variant must write the same bytes (checked on metadata.jsonl and run.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from expand.config import AugmentConfig, ExpandConfig, preset  # noqa: E402
from expand.run.runner import expand_dataset  # noqa: E402

CLASSES = ("blobs", "boxes", "wedges")


def make_w2(root: Path, per_class: int = 20, size: int = 224, seed: int = 2) -> Path:
    """60 photo-like 224x224 RGB JPEGs (quality 90) in 3 class folders, the same every time."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for label in CLASSES:
        (root / label).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
            angle = rng.uniform(0, np.pi)
            t = np.clip(np.cos(angle) * xx + np.sin(angle) * yy, 0, 1)[..., None]
            pixels = start * (1 - t) + end * t
            for _ in range(6):  # soft blobs
                cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
                weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
                pixels = pixels * (1 - weight) + rng.uniform(0, 255, 3) * weight
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            draw = ImageDraw.Draw(image)
            for _ in range(4):  # the class's shapes
                x0, y0 = rng.uniform(0, size * 0.7, 2)
                w, h = rng.uniform(size * 0.1, size * 0.3, 2)
                fill = tuple(int(v) for v in rng.uniform(0, 255, 3))
                if label == "blobs":
                    draw.ellipse((x0, y0, x0 + w, y0 + h), fill=fill)
                elif label == "boxes":
                    draw.rectangle((x0, y0, x0 + w, y0 + h), fill=fill)
                else:
                    draw.polygon([(x0, y0 + h), (x0 + w / 2, y0), (x0 + w, y0 + h)], fill=fill)
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
            noisy = np.asarray(image, np.float32) + rng.normal(0, 6, (size, size, 3))
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
                root / label / f"{label}{index:03d}.jpg", quality=90)
    return root


def _digest(out: Path) -> str:
    return hashlib.sha256((out / "metadata.jsonl").read_bytes()
                          + (out / "run.json").read_bytes()).hexdigest()


def _run(src: Path, out: Path, fmt: str, workers: int, scheduler: str | None) -> float:
    config = ExpandConfig(src=src, out=out, copies=10, workers=workers,
                          image_format=fmt, quality=75,  # type: ignore[arg-type]
                          augment=AugmentConfig(**preset("shapes-tutorial")),
                          preset="shapes-tutorial", scheduler=scheduler)
    started = time.perf_counter()
    summary = expand_dataset(config)
    elapsed = time.perf_counter() - started
    assert summary.images_written == 600 and summary.exit_code == 0
    return 600 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" /
                        "dask_overhead.json")
    args = parser.parse_args()

    load_before = os.getloadavg()  # other jobs on the machine move absolute numbers, not ratios
    work = Path(tempfile.mkdtemp(prefix="expand-bench-"))
    try:
        src = make_w2(work / "w2")
        # The running cluster is made like --scheduler local's, so only start-up differs.
        from expand.exec.dask_executor import _local_cluster

        with _local_cluster(args.workers) as running:
            variants: dict[str, str | None] = {"pool": None, "dask-local": "local",
                                               "dask-running": running.scheduler_address}
            rates: dict[str, dict[str, list[float]]] = {
                fmt: {name: [] for name in variants} for fmt in ("png", "jpeg")}
            digests: dict[str, set[str]] = {"png": set(), "jpeg": set()}
            for round_ in range(args.rounds):
                for fmt in ("png", "jpeg"):
                    for name, scheduler in variants.items():  # round-robin
                        out = work / f"{fmt}-{name}-{round_}"
                        rate = _run(src, out, fmt, args.workers, scheduler)
                        rates[fmt][name].append(rate)
                        digests[fmt].add(_digest(out))
                        shutil.rmtree(out)
                        print(f"round {round_ + 1}/{args.rounds} {fmt:4} {name:12} "
                              f"{rate:7.1f} images/s", flush=True)
        assert all(len(d) == 1 for d in digests.values()), "variants wrote different bytes"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result: dict[str, Any] = {
        "workload": "W2 (60 photo-like 224x224 JPEGs x 10 copies = 600 outputs), "
                    "pipeline of performance-anchors.md (preset shapes-tutorial)",
        "workers": args.workers,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average_1min": {"before": round(load_before[0], 2),
                              "after": round(os.getloadavg()[0], 2)},
        "images_per_second_median": {},
        "ratio_to_pool": {},
        "identical_output": True,
    }
    for fmt, by_name in rates.items():
        medians = {name: round(statistics.median(values), 1) for name, values in by_name.items()}
        result["images_per_second_median"][fmt] = medians
        result["ratio_to_pool"][fmt] = {name: round(medians[name] / medians["pool"], 3)
                                        for name in medians if name != "pool"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
