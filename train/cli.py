"""The `train` command: options → config, one library call, TrainError → one line + exit code.

TensorFlow is imported inside the commands, so `train --help` answers at once.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from train.config import (
    ColorMode,
    CompareConfig,
    FitConfig,
    ModelConfig,
    ModelName,
    Schedule,
    TrainConfig,
)
from train.errors import ConfigError, TrainError

# Before TensorFlow loads: keep its C++ info lines, and the retracing warnings that every new
# model in `compare` sets off, out of the user's terminal. Errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)

app = typer.Typer(help="Fit the Keras tutorials' CNNs on a (possibly expanded) image folder, "
                       "evaluate them, and compare original against expanded data.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@contextmanager
def _errors() -> Iterator[None]:
    """The one error boundary: a TrainError is a user's problem, shown without a traceback."""
    try:
        yield
    except TrainError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--image-size: expected N or HxW (e.g. 24 or 224x224), got {text!r}")
    sides = [int(p) for p in parts]
    return (sides[0], sides[-1])


ModelOpt = Annotated[ModelName, typer.Option("--model", "-m", help="Tutorial architecture.")]
SizeOpt = Annotated[str | None, typer.Option(
    "--image-size", help="Resize images to N or HxW pixels (default: the model's tutorial size).")]
ColorOpt = Annotated[ColorMode, typer.Option("--color-mode", help="Channels read from images.")]
WeightsOpt = Annotated[str | None, typer.Option(
    "--weights", help="VGG16 base weights: imagenet, none or a local .h5 file "
                      "(default: imagenet for vgg16-*, none otherwise).")]
EpochsOpt = Annotated[int, typer.Option("--epochs", min=1, help="Training epochs.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Images per optimizer step.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Adam learning rate.")]


@app.command()
def fit(
    train_dir: Annotated[Path, typer.Argument(
        help="Training folder: an `expand` output or a plain class-per-folder dataset.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write.")],
    model: ModelOpt = ModelConfig.name,
    image_size: SizeOpt = None,
    color_mode: ColorOpt = ModelConfig.color_mode,
    weights: WeightsOpt = None,
    epochs: EpochsOpt = FitConfig.epochs,
    batch_size: BatchOpt = FitConfig.batch_size,
    lr: LrOpt = FitConfig.learning_rate,
    seed: Annotated[int, typer.Option(min=0, help="Seed of weights, shuffling and split.")] = 0,
    val: Annotated[Path | None, typer.Option(
        "--val", help="Separate validation folder (instead of holding out sources).")] = None,
    val_fraction: Annotated[float, typer.Option(
        help="Share of source images (files, for a plain folder) held out for validation; "
             "0 for none.")] = 0.2,
    early_stopping: Annotated[int, typer.Option(
        min=0, help="Stop after this many epochs without a better val_loss; 0 is off.")] = 0,
    checkpoint: Annotated[bool, typer.Option(
        help="Also keep the best epoch's model as best.keras.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Write into a non-empty run folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a model and write its run folder (model, history, metrics, pictures)."""
    with _errors():
        config = TrainConfig(
            train_dir, ModelConfig(model, _image_size(image_size), color_mode, weights),
            FitConfig(batch_size, epochs, lr, seed, early_stopping, checkpoint), val,
            val_fraction)
        from train.fit import fit_run

        result = fit_run(config, out, overwrite=overwrite, verbose=0 if quiet else "auto")
    split = result.trained.data.split
    held = f" ({len(split.val_sources)} held-out source images)" if split.val_sources else ""
    typer.echo(f"split {split.method}: {len(split.train_files)} training images, "
               f"{len(split.val_files)} validation images{held}")
    if result.validation is not None:
        typer.echo(result.validation.report)
        typer.echo(f"validation accuracy: {result.validation.accuracy:.4f} "
                   f"({result.validation.correct}/{result.validation.images} images)")
    typer.echo(f"run folder: {out}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `train fit`.")],
    data_dir: Annotated[Path, typer.Argument(help="Test folder with the run's classes.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write the results (default: RUN/eval/<DATA_DIR name>).")
    ] = None,
    batch_size: BatchOpt = FitConfig.batch_size,
) -> None:
    """Evaluate a run's model on a test folder: report, metrics.json, confusion matrix."""
    with _errors():
        from train.evaluate import evaluate_run

        evaluation, folder = evaluate_run(run, data_dir, out, batch_size)
    typer.echo(evaluation.report)
    typer.echo(f"accuracy: {evaluation.accuracy:.4f} "
               f"({evaluation.correct}/{evaluation.images} images)")
    typer.echo(f"results: {folder}")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="Run folder written by `train fit`.")],
    images: Annotated[list[Path], typer.Argument(help="Image files to classify.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify images: the most probable class and every class's probability."""
    with _errors():
        from train.evaluate import predict_images

        predictions = predict_images(run, images)
    if as_json:
        typer.echo(json.dumps([{"image": str(p.path), "class": p.label,
                                "probabilities": p.probabilities} for p in predictions], indent=2))
        return
    for p in predictions:
        probs = "  ".join(f"{name} {value:.4f}" for name, value in p.probabilities.items())
        typer.echo(f"{p.path}\t{p.label}\t{probs}")


@app.command()
def compare(
    original: Annotated[Path, typer.Argument(help="The original class-per-folder dataset.")],
    expanded: Annotated[Path, typer.Argument(help="Its `expand` output.")],
    test: Annotated[list[Path], typer.Option(
        "--test", help="Test folder (repeat for several); only ever used for evaluation.")],
    model: ModelOpt = ModelConfig.name,
    image_size: SizeOpt = None,
    color_mode: ColorOpt = ModelConfig.color_mode,
    weights: WeightsOpt = None,
    epochs: EpochsOpt = FitConfig.epochs,
    batch_size: BatchOpt = FitConfig.batch_size,
    lr: LrOpt = FitConfig.learning_rate,
    seeds: Annotated[int, typer.Option(min=1, help="Paired seeds per arm (K).")] = 5,
    first_seed: Annotated[int, typer.Option(min=0, help="Seeds are first-seed .. +K-1.")] = 0,
    schedule: Annotated[Schedule, typer.Option(
        help="equal-steps: both arms get as many optimizer steps as EPOCHS passes over the "
             "larger folder; equal-epochs: EPOCHS passes over each arm's own folder (the "
             "tutorials).")] = "equal-steps",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Train the same model on ORIGINAL and EXPANDED with K paired seeds; test both."""
    with _errors():
        config = CompareConfig(
            original, expanded, tuple(test),
            ModelConfig(model, _image_size(image_size), color_mode, weights), batch_size,
            epochs, lr, seeds, first_seed, schedule)
        from train.compare import ArmRun, compare_datasets, format_comparison

        def progress(run: ArmRun) -> None:
            accs = ", ".join(f"{100 * a:.2f}" for a in run.accuracies)
            typer.echo(f"seed {run.seed} {run.arm}: test accuracy {accs}", err=True)

        comparison = compare_datasets(config, progress)
    typer.echo(json.dumps(comparison.to_dict(), indent=2) if as_json
               else format_comparison(comparison))


def main() -> None:
    """Console-script entry point."""
    app()
