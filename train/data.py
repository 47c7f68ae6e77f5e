"""Class folders → tf.data: class-order checks, the leak-free split by source, Keras's loader."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from train.config import CHANNELS, ColorMode, TrainConfig
from train.errors import ClassMismatchError, DatasetError

if TYPE_CHECKING:
    import tensorflow as tf

MANIFEST = "metadata.jsonl"
#: What keras.utils.image_dataset_from_directory reads; it skips every other file silently.
KERAS_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: Images Keras would skip without a word: refused loudly instead.
UNREAD_SUFFIXES = (".webp", ".tif", ".tiff")

SplitMethod = Literal["by-source", "by-file", "val-dir", "none"]


@dataclass(frozen=True)
class ManifestRow:
    """The fields of one `metadata.jsonl` row that training needs."""

    file_name: str
    label: str
    source: str
    copy: int | None


@dataclass(frozen=True)
class Split:
    """Which files train and which validate, decided before TensorFlow reads any pixel.

    Paths are POSIX and relative to `train_dir`, or to `val_dir` for `val_files` when the
    validation set is a separate folder. `val_sources` are the held-out source images
    (`by-source` only): no file derived from them is in `train_files`.
    """

    method: SplitMethod
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]
    val_dir: Path | None
    val_sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "train_images": len(self.train_files),
                "val_images": len(self.val_files),
                "val_dir": None if self.val_dir is None else str(self.val_dir),
                "val_sources": list(self.val_sources)}


def class_names(folder: Path, role: str) -> tuple[str, ...]:
    """The sorted class folders of `folder`, as Keras infers them (hidden folders skipped).

    Raises:
        DatasetError: `folder` is missing or has no class folder.
    """
    if not folder.is_dir():
        raise DatasetError(f"{role} folder not found: {folder}")
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DatasetError(f"{role} folder {folder} has no class folders "
                           f"(expected {folder}/<class>/<images>)")
    return tuple(names)


def training_classes(folder: Path, role: str) -> tuple[str, ...]:
    """class_names of a folder a classifier is trained on, which needs two classes at least.

    Raises:
        DatasetError: as class_names, or `folder` has a single class folder.
    """
    classes = class_names(folder, role)
    if len(classes) < 2:
        raise DatasetError(f"{role} folder {folder} has a single class folder "
                           f"({classes[0]}); a classifier needs at least 2")
    return classes


def check_classes(expected: tuple[str, ...], folder: Path, role: str) -> None:
    """Refuse a folder whose classes differ from the training classes.

    Raises:
        ClassMismatchError: the class folders differ; the message names the missing and extra ones.
    """
    found = class_names(folder, role)
    if found == expected:
        return
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"extra {', '.join(extra)}"] if extra else [])
    raise ClassMismatchError(f"{role} folder {folder} has classes [{', '.join(found)}] but the "
                             f"model's classes are [{', '.join(expected)}]: {'; '.join(parts)}")


#: The parts `expand SRC --out DIR --val F [--test F]` writes, each a class-per-folder dataset.
SPLIT_PARTS = ("train", "val", "test")


def split_parts(folder: Path) -> tuple[Path, Path] | None:
    """(DIR/train, DIR/val) when `folder` is a split on disk: its only (non-hidden) folders are
    the parts, train and val among them; None for a class-per-folder dataset."""
    names = {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")} \
        if folder.is_dir() else set()
    if {"train", "val"} <= names <= set(SPLIT_PARTS):
        return folder / "train", folder / "val"
    return None


def list_images(folder: Path, classes: tuple[str, ...]) -> tuple[str, ...]:
    """Every image Keras will read under `folder/<class>/`, as sorted relative POSIX paths.

    Raises:
        DatasetError: a class folder holds images Keras cannot read (WebP, TIFF), or none at all.
    """
    found: list[str] = []
    for name in classes:
        files = [p for p in sorted((folder / name).rglob("*")) if p.is_file()]
        unread = [p for p in files if p.suffix.lower() in UNREAD_SUFFIXES]
        if unread:
            raise DatasetError(
                f"{len(unread)} image(s) in {folder / name} are {unread[0].suffix} files, which "
                f"Keras's image_dataset_from_directory does not read (e.g. {unread[0]}); "
                f"write them as png or jpeg (expand --format png)")
        images = [p.relative_to(folder).as_posix() for p in files
                  if p.suffix.lower() in KERAS_SUFFIXES]
        if not images:
            raise DatasetError(f"class folder {folder / name} holds no png, jpeg, gif or bmp image")
        found += images
    return tuple(sorted(found))


def read_manifest(folder: Path) -> tuple[ManifestRow, ...] | None:
    """The rows of `folder/metadata.jsonl`, or None for a plain class-per-folder dataset.

    Raises:
        DatasetError: a line is not a JSON object with `file_name`, `label`, `source` and `copy`.
    """
    path = folder / MANIFEST
    if not path.is_file():
        return None
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                copy = record["copy"]
                row = ManifestRow(file_name=str(record["file_name"]), label=str(record["label"]),
                                  source=str(record["source"]),
                                  copy=None if copy is None else int(copy))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise DatasetError(f"{path}:{number}: not a manifest row "
                                   f"({type(error).__name__}: {error})") from error
            if row.file_name.split("/", 1)[0] != row.label:
                raise DatasetError(f"{path}:{number}: {row.file_name} is not in the folder of "
                                   f"its label '{row.label}'")
            rows.append(row)
    return tuple(rows)


def count_sources(folder: Path, files: Collection[str]) -> int:
    """How many independent source images `files` (relative to `folder`) come from.

    An `expand` output's manifest names each file's source, and copies of one source count once;
    a file the manifest does not list, or any file of a plain folder, is its own source.

    Raises:
        DatasetError: `folder/metadata.jsonl` is not a manifest.
    """
    rows = read_manifest(folder)
    source_of = {} if rows is None else {row.file_name: row.source for row in rows}
    return len({source_of.get(name, name) for name in files})


def _check_manifest(folder: Path, rows: tuple[ManifestRow, ...], files: tuple[str, ...]) -> None:
    listed = {row.file_name for row in rows}
    on_disk = set(files)
    if listed == on_disk:
        return
    missing = sorted(listed - on_disk)
    unlisted = sorted(on_disk - listed)
    parts = ([f"{len(missing)} listed file(s) are missing (e.g. {missing[0]})"] if missing else [])
    parts += ([f"{len(unlisted)} image(s) are not listed (e.g. {unlisted[0]})"] if unlisted else [])
    raise DatasetError(f"{folder / MANIFEST} does not match the images in {folder}: "
                       f"{'; '.join(parts)}")


def _hold_out(groups: Mapping[str, Collection[str]], fraction: float, seed: int) -> set[str]:
    """Pick round(fraction x n) keys per class (at least 1, never all), reproducibly from `seed`."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for label in sorted(groups):
        keys = sorted(groups[label])
        if len(keys) < 2:
            continue
        count = min(max(round(fraction * len(keys)), 1), len(keys) - 1)
        held.update(keys[i] for i in rng.permutation(len(keys))[:count])
    return held


