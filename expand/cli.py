"""The `expand` command: dispatch (coreutils hand-over, subcommands, main job), parse, call, print."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from tqdm import tqdm

from expand import __version__
from expand.config import KERAS_NOT_OFFLINE, PRESETS, resolve_config
from expand.coreutils import hand_over, is_coreutils_call
from expand.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_SKIPPED,
    EXIT_USAGE,
    ConfigError,
    ExpandError,
    OutputWriteError,
)
from expand.executors import available_cpus

if TYPE_CHECKING:
    from expand.config import ExpandConfig
    from expand.runner import DryRun, RunSummary

SUBCOMMANDS = ("run", "preview", "inspect", "replay", "config")
ROOT_OPTIONS = ("--version", "--install-completion", "--show-completion")

EPILOG = (
    "Subcommands: run (this main job, the default), preview, inspect, replay, config. "
    "A folder with one of those names is given as ./NAME. "
    "Called the way coreutils' expand is (-t/--tabs, -i, only text files, or a pipe and no "
    "argument), the call is handed to the system's expand unchanged. "
    "Exit codes: 0 done; 1 done but some inputs skipped; 2 usage or config error; "
    "3 fatal runtime error (I/O, disk full, lock held, bucket or scheduler unusable); "
    "130 interrupted."
)

app = typer.Typer(add_completion=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Offline, reproducible image-dataset expansion.", epilog=EPILOG)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"expand: error: {message}", err=True)
    raise typer.Exit(code)


def _number(text: str, name: str) -> int | float:
    """'5' stays an int (Keras: integer pixels), '5.0' and '0.1' are floats."""
    try:
        return int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else float(text)
    except ValueError:
        _fail(f"{name}: expected a number, got {text!r}", EXIT_USAGE)


def _numbers(text: str, name: str) -> list[int | float]:
    return [_number(part, name) for part in text.strip().strip("[]()").split(",") if part.strip()]


def _range(text: str | None, name: str) -> Any:
    """'0.1' → 0.1, '5' → 5, '0.8,2.0' or '[0.8, 2.0]' → [0.8, 2.0]."""
    if text is None:
        return None
    values = _numbers(text, name)
    return values[0] if len(values) == 1 and "," not in text else values


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
    typer.echo(
        f"wrote {_counted(summary.images_written, 'image')} from "
        f"{_counted(summary.sources, 'source')} to {summary.out} "
        f"in {summary.elapsed_s:.1f} s ({summary.images_per_second:.0f} images/s; "
        f"{summary.executor}, {_counted(summary.workers, 'worker')})"
    )
    per_class = ", ".join(f"{k}: {v}" for k, v in summary.images_per_class.items())
    target = f" (target {summary.per_class_target})" if summary.per_class_target else ""
    typer.echo(f"per class{target}: {per_class}; skipped: {len(summary.skipped)}")
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


def _workers(workers: int | None, scheduler: str | None) -> int:
    """The pool's size, or the LocalCluster's; an existing cluster has its own."""
    if scheduler is None:
        return workers if workers is not None else available_cpus()
    if scheduler == "local":
        return workers if workers is not None else 2
    if workers is not None:
        _fail("--workers: an existing Dask cluster decides how many workers run; leave "
              "--workers out with --scheduler ADDRESS", EXIT_USAGE)
    return 1


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


@app.command("run", epilog=EPILOG)
def run(
    src: Annotated[str, typer.Argument(help="Dataset folder: SRC/<class>/<images>; a path or a "
                                       "URL (s3://bucket/train, any fsspec filesystem).",
                                       show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder (new, empty, or an "
                                     "earlier run of the same settings); a path or a URL.",
                                     show_default=False)],
    copies: Annotated[Optional[int], typer.Option("--copies", "-n", min=0, show_default=False,
                      help="Augmented copies per source image [default: 10].")] = None,
    per_class_target: Annotated[Optional[int], typer.Option(
        "--per-class-target", min=1, show_default=False,
        help="Balance the classes: K images per class, each source of a class getting an equal "
        "share of copies (the remainder goes to the sources with the smallest SHA-256 of their "
        "path). Replaces --copies.")] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, show_default=False,
                    help="Run seed [default: 0].")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, show_default=False,
                       help="Worker processes [default: the CPUs this process may use; 2 with "
                       "--scheduler local].")] = None,
    scheduler: Annotated[Optional[str], typer.Option(show_default=False,
                         help="Run on Dask: tcp://HOST:PORT of a running scheduler, or 'local' "
                         "for a LocalCluster on 127.0.0.1 (needs the dask extra).")] = None,
    storage_option: Annotated[Optional[list[str]], typer.Option(
        "--storage-option", show_default=False,
        help="KEY=VALUE passed to the fsspec filesystem of URLs (repeatable; VALUE read as JSON "
        "when it is, e.g. endpoint_url=http://127.0.0.1:9000, anon=true).")] = None,
    image_format: Annotated[Optional[str], typer.Option("--format", show_default=False,
                            help="same, png, jpeg or webp [default: same as the source; "
                            "other formats become png].")] = None,
    quality: Annotated[Optional[int], typer.Option(min=1, max=100, show_default=False,
                       help="JPEG/WebP quality [default: 90].")] = None,
    png_level: Annotated[Optional[int], typer.Option(min=0, max=9, show_default=False,
                         help="PNG zlib level: 1 is the fast encoder (OpenCV); 0 and 2-9 are "
                         "Pillow's, smaller on line art but 5-10x slower; 6 is what Keras "
                         "writes [default: 1].")] = None,
    resize: Annotated[Optional[str], typer.Option(help="Resize every source to WIDTHxHEIGHT "
                      "before augmenting; parameters in pixels refer to that size.",
                      show_default=False)] = None,
    include_originals: Annotated[Optional[bool], typer.Option(
        "--include-originals/--no-include-originals", show_default=False,
        help="Also write each source, re-encoded the same way.")] = None,
    preset: Annotated[Optional[str], typer.Option(show_default=False,
                      help=f"Augmentation preset: {', '.join(PRESETS)}.")] = None,
    config: Annotated[Optional[Path], typer.Option(show_default=False,
                      help="TOML or JSON config (ImageDataGenerator keys and run keys); "
                      "options given here override it.")] = None,
    rotation_range: Annotated[Optional[float], typer.Option(
        "--rotation-range", "--rotation_range", show_default=False,
        help="Degrees: theta ~ U(-r, r).")] = None,
    width_shift_range: Annotated[Optional[str], typer.Option(
        "--width-shift-range", "--width_shift_range", show_default=False,
        help="Horizontal shift: float < 1 = fraction of the width, >= 1 = pixels; int n = "
        "integer pixels in ±(0..n-1); list a,b = one of them, ±.")] = None,
    height_shift_range: Annotated[Optional[str], typer.Option(
        "--height-shift-range", "--height_shift_range", show_default=False,
        help="Vertical shift, same rules as --width-shift-range.")] = None,
    shear_range: Annotated[Optional[float], typer.Option(
        "--shear-range", "--shear_range", show_default=False, help="Shear angle in degrees.")] = None,
    zoom_range: Annotated[Optional[str], typer.Option(
        "--zoom-range", "--zoom_range", show_default=False,
        help="z for [1-z, 1+z], or low,high; < 1 zooms in. Width and height independent.")] = None,
    horizontal_flip: Annotated[Optional[bool], typer.Option(
        "--horizontal-flip/--no-horizontal-flip", "--horizontal_flip/--no_horizontal_flip",
        show_default=False, help="Mirror left-right half of the time.")] = None,
    vertical_flip: Annotated[Optional[bool], typer.Option(
        "--vertical-flip/--no-vertical-flip", "--vertical_flip/--no_vertical_flip",
        show_default=False, help="Flip upside down half of the time.")] = None,
    fill_mode: Annotated[Optional[str], typer.Option(
        "--fill-mode", "--fill_mode", show_default=False,
        help="nearest, reflect, wrap or constant (with --cval).")] = None,
    cval: Annotated[Optional[float], typer.Option(
        show_default=False, help="Fill value for fill_mode constant.")] = None,
    brightness_range: Annotated[Optional[str], typer.Option(
        "--brightness-range", "--brightness_range", show_default=False,
        help="low,high: pixel values multiplied by b ~ U(low, high).")] = None,
    channel_shift_range: Annotated[Optional[float], typer.Option(
        "--channel-shift-range", "--channel_shift_range", show_default=False,
        help="One value ~ U(-c, c) added to every channel, clipped to the image's range.")] = None,
    val: Annotated[float | None, typer.Option(
        "--val", show_default=False,
        help="Split SRC by source: OUT/train gets the copies of the sources not held out, "
        "OUT/val the originals of about this fraction of each class (docs/splits.md).")] = None,
    test: Annotated[float | None, typer.Option(
        "--test", show_default=False,
        help="With --val: also OUT/test, the originals of about this fraction.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be written (counts per class, estimated bytes, free "
        "space) and write nothing.")] = False,
    rebuild: Annotated[bool, typer.Option(
        help="Replace an earlier run in OUT made with other settings.")] = False,
    prune: Annotated[bool, typer.Option(
        help="Remove earlier outputs whose source is gone or whose copy is no longer asked "
        "for (kept and reported by default).")] = False,
    max_image_pixels: Annotated[Optional[int], typer.Option(
        min=1, show_default=False, help="Refuse larger images as decompression bombs "
        "[default: Pillow's limit, 2 x 89,478,485 pixels].")] = None,
    follow_symlinks: Annotated[Optional[bool], typer.Option(
        "--follow-symlinks/--no-follow-symlinks", show_default=False,
        help="Follow symbolic links inside SRC, also to outside it (loops are detected) "
        "[default: no].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print the resolved "
                                          "settings before the run.")] = False,
) -> None:
    """Write N augmented copies of every image of SRC/<class>/ into OUT/<class>/, with a manifest
    (metadata.jsonl) that records each file's source, copy index and sampled parameters."""
    augment = {
        "rotation_range": rotation_range,
        "width_shift_range": _range(width_shift_range, "width_shift_range"),
        "height_shift_range": _range(height_shift_range, "height_shift_range"),
        "shear_range": shear_range,
        "zoom_range": _range(zoom_range, "zoom_range"),
        "horizontal_flip": horizontal_flip,
        "vertical_flip": vertical_flip,
        "fill_mode": fill_mode,
        "cval": cval,
        "brightness_range": _range(brightness_range, "brightness_range"),
        "channel_shift_range": channel_shift_range,
    }
    run_options = {"copies": copies, "seed": seed, "format": image_format, "quality": quality,
                   "png_level": png_level, "resize": resize, "include_originals": include_originals,
                   "max_image_pixels": max_image_pixels, "follow_symlinks": follow_symlinks,
                   "rebuild": rebuild or None, "prune": prune or None,
                   "per_class_target": per_class_target}
    try:
        settings = resolve_config(
            src, out,
            cli_run={k: v for k, v in run_options.items() if v is not None},
            cli_augment={k: v for k, v in augment.items() if v is not None},
            preset_name=preset, config_file=config,
            workers=_workers(workers, scheduler),
            scheduler=scheduler,
            storage_options=_storage_options(storage_option or []),
        )
        for note in settings.augment.notes():
            typer.echo(f"expand: warning: {note}", err=True)
        if settings.preset == "default" and preset is None and not quiet:
            typer.echo("expand: no augmentation option given: using preset 'default' (small "
                       "rotation, shift and zoom, horizontal flip; see --preset)", err=True)
        if verbose:
            typer.echo("expand: settings: " + json.dumps(settings.determining(), sort_keys=True)
                       + f"; workers: {settings.workers}", err=True)
        from expand.runner import dry_run as dry_run_dataset
        from expand.runner import expand_dataset

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
    from expand.splits import dry_run_split, split_dataset

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
    from expand.sheet import save_png

    save_png(image, png)
    if as_json:
        typer.echo(json.dumps({"out": str(png), "width": image.width, "height": image.height,
                               **extra, "cells": [c.to_dict() for c in cells]}, indent=2,
                              ensure_ascii=False))
    else:
        typer.echo(f"wrote {png} ({image.width}x{image.height}, {len(cells)} pictures)")


