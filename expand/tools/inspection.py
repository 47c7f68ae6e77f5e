"""`expand inspect`: an output folder per class, and its manifest's statistics (counts, how
often each transform fired against its probability, parameter histograms) as one picture."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from expand.augment.idg import Setting
from expand.augment.params import keras_fired
from expand.augment.transforms import CATALOGUE
from expand.config import KERAS_SETTINGS, AugmentConfig
from expand.errors import AnnotationError, ImageReadError, NotLineArtError
from expand.io.discover import spread
from expand.run.labels import output_targets
from expand.run.manifest import read_manifest
from expand.run.worker import draw_copy, read_decoded, trace_or_skip
from expand.tools.preview import describe, drawn_tile
from expand.tools.replay import Run
from expand.tools.sheet import (
    Cell,
    Section,
    bars,
    contact_sheet,
    display,
    fit,
    heading,
    histogram,
    stack,
    tile,
)

BINS = 24
#: Rejected first drafts shown (each made again from its source: a decode and a draw).
REJECTED_SHOWN = 6
#: Keras's transforms by stream name (the name inspect reports them under).
KERAS_STREAMS: dict[str, Setting] = {s.stream: s for _, s in KERAS_SETTINGS if s.stream}


def _catalogue_fired(name: str, drawn: dict[str, Any] | None) -> bool:
    definition = CATALOGUE[name]
    return definition.fired(None if drawn is None else definition.params_type.from_dict(drawn))


def probabilities(config: AugmentConfig) -> dict[str, float]:
    """Each transform that is on for this (class) config, with its configured probability."""
    found = {s.stream: float(getattr(config, s.p_key)) for name, s in KERAS_SETTINGS
             if s.stream and s.on(getattr(config, name))}
    found.update({t.name: t.p for t in config.transforms})
    return found


def numbers(params: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """The numeric draws of a row that did something, under histogram names (`gamma.gamma`)."""
    for _, setting in KERAS_SETTINGS:
        if keras_fired(setting, params):
            yield from ((key, float(params[key])) for key in setting.params
                        if not isinstance(params[key], bool))
    for name, drawn in params.items():
        if isinstance(drawn, dict):
            for key, value in drawn.items():
                if key != "seed" and isinstance(value, (int, float)) \
                        and not isinstance(value, bool):
                    yield f"{name}.{key}", float(value)


@dataclass
class Stats:
    """What the manifest says, gathered in one streaming pass (no row is kept)."""

    images: dict[str, int] = field(default_factory=dict)
    copies: dict[str, int] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)
    eligible: dict[str, int] = field(default_factory=dict)  # copies of the classes it is on for
    expected: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, list[float]] = field(default_factory=dict)  # min, max, sum, count
    #: schema 3 (a run with checks), per class: drafts drawn, drafts each check rejected, and
    #: copies kept although every draft failed
    drafts: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    kept_failing: dict[str, int] = field(default_factory=dict)

    def add(self, row: dict[str, Any], config: AugmentConfig) -> None:
        label = row["label"]
        self.images[label] = self.images.get(label, 0) + 1
        params = row["params"]
        if params is None:
            return
        self.copies[label] = self.copies.get(label, 0) + 1
        if row.get("checks") is not None:
            self._add_checks(label, row)
        for name, p in probabilities(config).items():
            self.eligible[name] = self.eligible.get(name, 0) + 1
            self.expected[name] = self.expected.get(name, 0.0) + p
            fired = keras_fired(KERAS_STREAMS[name], params) if name in KERAS_STREAMS \
                else _catalogue_fired(name, params.get(name))
            self.fired[name] = self.fired.get(name, 0) + int(fired)
        for key, value in numbers(params):
            low, high, total, count = self.ranges.get(key, [math.inf, -math.inf, 0.0, 0])
            self.ranges[key] = [min(low, value), max(high, value), total + value, count + 1]

    def _add_checks(self, label: str, row: dict[str, Any]) -> None:
        self.drafts[label] = self.drafts.get(label, 0) + row["attempt"] + 1
        counts = self.rejected.setdefault(label, {name: 0 for name in row["checks"]})
        for draft in row["rejected"]:
            for name in draft:
                counts[name] = counts.get(name, 0) + 1
        self.kept_failing[label] = self.kept_failing.get(label, 0) + bool(row["failed"])

    def checks(self) -> dict[str, Any]:
        """Per class: drafts, and per check the drafts it rejected and their share."""
        return {label: {"drafts": drafts, "kept_failing": self.kept_failing[label],
                        "rejected": {name: {"count": n, "rate": round(n / drafts, 4)}
                                     for name, n in self.rejected[label].items()}}
                for label, drafts in self.drafts.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            **({"checks": self.checks()} if self.drafts else {}),
            "images_per_class": self.images,
            "copies_per_class": self.copies,
            "transforms": {name: {"fired": self.fired[name], "copies": self.eligible[name],
                                  "rate": round(self.fired[name] / self.eligible[name], 4),
                                  "configured": round(self.expected[name] / self.eligible[name],
                                                      4)}
                           for name in self.fired},
            "params": {key: {"min": low, "max": high, "mean": total / count, "count": count}
                       for key, (low, high, total, count) in self.ranges.items()},
        }


def _picks(count: int, wanted: int) -> set[int]:
    return set(spread(range(count), wanted))


def inspect_output(run: Run, per_class: int, cell: int,
                   ) -> tuple[Image.Image, list[Cell], dict[str, Any], list[str]]:
    """Draw an output folder: pictures per class, then its statistics.

    Two streaming passes over the manifest: the first counts and measures, the second picks
    `per_class` rows spread over each class and bins the parameters.

    Returns:
        The picture, its cells, the statistics (as printed by --json) and files that could not
        be read.
    """
    augment = run.config.augment
    layout = run.config.annotated
    stats = Stats()
    redrawn: list[dict[str, Any]] = []
    for row in read_manifest(run.out, params=True):
        stats.add(row, augment.for_class(row["label"]))
        if row.get("attempt") and len(redrawn) < REJECTED_SHOWN:
            redrawn.append(row)
    picks = {label: _picks(n, per_class) for label, n in stats.images.items()}
    counts = {key: [0] * BINS for key in stats.ranges}
    seen: dict[str, int] = {}
    rows: dict[str, list[Cell]] = {label: [] for label in stats.images}
    unreadable: list[str] = []
    for row in read_manifest(run.out, params=True):
        label = row["label"]
        index = seen.get(label, 0)
        seen[label] = index + 1
        if row["params"] is not None:
            for key, value in numbers(row["params"]):
                low, high = stats.ranges[key][:2]
                slot = 0 if high == low else min(BINS - 1, int((value - low) / (high - low) * BINS))
                counts[key][slot] += 1
        if index in picks[label]:
            try:
                decoded = read_decoded(run.out, row["file_name"])[1]
            except ImageReadError as exc:
                unreadable.append(str(exc))
                continue
            name = row["source"].split("/")[-1]
            name += " orig" if row["copy"] is None else f" #{row['copy']}"
            targets = None
            if layout is not None:
                height, width = decoded.pixels.shape[:2]
                try:
                    targets = output_targets(layout, run.out, row, (width, height))
                except AnnotationError as exc:
                    unreadable.append(str(exc))
            rows[label].append(Cell(drawn_tile(decoded.pixels, decoded.has_alpha, cell, targets),
                                    [name, *describe(row["params"])[row["copy"] is None:]],
                                    {"class": label, "file_name": row["file_name"]}))
    columns = max(1, min(per_class, 8))
    sections = [Section(f"{label}: {stats.images[label]} images ({stats.copies.get(label, 0)} "
                        f"copies)", [cells[i:i + columns] for i in range(0, len(cells), columns)])
                for label, cells in rows.items()]
    if redrawn:
        drafts = _rejected_drafts(run, redrawn, cell)
        sections.append(Section(f"rejected drafts: draft 0 of the first {len(drafts)} copies "
                                "drawn again, made again from their sources", [drafts]))
    config = run.config
    title = [f"expand inspect of {run.out.location}",
             (f"{sum(stats.images.values())} images from {config.src}; seed {config.seed}; "
              f"preset {config.preset or '(none)'}")]
    sheet, cells = contact_sheet(title, sections, cell)
    summary = stats.to_dict()
    picture = stack([sheet, _statistics(summary, counts, sheet.width)])
    return picture, cells, summary, unreadable


def _rejected_drafts(run: Run, rows: list[dict[str, Any]], cell: int) -> list[Cell]:
    """Draft 0 of each row (a copy kept at a later attempt), captioned with the checks it
    failed; a source that cannot be read now is left out (replay names the problem)."""
    cells = []
    src = run.src
    for row in rows:
        augment = run.config.augment.for_class(row["label"])
        try:
            _, decoded = read_decoded(src, row["source"], run.config.resize,
                                      run.config.max_image_pixels)
            traced = trace_or_skip(decoded, augment, row["source"])
        except (ImageReadError, NotLineArtError):
            continue
        pixels, _ = draw_copy(decoded, augment, run.config.seed, row["source"], row["copy"],
                              traced)
        name = f"{row['source'].split('/')[-1]} #{row['copy']} draft 0"
        cells.append(Cell(fit(display(pixels, decoded.has_alpha), cell),
                          [name, "failed " + ", ".join(row["rejected"][0])],
                          {"class": row["label"], "file_name": row["file_name"], "draft": 0}))
    return cells


def _statistics(summary: dict[str, Any], counts: dict[str, list[int]], width: int) -> Image.Image:
    width = max(width, 720)
    images = summary["images_per_class"]
    most = max(images.values(), default=1)
    class_bars = bars("Images per class", [
        (label, n / most, None, f"{n} ({summary['copies_per_class'].get(label, 0)} copies)")
        for label, n in images.items()], width)
    firing = summary["transforms"]
    fire_bars = bars("How often each transform fired (bar) against its configured probability "
                     "(red mark), over the copies of the classes it is on for", [
                         (name, t["rate"], t["configured"],
                          (f"{100 * t['rate']:.1f}% ({t['fired']} of {t['copies']}); "
                           f"p {t['configured']:.2f}"))
                         for name, t in firing.items()], width)
    panels = [histogram(f"{key}  (n {summary['params'][key]['count']})", counts[key],
                      summary["params"][key]["min"], summary["params"][key]["max"])
              for key in counts if summary["params"][key]["max"] > summary["params"][key]["min"]]
    parts = [class_bars, fire_bars]
    if "checks" in summary:
        parts.append(bars("Drafts each check rejected (drawn again), per class, over the drafts "
                          "drawn; and copies kept although every draft failed", [
                              (f"{label}: {name}", r["rate"], None,
                               (f"{100 * r['rate']:.1f}% ({r['count']} of {c['drafts']}); "
                                f"kept failing {c['kept_failing']}"))
                              for label, c in summary["checks"].items()
                              for name, r in c["rejected"].items()], width))
    if panels:
        parts.append(heading("Parameter histograms (values that did something)", width))
        parts.append(tile(panels, width))
    return stack(parts)
