"""train.data: the split by source leaks nothing, classes are checked, plain folders work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import CLASSES, SAMPLES, decode, expand_like, write_coded_source

from train.config import FitConfig, ModelConfig, TrainConfig
from train.data import (
    class_names,
    count_sources,
    image_files,
    list_images,
    load_folder,
    load_images,
    make_training_data,
    plan_split,
)
from train.errors import ClassMismatchError, DatasetError

# Keras 3.15 converts tensors with a NumPy-2-deprecated call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _sources(folder: Path) -> dict[str, str]:
    lines = (folder / "metadata.jsonl").read_text().splitlines()
    return {row["file_name"]: row["source"] for row in map(json.loads, lines)}


@pytest.fixture
def coded(tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    """A coded source folder (5 sources per class) and its expand-style output, 4 copies each."""
    ids = write_coded_source(tmp_path / "src")
    out = expand_like(tmp_path / "src", tmp_path / "expanded", copies=4, coded=ids)
    return tmp_path / "src", out, ids


def test_split_by_source_keeps_every_copy_of_a_source_on_one_side(coded) -> None:
    _, expanded, _ = coded
    split = plan_split(expanded, CLASSES, val_fraction=0.4, seed=3)
    source_of = _sources(expanded)
    train_sources = {source_of[f] for f in split.train_files}
    val_sources = {source_of[f] for f in split.val_files}
    assert split.method == "by-source"
    assert train_sources.isdisjoint(val_sources)
    assert val_sources == set(split.val_sources)
    # 2 of 5 sources per class held out; without originals they validate with all their copies
    assert sorted(s.split("/")[0] for s in val_sources) == sorted(CLASSES * 2)
    assert len(split.val_files) == 6 * 4 and len(split.train_files) == 9 * 4
    assert set(split.train_files) | set(split.val_files) == set(source_of)
    assert plan_split(expanded, CLASSES, 0.4, seed=3) == split


def test_split_validates_with_originals_when_the_folder_has_them(tmp_path: Path) -> None:
    ids = write_coded_source(tmp_path / "src")
    expanded = expand_like(tmp_path / "src", tmp_path / "out", copies=3, include_originals=True,
                           coded=ids)
    split = plan_split(expanded, CLASSES, val_fraction=0.2, seed=0)
    assert len(split.val_sources) == 3
    assert sorted(split.val_files) == sorted(f"{s}__orig.png" for s in split.val_sources)
    held = set(split.val_sources)
    assert not [f for f in split.train_files if _sources(expanded)[f] in held]
    # the held-out sources' copies are in neither side
    assert len(split.train_files) == 12 * 4


def test_training_data_pixels_show_no_leak(coded) -> None:
    """Read back through TensorFlow: the images that train and validate come from apart sources."""
    _, expanded, _ = coded
    config = TrainConfig(expanded, ModelConfig(image_size=(24, 24)), FitConfig(batch_size=5),
                         val_fraction=0.4)
    data = make_training_data(config)
    assert data.val is not None
    seen = {}
    for side, dataset in (("train", data.train), ("val", data.val)):
        seen[side] = [decode(image) + (int(label),) for images, labels in dataset
                      for image, label in zip(images.numpy(), labels.numpy())]
    train_ids = {s for s, _, _ in seen["train"]}
    val_ids = {s for s, _, _ in seen["val"]}
    assert train_ids.isdisjoint(val_ids)
    assert len(seen["train"]) == 36 and len(seen["val"]) == 24
    assert len(train_ids) == 9 and len(val_ids) == 6
    for source_id, copy, label in seen["train"] + seen["val"]:
        assert 0 <= copy < 4
        assert label == (source_id - 1) // 5  # the class of the source, in sorted class order
    # the files reported for validation are the ones the val dataset yields, in order
    assert [decode(np.asarray(load_images([expanded / f], (24, 24), "rgb")[0]))[0]
            for f in data.val_files] == [s for s, _, _ in seen["val"]]


def test_plain_folder_is_split_by_file_stratified(tmp_path: Path) -> None:
    split = plan_split(SAMPLES / "train", CLASSES, val_fraction=0.2, seed=0)
    assert split.method == "by-file" and split.val_sources == ()
    assert sorted(f.split("/")[0] for f in split.val_files) == sorted(CLASSES * 3)
    assert len(split.train_files) == 36
    assert set(split.train_files).isdisjoint(split.val_files)
    data = make_training_data(TrainConfig(SAMPLES / "train", fit=FitConfig(batch_size=64)))
    images, labels = next(iter(data.train))
    assert images.shape == (36, 24, 24, 3)
    assert np.bincount(labels.numpy()).tolist() == [12, 12, 12]


def test_val_dir_and_no_validation(tmp_path: Path) -> None:
    split = plan_split(SAMPLES / "train", CLASSES, 0.2, 0, val_dir=SAMPLES / "test")
    assert (split.method, len(split.train_files), len(split.val_files)) == ("val-dir", 45, 15)
    split = plan_split(SAMPLES / "train", CLASSES, 0.0, 0)
    assert (split.method, len(split.train_files), split.val_files) == ("none", 45, ())


def test_class_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    val = tmp_path / "val"
    shutil.copytree(SAMPLES / "test", val)
    shutil.rmtree(val / "triangle")
    shutil.copytree(SAMPLES / "test" / "circle", val / "star")
    with pytest.raises(ClassMismatchError) as error:
        plan_split(SAMPLES / "train", CLASSES, 0.2, 0, val_dir=val)
    message = str(error.value)
    assert "validation folder" in message and "missing triangle" in message
    assert "extra star" in message and "\n" not in message


def test_missing_or_empty_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="training folder not found"):
        class_names(tmp_path / "nope", "training")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        class_names(tmp_path / "flat", "training")
    (tmp_path / "flat" / "circle").mkdir()
    with pytest.raises(DatasetError, match="holds no png"):
        list_images(tmp_path / "flat", ("circle",))


def test_webp_images_are_refused_not_skipped(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "test", tmp_path / "data")
    (tmp_path / "data" / "circle" / "circle016.png").rename(
        tmp_path / "data" / "circle" / "circle016.webp")
    with pytest.raises(DatasetError, match=r"\.webp files, which Keras"):
        list_images(tmp_path / "data", CLASSES)


def test_manifest_out_of_step_with_the_files_is_an_error(coded) -> None:
    _, expanded, _ = coded
    (expanded / "circle" / "circle000.png__aug0002.png").unlink()
    with pytest.raises(DatasetError, match="1 listed file"):
        plan_split(expanded, CLASSES, 0.2, 0)


def test_too_few_sources_to_hold_out(tmp_path: Path) -> None:
    ids = write_coded_source(tmp_path / "src", per_class=1)
    expanded = expand_like(tmp_path / "src", tmp_path / "out", copies=5, coded=ids)
    with pytest.raises(DatasetError, match="--val DIR or --val-fraction 0"):
        plan_split(expanded, CLASSES, 0.2, 0)


def test_loose_images_load_like_the_folder_loader(tmp_path: Path) -> None:
    """`predict` must see the pixels that training and evaluation saw, resizing included."""
    for size, mode in (((24, 24), "rgb"), ((16, 20), "grayscale")):
        dataset, files = load_folder(SAMPLES / "test", CLASSES, size, mode)
        from_folder = np.stack([image for image, _ in dataset.as_numpy_iterator()])
        loose = load_images([SAMPLES / "test" / f for f in files], size, mode)
        assert loose.shape == (15, *size, 3 if mode == "rgb" else 1)
        np.testing.assert_array_equal(loose, from_folder)


def test_rgba_images_are_read_as_rgb(tmp_path: Path) -> None:
    """The handwriting dataset's PNGs are RGBA; rgb mode drops alpha, as Keras does."""
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.new("RGBA", (24, 24), (10, 20, 30, 255)).save(tmp_path / "a" / "x.png")
    pixels = load_images([tmp_path / "a" / "x.png"], (24, 24), "rgb")
    assert pixels.shape == (1, 24, 24, 3)
    assert pixels[0, 5, 5].tolist() == [10, 20, 30]


