"""Regenerate outputs from their manifest rows and run.json, and check them against their hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from expand import codec, storage
from expand.config import AugmentConfig, ExpandConfig
from expand.errors import ConfigError, DatasetLayoutError, ImageReadError, StateError
from expand.layout import RUN_FILE, read_run_file
from expand.manifest import MANIFEST_SCHEMA_VERSION, READABLE_SCHEMAS, read_manifest
from expand.params import KERAS_PARAM_KEYS, AugmentParams
from expand.pipeline import apply_params
from expand.runner import library_versions
from expand.seeding import RANDOM_STREAMS_VERSION
from expand.splits import Split
from expand.worker import draw_params, encode_output


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

    @property
    def ok(self) -> bool:
        return self.replayed_sha256 == self.manifest_sha256 == self.on_disk_sha256 \
            and self.streams_agree and self.source_changed is None

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
        return f"{self.file_name}: MISMATCH: " + "; ".join(problems)


@dataclass(frozen=True)
class Run:
    """An earlier run, read back: its settings and what may make bytes differ today."""

    out: Path
    config: ExpandConfig
    library_changes: tuple[str, ...]


def load_run(out: Path, src: Path | None = None) -> Run:
    """Read DIR/run.json into the settings that made DIR.

    Args:
        out: the output folder.
        src: where the sources are now, if not where run.json says (SRC as given at the run,
            relative to the folder the run was started from).

    Raises:
        DatasetLayoutError: DIR holds no run of this tool, or one of another schema or streams.
    """
    record = read_run_file(out)
    if record is None:
        raise DatasetLayoutError(f"{out}: no {RUN_FILE} of expand here; give an output folder")
    if record.get("manifest_schema") not in READABLE_SCHEMAS or \
            record.get("random_streams") != RANDOM_STREAMS_VERSION:
        raise DatasetLayoutError(
            f"{out}: made with manifest schema {record.get('manifest_schema')} and random streams "
            f"{record.get('random_streams')}; this expand has {MANIFEST_SCHEMA_VERSION} and "
            f"{RANDOM_STREAMS_VERSION}")
    try:
        config = _settings(record["config"], out, src)
    except ConfigError as exc:
        raise StateError(f"{out / RUN_FILE}: {exc}; run expand again with --rebuild") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"{out / RUN_FILE}: config is not what expand records "
                         f"({type(exc).__name__}: {exc}); run expand again with --rebuild") \
            from None
    now = library_versions()
    changes = tuple(f"{name} {version} → {now.get(name)}"
                    for name, version in record.get("libraries", {}).items()
                    if now.get(name) != version)
    return Run(out, config, changes)


def _settings(recorded: Any, out: Path, src: Path | None) -> ExpandConfig:
    """run.json's config as the ExpandConfig that made DIR."""
    settings: dict[str, Any] = dict(recorded)
    augment = AugmentConfig(**settings.pop("augment"))
    resize = settings.pop("resize")
    copies = settings.pop("copies")
    return ExpandConfig(
        src=src if src is not None else Path(settings.pop("src")), out=out,
        copies=copies if copies is not None else 0, seed=settings["seed"],
        image_format=settings["format"], quality=settings["quality"],
        png_level=settings["png_level"], resize=tuple(resize) if resize else None,
        include_originals=settings["include_originals"], augment=augment,
        preset=settings["preset"], per_class_target=settings.get("per_class_target"),
        max_image_pixels=settings.get("max_image_pixels"),
        follow_symlinks=bool(settings.get("follow_symlinks")),
        split=Split(**settings["split"]) if settings.get("split") else None)


def _row_name(out: Path, file: str) -> str:
    """FILE as a manifest name: relative to DIR, whether given that way or as a path into DIR."""
    path = Path(file)
    try:  # a path into DIR, also when its file was deleted (then the replay says it is missing)
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        if path.exists():
            raise DatasetLayoutError(f"{file}: not inside {out}") from None
    return PurePosixPath(file).as_posix()


def replay_row(run: Run, row: dict[str, Any]) -> Replayed:
    """Regenerate the file of one manifest row from its source and params.

    Raises:
        DatasetLayoutError: the source cannot be read (moved, or SRC was relative: see --src).
    """
    config = run.config
    source = config.src / row["source"]
    try:
        data = storage.read_bytes(source)
        decoded = codec.decode(data, row["source"], config.resize, config.max_image_pixels)
    except (OSError, ImageReadError) as exc:
        raise DatasetLayoutError(f"{source}: cannot read the source of {row['file_name']} "
                                 f"({getattr(exc, 'strerror', None) or exc}); if SRC moved or "
                                 "was given relative to another folder, pass --src") from None
    streams_agree = True
    if row["copy"] is None:
        pixels = decoded.pixels
    else:
        augment = config.augment.for_class(row["label"])
        params = AugmentParams.from_dict(row["params"])
        pixels = apply_params(decoded.pixels, params, augment, decoded.has_alpha)
        redrawn = draw_params(decoded, augment, config.seed, row["source"], row["copy"],
                              attempt=row.get("attempt") or 0)  # schema 3: the draft kept
        names = tuple(k for k in row["params"] if k not in KERAS_PARAM_KEYS)
        streams_agree = _json(redrawn.to_dict(names)) == _json(row["params"])
    encoded = encode_output(pixels, decoded, config)
    target = run.out / row["file_name"]
    on_disk = hashlib.sha256(target.read_bytes()).hexdigest() if target.is_file() else None
    now = hashlib.sha256(data).hexdigest()
    pinned = row.get("source_sha256")  # absent in schema 1; null when the source was gone
    return Replayed(row["file_name"], row["sha256"], hashlib.sha256(encoded.data).hexdigest(),
                    on_disk, streams_agree,
                    (row["source"], now) if pinned is not None and pinned != now else None)


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
            raise DatasetLayoutError(f"{given}: not in {run.out / 'metadata.jsonl'}")
    for name in wanted:
        yield replay_row(run, rows[name])
