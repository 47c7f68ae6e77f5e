"""A samples run keeps its bytes across versions of this tool (the random-stream contract).

The golden file was made by random-streams version 1 when the main job landed. Later features, off,
must not change a single output. Encoded bytes also depend on the codec libraries, so they are
compared when those match the recorded versions; decoded pixels and parameters always are.
Regenerate (only on purpose, with a schema or stream version change): EXPAND_WRITE_GOLDEN=1 pytest
tests/test_golden.py. colour_key_v1.json, made when colour-keyed PNGs gained their alpha, is a
second record of the same kind, over sources the test makes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.io.codec import library_versions
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset

GOLDEN = Path(__file__).with_name("golden") / "samples_v1.json"
GOLDEN_KEYED = Path(__file__).with_name("golden") / "colour_key_v1.json"
AUGMENT = AugmentConfig(rotation_range=15, width_shift_range=0.1, height_shift_range=[2, 3],
                        shear_range=10, zoom_range=[0.8, 2.0], horizontal_flip=True,
                        vertical_flip=True, fill_mode="reflect", brightness_range=[0.7, 1.3],
                        channel_shift_range=20)


def _observe(src: Path, out: Path) -> dict[str, object]:
    expand_dataset(ExpandConfig(src=src, out=out, copies=3, seed=11, augment=AUGMENT,
                                include_originals=True, workers=1))
    rows = list(read_manifest(out))
    pixels = {r["file_name"]: hashlib.sha256(np.asarray(Image.open(out / r["file_name"]))
                                             .tobytes()).hexdigest() for r in rows}
    files = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".")}
    return {"libraries": library_versions(), "params": {r["file_name"]: r["params"] for r in rows},
            "pixels": pixels, "files": files}


def _compare(observed: dict[str, object], golden_file: Path) -> None:
    observed = json.loads(json.dumps(observed))
    if os.environ.get("EXPAND_WRITE_GOLDEN") == "1":
        golden_file.write_text(json.dumps(observed, indent=1, sort_keys=True) + "\n")
    golden = json.loads(golden_file.read_text())
    assert observed["params"] == golden["params"]
    assert observed["pixels"] == golden["pixels"]
    codecs = ("pillow", "zlib", "libjpeg", "opencv")
    libraries: dict[str, str] = observed["libraries"]  # type: ignore[assignment]
    if all(libraries[k] == golden["libraries"][k] for k in codecs):
        files: dict[str, str] = observed["files"]  # type: ignore[assignment]
        images = {k: v for k, v in files.items() if k.endswith(".png")}
        assert images == {k: v for k, v in golden["files"].items() if k.endswith(".png")}
        assert files["metadata.jsonl"] == golden["files"]["metadata.jsonl"]


def test_samples_run_matches_the_golden_record(samples_train: Path, tmp_path: Path) -> None:
    _compare(_observe(samples_train, tmp_path / "out"), GOLDEN)


def _colour_keyed_sources(src: Path) -> None:
    """Two PNGs whose transparency is a colour key (tRNS), one RGB and one L, made from a fixed
    formula: the pixels of the key colour are transparent."""
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([x * 8, y * 10, (x + y) * 4], axis=-1).astype(np.uint8)
    rgb[6:18, 8:20] = (255, 0, 255)
    grey = ((x * 7 + y * 3) % 200).astype(np.uint8)
    grey[4:12, 16:28] = 250
    (src / "keyed").mkdir(parents=True)
    Image.fromarray(rgb, "RGB").save(src / "keyed" / "rgb.png", transparency=(255, 0, 255))
    Image.fromarray(grey, "L").save(src / "keyed" / "grey.png", transparency=250)


def test_colour_keyed_png_run_matches_the_golden_record(tmp_path: Path) -> None:
    """Added with the colour-key fix (issue 20): RGB and L PNGs with tRNS become RGBA and LA. A
    separate record, so the samples' golden bytes stay as they were made."""
    _colour_keyed_sources(tmp_path / "src")
    observed = _observe(tmp_path / "src", tmp_path / "out")
    modes = {row["file_name"]: row["mode"] for row in read_manifest(tmp_path / "out")}
    assert set(modes.values()) == {"RGBA", "LA"}
    _compare(observed, GOLDEN_KEYED)