@pytest.mark.parametrize("settings", [{"early_stopping": 1.5}, {"early_stopping": -1},
                                      {"seed": -1}, {"seed": True}, {"epochs": 0}])
def test_fit_settings_must_be_whole_numbers_in_range(settings: dict[str, object]) -> None:
    from train.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(settings))):
        FitConfig(**settings)  # type: ignore[arg-type]


def test_compare_refuses_an_original_folder_with_a_single_class(tmp_path: Path) -> None:
    from train.compare import compare_datasets
    from train.config import CompareConfig

    (tmp_path / "only").mkdir()
    with pytest.raises(DatasetError, match="single class folder \\(only\\); a classifier"):
        compare_datasets(CompareConfig(tmp_path, tmp_path, (tmp_path,)))


def test_sources_count_copies_of_one_source_once(coded, tmp_path: Path) -> None:
    src, out, _ = coded
    files = list_images(out, CLASSES)
    assert len(files) == 60 and count_sources(out, files) == 15
    assert count_sources(out, [f for f in files if f.startswith("circle/")]) == 5
    assert count_sources(src, list_images(src, CLASSES)) == 15  # a plain folder: one file each


def test_image_files_open_folders_recursively_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for name in ("b/deep/z.png", "b/a.jpg", "b/notes.txt", "c.png"):
        (tmp_path / name).write_bytes(b"")
    assert image_files([tmp_path / "c.png", tmp_path / "b"]) == [
        tmp_path / "c.png", tmp_path / "b" / "a.jpg", tmp_path / "b" / "deep" / "z.png"]
    (tmp_path / "b" / "x.webp").write_bytes(b"")
    with pytest.raises(DatasetError, match="webp files, which Keras does not read"):
        image_files([tmp_path / "b"])
    with pytest.raises(DatasetError, match="image not found"):
        image_files([tmp_path / "missing.png"])
