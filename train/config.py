"""What a training or comparison run does: frozen, validated once, free of TensorFlow."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from train.errors import ConfigError

ModelName = Literal["shapes", "cifar", "scratch224", "vgg16-features", "vgg16-finetune"]
ColorMode = Literal["grayscale", "rgb", "rgba"]
Schedule = Literal["equal-steps", "equal-epochs"]

MODEL_NAMES: tuple[str, ...] = get_args(ModelName)
COLOR_MODES: tuple[str, ...] = get_args(ColorMode)
SCHEDULES: tuple[str, ...] = get_args(Schedule)
CHANNELS: dict[str, int] = {"grayscale": 1, "rgb": 3, "rgba": 4}

#: The input size each tutorial trained at (height, width).
DEFAULT_IMAGE_SIZE: dict[str, tuple[int, int]] = {
    "shapes": (24, 24),
    "cifar": (32, 32),
    "scratch224": (224, 224),
    "vgg16-features": (224, 224),
    "vgg16-finetune": (224, 224),
}
#: The smallest side each architecture accepts (its convolutions and pools must leave >= 1 pixel).
MIN_IMAGE_SIDE: dict[str, int] = {
    "shapes": 6,
    "cifar": 8,
    "scratch224": 16,
    "vgg16-features": 32,
    "vgg16-finetune": 32,
}
PRETRAINED_MODELS: frozenset[str] = frozenset({"vgg16-features", "vgg16-finetune"})


def _int_at_least(name: str, value: int, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}: expected an integer >= {low}, got {value!r}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Which network, the input it sees and where its pretrained weights come from.

    `image_size` None means the tutorial's size for the model; `weights` None means `imagenet`
    for the VGG16 models and `none` for the others. `weights` may also be a path to a local
    weights file for the pretrained base (Keras's `vgg16_..._notop.h5`). The VGG16 models refuse
    `none`: their base is frozen, and a frozen random base learns nothing.
    """

    name: ModelName = "shapes"
    image_size: tuple[int, int] | None = None
    color_mode: ColorMode = "rgb"
    weights: str | None = None

    def __post_init__(self) -> None:
        _choice("model", self.name, MODEL_NAMES)
        _choice("color_mode", self.color_mode, COLOR_MODES)
        if self.image_size is not None:
            if len(self.image_size) != 2:
                raise ConfigError(f"image_size: expected (height, width), got {self.image_size!r}")
            for side in self.image_size:
                _int_at_least("image_size", side)
            if min(self.image_size) < MIN_IMAGE_SIDE[self.name]:
                raise ConfigError(f"image_size: model '{self.name}' needs sides >= "
                                  f"{MIN_IMAGE_SIDE[self.name]}, got {self.image_size!r}")
        pretrained = self.name in PRETRAINED_MODELS
        if pretrained and self.color_mode != "rgb":
            raise ConfigError(f"color_mode: model '{self.name}' is VGG16, which takes rgb images, "
                              f"got {self.color_mode!r}")
        if pretrained and self.weights == "none":
            raise ConfigError(f"weights: model '{self.name}' keeps its VGG16 base frozen, and a "
                              f"frozen base with random weights (--weights none) learns nothing; "
                              f"give it ImageNet weights (--weights imagenet, or offline "
                              f"--weights PATH to the notop .h5 file) or train a network from "
                              f"scratch with --model scratch224")
        if self.weights not in (None, "none") and not pretrained:
            raise ConfigError(f"weights: model '{self.name}' has no pretrained base; "
                              f"use --weights none (got {self.weights!r})")
        if self.weights not in (None, "none", "imagenet") and not Path(self.weights).is_file():
            raise ConfigError(f"weights: expected imagenet, none or the path of a weights file, "
                              f"got {self.weights!r} (no such file)")

    @property
    def size(self) -> tuple[int, int]:
        """Height and width the images are resized to."""
        return self.image_size or DEFAULT_IMAGE_SIZE[self.name]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.size, CHANNELS[self.color_mode])

    @property
    def weights_source(self) -> str:
        """`imagenet`, `none` or a file path: the default resolved."""
        if self.weights is None:
            return "imagenet" if self.name in PRETRAINED_MODELS else "none"
        return self.weights

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "image_size": list(self.size), "color_mode": self.color_mode,
                "weights": self.weights_source}