@app.command("preview")
def preview_command(
    src: Annotated[Path, typer.Argument(help="Dataset folder: SRC/<class>/<images>.",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write (never inside an "
                                      "output folder or SRC).", show_default=False)],
    per_class: Annotated[int, typer.Option("--per-class", min=1, max=SHEET_MAX,
                                           help="Sources shown per class.")] = 2,
    copies: Annotated[int, typer.Option("--copies", "-n", min=1, max=SHEET_MAX,
                                        help="Copies shown per source (the run's copies "
                                        "0..N-1).")] = 6,
    cell: Annotated[int, typer.Option(min=32, max=1024, help="Picture size in the sheet, "
                                      "pixels.")] = 128,
    preset: Annotated[Optional[str], typer.Option(show_default=False,
                      help=f"Augmentation preset: {', '.join(PRESETS)}.")] = None,
    config: Annotated[Optional[Path], typer.Option(show_default=False,
                      help="TOML or JSON config, as for a run.")] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, show_default=False,
                    help="Run seed [default: 0, or the config's].")] = None,
    resize: Annotated[Optional[str], typer.Option(help="WIDTHxHEIGHT, as for a run.",
                                                  show_default=False)] = None,
    image_format: Annotated[Optional[str], typer.Option("--format", show_default=False,
                            help="same, png, jpeg or webp, as for a run.")] = None,
    quality: Annotated[Optional[int], typer.Option(min=1, max=100, show_default=False,
                       help="JPEG/WebP quality, as for a run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sheet's layout (boxes, "
                                          "captions) as JSON.")] = False,
) -> None:
    """Without writing a dataset: a contact sheet of a few sources per class, each followed by
    the copies a run with these settings would write, captioned with their main parameters."""
    run_options = {"seed": seed, "resize": resize, "format": image_format, "quality": quality}
    try:
        from expand.preview import preview
        from expand.sheet import check_destination

        settings = resolve_config(src, out, cli_run={k: v for k, v in run_options.items()
                                                     if v is not None},
                                  cli_augment={}, preset_name=preset, config_file=config)
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
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="An output folder of expand.",
                                            show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write (never inside an "
                                      "output folder or the run's SRC).", show_default=False)],
    per_class: Annotated[int, typer.Option("--per-class", min=1, max=SHEET_MAX,
                                           help="Pictures per class.")] = 8,
    cell: Annotated[int, typer.Option(min=32, max=1024, help="Picture size in the sheet, "
                                      "pixels.")] = 128,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics and the sheet's "
                                          "layout as JSON.")] = False,
) -> None:
    """A contact sheet of an output folder per class, and its manifest's statistics (counts,
    how often each transform fired against its probability, parameter histograms) as a PNG."""
    try:
        from expand.inspection import inspect_output
        from expand.replay import load_run
        from expand.sheet import check_destination

        run = load_run(out_dir)
        # SRC as run.json records it (as given at the run), when it is a local folder
        src = [run.config.src] if isinstance(run.config.src, Path) else []
        check_destination(out, forbidden=[out_dir, *src])
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
    from expand.starter import starter_text

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
    out: Annotated[Path, typer.Argument(help="An output folder of expand (holding run.json).",
                                        show_default=False)],
    files: Annotated[Optional[list[str]], typer.Argument(
        help="Files to regenerate: names from the manifest, or paths into the folder.",
        show_default=False)] = None,
    all_files: Annotated[bool, typer.Option("--all", help="Replay every file of the "
                                            "manifest.")] = False,
    src: Annotated[Optional[Path], typer.Option(help="Where the sources are now, if not at "
                                                "run.json's SRC (which is as given at the run).",
                                                show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print mismatches only.")] = False,
) -> None:
    """Regenerate files from their manifest rows and run.json and check their SHA-256.
    Exit 0 when every file matches, 1 when one does not."""
    if not files and not all_files:
        _fail("replay: name a FILE of the output folder, or give --all", EXIT_USAGE)
    try:
        from expand.replay import load_run, replay

        run = load_run(out, src)
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
        args = ["run", *args]
    if args[0] != "run":  # the launcher's SIGTERM-as-interrupt is for the run, which says 130
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app(args, prog_name="expand")
