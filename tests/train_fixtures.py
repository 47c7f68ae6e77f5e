"""Builders of small class-per-folder datasets on disk for the `train` tests.

`expand_like` writes what `expand` writes (class folders, copies named `<source>__augNNNN.png`,
`metadata.jsonl` rows under the manifest contract), from PIL alone, so that `train` is tested
against the contract rather than against `expand`'s code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "shapes"
CLASSES = ("circle", "rectangle", "triangle")


def coded_image(source_id: int, copy: int) -> Image.Image:
    """A 24x24 RGB image whose pixel (0, 0) carries (source_id, copy + 1, 0)."""
    pixels = np.full((24, 24, 3), 255, dtype=np.uint8)
    pixels[0, 0] = (source_id, copy + 1, 0)
    return Image.fromarray(pixels)


def decode(pixels: np.ndarray) -> tuple[int, int]:
    """(source_id, copy) from a loaded image, copy -1 for an original."""
    return round(float(pixels[0, 0, 0])), round(float(pixels[0, 0, 1])) - 1


def write_coded_source(root: Path, classes: tuple[str, ...] = CLASSES, per_class: int = 5
                       ) -> dict[str, int]:
    """A plain source folder of coded images; returns source path -> source id."""
    ids = {}
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            source_id = 1 + c * per_class + i
            rel = f"{name}/{name}{i:03d}.png"
            coded_image(source_id, -1).save(root / rel)
            ids[rel] = source_id
    return ids


def _row(out: Path, file_name: str, source: str, copy: int | None) -> dict[str, object]:
    data = (out / file_name).read_bytes()
    with Image.open(out / file_name) as image:
        width, height, mode = image.width, image.height, image.mode
    return {"file_name": file_name, "label": file_name.split("/", 1)[0], "source": source,
            "copy": copy, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "width": width, "height": height, "mode": mode,
            "params": None if copy is None else {"tx": copy}}


def expand_like(src: Path, out: Path, copies: int, include_originals: bool = False,
                coded: dict[str, int] | None = None) -> Path:
    """Write an expand-style output of `src` into `out`.

    Copies of a coded source keep its id and record the copy index in pixel (0, 0); copies of
    other images are the source shifted right by copy + 1 pixels.
    """
    rows = []
    for path in sorted(src.rglob("*.png")):
        rel = path.relative_to(src).as_posix()
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        if include_originals:
            name = f"{rel}__orig.png"
            shutil.copyfile(path, out / name)
            rows.append(_row(out, name, rel, None))
        for k in range(copies):
            name = f"{rel}__aug{k:04d}.png"
            if coded is not None:
                copy_image = coded_image(coded[rel], k)
            else:
                copy_image = Image.fromarray(np.roll(np.asarray(image), k + 1, axis=1))
            copy_image.save(out / name)
            rows.append(_row(out, name, rel, k))
    rows.sort(key=lambda r: str(r["file_name"]))
    with (out / "metadata.jsonl").open("w", encoding="utf-8") as manifest:
        for row in rows:
            manifest.write(json.dumps(row, sort_keys=True) + "\n")
    (out / "run.json").write_text(json.dumps({"copies": copies, "seed": 0}), encoding="utf-8")
    return out