@dataclass(frozen=True)
class FitConfig:
    """How long and how fast to train.

    `early_stopping` is a patience in epochs (0: off); it watches `val_loss`, or `loss` when there
    is no validation set. `steps_per_epoch` set means the training data repeat, so an epoch is
    that many optimizer steps rather than one pass (how `compare` equalises steps).
    """

    batch_size: int = 32
    epochs: int = 10
    learning_rate: float = 1e-3
    seed: int = 0
    early_stopping: int = 0
    checkpoint: bool = False
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        _int_at_least("batch_size", self.batch_size)
        _int_at_least("epochs", self.epochs)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate: expected a number > 0, got {self.learning_rate!r}")
        _int_at_least("seed", self.seed, 0)
        _int_at_least("early_stopping", self.early_stopping, 0)
        if self.steps_per_epoch is not None:
            _int_at_least("steps_per_epoch", self.steps_per_epoch)

    def to_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "epochs": self.epochs,
                "learning_rate": self.learning_rate, "seed": self.seed,
                "early_stopping": self.early_stopping, "checkpoint": self.checkpoint,
                "steps_per_epoch": self.steps_per_epoch}


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the data, the network and the schedule.

    Validation comes from `val_dir` when given; otherwise `val_fraction` of the training folder's
    source images (of its files, for a plain folder) is held out. 0 means no validation.
    """

    train_dir: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    val_dir: Path | None = None
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not (0.0 <= self.val_fraction < 1.0):
            raise ConfigError(f"val_fraction: expected 0 <= value < 1, got {self.val_fraction!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"train_dir": str(self.train_dir), "model": self.model.to_dict(),
                "fit": self.fit.to_dict(),
                "val_dir": None if self.val_dir is None else str(self.val_dir),
                "val_fraction": self.val_fraction}


@dataclass(frozen=True)
class CompareConfig:
    """The same model trained on two folders with K paired seeds, evaluated on test folders.

    `equal-steps` gives both arms `epochs` x (steps of one pass over the larger folder) optimizer
    steps, so the comparison measures the data, not the compute; `equal-epochs` gives each arm
    `epochs` passes over its own folder, as the tutorials did.
    """

    original_dir: Path
    expanded_dir: Path
    test_dirs: tuple[Path, ...]
    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = FitConfig.batch_size
    epochs: int = FitConfig.epochs
    learning_rate: float = FitConfig.learning_rate
    seeds: int = 5
    first_seed: int = 0
    schedule: Schedule = "equal-steps"
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not self.test_dirs:
            raise ConfigError("test_dirs: give at least one test folder (--test DIR)")
        _int_at_least("seeds", self.seeds)
        _choice("schedule", self.schedule, SCHEDULES)
        if not (0.0 < self.confidence < 1.0):
            raise ConfigError(f"confidence: expected 0 < value < 1, got {self.confidence!r}")
        # Reuse FitConfig's checks for the shared fields.
        self.fit_config(self.first_seed, None)

    def fit_config(self, seed: int, steps_per_epoch: int | None) -> FitConfig:
        return FitConfig(batch_size=self.batch_size, epochs=self.epochs,
                         learning_rate=self.learning_rate, seed=seed,
                         steps_per_epoch=steps_per_epoch)

    def to_dict(self) -> dict[str, Any]:
        return {"original_dir": str(self.original_dir), "expanded_dir": str(self.expanded_dir),
                "test_dirs": [str(p) for p in self.test_dirs], "model": self.model.to_dict(),
                "batch_size": self.batch_size, "epochs": self.epochs,
                "learning_rate": self.learning_rate, "seeds": self.seeds,
                "first_seed": self.first_seed, "schedule": self.schedule,
                "confidence": self.confidence}
