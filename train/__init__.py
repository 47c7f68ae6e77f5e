"""Fit the Keras tutorials' CNNs on an expanded dataset, evaluate them, compare with the original.

The configuration and errors load at once; everything that needs TensorFlow loads on first use,
so importing `train` (and `train --help`) stays fast. No public function shares its name with
a submodule: `from train import x` would hand back the module once it is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from train.config import CompareConfig, FitConfig, ModelConfig, TrainConfig
from train.errors import (
    ClassMismatchError,
    ConfigError,
    DatasetError,
    RunFolderError,
    TrainError,
    WeightsUnavailableError,
)

if TYPE_CHECKING:
    from train.compare import Comparison, compare_datasets
    from train.data import Split, plan_split
    from train.evaluate import Evaluation, Prediction, evaluate_run, predict_images
    from train.fit import FitRun, fit_run, train_model
    from train.models import MODEL_BUILDERS, build_model

_LAZY = {
    "Comparison": "train.compare", "compare_datasets": "train.compare",
    "Split": "train.data", "plan_split": "train.data",
    "Evaluation": "train.evaluate", "Prediction": "train.evaluate",
    "evaluate_run": "train.evaluate", "predict_images": "train.evaluate",
    "FitRun": "train.fit", "fit_run": "train.fit", "train_model": "train.fit",
    "MODEL_BUILDERS": "train.models", "build_model": "train.models",
}

__all__ = [
    "MODEL_BUILDERS",
    "ClassMismatchError",
    "CompareConfig",
    "Comparison",
    "ConfigError",
    "DatasetError",
    "Evaluation",
    "FitConfig",
    "FitRun",
    "ModelConfig",
    "Prediction",
    "RunFolderError",
    "Split",
    "TrainConfig",
    "TrainError",
    "WeightsUnavailableError",
    "build_model",
    "compare_datasets",
    "evaluate_run",
    "fit_run",
    "plan_split",
    "predict_images",
    "train_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'train' has no attribute {name!r}")
