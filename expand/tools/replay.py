"""Regenerate outputs from their manifest rows and run.json, and check them against their hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from expand.annotations import ImageTargets, Layout
from expand.augment.params import KERAS_PARAM_KEYS, AugmentParams
from expand.augment.pipeline import apply_params
from expand.augment.seeding import RANDOM_STREAMS_VERSION
from expand.augment.targets import copy_targets
from expand.config import DEFAULT_MIN_VISIBILITY, AugmentConfig, ExpandConfig
from expand.errors import (
    AnnotationError,
    ConfigError,
    DatasetLayoutError,
    ImageReadError,
    StateError,
)
from expand.io import codec
from expand.io.storage import Location, Store, as_location, open_store
from expand.run.labels import all_kept, label_output, read_coco_source, read_targets
from expand.run.layout import MANIFEST, RUN_FILE, read_run_file
from expand.run.manifest import MANIFEST_SCHEMA_VERSION, READABLE_SCHEMAS, read_manifest
from expand.run.splits import Split
from expand.run.worker import draw_params, encode_output, read_decoded


@dataclass(frozen=True)
class Replayed:
    """One output regenerated: its hash against the manifest's, and the file's in DIR."""

    file_name: str
    manifest_sha256: str
    replayed_sha256: str
    on_disk_sha256: str | None  # None: the file is missing from DIR
    streams_agree: bool  # the row's params are what its random streams draw today
    #: the source and its SHA-256 today, when not the row's `source_sha256` (its bytes changed)
    source_changed: tuple[str, str] | None = None
    #: an annotated layout: what is wrong with the output's labels (replayed, or in DIR), or ()
    label_problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.replayed_sha256 == self.manifest_sha256 == self.on_disk_sha256 \
            and self.streams_agree and self.source_changed is None and not self.label_problems

    def explain(self) -> str:
        """One line: what matched, or what did not."""
        if self.ok:
            return f"{self.file_name}: replayed; sha256 {self.replayed_sha256[:16]}… matches"
        problems = []
        if self.source_changed is not None:
            source, now = self.source_changed
            problems.append(f"its source {source} changed since the run (sha256 {now[:16]}…, "
                            "not the manifest's): the manifest names what it was made from")
        if self.replayed_sha256 != self.manifest_sha256:
            problems.append(f"replayed sha256 {self.replayed_sha256[:16]}… but the manifest "
                            f"says {self.manifest_sha256[:16]}…")
        if self.on_disk_sha256 is None:
            problems.append("the file is missing from the output folder")
        elif self.on_disk_sha256 != self.manifest_sha256:
            problems.append(f"the file in the output folder has sha256 "
                            f"{self.on_disk_sha256[:16]}…, not the manifest's (changed after "
                            "the run)")
        if not self.streams_agree:
            problems.append("the random streams no longer draw the row's params")
        problems += self.label_problems
        return f"{self.file_name}: MISMATCH: " + "; ".join(problems)


@dataclass(frozen=True)
class Run:
    """An earlier run, read back: its settings and what may make bytes differ today; DIR and
    SRC are read through their stores (a local folder or any fsspec URL)."""

    out: Store
    config: ExpandConfig
    library_changes: tuple[str, ...]

    @property
    def src(self) -> Store:
        return open_store(self.config.src, self.config.storage_options)

    @cached_property
    def coco_targets(self) -> dict[str, ImageTargets]:
        """Layout coco: each source's targets, from SRC's document (read once, when asked)."""
        document = read_coco_source(self.src)
        return {f"images/{name}": image[2] for name, image in document.images.items()}


def load_run(out: Location, src: Location | None = None,
             storage_options: Mapping[str, Any] | None = None) -> Run:
    """Read DIR/run.json into the settings that made DIR.

    Args:
        out: the output folder (a path, or a URL such as s3://bucket/aug).
        src: where the sources are now, if not where run.json says (SRC as given at the run,
            relative to the folder the run was started from).
        storage_options: for URLs, as the run's --storage-option.

    Raises:
        DatasetLayoutError: DIR holds no run of this tool, or one of another schema or streams.
        ConfigError: a URL's filesystem is unknown or not installed.
        StorageError: its bucket is missing or denies access.
    """
    store = open_store(as_location(out), storage_options)
    store.check()
    out = store.location
    record = read_run_file(store)
    if record is None:
        raise DatasetLayoutError(f"{out}: no {RUN_FILE} of expand here; give an output folder")
    if record.get("manifest_schema") not in READABLE_SCHEMAS or \
            record.get("random_streams") != RANDOM_STREAMS_VERSION:
        raise DatasetLayoutError(
            f"{out}: made with manifest schema {record.get('manifest_schema')} and random streams "
            f"{record.get('random_streams')}; this expand has {MANIFEST_SCHEMA_VERSION} and "
            f"{RANDOM_STREAMS_VERSION}")
    try:
        config = _settings(record["config"], as_location(out), src, storage_options)
    except ConfigError as exc:
        raise StateError(f"{store.display(RUN_FILE)}: {exc}; run expand again with --rebuild") \
            from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"{store.display(RUN_FILE)}: config is not what expand records "
                         f"({type(exc).__name__}: {exc}); run expand again with --rebuild") \
            from None
    now = codec.library_versions()
    changes = tuple(f"{name} {version} → {now.get(name)}"
                    for name, version in record.get("libraries", {}).items()
                    if now.get(name) != version)
    return Run(store, config, changes)


def _settings(recorded: Any, out: Location, src: Location | None,
              storage_options: Mapping[str, Any] | None) -> ExpandConfig:
    """run.json's config as the ExpandConfig that made DIR (SRC as recorded: a path or a URL)."""
    settings: dict[str, Any] = dict(recorded)
    augment = AugmentConfig(**settings.pop("augment"))
    resize = settings.pop("resize")
    copies = settings.pop("copies")
    return ExpandConfig(
        src=src if src is not None else as_location(settings.pop("src")), out=out,
        storage_options=dict(storage_options or {}),
        copies=copies if copies is not None else 0, seed=settings["seed"],
        image_format=settings["format"], quality=settings["quality"],
        png_level=settings["png_level"], resize=tuple(resize) if resize else None,
        include_originals=settings["include_originals"], augment=augment,
        preset=settings["preset"], per_class_target=settings.get("per_class_target"),
        max_image_pixels=settings.get("max_image_pixels"),
        follow_symlinks=bool(settings.get("follow_symlinks")),
        split=Split(**settings["split"]) if settings.get("split") else None,
        layout=settings.get("layout", Layout.CLASSES.value),
        min_visibility=settings.get("min_visibility", DEFAULT_MIN_VISIBILITY))


def _row_name(out: Store, file: str) -> str:
    """FILE as a manifest name: relative to DIR, whether given that way or as a path (or URL)
    into DIR."""
    folder = out.local_folder()
    if folder is None:
        prefix = out.location + "/"
        return file[len(prefix):] if file.startswith(prefix) else PurePosixPath(file).as_posix()
    path = Path(file)
    try:  # a path into DIR, also when its file was deleted (then the replay says it is missing)
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        if path.exists():
            raise DatasetLayoutError(f"{file}: not inside {folder}") from None
    return PurePosixPath(file).as_posix()


def replay_row(run: Run, row: dict[str, Any]) -> Replayed:
    """Regenerate the file of one manifest row from its source and params.

    Raises:
        DatasetLayoutError: the source cannot be read (moved, or SRC was relative: see --src).
    """
    config, src = run.config, run.src
    try:
        data, decoded = read_decoded(src, row["source"], config.resize, config.max_image_pixels)
    except ImageReadError as exc:
        raise DatasetLayoutError(f"{src.display(row['source'])}: cannot read the source of "
                                 f"{row['file_name']} ({exc}); if SRC moved or was given "
                                 "relative to another folder, pass --src") from None
    streams_agree = True
    params = None
    augment = config.augment.for_class(row["label"])
    if row["copy"] is None:
        pixels = decoded.pixels
    else:
        params = AugmentParams.from_dict(row["params"])
        pixels = apply_params(decoded.pixels, params, augment, decoded.has_alpha)
        redrawn = draw_params(decoded, augment, config.seed, row["source"], row["copy"],
                              attempt=row.get("attempt") or 0)  # schema 3: the draft kept
        names = tuple(k for k in row["params"] if k not in KERAS_PARAM_KEYS)
        streams_agree = _json(redrawn.to_dict(names)) == _json(row["params"])
    encoded = encode_output(pixels, decoded, config)
    try:
        on_disk: str | None = hashlib.sha256(run.out.read_bytes(row["file_name"])).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        on_disk = None
    now = hashlib.sha256(data).hexdigest()
    pinned = row.get("source_sha256")  # absent in schema 1; null when the source was gone
    labels = () if config.annotated is None else \
        _label_problems(run, row, decoded, augment, params)
    return Replayed(row["file_name"], row["sha256"], hashlib.sha256(encoded.data).hexdigest(),
                    on_disk, streams_agree,
                    (row["source"], now) if pinned is not None and pinned != now else None,
                    labels)


def _label_problems(run: Run, row: dict[str, Any], decoded: codec.Decoded,
                    augment: AugmentConfig, params: AugmentParams | None) -> tuple[str, ...]:
    """The output's labels made again from its source's (and the row's params), against the
    row's `targets` entry and the label file in DIR."""
    layout = run.config.annotated
    assert layout is not None
    height, width = decoded.pixels.shape[:2]
    try:
        source = read_targets(layout, run.src, row["source"], (width, height),
                              run.coco_targets.get(row["source"]) if layout is Layout.COCO
                              else None)
    except AnnotationError as exc:
        return (f"its source's labels cannot be read ({exc})",)
    if params is None:
        targets, counts = source.targets, all_kept(source.targets)
    else:
        targets, counts = copy_targets(source.targets, params, augment, (width, height),
                                       run.config.min_visibility)
    made = label_output(layout, row["file_name"], source, targets, counts, (width, height))
    recorded = row.get("targets")
    if not isinstance(recorded, dict):
        return ("the row records no targets",)
    problems = []
    if _json(made.entry) != _json(recorded):
        what = "label sha256" if made.entry.get("sha256") != recorded.get("sha256") else \
            "annotations" if made.entry.get("annotations") != recorded.get("annotations") else \
            "counts"
        problems.append(f"its replayed targets differ from the manifest's ({what})")
    if made.file is not None:
        try:
            label = hashlib.sha256(run.out.read_bytes(made.file)).hexdigest()
        except (FileNotFoundError, IsADirectoryError):
            problems.append(f"its label file {made.file} is missing from the output folder")
        else:
            if label != recorded.get("sha256"):
                problems.append(f"its label file {made.file} has sha256 {label[:16]}…, not the "
                                "manifest's (changed after the run)")
    return tuple(problems)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def replay(run: Run, files: list[str] | None) -> Iterator[Replayed]:
    """Replay the named files (as given on the command line), or every row when `files` is None.

    Raises:
        DatasetLayoutError: a named file is not in the manifest.
    """
    if files is None:
        yield from (replay_row(run, row) for row in read_manifest(run.out, params=True))
        return
    wanted = {_row_name(run.out, f): f for f in files}
    rows = {row["file_name"]: row for row in read_manifest(run.out, params=True)
            if row["file_name"] in wanted}
    for name, given in wanted.items():
        if name not in rows:
            raise DatasetLayoutError(f"{given}: not in {run.out.display(MANIFEST)}")
    for name in wanted:
        yield replay_row(run, rows[name])
