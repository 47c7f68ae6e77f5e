"""Predictions → scikit-learn metrics, the classification report and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

import train.models  # noqa: F401  (registers VGGPreprocess, so saved VGG16 models load)
from train import plots
from train.data import (
    check_classes,
    count_sources,
    decoding_errors,
    image_files,
    load_folder,
    load_images,
)
from train.errors import RunFolderError
from train.runfolder import (
    CONFUSION_FILE,
    EVAL_FOLDER,
    METRICS_FILE,
    REPORT_FILE,
    RunInfo,
    write_json,
)
from train.uncertainty import small_test_warning

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on one folder, and the metrics scikit-learn computes from them.

    `sources` is what the accuracy rests on: the independent source images among `files`.
    """

    data_dir: Path
    class_names: tuple[str, ...]
    files: tuple[str, ...]
    labels: np.ndarray
    probabilities: np.ndarray
    sources: int

    @property
    def predicted(self) -> np.ndarray:
        return np.asarray(np.argmax(self.probabilities, axis=1))

    @property
    def images(self) -> int:
        return len(self.files)

    @property
    def correct(self) -> int:
        return int(np.sum(self.predicted == self.labels))

    @property
    def accuracy(self) -> float:
        return float(accuracy_score(self.labels, self.predicted))

    @property
    def majority_class(self) -> str:
        return self.class_names[int(np.argmax(np.bincount(self.labels,
                                                          minlength=len(self.class_names))))]

    @property
    def chance(self) -> float:
        """The majority-class rate: what always answering the largest class scores here.

        Not 1/classes: on an unbalanced folder a model that learnt nothing scores more than that.
        """
        return float(np.max(np.bincount(self.labels)) / self.images)

    @property
    def warning(self) -> str | None:
        """`compare`'s small-test warning, for this one accuracy."""
        return small_test_warning(self.data_dir, self.images, self.sources)

    def _report(self, as_dict: bool) -> Any:
        return classification_report(self.labels, self.predicted,
                                     labels=list(range(len(self.class_names))),
                                     target_names=list(self.class_names), digits=4,
                                     zero_division=0, output_dict=as_dict)

    @cached_property
    def report(self) -> str:
        """scikit-learn's classification report, as printed."""
        return str(self._report(False))

    @cached_property
    def confusion(self) -> list[list[int]]:
        matrix = confusion_matrix(self.labels, self.predicted,
                                  labels=list(range(len(self.class_names))))
        return [[int(v) for v in row] for row in matrix]

    def to_dict(self, predictions: bool = True) -> dict[str, Any]:
        """metrics.json: accuracy, what it rests on, per-class precision/recall/F1, confusion
        matrix, and (unless `predictions` is False) every file's prediction."""
        report = self._report(True)

        def scores(entry: dict[str, float]) -> dict[str, float | int]:
            return {"precision": float(entry["precision"]), "recall": float(entry["recall"]),
                    "f1": float(entry["f1-score"]), "support": int(entry["support"])}

        return {
            "data_dir": str(self.data_dir),
            "images": self.images,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "sources": self.sources,
            "chance_level": {"accuracy": self.chance, "rule": "majority class rate",
                             "majority_class": self.majority_class},
            "warning": self.warning,
            "class_names": list(self.class_names),
            "per_class": {name: scores(report[name]) for name in self.class_names},
            "macro_avg": scores(report["macro avg"]),
            "weighted_avg": scores(report["weighted avg"]),
            "confusion_matrix": self.confusion,
            "confusion_matrix_axes": "rows: true class, columns: predicted class",
        } | ({"predictions": [
            {"file": name, "label": self.class_names[int(true)],
             "predicted": self.class_names[int(guess)],
             "probabilities": [round(float(p), 6) for p in probs]}
            for name, true, guess, probs in zip(self.files, self.labels, self.predicted,
                                                self.probabilities)]} if predictions else {})


def _images(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    return images


def evaluate_model(model: keras.Model, dataset: tf.data.Dataset, files: tuple[str, ...],
                   class_names: tuple[str, ...], data_dir: Path) -> Evaluation:
    """Predict every batch of `dataset` (batched, unshuffled, cached, in the order of `files`).

    Raises:
        DatasetError: an image could not be decoded, or `data_dir`'s manifest is unreadable.
    """
    sources = count_sources(data_dir, files)
    with decoding_errors():
        probabilities = np.asarray(model.predict(dataset.map(_images), verbose=0))
        labels = np.concatenate([np.asarray(batch) for _, batch in dataset])
    return Evaluation(data_dir, class_names, files, labels, probabilities, sources)


def write_evaluation(evaluation: Evaluation, folder: Path, title: str) -> None:
    """metrics.json, classification_report.txt and confusion_matrix.png into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / METRICS_FILE, evaluation.to_dict())
    (folder / REPORT_FILE).write_text(evaluation.report, encoding="utf-8")
    plots.confusion_matrix(evaluation.confusion, evaluation.class_names, folder / CONFUSION_FILE,
                           f"{title}: accuracy {evaluation.accuracy:.4f} "
                           f"({evaluation.correct}/{evaluation.images})")


def load_run_model(info: RunInfo) -> keras.Model:
    """The run's saved model.

    Raises:
        RunFolderError: model.keras is damaged or not a Keras model.
    """
    try:
        return keras.models.load_model(info.model_path)
    except (ValueError, OSError) as error:
        raise RunFolderError(f"{info.model_path} cannot be loaded: "
                             f"{str(error).strip().splitlines()[0]}") from error


def evaluate_run(run_dir: Path, data_dir: Path, out_dir: Path | None = None,
                 batch_size: int = 32) -> tuple[Evaluation, Path]:
    """Evaluate a finished run's model on a class-per-folder test set and save the results.

    Args:
        run_dir: a run folder written by `fit_run`.
        data_dir: the test folder; its classes must be the run's.
        out_dir: where the results go; default `run_dir/eval/<data_dir's name>`.
        batch_size: images per prediction batch.

    Returns:
        The evaluation and the folder its files were written to.

    Raises:
        RunFolderError: `run_dir` is not a finished run.
        DatasetError, ClassMismatchError: `data_dir` is unusable or has other classes.
    """
    info = RunInfo.read(run_dir)
    check_classes(info.class_names, data_dir, "test")
    dataset, files = load_folder(data_dir, info.class_names, info.image_size, info.color_mode)
    model = load_run_model(info)
    evaluation = evaluate_model(model, dataset.cache().batch(batch_size), files, info.class_names,
                                data_dir)
    folder = out_dir if out_dir is not None else run_dir / EVAL_FOLDER / data_dir.resolve().name
    write_evaluation(evaluation, folder, f"test on {data_dir.resolve().name}")
    return evaluation, folder


@dataclass(frozen=True)
class Prediction:
    """The most probable class of one image, and every class's probability."""

    path: Path
    label: str
    probabilities: dict[str, float]


def predict_images(run_dir: Path, images: list[Path]) -> tuple[Prediction, ...]:
    """Classify image files, and every image of each folder given, with a finished run's model.

    Raises:
        RunFolderError: `run_dir` is not a finished run.
        DatasetError: an image is missing or unreadable, or a folder holds none.
    """
    info = RunInfo.read(run_dir)
    images = image_files(images)
    pixels = load_images(images, info.image_size, info.color_mode)
    probabilities = np.asarray(load_run_model(info).predict(pixels, batch_size=32, verbose=0))
    return tuple(
        Prediction(path, info.class_names[int(np.argmax(probs))],
                   {name: float(p) for name, p in zip(info.class_names, probs)})
        for path, probs in zip(images, probabilities))
