"""Each manifest row, replayed by Keras's own ImageDataGenerator.apply_transform, gives the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset

tf = pytest.importorskip("tensorflow", reason="the parity test needs the test extra (TensorFlow)")

pytestmark = pytest.mark.slow


def _dataset(root: Path) -> None:
    """Square sources, RGB and greyscale: line art, a photo-like texture, a smooth gradient."""
    rng = np.random.default_rng(7)
    (root / "rgb").mkdir(parents=True)
    (root / "grey").mkdir()
    yy, xx = np.mgrid[0:48, 0:48]
    gradient = np.stack([xx * 5, yy * 5, (xx + yy) * 2], axis=2).clip(0, 255).astype(np.uint8)
    Image.fromarray(gradient, "RGB").save(root / "rgb" / "gradient.png")
    texture = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(texture, "RGB").save(root / "rgb" / "texture.png")
    shapes = Path(__file__).resolve().parents[1] / "samples" / "shapes" / "train"
    Image.open(shapes / "triangle" / "triangle003.png").convert("L").save(root / "grey" / "tri.png")
    Image.fromarray(texture[..., 0], "L").save(root / "grey" / "texture.png")


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
def test_written_files_match_keras_apply_transform(tmp_path: Path, fill_mode: str) -> None:
    _dataset(tmp_path / "src")
    augment = AugmentConfig(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                            shear_range=25, zoom_range=[0.6, 1.4], horizontal_flip=True,
                            vertical_flip=True, channel_shift_range=40, fill_mode=fill_mode)
    out = tmp_path / "out"
    expand_dataset(ExpandConfig(src=tmp_path / "src", out=out, copies=25, augment=augment,
                                workers=1))
    generator = tf.keras.preprocessing.image.ImageDataGenerator(fill_mode=fill_mode)
    close = total = 0
    active = {key: 0 for key in ("theta", "tx", "ty", "shear", "zx", "flip_horizontal",
                                 "flip_vertical", "channel_shift_intensity")}
    for row in read_manifest(out):
        source = np.asarray(Image.open(tmp_path / "src" / row["source"]), dtype=np.float32)
        written = np.asarray(Image.open(out / row["file_name"]), dtype=np.float32)
        if source.ndim == 2:
            source, written = source[..., None], written[..., None]
        keras = generator.apply_transform(source, dict(row["params"]))
        close += int((np.abs(keras - written) <= 1.0).sum())
        total += written.size
        for key in active:
            value = row["params"][key]
            active[key] += value is not None and value != (1.0 if key == "zx" else 0.0)
    assert close / total >= 0.999, json.dumps({"close": close, "total": total})
    assert all(count > 20 for count in active.values()), active  # every transform was exercised
