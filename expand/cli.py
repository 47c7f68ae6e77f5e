"""The `expand` command: dispatch (coreutils hand-over, subcommands, main job), parse, call, print."""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from tqdm import tqdm
from typer.core import TyperCommand, TyperGroup

from expand import __version__
from expand.config import (
    KERAS_NOT_OFFLINE,
    KERAS_SETTINGS,
    LAYOUTS,
    OUTPUT_FORMATS,
    PRESETS,
    resolve_config,
)
from expand.coreutils import hand_over, is_coreutils_call
from expand.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_SKIPPED,
    EXIT_USAGE,
    ConfigError,
    ExpandError,
    OutputWriteError,
    did_you_mean,
)
from expand.exec.execution import ExecutorSpec

try:  # Typer vendors Click from 0.2x on; before, it used Click itself
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, UsageError  # type: ignore[assignment]

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter, Parameter

    from expand.augment.idg import Setting
    from expand.config import ExpandConfig
    from expand.run.runner import DryRun, RunSummary

SUBCOMMANDS = ("run", "preview", "inspect", "replay", "config")
ROOT_OPTIONS = ("--version", "--install-completion", "--show-completion")

AUGMENTATION, RUN, OUTPUT, CLUSTER = "Augmentation", "Run", "Output", "Cluster"
PANELS = ("Arguments", AUGMENTATION, RUN, OUTPUT, CLUSTER)

EPILOG = ("\b\nExamples:\n"
          "  expand photos/train --out aug --copies 20 --rotation-range 40 --horizontal-flip\n"
          "  expand preview photos/train --out sheet.png --preset medium\n\n"
          "Subcommands: run (default), preview, inspect, replay, config. "
          "Keras's names work too; coreutils' expand calls (-t, -i, text) go to it. "
          "Exit codes: 0 done, 1 inputs skipped, 2 usage, 3 fatal, 130 interrupted.")


class PanelCommand(TyperCommand):
    """Plain help (no boxes, any width), the options grouped under their `rich_help_panel` as in
    `train`; a flag pair shows as --[no-]NAME, so that most options take one line."""

    def format_usage(self, ctx: Context, formatter: HelpFormatter) -> None:
        arguments = [p.metavar or "" for p in self.get_params(ctx)
                     if p.param_type_name == "argument"]
        formatter.write_usage(ctx.command_path, " ".join(["[OPTIONS]", *arguments]))

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = _help_record(param, ctx)
            if record is None:
                continue
            panel = ("Arguments" if param.param_type_name == "argument"
                     else getattr(param, "rich_help_panel", None) or OUTPUT)  # --help
            panels.setdefault(panel, []).append(record)
        for panel, records in sorted(panels.items(), key=lambda item: PANELS.index(item[0])):
            with formatter.section(panel):
                formatter.write_dl(records)


def _help_record(param: Parameter, ctx: Context) -> tuple[str, str] | None:
    if getattr(param, "hidden", False):
        return None
    help_text = getattr(param, "help", None) or ""
    metavar = param.metavar or (param.name or "").upper()
    if param.param_type_name == "argument":
        return (metavar, help_text)
    names = ", ".join(sorted(param.opts, key=len))
    if param.secondary_opts:
        names = f"--[no-]{param.opts[0][2:]}"
    elif not getattr(param, "is_flag", False):
        names += f" {metavar}"
    return (names, help_text)


