"""train.fit: seeded runs repeat exactly, schedules give the steps they promise, runs are kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_fixtures import SAMPLES

from train.config import FitConfig, ModelConfig, TrainConfig
from train.errors import RunFolderError
from train.fit import fit_run, train_model

# Keras 3.15 converts tensors with a NumPy-2-deprecated call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _config(seed: int = 0, steps_per_epoch: int | None = None) -> TrainConfig:
    return TrainConfig(SAMPLES / "train", ModelConfig("shapes"),
                       FitConfig(batch_size=16, epochs=2, seed=seed,
                                 steps_per_epoch=steps_per_epoch))


def test_same_seed_same_run_other_seed_other_run() -> None:
    first = train_model(_config(seed=7), verbose=0)
    again = train_model(_config(seed=7), verbose=0)
    other = train_model(_config(seed=8), verbose=0)
    assert first.history == again.history
    assert first.history["loss"] != other.history["loss"]
    assert first.data.split == again.data.split


def test_steps_per_epoch_sets_the_optimizer_steps() -> None:
    """36 training images in batches of 16 take 3 steps a pass; 5 steps an epoch repeats them."""
    natural = train_model(_config(), verbose=0)
    assert int(natural.model.optimizer.iterations.numpy()) == 2 * 3
    fixed = train_model(_config(steps_per_epoch=5), verbose=0)
    assert int(fixed.model.optimizer.iterations.numpy()) == 2 * 5


def test_early_stopping_and_checkpoint(tmp_path: Path) -> None:
    # A learning rate this large diverges, so val_loss stops improving and training stops early.
    config = TrainConfig(SAMPLES / "train", ModelConfig("shapes"),
                         FitConfig(batch_size=16, epochs=30, learning_rate=0.5,
                                   early_stopping=2, checkpoint=True))
    run = fit_run(config, tmp_path / "run", verbose=0)
    epochs = len(run.trained.history["loss"])
    assert epochs < 30
    assert (tmp_path / "run" / "best.keras").is_file()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["epochs_run"] == epochs


def test_run_folder_is_never_mixed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    (run / "best.keras").write_text("a previous run's checkpoint")
    (run / "eval" / "test").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="--overwrite"):
        fit_run(_config(), run, verbose=0)
    assert sorted(p.name for p in run.iterdir()) == ["best.keras", "eval", "notes.txt"]
    fit_run(_config(), run, overwrite=True, verbose=0)
    # the old run's artifacts are gone, the new run's are there, the user's file is kept
    assert sorted(p.name for p in run.iterdir()) == [
        "history.json", "learning_curves.png", "model.keras", "notes.txt", "run.json", "val"]
