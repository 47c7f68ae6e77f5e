"""The `train` command: options → config, one library call, TrainError → one line + exit code.

TensorFlow is imported inside the commands, so `train --help` answers at once. Output is fit for
a log: Keras's progress bar only on a colour terminal, TensorFlow's start-up lines only with
--verbose, and with --json one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer.core import TyperCommand

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

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter  # Typer's own click, since 0.2x

    from train.evaluate import Evaluation
    from train.fit import OnEpoch

MODEL, TRAINING, VALIDATION, OUTPUT = "Model", "Training", "Validation", "Output"
PANELS = ("Arguments", MODEL, TRAINING, VALIDATION, OUTPUT, "Options")

EXAMPLES = ("Examples:\n\n\b\n"
            "  train fit shapes-x20 --out run --model shapes --epochs 5 > fit.log\n"
            "  train evaluate run samples/shapes/test --json\n"
            "  train predict run samples/shapes/test\n"
            "  train compare samples/shapes/train shapes-x20 --test samples/shapes/test\n\n"
            "Exit codes: 0 done; 2 usage, configuration or data error; 3 runtime error "
            "(pretrained weights cannot be downloaded).")


class PanelCommand(TyperCommand):
    """Plain help (no boxes, any width) with the options grouped under their `rich_help_panel`.

    Typer draws panels only in rich's boxes, which cut the text at 80 columns.
    """

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            panel = ("Arguments" if param.param_type_name == "argument"
                     else getattr(param, "rich_help_panel", None) or "Options")
            panels.setdefault(panel, []).append(record)
        for panel, records in sorted(panels.items(), key=lambda item: PANELS.index(item[0])):
            with formatter.section(panel):
                formatter.write_dl(records)


def _version(show: bool) -> None:
    if not show:
        return

    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    parts = [f"{name} {installed(name)}" for name in ("keras", "tensorflow", "tensorflow-cpu")
             if installed(name)]
    typer.echo(f"train {installed('expand-images') or 'unknown'} (expand-images)"
               + (f"; {', '.join(parts)}" if parts else "; TensorFlow not installed"))
    raise typer.Exit(0)


app = typer.Typer(help="Fit the Keras tutorials' CNNs on a (possibly expanded) image folder, "
                       "evaluate them, and compare original against expanded data.",
                  epilog=EXAMPLES, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Show the version (and Keras's and TensorFlow's) and exit.")] = False,
) -> None:
    pass


@contextmanager
def _errors() -> Iterator[None]:
    """The one error boundary: a TrainError is a user's problem, shown without a traceback."""
    try:
        yield
    except TrainError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None


def _load_tensorflow(verbose: bool) -> None:
    """Import TensorFlow and Keras, without their start-up lines unless `verbose`.

    The oneDNN notice and absl's preamble are written by C++ before absl is initialised, where
    TF_CPP_MIN_LOG_LEVEL does not reach, so stderr's descriptor points at /dev/null for the
    import alone; errors after it still show.
    """
    if verbose or "tensorflow" in sys.modules:
        import keras
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The retracing warnings that every new model in `compare` sets off.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 2)
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _progress(quiet: bool, as_json: bool) -> tuple[Literal[0, 1], OnEpoch | None]:
    """Keras's bar on a colour terminal; elsewhere one plain line per epoch (stderr with --json).

    Keras draws its bar with ANSI colours and backspaces wherever it runs on POSIX, a log file
    included, and knows nothing of NO_COLOR.
    """
    if quiet:
        return 0, None
    if not as_json and sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return 1, None

    def line(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        values = ", ".join(f"{name} {value:.4f}" for name, value in logs.items())
        typer.echo(f"epoch {epoch}/{epochs}: {values}", err=as_json)

    return 0, line


def _accuracy_lines(label: str, evaluation: Evaluation) -> list[str]:
    """The accuracy, the independent sources it rests on, chance level and the small-test warning."""
    lines = [(f"{label}: {evaluation.accuracy:.4f} ({evaluation.correct}/{evaluation.images} "
              f"images from {evaluation.sources} independent sources)"),
             (f"chance level: {evaluation.chance:.4f} (majority class rate: always answering "
              f"{evaluation.majority_class})")]
    if evaluation.warning is not None:
        lines.append(f"warning: {evaluation.warning}")
    return lines


def _dump(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2))


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--image-size: expected N or HxW (e.g. 24 or 224x224), got {text!r}")
    sides = [int(p) for p in parts]
    return (sides[0], sides[-1])


ModelOpt = Annotated[ModelName, typer.Option(
    "--model", "-m", help="Tutorial architecture.", rich_help_panel=MODEL)]