class ExpandGroup(TyperGroup):
    """`expand SRC ...` is `expand run SRC ...` (main() routes it so; shell completion comes
    here), and a usage error is one line, as every other error of the command."""

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            args = ["run", *args]
        return super().resolve_command(ctx, args)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args,
                                **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args,
                                **extra)
        except UsageError as exc:
            typer.echo(f"expand: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _completer(choices: Iterable[str]) -> Callable[[str], list[str]]:
    """Shell completion of an option's value among `choices`."""
    names = tuple(choices)

    def complete(incomplete: str) -> list[str]:
        return [name for name in names if name.startswith(incomplete)]

    return complete


def _normalize(token: str) -> str:
    """Keras's spelling of an option (with underscores) is the same option (with dashes)."""
    return token.replace("_", "-")


app = typer.Typer(add_completion=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Offline, reproducible image-dataset expansion.", epilog=EPILOG,
                  cls=ExpandGroup, context_settings={"token_normalize_func": _normalize})


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"expand: error: {message}", err=True)
    raise typer.Exit(code)


class _Bar:
    """A tqdm bar on a terminal; elsewhere (a log, CI) a plain line every 10 % and every 30 s."""

    LINE_EVERY_S = 30.0

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._bar: tqdm[Any] | None = None
        self._total = self._done = self._last_tenth = 0
        self._last_time = time.monotonic()

    def start(self, total: int) -> None:
        self._total = total
        if not self._quiet and sys.stderr.isatty():
            self._bar = tqdm(total=total, unit="img", desc="expand", dynamic_ncols=True,
                             file=sys.stderr)

    def advance(self, images: int) -> None:
        self._done += images
        if self._bar is not None:
            self._bar.update(images)
            return
        if self._quiet or not self._total:
            return
        tenth = 10 * self._done // self._total
        now = time.monotonic()
        if tenth > self._last_tenth or now - self._last_time >= self.LINE_EVERY_S:
            self._last_tenth, self._last_time = tenth, now
            typer.echo(f"expand: {self._done}/{self._total} images "
                       f"({100 * self._done // self._total}%)", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run the way Ctrl-C does: workers stopped, output left resumable."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _print_dry_run(report: DryRun, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    per_class = ", ".join(f"{k}: {v}" for k, v in report.to_write_per_class.items())
    free = "unknown" if report.free_bytes is None else f"{report.free_bytes / 2**20:,.0f} MiB"
    typer.echo(f"would write {_counted(report.to_write, 'image')} from "
               f"{_counted(report.sources, 'source')} to "
               f"{report.out} ({per_class}); about {report.estimated_bytes / 2**20:,.1f} MiB, "
               f"{free} free{'' if report.fits else ': NOT ENOUGH SPACE'}")
    if report.already_done or report.orphans or report.redone:
        typer.echo(f"already there and intact: {report.already_done}; to redo (missing or "
                   f"damaged): {report.redone}; no longer asked for: {report.orphans}")


def _print_summary(summary: RunSummary, as_json: bool, quiet: bool) -> None:
    for skipped in summary.skipped:
        typer.echo(f"expand: skipped {skipped.reason}", err=True)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
        return
    if quiet:
        return
    if summary.kept and not (summary.images_written or summary.pruned
                             or summary.unrecorded_removed):
        # "wrote 0 images … (0 images/s)" reads as a failure; a finished output is not one
        typer.echo(f"nothing to do: {_counted(summary.kept, 'image')} already there in "
                   f"{summary.out} (from {_counted(summary.sources, 'source')})")
    else:
        typer.echo(
            f"wrote {_counted(summary.images_written, 'image')} from "
            f"{_counted(summary.sources, 'source')} to {summary.out} "
            f"in {summary.elapsed_s:.1f} s ({summary.images_per_second:.0f} images/s; "
            f"{summary.executor}, {_counted(summary.workers, 'worker')})"
        )
    per_class = ", ".join(f"{k}: {v}" for k, v in summary.images_per_class.items())
    target = f" (target {summary.per_class_target})" if summary.per_class_target else ""
    typer.echo(f"per class{target}: {per_class}; skipped: {len(summary.skipped)}")
    if summary.objects is not None:
        objects = summary.objects
        typer.echo(f"objects in the copies: {objects['kept']} kept, {objects['clipped']} "
                   f"clipped at the frame, {objects['dropped']} dropped")
    if summary.ignored:
        noun = "file that is not an image" if len(summary.ignored) == 1 else \
            "files that are not images"
        typer.echo(f"ignored {len(summary.ignored)} {noun} (first: {summary.ignored[0]}; all in "
                   "--json)")
    if summary.duplicates:
        files = sum(len(group) for group in summary.duplicates)
        first = ", ".join(summary.duplicates[0][:3])
        typer.echo(f"identical outputs: {files} files in {len(summary.duplicates)} groups of the "
                   f"same bytes (first: {first}; all in --json)")
    if summary.unchanged:
        typer.echo(f"copies identical to their source: {len(summary.unchanged)} (first: "
                   f"{summary.unchanged[0]}; all in --json)")
    if summary.rejected:
        counts = ", ".join(f"{name} {count}" for name, count in summary.rejected.items())
        typer.echo(f"drafts rejected by the checks and drawn again: {counts}")


def _storage_options(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; VALUE is JSON when it parses (true, 3, {"a": 1}), else the text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--storage-option: expected KEY=VALUE, got {pair!r}", EXIT_USAGE)
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        options[key.strip()] = value
    return options


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"expand {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_USAGE)


def _augmentation_option(name: str, setting: Setting) -> Any:
    """The option of one ImageDataGenerator setting, from its declaration in AugmentConfig."""
    flag = "--" + name.replace("_", "-")
    decls = [f"{flag}/--no-{flag[2:]}"] if setting.option is bool else [flag]
    info = typer.Option(*decls, help=setting.help, metavar=setting.metavar or None,
                        show_default=False, rich_help_panel=AUGMENTATION,
                        autocompletion=_completer(setting.choices) if setting.choices else None)
    return Annotated[Optional[setting.option], info]


def with_augmentation(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command an option per ImageDataGenerator setting declared in AugmentConfig; it
    receives those given, parsed, as `augment` (what resolve_config's cli_augment takes)."""
    declared = KERAS_SETTINGS
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "augment"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=_augmentation_option(name, setting))
             for name, setting in declared]

    def with_options(**options: Any) -> None:
        augment = {}
        try:
            for name, setting in declared:
                value = options.pop(name)
                if value is not None:
                    augment[name] = value if setting.parse is None else setting.parse(name, value)
        except ConfigError as exc:
            _fail(str(exc), exc.exit_code)
        command(**options, augment=augment)

    with_options.__name__, with_options.__doc__ = command.__name__, command.__doc__
    with_options.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *added])
    return with_options


