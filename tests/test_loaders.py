"""An output, and each part of a split, read by the loaders users already have: Keras's
image_dataset_from_directory, Hugging Face's imagefolder, and torchvision's ImageFolder rule."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from expand.cli import app
from tests.conftest import SAMPLES

CLASSES = ["circle", "rectangle", "triangle"]
#: torchvision.datasets.folder.IMG_EXTENSIONS (torchvision is not a dependency of this project)
TORCHVISION_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff",
                          ".webp")
# Keras 3.15 converts tensors with a NumPy-2-deprecated call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A plain output, and the three parts of a split."""
    root = tmp_path_factory.mktemp("loaders")
    common = ["--copies", "2", "--rotation-range", "10", "--workers", "1", "--quiet"]
    for out, extra in ((root / "plain", []), (root / "split", ["--val", "0.2", "--test", "0.2"])):
        result = CliRunner().invoke(app, ["run", str(SAMPLES / "train"), "--out", str(out),
                                          *common, *extra])
        assert result.exit_code == 0, result.output
    return [root / "plain", *(root / "split" / part for part in ("train", "val", "test"))]


def _counts(folder: Path) -> Counter[str]:
    """Images per class, from the manifest."""
    return Counter(json.loads(line)["label"]
                   for line in (folder / "metadata.jsonl").read_text().splitlines())


def test_torchvision_imagefolder_rule_gives_the_classes_and_counts(folders: list[Path]) -> None:
    # torchvision's find_classes: every sub-folder (hidden ones too), sorted; make_dataset: the
    # files with an image extension under each. Checked here without importing torchvision.
    for folder in folders:
        classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        assert classes == CLASSES
        found = Counter(p.parent.name for p in folder.glob("*/*")
                        if p.suffix.lower() in TORCHVISION_EXTENSIONS)
        assert found == _counts(folder) and all(found[c] for c in CLASSES), folder


@pytest.mark.slow
def test_keras_reads_every_part_with_the_same_classes(folders: list[Path]) -> None:
    keras = pytest.importorskip("keras", reason="needs the test extra (TensorFlow)")
    for folder in folders:
        dataset = keras.utils.image_dataset_from_directory(folder, image_size=(24, 24),
                                                           batch_size=64, shuffle=False)
        assert dataset.class_names == CLASSES
        labels = Counter(CLASSES[int(label)] for _, batch in dataset for label in batch)
        assert labels == _counts(folder), folder


@pytest.mark.slow
def test_hugging_face_imagefolder_reads_every_part_and_the_documented_line_gives_a_classlabel(
        folders: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs the test extra (datasets)")
    for folder in folders:
        loaded = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train",
                                       cache_dir=str(tmp_path / "cache"))
        # the manifest's columns are kept, `label` among them (a string: with a metadata file
        # imagefolder infers no labels from the folders)
        assert {"image", "label", "source", "copy", "sha256", "params"} <= set(loaded.column_names)
        # what docs/splits.md says datasets does (5.2); when this changes, so must the docs
        assert loaded.features["label"] == datasets.Value("string")
        encoded = loaded.class_encode_column("label")  # the README's line
        feature = encoded.features["label"]
        assert isinstance(feature, datasets.ClassLabel) and feature.names == CLASSES
        counted = Counter(feature.int2str(i) for i in encoded["label"])
        assert counted == _counts(folder), folder


@pytest.mark.slow
def test_hugging_face_on_a_part_that_lacks_a_class_gets_every_class_from_its_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/splits.md's line for a part without some class: class_encode_column would number only
    # the labels present; the names from the class folders keep every part's numbering alike.
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs the test extra (datasets)")
    src = tmp_path / "src"
    for name, count in (("ant", 8), ("bee", 1), ("cat", 8)):
        (src / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (30 * i, 90, 200)).save(src / name / f"{name}{i}.png")
    out = tmp_path / "split"
    result = CliRunner().invoke(app, ["run", str(src), "--out", str(out), "--val", "0.3",
                                      "--copies", "1", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    part = out / "val"
    assert set(_counts(part)) == {"ant", "cat"}  # the lone bee went to training
    names = sorted(entry.name for entry in os.scandir(part) if entry.is_dir())
    loaded = datasets.load_dataset("imagefolder", data_dir=str(part), split="train",
                                   cache_dir=str(tmp_path / "cache"))
    loaded = loaded.cast_column("label", datasets.ClassLabel(names=names))
    feature = loaded.features["label"]
    assert isinstance(feature, datasets.ClassLabel) and feature.names == ["ant", "bee", "cat"]
    assert Counter(feature.int2str(i) for i in loaded["label"]) == _counts(part)
    assert {"image", "source", "copy", "sha256", "params"} <= set(loaded.column_names)
