"""Every preset, and one config listing every catalogue transform, keep their bytes on the samples.

Recorded before the catalogue was redesigned (issue 22) so that the redesign, and any later one,
is held to the same outputs. The line-art preset's versions 2 to 4 (issue 23) have their own
records, preset-line-art_v2.json to _v4.json. Regenerate only on purpose, with a schema or stream version change:
EXPAND_WRITE_GOLDEN=1 pytest tests/test_golden_presets.py. Encoded bytes are compared when the
codec libraries match the recorded versions; parameters and decoded pixels always are.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from expand.augment.transforms import CATALOGUE
from expand.config import PRESET_VERSIONS, PRESETS, AugmentConfig, ExpandConfig
from expand.io.codec import library_versions
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset

GOLDEN_DIR = Path(__file__).with_name("golden")
CODECS = ("pillow", "zlib", "libjpeg", "opencv")

#: Every catalogue transform with settings away from its defaults. random_crop and
#: random_resized_crop exclude each other in one list, so the circles take the first.
_EVERY: list[dict[str, Any]] = [
    {"name": "random_resized_crop", "p": 0.7, "scale": [0.5, 1.0], "ratio": [0.8, 1.25]},
    {"name": "perspective", "p": 0.6, "distortion": 0.2},
    {"name": "stroke_preserve"},
    {"name": "placement", "p": 0.8, "size": [0.5, 0.95]},
    {"name": "stroke_width", "p": 0.7, "factor": [0.7, 1.5]},
    {"name": "wobble", "p": 0.5, "amplitude": [0.0, 0.02], "wavelength": [0.4, 1.0]},
    {"name": "ink_paper", "p": 0.5, "ink": [0.0, 0.3], "paper": [0.0, 0.1]},
    {"name": "color_jitter", "p": 0.8, "brightness": [0.8, 1.2], "contrast": [0.8, 1.2],
     "saturation": [0.8, 1.2], "hue": [-0.05, 0.05]},
    {"name": "grayscale", "p": 0.2},
    {"name": "gamma", "p": 0.5, "gamma": [0.8, 1.3]},
    {"name": "equalize", "p": 0.2},
    {"name": "autocontrast", "p": 0.3, "cutoff_pct": [0.0, 2.0]},
    {"name": "gaussian_noise", "p": 0.4, "sigma": [2.0, 6.0]},
    {"name": "gaussian_blur", "p": 0.4, "sigma": [0.2, 1.0]},
    {"name": "sharpen", "p": 0.4, "amount": [0.2, 0.8]},
    {"name": "jpeg", "p": 0.4, "quality": [40, 90]},
    {"name": "random_erasing", "p": 0.4, "scale": [0.02, 0.1], "ratio": [0.5, 2.0], "value": 128},
]
EVERY_TRANSFORM: dict[str, Any] = {
    "rotation_range": 20.0, "width_shift_range": 0.1, "height_shift_range": 0.1,
    "shear_range": 8.0, "zoom_range": [0.9, 1.1], "horizontal_flip": True,
    "fill_mode": "constant", "brightness_range": [0.8, 1.2], "channel_shift_range": 10.0,
    "rotation_p": 0.8, "horizontal_flip_p": 0.4, "transforms": _EVERY,
    "classes": {"circle": {"transforms": [
        {"name": "random_crop", "p": 0.7, "size_frac": 0.8}, *_EVERY[1:]]}},
}
CASES: dict[str, dict[str, Any]] = {**{f"preset-{name}": settings
                                       for name, settings in PRESETS.items()},
                                    "every-transform": EVERY_TRANSFORM}


def _observe(src: Path, out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    expand_dataset(ExpandConfig(src=src, out=out, copies=2, seed=5, workers=1,
                                augment=AugmentConfig(**settings)))
    rows = list(read_manifest(out))
    pixels = {r["file_name"]: hashlib.sha256(np.asarray(Image.open(out / r["file_name"]))
                                             .tobytes()).hexdigest() for r in rows}
    files = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*"))
             if p.suffix == ".png" or p.name == "metadata.jsonl"}
    observed = {"libraries": library_versions(),
                "params": {r["file_name"]: r["params"] for r in rows},
                "pixels": pixels, "files": files}
    return dict(json.loads(json.dumps(observed)))


#: Added after the record (issue 22's proof of the registry; issue 23's pen): their own run, replay and
#: pixel tests are in tests/test_catalogue_registry.py; adding them here would change the record.
_ADDED_AFTER_THE_RECORD = {"solarize", "rot90", "pen"}


def test_every_catalogue_transform_is_in_the_every_transform_case() -> None:
    listed = {t["name"] for t in _EVERY} | {"random_crop"}
    assert listed == set(CATALOGUE) - _ADDED_AFTER_THE_RECORD


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_and_catalogue_runs_match_their_golden_record(
        case: str, samples_train: Path, tmp_path: Path) -> None:
    observed = _observe(samples_train, tmp_path / "out", CASES[case])
    # A preset whose settings changed on purpose has a record per version (PRESET_VERSIONS).
    version = PRESET_VERSIONS.get(case.removeprefix("preset-"), 1) if case.startswith("preset-") \
        else 1
    golden_file = GOLDEN_DIR / f"{case}_v{version}.json"
    if os.environ.get("EXPAND_WRITE_GOLDEN") == "1":
        golden_file.write_text(json.dumps(observed, indent=0, sort_keys=True) + "\n")
    golden = json.loads(golden_file.read_text())
    assert observed["params"] == golden["params"]
    assert observed["pixels"] == golden["pixels"]
    if all(observed["libraries"][k] == golden["libraries"][k] for k in CODECS):
        assert observed["files"] == golden["files"]