@app.command("run", cls=PanelCommand, epilog=EPILOG)
@with_augmentation
def run(
    src: Annotated[str, typer.Argument(metavar="SRC", show_default=False,
                                       help="Dataset folder SRC/<class>/<images>, or a URL.")],
    out: Annotated[str, typer.Option("--out", "-o", metavar="DIR", show_default=False,
                                     rich_help_panel=OUTPUT,
                                     help="Output folder: new, empty, or an earlier run.")],
    copies: Annotated[Optional[int], typer.Option(
        "--copies", "-n", min=0, metavar="N", show_default=False, rich_help_panel=RUN,
        help="Augmented copies per source [10].")] = None,
    per_class_target: Annotated[Optional[int], typer.Option(
        "--per-class-target", min=1, metavar="K", show_default=False, rich_help_panel=RUN,
        help="K images per class, instead of --copies.")] = None,
    seed: Annotated[Optional[int], typer.Option(
        min=0, metavar="N", show_default=False, rich_help_panel=RUN,
        help="Run seed [0]: same seed, same files.")] = None,
    val: Annotated[Optional[float], typer.Option(
        "--val", metavar="F", show_default=False, rich_help_panel=RUN,
        help="Hold out this fraction of sources: OUT/val.")] = None,
    test: Annotated[Optional[float], typer.Option(
        "--test", metavar="F", show_default=False, rich_help_panel=RUN,
        help="With --val: another fraction, OUT/test.")] = None,
    max_image_pixels: Annotated[Optional[int], typer.Option(
        min=1, metavar="N", show_default=False, rich_help_panel=RUN,
        help="Refuse larger sources [Pillow's limit].")] = None,
    follow_symlinks: Annotated[Optional[bool], typer.Option(
        "--follow-symlinks/--no-follow-symlinks", show_default=False, rich_help_panel=RUN,
        help="Follow symbolic links in SRC [no].")] = None,
    # Detection and segmentation datasets (docs/detection.md).
    layout: Annotated[Optional[str], typer.Option(
        "--layout", metavar="L", show_default=False, rich_help_panel=RUN,
        autocompletion=_completer(LAYOUTS),
        help="auto, classes, yolo, coco, masks [auto].")] = None,
    min_visibility: Annotated[Optional[float], typer.Option(
        "--min-visibility", metavar="F", show_default=False, rich_help_panel=RUN,
        help="Drop boxes less visible than this [0.25].")] = None,
    rebuild: Annotated[bool, typer.Option(
        rich_help_panel=RUN, help="Replace an earlier run of other settings.")] = False,
    prune: Annotated[bool, typer.Option(
        rich_help_panel=RUN, help="Remove earlier outputs no longer asked for.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", rich_help_panel=RUN,
        help="Say what would be written; write nothing.")] = False,
    image_format: Annotated[Optional[str], typer.Option(
        "--format", metavar="FMT", show_default=False, rich_help_panel=OUTPUT,
        autocompletion=_completer(OUTPUT_FORMATS),
        help=f"{', '.join(OUTPUT_FORMATS)} [same as the source].")] = None,
    quality: Annotated[Optional[int], typer.Option(
        min=1, max=100, metavar="Q", show_default=False, rich_help_panel=OUTPUT,
        help="JPEG and WebP quality, 1-100 [90].")] = None,
    png_level: Annotated[Optional[int], typer.Option(
        min=0, max=9, metavar="L", show_default=False, rich_help_panel=OUTPUT,
        help="PNG level 0-9 [1: the fast encoder].")] = None,
    resize: Annotated[Optional[str], typer.Option(
        metavar="WxH", show_default=False, rich_help_panel=OUTPUT,
        help="Resize sources first (pixel settings too).")] = None,
    include_originals: Annotated[Optional[bool], typer.Option(
        "--include-originals/--no-include-originals", show_default=False,
        rich_help_panel=OUTPUT, help="Also write each source, re-encoded.")] = None,
    as_json: Annotated[bool, typer.Option("--json", rich_help_panel=OUTPUT,
                                          help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", rich_help_panel=OUTPUT,
                                        help="No progress bar or summary.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", rich_help_panel=OUTPUT,
                                          help="Print the resolved settings first.")] = False,
    workers: Annotated[Optional[int], typer.Option(
        min=1, metavar="N", show_default=False, rich_help_panel=CLUSTER,
        help="Worker processes [the usable CPUs].")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        metavar="ADDRESS", show_default=False, rich_help_panel=CLUSTER,
        help="Dask: tcp://HOST:PORT, or local.")] = None,
    storage_option: Annotated[Optional[list[str]], typer.Option(
        "--storage-option", metavar="K=V", show_default=False, rich_help_panel=CLUSTER,
        help="fsspec option of URLs (repeatable).")] = None,
    preset: Annotated[Optional[str], typer.Option(
        metavar="NAME", show_default=False, rich_help_panel=AUGMENTATION,
        autocompletion=_completer(PRESETS), help="default, light, medium, heavy, line-art...")
    ] = None,
    config: Annotated[Optional[Path], typer.Option(
        metavar="FILE", show_default=False, rich_help_panel=AUGMENTATION,
        help="TOML or JSON settings; options override it.")] = None,
    augment: dict[str, Any] | None = None,
) -> None:
    """Write augmented copies of each SRC/<class>/ image and a manifest to DIR."""
    augment = augment or {}
    run_options = {"copies": copies, "seed": seed, "format": image_format, "quality": quality,
                   "png_level": png_level, "resize": resize, "include_originals": include_originals,
                   "max_image_pixels": max_image_pixels, "follow_symlinks": follow_symlinks,
                   "rebuild": rebuild or None, "prune": prune or None,
                   "per_class_target": per_class_target, "layout": layout,
                   "min_visibility": min_visibility}
    try:
        executor = ExecutorSpec.parse(workers, scheduler)
        settings = resolve_config(
            src, out,
            cli_run={k: v for k, v in run_options.items() if v is not None},
            cli_augment=augment,
            preset_name=preset, config_file=config,
            workers=executor.workers,
            scheduler=executor.scheduler,
            storage_options=_storage_options(storage_option or []),
        )
        for note in settings.augment.notes():
            typer.echo(f"expand: warning: {note}", err=True)
        if settings.image_format == "webp":
            typer.echo("expand: warning: --format webp: Keras's image_dataset_from_directory "
                       "skips WebP files (it reads bmp, gif, jpeg and png)", err=True)
        if settings.preset == "default" and preset is None and not quiet:
            typer.echo("expand: no augmentation option given: using preset 'default' (small "
                       "rotation, shift and zoom, horizontal flip; a constant fill for boxes "
                       "and polygons; see --preset)", err=True)
        if verbose:
            typer.echo("expand: settings: " + json.dumps(settings.determining(), sort_keys=True)
                       + f"; workers: {settings.workers}", err=True)
        from expand.run.runner import dry_run as dry_run_dataset
        from expand.run.runner import expand_dataset

        if val is not None or test is not None:
            with _terminate_as_interrupt():
                _split(settings, val or 0.0, test or 0.0, dry_run, as_json, quiet)
        if dry_run:
            report = dry_run_dataset(settings)
            _print_dry_run(report, as_json)
            raise typer.Exit(0 if report.fits else EXIT_FATAL)
        with _terminate_as_interrupt():
            summary = expand_dataset(settings, progress=_Bar(quiet or as_json))
    except ExpandError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("expand: interrupted; run the same command again to resume (finished outputs "
                   "are kept and checked)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for warning in summary.warnings:
        typer.echo(f"expand: warning: {warning}", err=True)
    _print_summary(summary, as_json, quiet)
    raise typer.Exit(summary.exit_code)


#: The most sources, copies or pictures a sheet shows per class (a sheet is one image in memory).
SHEET_MAX = 64


def _split(settings: ExpandConfig, val: float, test: float, dry_run: bool, as_json: bool,
           quiet: bool) -> NoReturn:
    """The main job as a split: one run per part, each summarised as a run is."""
    from expand.run.splits import dry_run_split, split_dataset

    if dry_run:
        reports = dry_run_split(settings, val, test)
        if as_json:
            typer.echo(json.dumps({str(r.out): r.to_dict() for r in reports}, indent=2))
        else:
            for report in reports:
                _print_dry_run(report, False)
        raise typer.Exit(0 if all(r.fits for r in reports) else EXIT_FATAL)
    summaries = split_dataset(settings, val, test, lambda part: _Bar(quiet or as_json))
    for summary in summaries:
        for warning in summary.warnings:
            typer.echo(f"expand: warning: {summary.out}: {warning}", err=True)
    names = [Path(str(s.out)).name for s in summaries]
    per_class = {label: [s.sources_per_class.get(label, 0) for s in summaries]
                 for label in summaries[0].sources_per_class}
    for label, counts in per_class.items():
        missing = [name for name, count in zip(names, counts) if not count]
        if missing:
            typer.echo(f"expand: warning: class {label}: no source in {', '.join(missing)} "
                       f"({sum(counts)} sources in all; each source's part is drawn alone, "
                       "see docs/splits.md)", err=True)
    exit_code = max(s.exit_code for s in summaries)
    if as_json:
        typer.echo(json.dumps({"parts": {name: s.to_dict() for name, s in zip(names, summaries)},
                               "exit_code": exit_code}, indent=2, ensure_ascii=False))
    else:
        for summary in summaries:
            _print_summary(summary, False, quiet)
        if not quiet:
            table = ", ".join(f"{label} {'/'.join(map(str, n))}" for label, n in per_class.items())
            typer.echo(f"split by source ({'/'.join(names)}): "
                       f"{'/'.join(str(s.sources) for s in summaries)} sources; per class: "
                       f"{table}")
    raise typer.Exit(exit_code)


def _write_sheet(png: Path, image: Any, cells: list[Any], extra: dict[str, Any],
                 as_json: bool) -> None:
    from expand.tools.sheet import save_png

    save_png(image, png)
    if as_json:
        typer.echo(json.dumps({"out": str(png), "width": image.width, "height": image.height,
                               **extra, "cells": [c.to_dict() for c in cells]}, indent=2,
                              ensure_ascii=False))
    else:
        typer.echo(f"wrote {png} ({image.width}x{image.height}, {len(cells)} pictures)")


@app.command("preview", cls=PanelCommand)
@with_augmentation
def preview_command(
    src: Annotated[Path, typer.Argument(metavar="SRC", show_default=False,
                                        help="Dataset folder SRC/<class>/<images>.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="PNG", show_default=False,
                                      rich_help_panel=OUTPUT,
                                      help="The sheet (not in an output folder or SRC).")],
    per_class: Annotated[int, typer.Option("--per-class", min=1, max=SHEET_MAX, metavar="N",
                                           rich_help_panel=OUTPUT,
                                           help="Sources shown per class [2].")] = 2,
    copies: Annotated[int, typer.Option("--copies", "-n", min=1, max=SHEET_MAX, metavar="N",
                                        rich_help_panel=OUTPUT,
                                        help="Copies per source: the run's 0..N-1 [6].")] = 6,
    cell: Annotated[int, typer.Option(min=32, max=1024, metavar="PX", rich_help_panel=OUTPUT,
                                      help="Picture size in the sheet [128].")] = 128,
    as_json: Annotated[bool, typer.Option("--json", rich_help_panel=OUTPUT,
                                          help="Print the sheet's layout as JSON.")] = False,
    seed: Annotated[Optional[int], typer.Option(min=0, metavar="N", show_default=False,
                                                rich_help_panel=RUN,
                                                help="Run seed [0, or the config's].")] = None,
    resize: Annotated[Optional[str], typer.Option(metavar="WxH", show_default=False,
                                                  rich_help_panel=RUN,
                                                  help="As for a run.")] = None,
    image_format: Annotated[Optional[str], typer.Option(
        "--format", metavar="FMT", show_default=False, rich_help_panel=RUN,
        autocompletion=_completer(OUTPUT_FORMATS), help="As for a run.")] = None,
    quality: Annotated[Optional[int], typer.Option(min=1, max=100, metavar="Q",
                                                   show_default=False, rich_help_panel=RUN,
                                                   help="As for a run.")] = None,
    preset: Annotated[Optional[str], typer.Option(
        metavar="NAME", show_default=False, rich_help_panel=AUGMENTATION,
        autocompletion=_completer(PRESETS), help="As for a run.")] = None,
    config: Annotated[Optional[Path], typer.Option(
        metavar="FILE", show_default=False, rich_help_panel=AUGMENTATION,
        help="TOML or JSON settings, as for a run.")] = None,
    augment: dict[str, Any] | None = None,
) -> None:
    """Without writing a dataset: a contact sheet of a few sources per class, each followed by
    the copies a run with these settings would write, captioned with their main parameters."""
    run_options = {"seed": seed, "resize": resize, "format": image_format, "quality": quality}
    try:
        from expand.tools.preview import preview
        from expand.tools.sheet import check_destination

        settings = resolve_config(src, out, cli_run={k: v for k, v in run_options.items()
                                                     if v is not None},
                                  cli_augment=augment or {}, preset_name=preset,
                                  config_file=config)
        check_destination(out, forbidden=[src])
        image, cells, unreadable = preview(settings, per_class, copies, cell)
        for problem in unreadable:
            typer.echo(f"expand: skipped {problem}", err=True)
        _write_sheet(out, image, cells, {"src": str(src)}, as_json)
    except ExpandError as exc:
        _fail(str(exc), exc.exit_code)
    raise typer.Exit(EXIT_SKIPPED if unreadable else 0)


@app.command("inspect")
def inspect_command(
    out_dir: Annotated[str, typer.Argument(metavar="DIR", help="An output folder of expand (a "
                                           "path or a URL).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write (never inside an "
                                      "output folder or the run's SRC).", show_default=False)],
    per_class: Annotated[int, typer.Option("--per-class", min=1, max=SHEET_MAX,
                                           help="Pictures per class.")] = 8,
    cell: Annotated[int, typer.Option(min=32, max=1024, help="Picture size in the sheet, "
                                      "pixels.")] = 128,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics and the sheet's "
                                          "layout as JSON.")] = False,
    storage_option: Annotated[Optional[list[str]], typer.Option(
        "--storage-option", show_default=False,
        help="KEY=VALUE for the fsspec filesystem of a URL, as for a run.")] = None,
) -> None:
    """A contact sheet of an output folder per class, and its manifest's statistics (counts,
    how often each transform fired against its probability, parameter histograms) as a PNG."""
    try:
        from expand.tools.inspection import inspect_output
        from expand.tools.replay import load_run
        from expand.tools.sheet import check_destination

        run = load_run(out_dir, storage_options=_storage_options(storage_option or []))
        # DIR, and SRC as run.json records it (as given at the run), when they are local folders
        check_destination(out, forbidden=[folder for folder in (run.out.local_folder(),
                                                                run.src.local_folder())
                                          if folder is not None])
        image, cells, stats, unreadable = inspect_output(run, per_class, cell)
        for problem in unreadable:
            typer.echo(f"expand: skipped {problem}", err=True)
        _write_sheet(out, image, cells, {"dir": str(out_dir), "stats": stats}, as_json)
    except ExpandError as exc:
        _fail(str(exc), exc.exit_code)
    raise typer.Exit(EXIT_SKIPPED if unreadable else 0)