def plan_split(train_dir: Path, classes: tuple[str, ...], val_fraction: float, seed: int,
               val_dir: Path | None = None) -> Split:
    """Decide the train/validation files without leaking copies of one source into both sides.

    An `expand` output (it has `metadata.jsonl`) is split by source image, stratified by class:
    a held-out source validates with its original when the folder has it, else with all its
    copies, and none of its files trains. A plain folder is split by file. `val_dir` replaces
    the split; `val_fraction` 0 means no validation.

    Raises:
        DatasetError: bad layout, manifest out of step with the files, or too few sources to split.
        ClassMismatchError: `val_dir` has other classes.
    """
    files = list_images(train_dir, classes)
    rows = read_manifest(train_dir)
    if rows is not None:
        _check_manifest(train_dir, rows, files)
    if val_dir is not None:
        check_classes(classes, val_dir, "validation")
        return Split("val-dir", files, list_images(val_dir, classes), val_dir)
    if val_fraction == 0:
        return Split("none", files, (), None)
    if rows is None:
        by_class: dict[str, list[str]] = defaultdict(list)
        for name in files:
            by_class[name.split("/", 1)[0]].append(name)
        held = _hold_out(by_class, val_fraction, seed)
        split = Split("by-file", tuple(f for f in files if f not in held), tuple(sorted(held)),
                      None)
    else:
        sources: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            sources[row.label].add(row.source)
        held = _hold_out(sources, val_fraction, seed)
        has_original = {row.source for row in rows if row.copy is None}
        train = tuple(sorted(r.file_name for r in rows if r.source not in held))
        val = tuple(sorted(r.file_name for r in rows if r.source in held
                           and (r.copy is None or r.source not in has_original)))
        split = Split("by-source", train, val, None, tuple(sorted(held)))
    if not split.val_files:
        raise DatasetError(f"{train_dir}: every class has a single "
                           f"{'source image' if rows is not None else 'image'}, so none can be "
                           f"held out for validation; pass --val DIR or --val-fraction 0")
    return split


