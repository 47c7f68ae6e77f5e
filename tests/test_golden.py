"""A samples run keeps its bytes across versions of this tool (the random-stream contract).

The golden file was made by random-streams version 1 when the main job landed. Later features, off,
must not change a single output. Encoded bytes also depend on the codec libraries, so they are
compared when those match the recorded versions; decoded pixels and parameters always are.
Regenerate (only on purpose, with a schema or stream version change): EXPAND_WRITE_GOLDEN=1 pytest
tests/test_golden.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.manifest import read_manifest
from expand.runner import expand_dataset, library_versions

GOLDEN = Path(__file__).with_name("golden") / "samples_v1.json"
AUGMENT = AugmentConfig(rotation_range=15, width_shift_range=0.1, height_shift_range=[2, 3],
                        shear_range=10, zoom_range=[0.8, 2.0], horizontal_flip=True,
                        vertical_flip=True, fill_mode="reflect", brightness_range=[0.7, 1.3],
                        channel_shift_range=20)


def _observe(samples_train: Path, out: Path) -> dict[str, object]:
    expand_dataset(ExpandConfig(src=samples_train, out=out, copies=3, seed=11, augment=AUGMENT,
                                include_originals=True, workers=1))
    rows = list(read_manifest(out))
    pixels = {r["file_name"]: hashlib.sha256(np.asarray(Image.open(out / r["file_name"]))
                                             .tobytes()).hexdigest() for r in rows}
    files = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".")}
    return {"libraries": library_versions(), "params": {r["file_name"]: r["params"] for r in rows},
            "pixels": pixels, "files": files}


def test_samples_run_matches_the_golden_record(samples_train: Path, tmp_path: Path) -> None:
    observed = json.loads(json.dumps(_observe(samples_train, tmp_path / "out")))
    if os.environ.get("EXPAND_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(observed, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert observed["params"] == golden["params"]
    assert observed["pixels"] == golden["pixels"]
    codecs = ("pillow", "zlib", "libjpeg", "opencv")
    if all(observed["libraries"][k] == golden["libraries"][k] for k in codecs):
        images = {k: v for k, v in observed["files"].items() if k.endswith(".png")}
        assert images == {k: v for k, v in golden["files"].items() if k.endswith(".png")}
        assert observed["files"]["metadata.jsonl"] == golden["files"]["metadata.jsonl"]