config_app = typer.Typer(add_completion=True, rich_markup_mode=None,
                         help="Config files: `expand config init [PATH]` writes a starter.")
app.add_typer(config_app, name="config")


@config_app.command("init")
def config_init(
    path: Annotated[Optional[Path], typer.Argument(help="Where to write it (.toml); standard "
                                                   "output if left out.", show_default=False)
                    ] = None,
    preset: Annotated[str, typer.Option(help=f"Start from this preset: {', '.join(PRESETS)}.")
                      ] = "default",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented version-2 config (every key explained, the further transforms listed)
    that loads back to exactly the settings of the preset it starts from."""
    from expand.tools.starter import starter_text

    try:
        settings = resolve_config(Path("SRC"), Path("DIR"), cli_run={}, cli_augment={},
                                  preset_name=preset)
        text = starter_text(settings, f"preset {preset!r}")
        if path is None:
            typer.echo(text, nl=False)
            return
        if path.exists() and not force:
            raise ConfigError(f"{path}: exists; give --force to replace it")
        if path.suffix.lower() != ".toml":
            raise ConfigError(f"{path}: expected a .toml file name (the starter is TOML)")
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputWriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except ExpandError as exc:
        _fail(str(exc), exc.exit_code)
    typer.echo(f"wrote {path} (from preset {preset!r}); use it with --config {path}")


@app.command("replay")
def replay_command(
    out: Annotated[str, typer.Argument(help="An output folder of expand (holding run.json; a "
                                       "path or a URL).", show_default=False)],
    files: Annotated[Optional[list[str]], typer.Argument(
        help="Files to regenerate: names from the manifest, or paths into the folder.",
        show_default=False)] = None,
    all_files: Annotated[bool, typer.Option("--all", help="Replay every file of the "
                                            "manifest.")] = False,
    src: Annotated[Optional[str], typer.Option(help="Where the sources are now, if not at "
                                                "run.json's SRC (which is as given at the run).",
                                                show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print mismatches only.")] = False,
    storage_option: Annotated[Optional[list[str]], typer.Option(
        "--storage-option", show_default=False,
        help="KEY=VALUE for the fsspec filesystem of a URL, as for a run.")] = None,
) -> None:
    """Regenerate files from their manifest rows and run.json and check their SHA-256.
    Exit 0 when every file matches, 1 when one does not."""
    if not files and not all_files:
        _fail("replay: name a FILE of the output folder, or give --all", EXIT_USAGE)
    try:
        from expand.tools.replay import load_run, replay

        run = load_run(out, src, _storage_options(storage_option or []))
        checked = mismatched = 0
        for result in replay(run, None if all_files else files):
            checked += 1
            mismatched += not result.ok
            if not result.ok or not quiet:
                typer.echo(result.explain(), err=not result.ok)
    except ExpandError as exc:
        _fail(str(exc), exc.exit_code)
    if mismatched and run.library_changes:
        typer.echo("expand: note: the libraries differ from the run's ("
                   f"{'; '.join(run.library_changes)}): encoders may write other bytes", err=True)
    if not quiet or mismatched:
        typer.echo(f"replayed {checked} file{'s' if checked != 1 else ''}: "
                   f"{checked - mismatched} match, {mismatched} do not")
    raise typer.Exit(EXIT_SKIPPED if mismatched else 0)


def _refuse_keras_only(args: list[str]) -> None:
    for arg in args:
        name = arg.lstrip("-").split("=", 1)[0].replace("-", "_")
        if arg.startswith("--") and name in KERAS_NOT_OFFLINE:
            typer.echo(f"expand: error: --{name} is an ImageDataGenerator argument that does not "
                       f"belong to offline expansion: {KERAS_NOT_OFFLINE[name]}", err=True)
            sys.exit(EXIT_USAGE)


def _refuse_misspelt_subcommand(word: str) -> None:
    """A first word that names no folder, file or URL but is close to a subcommand's name."""
    if word.startswith("-") or "://" in word or os.path.lexists(word):
        return
    hint = did_you_mean(word, SUBCOMMANDS)
    if hint:
        typer.echo(f"expand: error: no such folder or subcommand: '{word}'{hint}", err=True)
        sys.exit(EXIT_USAGE)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: coreutils hand-over, reserved subcommands, else the main job."""
    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("_EXPAND_COMPLETE"):  # the shell asks Typer for completions
        app(args, prog_name="expand")
        return
    if is_coreutils_call(args, sys.stdin.isatty()):
        hand_over(args)
        typer.echo("expand: this call looks like coreutils' expand (tabs to spaces), "
                   "but no other expand is on PATH", err=True)
        sys.exit(1)
    _refuse_keras_only(args)
    if args in (["--help"], ["-h"]):
        args = ["run", "--help"]
    elif not args or (args[0] not in SUBCOMMANDS and args[0] not in ROOT_OPTIONS):
        _refuse_misspelt_subcommand(args[0] if args else "-")
        args = ["run", *args]
    if args[0] != "run":  # the launcher's SIGTERM-as-interrupt is for the run, which says 130
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app(args, prog_name="expand")
