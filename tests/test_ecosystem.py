"""An expanded folder loads unchanged where users already work: Keras, Hugging Face, torchvision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expand.config import AugmentConfig, ExpandConfig
from expand.run.runner import expand_dataset

COPIES = 3


@pytest.fixture(scope="module")
def expanded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eco") / "aug"
    src = Path(__file__).resolve().parents[1] / "samples" / "shapes" / "train"
    expand_dataset(ExpandConfig(src=src, out=out, copies=COPIES, include_originals=True,
                                augment=AugmentConfig(rotation_range=20, horizontal_flip=True)))
    return out


def test_sub_folders_are_exactly_the_classes(expanded: Path) -> None:
    # torchvision's ImageFolder takes every sub-folder as a class, hidden ones included
    assert sorted(p.name for p in expanded.iterdir() if p.is_dir()) == \
        ["circle", "rectangle", "triangle"]


@pytest.mark.slow
def test_keras_image_dataset_from_directory_reads_it(expanded: Path) -> None:
    keras = pytest.importorskip("keras", reason="needs the test extra (TensorFlow)")
    dataset = keras.utils.image_dataset_from_directory(expanded, image_size=(24, 24),
                                                       batch_size=64, shuffle=False)
    assert dataset.class_names == ["circle", "rectangle", "triangle"]
    labels = [int(label) for _, batch in dataset for label in batch]
    assert [labels.count(i) for i in range(3)] == [15 * (COPIES + 1)] * 3


@pytest.mark.slow
def test_hugging_face_imagefolder_reads_it_with_the_manifest_columns(
        expanded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs the test extra (datasets)")
    loaded = datasets.load_dataset("imagefolder", data_dir=str(expanded), split="train",
                                   cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 45 * (COPIES + 1)
    assert {"image", "label", "source", "copy", "params"} <= set(loaded.column_names)
    manifest = {json.loads(line)["sha256"]: json.loads(line)
                for line in (expanded / "metadata.jsonl").open()}
    for row in loaded.select(range(0, loaded.num_rows, 17)):
        recorded = manifest[row["sha256"]]
        assert (row["label"], row["source"], row["copy"]) == \
            (recorded["label"], recorded["source"], recorded["copy"])
        assert row["image"].size == (recorded["width"], recorded["height"])
    assert sorted(set(loaded["label"])) == ["circle", "rectangle", "triangle"]


def test_the_manifest_reads_into_pandas_one_row_per_file(expanded: Path) -> None:
    pandas = pytest.importorskip("pandas", reason="pandas comes with the test extra")
    frame = pandas.read_json(expanded / "metadata.jsonl", lines=True)
    assert len(frame) == len(list(expanded.glob("*/*.png"))) == 45 * (COPIES + 1)
    assert frame["copy"].isna().sum() == 45
    assert set(frame.columns) == {"file_name", "label", "source", "source_sha256", "copy", "sha256", "bytes",
                                  "width", "height", "mode", "params"}
