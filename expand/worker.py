"""One source in, its N copies (and original) out: decode once, then sample, apply, encode, write."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from expand import codec, storage
from expand.config import AugmentConfig, ExpandConfig
from expand.discover import SourceImage
from expand.errors import ImageReadError, OutputWriteError
from expand.layout import copy_name, original_name
from expand.params import AugmentParams, sample_params
from expand.pipeline import apply_params
from expand.seeding import rng_for, source_key


@dataclass(frozen=True)
class Task:
    source: SourceImage
    config: ExpandConfig
    copies: int  # of this source: config.copies, or its share of --per-class-target


@dataclass(frozen=True)
class ManifestRecord:
    """One written file: a row of metadata.jsonl (schema version 1)."""

    file_name: str
    label: str
    source: str
    copy: int | None
    sha256: str
    bytes: int
    width: int
    height: int
    mode: str
    params: dict[str, Any] | None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)


@dataclass(frozen=True)
class SourceResult:
    source: str
    records: tuple[ManifestRecord, ...]
    skipped: str | None = None
    #: copies identical to their source: the same pixels (the augmentation did nothing) or the
    #: same bytes as the source file. Reported, never written into DIR (derived from output).
    unchanged: tuple[str, ...] = ()


def draw_copy(decoded: codec.Decoded, augment: AugmentConfig, seed: int, rel_path: str,
              copy: int) -> tuple[np.ndarray, AugmentParams]:
    """One copy's parameters, from its own streams, and its pixels: what the run, preview and
    replay all compute."""
    key = source_key(rel_path)
    height, width = decoded.pixels.shape[:2]
    params = sample_params(augment, lambda name: rng_for(seed, key, copy, name), (width, height))
    return apply_params(decoded.pixels, params, augment, decoded.has_alpha), params


def encode_output(pixels: np.ndarray, decoded: codec.Decoded,
                  config: ExpandConfig) -> codec.Encoded:
    fmt = codec.output_format(config.image_format, decoded.source_format)
    return codec.encode(pixels, decoded.has_alpha, fmt, config.quality, config.png_level,
                        decoded.icc_profile)


def _write(config: ExpandConfig, rel_file: str, data: bytes) -> None:
    path = config.out / rel_file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage.write_atomic(path, data)
    except OSError as exc:
        raise OutputWriteError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _emit(config: ExpandConfig, source: SourceImage, rel_file: str, encoded: codec.Encoded,
          pixels: np.ndarray, copy: int | None, params: dict[str, Any] | None) -> ManifestRecord:
    _write(config, rel_file, encoded.data)
    height, width = pixels.shape[:2]
    return ManifestRecord(rel_file, source.label, source.rel_path, copy,
                          hashlib.sha256(encoded.data).hexdigest(), len(encoded.data),
                          width, height, encoded.mode, params)


def process_source(task: Task) -> SourceResult:
    """Never raises for a bad source (it becomes `skipped`); raises OutputWriteError for DIR."""
    source, config = task.source, task.config
    try:
        data = storage.read_bytes(source.path)
        decoded = codec.decode(data, source.rel_path, config.resize)
    except ImageReadError as exc:
        return SourceResult(source.rel_path, (), str(exc))
    except OSError as exc:
        return SourceResult(source.rel_path, (), f"{source.rel_path}: cannot read ({exc.strerror})")
    fmt = codec.output_format(config.image_format, decoded.source_format)
    extension = codec.FORMAT_EXTENSIONS[fmt]
    rel = PurePosixPath(source.rel_path)
    records: list[ManifestRecord] = []
    unchanged: list[str] = []
    if config.include_originals:
        name = str(rel.parent / original_name(rel.name, extension))
        encoded = encode_output(decoded.pixels, decoded, config)
        records.append(_emit(config, source, name, encoded, decoded.pixels, None, None))
    augment = config.augment.for_class(source.label)
    names = config.augment.transform_names()
    for copy in range(task.copies):
        pixels, params = draw_copy(decoded, augment, config.seed, source.rel_path, copy)
        name = str(rel.parent / copy_name(rel.name, copy, extension))
        encoded = encode_output(pixels, decoded, config)
        records.append(_emit(config, source, name, encoded, pixels, copy, params.to_dict(names)))
        if encoded.data == data or np.array_equal(pixels, decoded.pixels):
            unchanged.append(name)
    return SourceResult(source.rel_path, tuple(records), unchanged=tuple(unchanged))


def worker_init() -> None:
    """One OpenCV thread per worker: the pool, not OpenCV, decides how many cores are used."""
    import cv2

    cv2.setNumThreads(1)