SizeOpt = Annotated[str | None, typer.Option(
    "--image-size", help="Resize images to N or HxW pixels (default: the model's tutorial size).",
    rich_help_panel=MODEL)]
ColorOpt = Annotated[ColorMode, typer.Option(
    "--color-mode", help="Channels read from images.", rich_help_panel=MODEL)]
WeightsOpt = Annotated[str | None, typer.Option(
    "--weights", help="VGG16 base weights: imagenet (the default for vgg16-*) or a local notop "
                      ".h5 file. The base stays frozen, so vgg16-* refuse none; to train from "
                      "scratch use --model scratch224. The other models take only none.",
    rich_help_panel=MODEL)]
EpochsOpt = Annotated[int, typer.Option(
    "--epochs", min=1, help="Training epochs.", rich_help_panel=TRAINING)]
BatchOpt = Annotated[int, typer.Option(
    "--batch-size", min=1, help="Images per optimizer step.", rich_help_panel=TRAINING)]
LrOpt = Annotated[float, typer.Option("--lr", help="Adam learning rate.",
                                      rich_help_panel=TRAINING)]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print one JSON document on stdout, and nothing else there.",
    rich_help_panel=OUTPUT)]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", help="Let TensorFlow's start-up and log lines through.",
    rich_help_panel=OUTPUT)]


@app.command(cls=PanelCommand, epilog=EXAMPLES, short_help="Train a model, write its run folder.")
def fit(
    train_dir: Annotated[Path, typer.Argument(
        help="Training folder: an `expand` output, a plain class-per-folder dataset, or a "
        "split (`expand --val`: DIR/train is trained on, DIR/val validates).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write.",
                                      rich_help_panel=OUTPUT)],
    model: ModelOpt = ModelConfig.name,
    image_size: SizeOpt = None,
    color_mode: ColorOpt = ModelConfig.color_mode,
    weights: WeightsOpt = None,
    epochs: EpochsOpt = FitConfig.epochs,
    batch_size: BatchOpt = FitConfig.batch_size,
    lr: LrOpt = FitConfig.learning_rate,
    seed: Annotated[int, typer.Option(min=0, help="Seed of weights, shuffling and split.",
                                      rich_help_panel=TRAINING)] = 0,
    early_stopping: Annotated[int, typer.Option(
        min=0, help="Stop after this many epochs without a better val_loss; 0 is off.",
        rich_help_panel=TRAINING)] = 0,
    val: Annotated[Path | None, typer.Option(
        "--val", help="Separate validation folder (instead of holding out sources).",
        rich_help_panel=VALIDATION)] = None,
    val_fraction: Annotated[float, typer.Option(
        help="Share of source images (files, for a plain folder) held out for validation; "
             "0 for none.", rich_help_panel=VALIDATION)] = 0.2,
    checkpoint: Annotated[bool, typer.Option(
        help="Also keep the best epoch's model as best.keras.", rich_help_panel=OUTPUT)] = False,
    overwrite: Annotated[bool, typer.Option(help="Write into a non-empty run folder.",
                                            rich_help_panel=OUTPUT)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.",
                                        rich_help_panel=OUTPUT)] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Train a model and write its run folder (model, history, metrics, pictures).

    Progress is Keras's bar on a terminal, and one line per epoch in a log, under NO_COLOR or
    with --json (then on stderr).
    """
    with _errors():
        from train.data import split_parts

        parts = split_parts(train_dir)
        if parts is not None:  # a split on disk: its parts, never a hold-out across them
            train_dir, val = parts[0], val if val is not None else parts[1]
        config = TrainConfig(
            train_dir, ModelConfig(model, _image_size(image_size), color_mode, weights),
            FitConfig(batch_size, epochs, lr, seed, early_stopping, checkpoint), val,
            val_fraction)
        _load_tensorflow(verbose)
        from train.data import count_sources
        from train.fit import fit_run

        keras_verbose, on_epoch = _progress(quiet, as_json)
        result = fit_run(config, out, overwrite=overwrite, verbose=keras_verbose,
                         on_epoch=on_epoch)
        split = result.trained.data.split
        train_sources = count_sources(train_dir, split.train_files)
    if as_json:
        _dump({"run_dir": str(out), "split": split.to_dict() | {"train_sources": train_sources},
               "history": result.trained.history,
               "validation": (None if result.validation is None
                              else result.validation.to_dict(predictions=False))})
        return
    held = " held-out" if split.val_sources else ""
    typer.echo(f"split {split.method}: {len(split.train_files)} training images from "
               f"{train_sources} sources, {len(split.val_files)} validation images"
               + (f" from {result.validation.sources}{held} sources"
                  if result.validation is not None else ""))
    if result.validation is not None:
        typer.echo(result.validation.report)
        typer.echo("\n".join(_accuracy_lines("validation accuracy", result.validation)))
    typer.echo(f"run folder: {out}")


@app.command(cls=PanelCommand, short_help="Test a run's model on a folder.")
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `train fit`.")],
    data_dir: Annotated[Path, typer.Argument(help="Test folder with the run's classes.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write the results (default: RUN/eval/<DATA_DIR name>).",
        rich_help_panel=OUTPUT)] = None,
    batch_size: BatchOpt = FitConfig.batch_size,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate a run's model on a test folder: report, metrics.json, confusion matrix.

    The accuracy is printed with the independent source images it rests on (copies of one
    source count once), the chance level (the majority class rate) and, for a small test
    folder, a warning of how uncertain it is.
    """
    with _errors():
        _load_tensorflow(verbose)
        from train.evaluate import evaluate_run

        evaluation, folder = evaluate_run(run, data_dir, out, batch_size)
    if as_json:
        _dump(evaluation.to_dict(predictions=False) | {"results": str(folder)})
        return
    typer.echo(evaluation.report)
    typer.echo("\n".join(_accuracy_lines("accuracy", evaluation)))
    typer.echo(f"results: {folder}")


