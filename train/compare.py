"""Original against expanded: paired seeds, equal optimizer steps, a CI of the paired difference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from train.config import CompareConfig, TrainConfig
from train.data import (
    check_classes,
    count_sources,
    list_images,
    load_folder,
    steps_per_pass,
    training_classes,
)
from train.evaluate import evaluate_model
from train.fit import train_model
from train.uncertainty import small_test_warning

ARMS = ("original", "expanded")


@dataclass(frozen=True)
class ArmRun:
    """One trained model: which arm, which seed, and its accuracy on each test folder."""

    arm: str
    seed: int
    accuracies: tuple[float, ...]


@dataclass(frozen=True)
class TestResult:
    """Both arms on one test folder: per-seed accuracies and the paired difference."""

    test_dir: Path
    images: int
    sources: int
    accuracies: dict[str, tuple[float, ...]]
    confidence: float

    @property
    def differences(self) -> tuple[float, ...]:
        """Expanded minus original, seed by seed (same seed: same initial weights)."""
        return tuple(e - o for o, e in zip(self.accuracies["original"],
                                           self.accuracies["expanded"]))

    @property
    def interval(self) -> tuple[float, float] | None:
        """Student-t interval of the mean paired difference over seeds; None with one seed."""
        diffs = np.array(self.differences)
        if len(diffs) < 2:
            return None
        half = stats.t.ppf((1 + self.confidence) / 2, len(diffs) - 1) * _std(diffs) / np.sqrt(
            len(diffs))
        return (float(diffs.mean() - half), float(diffs.mean() + half))

    @property
    def warning(self) -> str | None:
        return small_test_warning(self.test_dir, self.images, self.sources, self.confidence,
                                  gap=float(np.mean(self.differences)))

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval
        diffs = np.array(self.differences)
        return {
            "test_dir": str(self.test_dir),
            "images": self.images,
            "sources": self.sources,
            "points_per_image": 100 / self.images,
            "arms": {arm: {"accuracies": list(accs), "mean": float(np.mean(accs)),
                           "std": _std(np.array(accs))}
                     for arm, accs in self.accuracies.items()},
            "difference": {"per_seed": list(self.differences), "mean": float(diffs.mean()),
                           "std": _std(diffs), "confidence": self.confidence,
                           "interval": None if interval is None else list(interval)},
            "warning": self.warning,
        }


def _std(values: np.ndarray) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


@dataclass(frozen=True)
class Comparison:
    """The outcome of `compare`: the design, and one result per test folder."""

    config: CompareConfig
    seeds: tuple[int, ...]
    train_images: dict[str, int]
    steps: dict[str, int]
    tests: tuple[TestResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "seeds": list(self.seeds),
                "train_images": self.train_images, "optimizer_steps": self.steps,
                "tests": [test.to_dict() for test in self.tests]}


def compare_datasets(config: CompareConfig, on_run: Callable[[ArmRun], None] | None = None
            ) -> Comparison:
    """Train the same model on both folders with paired seeds and test each model.

    Args:
        config: folders, model, schedule and number of seeds.
        on_run: called after each trained model (for progress display).

    Raises:
        DatasetError, ClassMismatchError: a folder is unusable, or the classes differ.
        ConfigError, WeightsUnavailableError: the model's weights cannot be had.
    """
    classes = training_classes(config.original_dir, "original")
    check_classes(classes, config.expanded_dir, "expanded")
    folders = {"original": config.original_dir, "expanded": config.expanded_dir}
    images = {arm: len(list_images(folder, classes)) for arm, folder in folders.items()}
    if config.schedule == "equal-steps":
        per_epoch = steps_per_pass(max(images.values()), config.batch_size)
        steps_per_epoch: dict[str, int | None] = dict.fromkeys(ARMS, per_epoch)
        steps = dict.fromkeys(ARMS, per_epoch * config.epochs)
    else:
        steps_per_epoch = dict.fromkeys(ARMS, None)
        steps = {arm: steps_per_pass(n, config.batch_size) * config.epochs
                 for arm, n in images.items()}
    tests = []
    for test_dir in config.test_dirs:
        check_classes(classes, test_dir, "test")
        dataset, files = load_folder(test_dir, classes, config.model.size,
                                     config.model.color_mode)
        tests.append((test_dir, dataset.cache().batch(config.batch_size), files,
                      count_sources(test_dir, files)))
    seeds = tuple(range(config.first_seed, config.first_seed + config.seeds))
    accuracies: dict[str, list[list[float]]] = {arm: [[] for _ in tests] for arm in ARMS}
    for seed in seeds:
        for arm in ARMS:
            trained = train_model(
                TrainConfig(folders[arm], model=config.model, val_fraction=0.0,
                            fit=config.fit_config(seed, steps_per_epoch[arm])),
                classes=classes, verbose=0)
            run = ArmRun(arm, seed, tuple(
                evaluate_model(trained.model, dataset, files, classes, test_dir).accuracy
                for test_dir, dataset, files, _ in tests))
            for per_test, accuracy in zip(accuracies[arm], run.accuracies):
                per_test.append(accuracy)
            if on_run is not None:
                on_run(run)
    return Comparison(config, seeds, images, steps, tuple(
        TestResult(test_dir, len(files), sources,
                   {arm: tuple(accuracies[arm][i]) for arm in ARMS}, config.confidence)
        for i, (test_dir, _, files, sources) in enumerate(tests)))


def format_comparison(comparison: Comparison) -> str:
    """The comparison as a plain-text table per test folder, in accuracy points."""
    lines = [f"model {comparison.config.model.name}, {comparison.config.schedule}: "
             + ", ".join(f"{arm} {comparison.train_images[arm]} images, "
                         f"{comparison.steps[arm]} optimizer steps" for arm in ARMS)]
    for test in comparison.tests:
        lines += ["", (f"test {test.test_dir} ({test.images} images from {test.sources} "
                       f"independent sources; one image = {100 / test.images:.2f} points)"),
                  (f"{'arm':<10}" + "".join(f"{'seed ' + str(s):>9}" for s in comparison.seeds)
                   + f"{'mean':>9}{'std':>8}")]
        for arm in ARMS:
            accs = np.array(test.accuracies[arm]) * 100
            std = _std(accs)
            lines.append(f"{arm:<10}" + "".join(f"{a:9.2f}" for a in accs)
                         + f"{accs.mean():9.2f}" + (f"{std:8.2f}" if std is not None else
                                                    f"{'-':>8}"))
        mean = 100 * float(np.mean(test.differences))
        interval = test.interval
        span = ("" if interval is None else
                f", {100 * test.confidence:.0f}% CI [{100 * interval[0]:+.2f}, "
                f"{100 * interval[1]:+.2f}] over {len(comparison.seeds)} paired seeds")
        lines.append(f"difference (expanded - original): {mean:+.2f} points{span}")
        if test.warning is not None:
            lines.append(f"warning: {test.warning}")
    return "\n".join(lines)
