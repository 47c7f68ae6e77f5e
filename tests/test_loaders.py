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


def _rows(folder: Path) -> dict[str, dict[str, object]]:
    return {row["sha256"]: row for row in map(json.loads, (folder / "metadata.jsonl").open())}


@pytest.mark.slow
def test_hugging_face_reads_every_part_with_label_as_a_classlabel(
        folders: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs the test extra (datasets)")
    for folder in folders:
        loaded = datasets.load_dataset(str(folder), split="train",  # the README's line
                                       cache_dir=str(tmp_path / "cache"))
        feature = loaded.features["label"]
        assert isinstance(feature, datasets.ClassLabel) and feature.names == CLASSES, folder
        assert Counter(feature.int2str(i) for i in loaded["label"]) == _counts(folder), folder
        assert loaded.column_names == ["image", "label", "source", "source_sha256", "copy",
                                       "sha256", "bytes", "width", "height", "mode", "params"]
        manifest = _rows(folder)
        for row in loaded.select(range(0, loaded.num_rows, 7)):
            recorded = manifest[row["sha256"]]
            assert feature.int2str(row["label"]) == recorded["label"]
            assert {k: row[k] for k in ("source", "copy", "bytes", "mode")} == \
                {k: recorded[k] for k in ("source", "copy", "bytes", "mode")}
            assert row["params"] == recorded["params"]
            assert row["image"].size == (recorded["width"], recorded["height"])
        # imagefolder alone types the columns from the manifest's JSON: label stays a string
        # (docs/splits.md says why); the card is what `load_dataset(DIR)` reads
        plain = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train",
                                      cache_dir=str(tmp_path / "cache"))
        assert plain.features["label"] == datasets.Value("string")
        assert plain.num_rows == loaded.num_rows


@pytest.mark.slow
def test_hugging_face_on_a_part_that_lacks_a_class_still_names_every_class(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the card names the run's classes, not only those present: every part numbers them alike
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs the test extra (datasets)")
    src = tmp_path / "src"
    for name, count in (("ant", 8), ("bee", 1), ("cat", 8)):
        (src / name / "sub").mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (30 * i, 90, 200)).save(src / name / f"{name}{i}.png")
        Image.new("L", (6, 9), 128).save(src / name / "sub" / f"{name}.jpg")  # mirrored sub-folder
    out = tmp_path / "split"
    result = CliRunner().invoke(app, ["run", str(src), "--out", str(out), "--val", "0.3",
                                      "--copies", "1", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    part = out / "val"
    assert set(_counts(part)) == {"ant", "cat"}  # the lone bee went to training
    for folder in (part, out / "train"):
        loaded = datasets.load_dataset(str(folder), split="train",
                                       cache_dir=str(tmp_path / "cache"))
        feature = loaded.features["label"]
        assert isinstance(feature, datasets.ClassLabel) and feature.names == ["ant", "bee", "cat"]
        assert Counter(feature.int2str(i) for i in loaded["label"]) == _counts(folder)
        assert sorted(loaded["source"]) == sorted(
            json.loads(line)["source"] for line in (folder / "metadata.jsonl").open())


def test_the_card_types_each_column_as_the_manifest_holds_it() -> None:
    from expand.run.hfcard import card_text

    rows = [{"file_name": "b/x.png", "label": "b", "copy": None, "params": None, "n": 1},
            {"file_name": "b/y.png", "label": "b", "copy": 0, "n": 2.5,
             "params": {"theta": 1.0, "extra": None, "boxes": [[1, 2]]}},
            {"file_name": "b/z.png", "label": "b", "copy": 1, "n": 3,
             "params": {"theta": 2.0, "extra": {"k": 0.5}, "boxes": []}}]
    front = card_text(["a", "b"], rows).split("---\n")[1]
    features = json.loads(front)["configs"][0]["features"]
    assert features == [
        {"name": "image", "dtype": "image"},
        {"name": "label", "dtype": {"class_label": {"names": {"0": "a", "1": "b"}}}},
        {"name": "copy", "dtype": "int64"},
        {"name": "params", "struct": [
            {"name": "theta", "dtype": "float64"},
            {"name": "extra", "struct": [{"name": "k", "dtype": "float64"}]},
            {"name": "boxes", "list": {"list": "int64"}}]},
        {"name": "n", "dtype": "float64"}]