@app.command(cls=PanelCommand, short_help="Classify images or folders of images.")
def predict(
    run: Annotated[Path, typer.Argument(help="Run folder written by `train fit`.")],
    images: Annotated[list[Path], typer.Argument(
        help="Image files, or folders: every image in them (recursively, sorted).")],
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Classify images: the most probable class and every class's probability."""
    with _errors():
        _load_tensorflow(verbose)
        from train.evaluate import predict_images

        predictions = predict_images(run, images)
    if as_json:
        _dump([{"image": str(p.path), "class": p.label, "probabilities": p.probabilities}
               for p in predictions])
        return
    for p in predictions:
        probs = "  ".join(f"{name} {value:.4f}" for name, value in p.probabilities.items())
        typer.echo(f"{p.path}\t{p.label}\t{probs}")


@app.command(cls=PanelCommand, short_help="Original against expanded, K paired seeds.")
def compare(
    original: Annotated[Path, typer.Argument(help="The original class-per-folder dataset.")],
    expanded: Annotated[Path, typer.Argument(help="Its `expand` output.")],
    test: Annotated[list[Path], typer.Option(
        "--test", help="Test folder (repeat for several); only ever used for evaluation.",
        rich_help_panel=VALIDATION)],
    model: ModelOpt = ModelConfig.name,
    image_size: SizeOpt = None,
    color_mode: ColorOpt = ModelConfig.color_mode,
    weights: WeightsOpt = None,
    epochs: EpochsOpt = FitConfig.epochs,
    batch_size: BatchOpt = FitConfig.batch_size,
    lr: LrOpt = FitConfig.learning_rate,
    seeds: Annotated[int, typer.Option(min=1, help="Paired seeds per arm (K).",
                                       rich_help_panel=TRAINING)] = 5,
    first_seed: Annotated[int, typer.Option(min=0, help="Seeds are first-seed .. +K-1.",
                                            rich_help_panel=TRAINING)] = 0,
    schedule: Annotated[Schedule, typer.Option(
        help="equal-steps: both arms get as many optimizer steps as EPOCHS passes over the "
             "larger folder; equal-epochs: EPOCHS passes over each arm's own folder (the "
             "tutorials).", rich_help_panel=TRAINING)] = "equal-steps",
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Train the same model on ORIGINAL and EXPANDED with K paired seeds; test both.

    Progress lines go to stderr, the results to stdout.
    """
    with _errors():
        config = CompareConfig(
            original, expanded, tuple(test),
            ModelConfig(model, _image_size(image_size), color_mode, weights), batch_size,
            epochs, lr, seeds, first_seed, schedule)
        _load_tensorflow(verbose)
        from train.compare import ArmRun, compare_datasets, format_comparison

        def progress(run: ArmRun) -> None:
            accs = ", ".join(f"{100 * a:.2f}" for a in run.accuracies)
            typer.echo(f"seed {run.seed} {run.arm}: test accuracy {accs}", err=True)

        comparison = compare_datasets(config, progress)
    if as_json:
        _dump(comparison.to_dict())
        return
    typer.echo(format_comparison(comparison))


def main() -> None:
    """Console-script entry point."""
    app()
