"""One source in, its N copies (and original) out: decode once, then sample, apply, encode, write."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import posixpath
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from expand.annotations import ImageTargets, TargetCounts
from expand.augment.checks import SourceFacts, measure
from expand.augment.lineart import Traced
from expand.augment.params import AugmentParams, sample_params, stream_names
from expand.augment.pipeline import apply_params, copy_polarity, output_map, trace_source
from expand.augment.seeding import SourceStreams, attempt_streams, source_key
from expand.augment.targets import copy_targets
from expand.config import PRESETS, AugmentConfig, ExpandConfig
from expand.errors import (
    AnnotationError,
    ImageReadError,
    NotLineArtError,
    OutputNameError,
    OutputWriteError,
)
from expand.io import codec, storage
from expand.io.discover import SourceImage
from expand.run.labels import LabelOutput, SourceTargets, all_kept, label_output, read_targets
from expand.run.layout import copy_name, original_name
from expand.run.manifest import CHECK_KEYS


@dataclass(frozen=True)
class Task:
    """A source and which of its outputs to make (a resume or an update asks for some only)."""

    source: SourceImage
    config: ExpandConfig
    copies: tuple[int, ...]
    original: bool
    #: DIR held no earlier run, so no output is there already to be kept: each is written
    #: without first comparing it with a file of its name (a stat and a failed lookup each).
    new_dir: bool = False
    #: layout coco: the source's targets, from the document the run read once (None: none)
    targets: ImageTargets | None = None


@dataclass(frozen=True)
class ManifestRecord:
    """One written file: a row of metadata.jsonl (manifest.MANIFEST_SCHEMA_VERSION; the key
    order is manifest.ROW_KEYS)."""

    file_name: str
    label: str
    source: str
    #: of the source's bytes as read for decoding: what pins the row to its source
    source_sha256: str
    copy: int | None
    sha256: str
    bytes: int
    width: int
    height: int
    mode: str
    params: dict[str, Any] | None
    #: a run with checks (schema 3): the row's CHECK_KEYS, after `params`; None: schema 2
    checked: dict[str, Any] | None = None
    #: an annotated layout (schema 4): the row's `targets` entry, last
    targets: dict[str, Any] | None = None

    def encoded(self) -> tuple[str, str]:
        """(file name, manifest line: json.dumps(row, ensure_ascii=False)), made in the worker:
        the parent, which shares the cores with the workers, then only files the line, and a
        line pickles far faster than a record."""
        row = dict(self.__dict__)
        targets = row.pop("targets")
        row.update(row.pop("checked") or {})
        if targets is not None:
            row["targets"] = targets
        return self.file_name, json.dumps(row, ensure_ascii=False)


@dataclass(frozen=True)
class SourceResult:
    source: str
    label: str
    #: (file name, manifest line) of each file written (ManifestRecord.encoded)
    rows: tuple[tuple[str, str], ...]
    skipped: str | None = None
    notes: tuple[str, ...] = ()
    #: copies identical to their source: the same pixels (the augmentation did nothing) or the
    #: same bytes as the source file. Reported, never written into DIR (derived from output).
    unchanged: tuple[str, ...] = ()
    #: per check, the drafts it rejected (each drawn again); and the copies kept although
    #: every draft failed (their rows name the checks under `failed`)
    rejected: tuple[tuple[str, int], ...] = ()
    kept_failing: int = 0
    #: an annotated layout's objects in the copies written
    objects: TargetCounts = TargetCounts()


def draw_copy(decoded: codec.Decoded, augment: AugmentConfig, seed: int, rel_path: str,
              copy: int, traced: Traced | None = None, streams: SourceStreams | None = None,
              attempt: int = 0) -> tuple[np.ndarray, AugmentParams]:
    """One copy's parameters, from its own streams, and its pixels: what the run, preview and
    replay all compute. `traced`: the source's line-art trace, when already made. `streams`:
    the source's (SourceStreams(seed, source_key(rel_path))), when making several copies of it.
    `attempt`: the draft (0: the copy's own streams; k: their children, seeding.attempt_streams).

    Raises:
        NotLineArtError: line-art transforms on a source that is not line art.
    """
    params = draw_params(decoded, augment, seed, rel_path, copy, streams, attempt)
    return apply_params(decoded.pixels, params, augment, decoded.has_alpha, traced), params


def draw_params(decoded: codec.Decoded, augment: AugmentConfig, seed: int, rel_path: str,
                copy: int, streams: SourceStreams | None = None,
                attempt: int = 0) -> AugmentParams:
    """One copy's parameters, from its own streams (no pixels: replay checks a row with it)."""
    height, width = decoded.pixels.shape[:2]
    if attempt:
        return sample_params(augment, attempt_streams(seed, source_key(rel_path), copy, attempt),
                             (width, height))
    if streams is None:
        streams = SourceStreams(seed, source_key(rel_path))
    return sample_params(augment, streams.for_copy(copy), (width, height))


#: the objects a copy of these params keeps, None when its source has none (the objects check)
ObjectCount = Callable[[AugmentParams], "int | None"]


def draw_checked(decoded: codec.Decoded, augment: AugmentConfig, seed: int, rel_path: str,
                 copy: int, traced: Traced | None, streams: SourceStreams | None,
                 facts: SourceFacts, objects: ObjectCount | None = None
                 ) -> tuple[np.ndarray, AugmentParams, dict[str, Any]]:
    """draw_copy, drawn again while the copy fails a check of `augment.checks`, up to its
    max_attempts drafts; the last is kept when all fail. Returns the pixels, the params and
    the row's schema-3 keys (CHECK_KEYS): the attempt kept, its check values, the checks each
    rejected draft failed, and those the kept one fails (empty unless every draft failed)."""
    checks = augment.checks
    assert checks is not None
    height, width = decoded.pixels.shape[:2]
    rejected: list[list[str]] = []
    attempt = 0
    while True:
        pixels, params = draw_copy(decoded, augment, seed, rel_path, copy, traced, streams,
                                   attempt)
        values = measure(checks, pixels, facts, decoded.has_alpha,
                         output_map(params, traced, width, height),
                         None if objects is None else objects(params),
                         None if traced is None else copy_polarity(params, traced))
        failed = checks.failing(values, facts.holes)
        if not failed or attempt + 1 == checks.max_attempts:
            return pixels, params, {"attempt": attempt, "checks": values, "rejected": rejected,
                                    "failed": failed}
        rejected.append(failed)
        attempt += 1


def draw_output(decoded: codec.Decoded, augment: AugmentConfig, seed: int, rel_path: str,
                copy: int, traced: Traced | None, streams: SourceStreams | None,
                facts: SourceFacts | None, objects: ObjectCount | None = None
                ) -> tuple[np.ndarray, AugmentParams, dict[str, Any] | None]:
    """The copy the run writes: draw_checked under the class's checks (`facts`:
    SourceFacts.of the source; `objects`: for the objects check), else draw_copy (and None for
    the check keys)."""
    if facts is not None:
        return draw_checked(decoded, augment, seed, rel_path, copy, traced, streams, facts,
                            objects)
    return (*draw_copy(decoded, augment, seed, rel_path, copy, traced, streams), None)


def trace_or_skip(decoded: codec.Decoded, augment: AugmentConfig, rel_path: str) -> Traced | None:
    """The source's line-art trace when the class's config lists line-art transforms.

    Raises:
        NotLineArtError: with a one-line reason that names the file.
    """
    try:
        return trace_source(decoded.pixels, augment)
    except NotLineArtError as exc:
        raise NotLineArtError(f"{rel_path}: {exc}; skipped (the config's line-art transforms "
                              "need line art)") from None


def encode_output(pixels: np.ndarray, decoded: codec.Decoded,
                  config: ExpandConfig) -> codec.Encoded:
    fmt = codec.output_format(config.image_format, decoded.source_format)
    return codec.encode(pixels, decoded.has_alpha, fmt, config.quality, config.png_level,
                        decoded.icc_profile)


def _write(out: storage.Store, rel_file: str, data: bytes, new_dir: bool) -> None:
    """Names are deterministic, so a task run twice (a resume, or Dask retrying a task whose worker
    was lost) can only write the same bytes under the same name, never a duplicate; a local file
    already holding them is not even rewritten (unless DIR was new)."""
    try:
        if new_dir:
            out.write(rel_file, data)
        else:
            out.ensure(rel_file, data)
    except OSError as exc:
        if exc.errno in _NAME_REFUSED:
            raise OutputNameError(f"{rel_file}: DIR's file system cannot store this output's "
                                  f"name ({storage.reason(exc)}); rename the source") from None
        raise OutputWriteError(f"{out.display(rel_file)}: cannot write ({storage.reason(exc)})") \
            from None


#: What a file system answers for a name it cannot hold (too long; bytes it cannot store).
_NAME_REFUSED = (errno.ENAMETOOLONG, errno.EILSEQ)


@dataclass(frozen=True)
class _Output:
    rel_file: str
    encoded: codec.Encoded
    width: int
    height: int
    copy: int | None
    params: dict[str, Any] | None
    unchanged: bool  # a copy with its source's pixels or bytes
    checked: dict[str, Any] | None = None  # manifest.CHECK_KEYS, in a run with checks
    label: LabelOutput | None = None  # an annotated layout's label and row entry


def read_decoded(store: storage.Store, rel: str, resize: tuple[int, int] | None = None,
                 max_pixels: int | None = None) -> tuple[bytes, codec.Decoded]:
    """A file's bytes and pixels: what run, replay and inspect read a source or an output by.

    Raises:
        ImageReadError: it cannot be read or decoded, in one line that starts with `rel`.
    """
    try:
        data = store.read_bytes(rel)
    except OSError as exc:
        raise ImageReadError(f"{rel}: cannot read ({storage.reason(exc)})") from None
    return data, codec.decode(data, rel, resize, max_pixels)


def _decode(task: Task) -> tuple[bytes, codec.Decoded]:
    """The source's bytes and pixels. Raises ImageReadError: it cannot be read."""
    config = task.config
    return read_decoded(storage.open_store(config.src, config.storage_options),
                        task.source.rel_path, config.resize, config.max_image_pixels)


def _same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """np.array_equal, deciding most augmented copies on their middle row (a full comparison
    reads both whole images; one row's bytes tell most copies apart). Not the first: on drawings
    it is often background in both."""
    if a.shape != b.shape:
        return False
    row = a.shape[0] // 2
    return a[row].tobytes() == b[row].tobytes() and bool(np.array_equal(a, b))


class TargetMapper:
    """A source's targets through each draft's geometry: the objects check counts a draft's,
    and the draft kept (the last measured) is not mapped twice."""

    def __init__(self, source: SourceTargets, augment: AugmentConfig, size: tuple[int, int],
                 min_visibility: float) -> None:
        self.source = source
        self.augment = augment
        self.size = size
        self.min_visibility = min_visibility
        self._last: tuple[AugmentParams, ImageTargets, TargetCounts] | None = None

    def mapped(self, params: AugmentParams) -> tuple[ImageTargets, TargetCounts]:
        if self._last is None or self._last[0] is not params:
            self._last = (params, *copy_targets(self.source.targets, params, self.augment,
                                                self.size, self.min_visibility))
        return self._last[1], self._last[2]

    def objects(self, params: AugmentParams) -> int | None:
        if self.source.objects is None:
            return None
        counts = self.mapped(params)[1]
        return counts.kept + counts.clipped


def _render(task: Task, data: bytes, decoded: codec.Decoded, traced: Traced | None,
            labels: SourceTargets | None = None) -> Iterator[_Output]:
    """Each asked-for output, encoded in memory; the source was decoded (and traced) once.
    `labels`: the source's targets, in an annotated layout (each output gets its label)."""
    source, config = task.source, task.config
    fmt = codec.output_format(config.image_format, decoded.source_format)
    extension = codec.FORMAT_EXTENSIONS[fmt]
    folder, name = posixpath.split(source.rel_path)
    height, width = decoded.pixels.shape[:2]
    layout = config.annotated
    # schema 3 and 4 (an annotated layout): every row has the check keys
    schema_3 = config.augment.any_checks() or layout is not None
    if task.original:
        rel_file = posixpath.join(folder, original_name(name, extension))
        yield _Output(rel_file, encode_output(decoded.pixels, decoded, config), width, height,
                      None, None, False, dict.fromkeys(CHECK_KEYS) if schema_3 else None,
                      None if labels is None or layout is None else
                      label_output(layout, rel_file, labels, labels.targets,
                                   all_kept(labels.targets), (width, height)))
    augment = config.augment.for_class(source.label)
    names = config.augment.transform_names()
    streams = SourceStreams(config.seed, source_key(source.rel_path), task.copies,
                            stream_names(augment))
    facts = SourceFacts.of(decoded.pixels, traced) if augment.checks is not None else None
    mapper = None if labels is None else \
        TargetMapper(labels, augment, (width, height), config.min_visibility)
    for copy in task.copies:
        pixels, params, checked = draw_output(decoded, augment, config.seed, source.rel_path,
                                              copy, traced, streams, facts,
                                              None if mapper is None else mapper.objects)
        if checked is None and schema_3:  # no checks here, but every row has the keys
            checked = {"attempt": 0, "checks": None, "rejected": [], "failed": []}
        encoded = encode_output(pixels, decoded, config)
        rel_file = posixpath.join(folder, copy_name(name, copy, extension))
        label = None
        if mapper is not None and layout is not None:
            label = label_output(layout, rel_file, mapper.source, *mapper.mapped(params),
                                 (width, height))
        yield _Output(rel_file, encoded, pixels.shape[1], pixels.shape[0], copy,
                      params.to_dict(names),
                      encoded.data == data or _same_pixels(pixels, decoded.pixels), checked,
                      label)


def render_source(task: Task) -> list[bytes]:
    """The encoded outputs of a task, not written (size estimates); [] if the source is bad."""
    try:
        data, decoded = _decode(task)
        traced = _trace(task, decoded)
    except (ImageReadError, NotLineArtError):
        return []
    return [output.encoded.data for output in _render(task, data, decoded, traced)]


def _trace(task: Task, decoded: codec.Decoded) -> Traced | None:
    return trace_or_skip(decoded, task.config.augment.for_class(task.source.label),
                         task.source.rel_path)


def process_source(task: Task) -> SourceResult:
    """Never raises for a bad source (it becomes `skipped`); raises OutputWriteError for DIR."""
    source = task.source
    try:
        data, decoded = _decode(task)
    except ImageReadError as exc:
        return SourceResult(source.rel_path, source.label, (), str(exc))
    try:
        traced = _trace(task, decoded)
    except NotLineArtError as exc:
        return SourceResult(source.rel_path, source.label, (), str(exc))
    try:
        labels = _labels(task, decoded)
    except AnnotationError as exc:
        return SourceResult(source.rel_path, source.label, (), f"{exc}; its image is skipped")
    rows = []
    written: list[str] = []
    unchanged = []
    rejected: Counter[str] = Counter()
    kept_failing = 0
    objects = TargetCounts()
    store = storage.open_store(task.config.out, task.config.storage_options)
    pinned = hashlib.sha256(data).hexdigest()
    try:
        for out in _render(task, data, decoded, traced, labels):
            _write(store, out.rel_file, out.encoded.data, task.new_dir)
            written.append(out.rel_file)
            if out.label is not None and out.label.file is not None:
                assert out.label.data is not None
                _write(store, out.label.file, out.label.data, task.new_dir)
                written.append(out.label.file)
            rows.append(ManifestRecord(out.rel_file, source.label, source.rel_path, pinned,
                                       out.copy, hashlib.sha256(out.encoded.data).hexdigest(),
                                       len(out.encoded.data), out.width, out.height,
                                       out.encoded.mode, out.params, out.checked,
                                       None if out.label is None else out.label.entry).encoded())
            if out.unchanged:
                unchanged.append(out.rel_file)
            if out.checked is not None and out.copy is not None:
                rejected.update(n for draft in out.checked["rejected"] for n in draft)
                kept_failing += bool(out.checked["failed"])
            if out.label is not None and out.copy is not None:
                objects += out.label.counts
    except OutputNameError as exc:
        for name in written:  # written, but the source is skipped: no row will record them
            with contextlib.suppress(OSError):
                store.remove(name)
        return SourceResult(source.rel_path, source.label, (), str(exc))
    return SourceResult(source.rel_path, source.label, tuple(rows), None, decoded.notes,
                        tuple(unchanged), tuple(sorted(rejected.items())), kept_failing,
                        objects)


def _labels(task: Task, decoded: codec.Decoded) -> SourceTargets | None:
    """The source's targets in an annotated layout, else None.

    Raises:
        AnnotationError: its label is malformed or missing (one line naming the file).
    """
    layout = task.config.annotated
    if layout is None:
        return None
    height, width = decoded.pixels.shape[:2]
    src = storage.open_store(task.config.src, task.config.storage_options)
    return read_targets(layout, src, task.source.rel_path, (width, height), task.targets)


#: glibc's mallopt parameters, and the sizes set (bytes)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_UP_TO, _TRIM_ABOVE = 64 * 2**20, 256 * 2**20


def _reuse_large_buffers() -> None:
    """A 1024x768 source's buffers (decoded, widened with its margin, each warped and encoded
    copy) are megabytes each. glibc maps such blocks afresh and unmaps them on free unless its
    adaptive threshold happens to have risen, and the page faults of fresh mappings then come
    back with every copy. Up to 64 MB they come from the heap instead and are reused; the heap is
    trimmed above 256 MB free. Elsewhere than glibc: nothing to set."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return  # the parameters below are glibc's (and Windows has no CDLL(None) at all)
    mallopt = ctypes.CDLL(None).mallopt
    mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)


def worker_init() -> None:
    """One OpenCV thread per worker: the pool, not OpenCV, decides how many cores are used.
    Large buffers are reused (_reuse_large_buffers). Ctrl-C is the parent's to handle: it stops
    the pool, and no worker prints a traceback; a pool worker then warms up (_warm_up). The
    serial executor runs this in the main process, which must keep its Ctrl-C and has nothing
    to warm up for."""
    import multiprocessing
    import signal

    import cv2

    cv2.setNumThreads(1)
    _reuse_large_buffers()
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _warm_up()


def _warm_up() -> None:
    """Render two copies of a small PNG and a small JPEG made here, through the run's own path
    (_render: draw, warp, encode; then the hash), nothing written: a pool worker's first task
    then runs at the speed of the others (else it pays the first calls' set-up in OpenCV and the
    codecs, and the page faults of a freshly forked process). A prewarmed pool does
    this while the command still imports. Should it fail, the tasks meet the problem and report
    it; the worker goes on."""
    augment = AugmentConfig.from_keras(**PRESETS["shapes-tutorial"])  # every Keras geometry
    config = ExpandConfig(src=".", out=".", augment=augment)
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[8:24, 4:28] = (200, 120, 40)
    try:
        for fmt in ("png", "jpeg"):
            name = f"warm-up/warm-up.{fmt}"
            data = codec.encode(pixels, False, fmt, config.quality, config.png_level, None).data
            task = Task(SourceImage(name, name, "warm-up"), config, (0, 1), False)
            for output in _render(task, data, codec.decode(data, name), None):
                hashlib.sha256(output.encoded.data).hexdigest()
    except Exception:  # noqa: BLE001  (a speed-up only)
        return