@contextmanager
def decoding_errors() -> Iterator[None]:
    """Turn TensorFlow's decode failure, raised mid-epoch, into one readable line."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        first = str(error.message).strip().splitlines()[0]
        raise DatasetError(f"an image could not be read: {first}") from error


def load_folder(folder: Path, classes: tuple[str, ...], image_size: tuple[int, int],
                color_mode: ColorMode) -> tuple[tf.data.Dataset, tuple[str, ...]]:
    """Unbatched (image, label) pairs of `folder` in Keras's order, and their relative paths.

    Labels are indices into `classes`, whatever order the folder lists them in.

    Raises:
        DatasetError: as list_images, or Keras reads other files than those listed.
    """
    import keras

    listed = set(list_images(folder, classes))
    dataset = keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="int", class_names=list(classes),
        color_mode=color_mode, batch_size=None, image_size=image_size, shuffle=False,
        verbose=False)
    paths = tuple(Path(p).relative_to(folder).as_posix() for p in dataset.file_paths)
    if set(paths) != listed:
        odd = min(listed ^ set(paths))
        raise DatasetError(f"{folder}: Keras reads {len(paths)} images where {len(listed)} are "
                           f"listed (e.g. {odd}); Keras does not follow symlinked folders")
    return dataset, paths


def _first(pair: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    return pair


def _second(pair: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    return keep


def _subset(dataset: tf.data.Dataset, paths: tuple[str, ...], keep: set[str]) -> tf.data.Dataset:
    import tensorflow as tf

    mask = [p in keep for p in paths]
    kept = tf.data.Dataset.zip((dataset, tf.data.Dataset.from_tensor_slices(np.array(mask))))
    kept = kept.filter(_second).map(_first)
    # A filter hides the length; Keras wants it for its progress bar and epoch ends.
    return kept.apply(tf.data.experimental.assert_cardinality(sum(mask)))


@dataclass(frozen=True)
class TrainingData:
    """The batched, cached and prefetched datasets of one run, with the split that made them."""

    class_names: tuple[str, ...]
    split: Split
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    val_files: tuple[str, ...]  # in the order `val` yields them


def make_training_data(config: TrainConfig, classes: tuple[str, ...] | None = None
                       ) -> TrainingData:
    """Read the training folder (and validation folder) into tf.data pipelines.

    Args:
        config: the run; its `train_dir` fixes the class order unless `classes` is given.
        classes: a class order to enforce (`compare` passes the original folder's).

    Raises:
        DatasetError, ClassMismatchError: see `plan_split`.
    """
    import tensorflow as tf

    if classes is None:
        classes = training_classes(config.train_dir, "training")
    else:
        check_classes(classes, config.train_dir, "training")
    split = plan_split(config.train_dir, classes, config.val_fraction, config.fit.seed,
                       config.val_dir)
    size, mode = config.model.size, config.model.color_mode
    everything, paths = load_folder(config.train_dir, classes, size, mode)
    batch = config.fit.batch_size
    train = (everything if split.method in ("none", "val-dir")
             else _subset(everything, paths, set(split.train_files)))
    train = train.cache().shuffle(len(split.train_files), seed=config.fit.seed)
    if config.fit.steps_per_epoch is not None:
        train = train.repeat()
    train = train.batch(batch).prefetch(tf.data.AUTOTUNE)
    val: tf.data.Dataset | None = None
    val_files: tuple[str, ...] = ()
    if split.val_dir is not None:
        val, val_files = load_folder(split.val_dir, classes, size, mode)
    elif split.val_files:
        keep = set(split.val_files)
        val, val_files = _subset(everything, paths, keep), tuple(p for p in paths if p in keep)
    if val is not None:
        val = val.cache().batch(batch).prefetch(tf.data.AUTOTUNE)
    return TrainingData(classes, split, train, val, val_files)


def steps_per_pass(images: int, batch_size: int) -> int:
    """Optimizer steps in one pass over `images` (the last batch may be short)."""
    return math.ceil(images / batch_size)


def image_files(paths: list[Path]) -> list[Path]:
    """Each path that is a file, and every image under each folder (recursively, sorted).

    Raises:
        DatasetError: a path does not exist, or a folder holds no image Keras reads or holds
            images it does not (WebP, TIFF), which would otherwise be left out without a word.
    """
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            if not path.exists():
                raise DatasetError(f"image not found: {path}")
            found.append(path)
            continue
        files = [p for p in sorted(path.rglob("*")) if p.is_file()]
        unread = [p for p in files if p.suffix.lower() in UNREAD_SUFFIXES]
        if unread:
            raise DatasetError(f"{len(unread)} image(s) in {path} are {unread[0].suffix} files, "
                               f"which Keras does not read (e.g. {unread[0]}); convert them to "
                               f"png or jpeg")
        images = [p for p in files if p.suffix.lower() in KERAS_SUFFIXES]
        if not images:
            raise DatasetError(f"folder {path} holds no png, jpeg, gif or bmp image")
        found += images
    return found


def load_images(paths: list[Path], image_size: tuple[int, int], color_mode: ColorMode
                ) -> np.ndarray:
    """Decode and resize loose image files exactly as `image_dataset_from_directory` does.

    Raises:
        DatasetError: a file is missing or not a bmp, gif, jpeg or png image.
    """
    import tensorflow as tf

    images = []
    for path in paths:
        if not path.is_file():
            raise DatasetError(f"image not found: {path}")
        try:
            image = tf.image.decode_image(tf.io.read_file(str(path)),
                                          channels=CHANNELS[color_mode], expand_animations=False)
        except tf.errors.InvalidArgumentError as error:
            raise DatasetError(f"{path}: not a bmp, gif, jpeg or png image "
                               f"({str(error.message).strip().splitlines()[0]})") from error
        images.append(tf.image.resize(image, image_size, method="bilinear").numpy())
    return np.stack(images)
