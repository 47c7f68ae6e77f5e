"""Seeded training with Keras's callbacks, and the run folder's artifacts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import tensorflow as tf

from train import plots
from train.config import TrainConfig
from train.data import TrainingData, decoding_errors, make_training_data
from train.evaluate import Evaluation, evaluate_model, write_evaluation
from train.models import build_model
from train.runfolder import (
    BEST_MODEL_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    RUN_FILE,
    VAL_FOLDER,
    prepare,
    write_json,
)

Verbose = Literal["auto", 0, 1, 2]
#: Called after each epoch with its number (from 1), the number of epochs and Keras's logs.
OnEpoch = Callable[[int, int, dict[str, float]], None]


def seed_everything(seed: int) -> None:
    """Same seed, same weights, same batches, same result: what makes seeds paired in compare."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class Trained:
    """A fitted model, its per-epoch history and the data it saw."""

    model: keras.Model
    history: dict[str, list[float]]
    data: TrainingData


def train_model(config: TrainConfig, *, classes: tuple[str, ...] | None = None,
                checkpoint: Path | None = None, verbose: Verbose = "auto",
                on_epoch: OnEpoch | None = None) -> Trained:
    """Build, compile and fit the configured model; nothing is written except `checkpoint`.

    Args:
        config: the run.
        classes: a class order to enforce instead of the training folder's.
        checkpoint: where to keep the best epoch's model (lowest val_loss, or loss).
        verbose: Keras's progress display (0 silent, 1 progress bar, 2 one line per epoch).
        on_epoch: a progress display of one's own (a log wants plain lines, not Keras's bar).

    Raises:
        DatasetError, ClassMismatchError: unusable data.
        ConfigError, WeightsUnavailableError: the model's weights cannot be had.
    """
    keras.backend.clear_session()
    seed_everything(config.fit.seed)
    data = make_training_data(config, classes)
    model = build_model(config.model, len(data.class_names))
    model.compile(optimizer=keras.optimizers.Adam(config.fit.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    monitor = "val_loss" if data.val is not None else "loss"
    callbacks: list[keras.callbacks.Callback] = []
    if config.fit.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.fit.early_stopping, restore_best_weights=True))
    if checkpoint is not None:
        callbacks.append(keras.callbacks.ModelCheckpoint(checkpoint, monitor=monitor,
                                                         save_best_only=True))
    if on_epoch is not None:
        report = on_epoch

        def epoch_end(epoch: int, logs: dict[str, float] | None) -> None:
            report(epoch + 1, config.fit.epochs, {k: float(v) for k, v in (logs or {}).items()})

        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=epoch_end))
    with decoding_errors():
        history = model.fit(data.train, validation_data=data.val, epochs=config.fit.epochs,
                            steps_per_epoch=config.fit.steps_per_epoch, callbacks=callbacks,
                            shuffle=False, verbose=verbose)  # tf.data already shuffles
    return Trained(model, {k: [float(v) for v in vs] for k, vs in history.history.items()}, data)


@dataclass(frozen=True)
class FitRun:
    """A finished `train fit`: where it wrote, what it trained, how it validated."""

    run_dir: Path
    trained: Trained
    validation: Evaluation | None


def fit_run(config: TrainConfig, run_dir: Path, *, overwrite: bool = False,
            verbose: Verbose = "auto", on_epoch: OnEpoch | None = None) -> FitRun:
    """Train and write the run folder.

    The folder gets `model.keras` (the final model, or the best epoch's with early stopping),
    `history.json`, `learning_curves.png`, `run.json` (config, classes, split, versions),
    `best.keras` with checkpointing, and `val/` (metrics.json, classification_report.txt,
    confusion_matrix.png) when there is a validation set.

    Raises:
        RunFolderError: `run_dir` is not empty and `overwrite` is False.
        DatasetError, ClassMismatchError, ConfigError, WeightsUnavailableError: see `train_model`.
    """
    prepare(run_dir, overwrite)
    trained = train_model(config, verbose=verbose, on_epoch=on_epoch,
                          checkpoint=run_dir / BEST_MODEL_FILE if config.fit.checkpoint else None)
    trained.model.save(run_dir / MODEL_FILE)
    write_json(run_dir / HISTORY_FILE, trained.history)
    plots.learning_curves(trained.history, run_dir / CURVES_FILE,
                          f"{config.model.name} on {config.train_dir.resolve().name}")
    validation = None
    data = trained.data
    if data.val is not None:
        validation = evaluate_model(trained.model, data.val, data.val_files, data.class_names,
                                    data.split.val_dir or config.train_dir)
        write_evaluation(validation, run_dir / VAL_FOLDER, "validation")
    write_json(run_dir / RUN_FILE, {
        "config": config.to_dict(),
        "class_names": list(data.class_names),
        "split": data.split.to_dict(),
        "epochs_run": len(next(iter(trained.history.values()), [])),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    })
    return FitRun(run_dir, trained, validation)
