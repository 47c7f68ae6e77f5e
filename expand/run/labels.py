"""What a run does with an annotated layout's labels (docs/detection.md): which layout SRC has,
a source's targets as read, a copy's label file, the manifest row's `targets` entry, the COCO
document built from the manifest, and the names of label files (what DIR's rules apply to)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from expand.annotations import ImageTargets, Layout, TargetCounts
from expand.config import ExpandConfig
from expand.errors import AnnotationError, DatasetLayoutError
from expand.io import storage
from expand.io.coco import CocoSource, coco_annotation, coco_document, coco_source, read_coco
from expand.io.discover import LABEL_FOLDERS
from expand.io.label_masks import label_palette, label_png, read_label_png
from expand.io.layouts import coco_json, detect_layout, label_file_for
from expand.io.storage import Store
from expand.io.yolo import read_yolo, yolo_text


def resolve_layout(config: ExpandConfig, src: Store) -> ExpandConfig:
    """`config` with its layout as SRC has it: detected under "auto" (a URL's SRC: the class
    layout, which needs no detection), checked when given. The config's refusals of settings
    that cannot keep the layout's targets right then apply; the `default` preset, when chosen
    for the user, takes a constant fill for boxes and polygons.

    Raises:
        DatasetLayoutError: SRC does not hold the layout asked for, or holds none clearly.
        ConfigError: a setting the layout refuses.
    """
    folder = src.local_folder()
    asked = None if config.layout == "auto" else Layout(config.layout)
    if folder is None:
        if asked not in (None, Layout.CLASSES):
            raise DatasetLayoutError(f"{src.location}: layout {config.layout} needs SRC on this "
                                     "machine's file system")
        return replace(config, layout=Layout.CLASSES.value)
    layout = detect_layout(folder, asked)
    return config if layout.value == config.layout else replace(config, layout=layout.value)


def read_coco_source(src: Store) -> CocoSource:
    """SRC's COCO document, read once by the run (its tasks get each image's targets).

    Raises:
        DatasetLayoutError: there is none, or it is unusable as a whole.
    """
    folder = src.local_folder()
    found = None if folder is None else coco_json(folder)
    if folder is None or found is None:
        raise DatasetLayoutError(f"{src.location}: no COCO JSON at its top or in annotations/")
    rel = found.relative_to(folder).as_posix()
    try:
        data = src.read_bytes(rel)
    except OSError as exc:
        raise DatasetLayoutError(f"{src.display(rel)}: cannot read ({storage.reason(exc)})") \
            from None
    return read_coco(data, src.display(rel))


def coco_name(image_rel: str) -> str:
    """A COCO file_name: the image's path below images/."""
    return image_rel.split("/", 1)[1]


@dataclass(frozen=True)
class SourceTargets:
    """A source's targets as read, and what its copies' label files keep of its own file
    (a label PNG's palette)."""

    targets: ImageTargets
    palette: bytes | None = None

    @property
    def objects(self) -> int | None:
        """Its objects, None when it has none (a copy then has nothing to lose)."""
        return len(self.targets.objects) or None


def read_targets(layout: Layout, src: Store, image_rel: str, size: tuple[int, int],
                 shipped: ImageTargets | None) -> SourceTargets:
    """A source's targets: its YOLO text (none without a file: an image with no object), its
    label PNG, or the COCO targets the run shipped (`shipped`; None: no annotation).

    Raises:
        AnnotationError: one line naming the label file and what is wrong.
    """
    if layout is Layout.COCO:
        return SourceTargets(shipped or ImageTargets())
    rel = label_file_for(layout, image_rel)
    assert rel is not None
    try:
        data = src.read_bytes(rel)
    except FileNotFoundError:
        if layout is Layout.YOLO:
            return SourceTargets(ImageTargets())
        raise AnnotationError(f"{rel}: missing (every image of layout masks has its label "
                              "PNG)") from None
    except OSError as exc:
        raise AnnotationError(f"{rel}: cannot read ({storage.reason(exc)})") from None
    if layout is Layout.YOLO:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AnnotationError(f"{rel}: not UTF-8 text") from None
        return SourceTargets(read_yolo(text, rel, size))
    label = read_label_png(data, rel)
    if (label.shape[1], label.shape[0]) != size:
        raise AnnotationError(f"{rel}: {label.shape[1]}x{label.shape[0]}, but its image is "
                              f"{size[0]}x{size[1]}")
    return SourceTargets(ImageTargets(label_image=label), label_palette(data, rel))


def all_kept(targets: ImageTargets) -> TargetCounts:
    """An original's counts: its objects as they are."""
    return TargetCounts(len(targets.objects), 0, 0)


@dataclass(frozen=True)
class LabelOutput:
    """An output's label file (None for COCO, whose labels are in the row) and row entry."""

    file: str | None
    data: bytes | None
    entry: dict[str, Any]
    counts: TargetCounts


def label_output(layout: Layout, image_rel: str, source: SourceTargets, targets: ImageTargets,
                 counts: TargetCounts, size: tuple[int, int]) -> LabelOutput:
    """The label of the output `image_rel` (its targets mapped) and the row's `targets` entry:
    the counts, the label file and its SHA-256, and for COCO the annotations themselves."""
    entry: dict[str, Any] = {**counts.as_dict(), "file": None, "sha256": None}
    if layout is Layout.COCO:
        entry["annotations"] = [coco_annotation(target) for target in targets.objects]
        return LabelOutput(None, None, entry, counts)
    rel = label_file_for(layout, image_rel)
    assert rel is not None
    if layout is Layout.YOLO:
        data = yolo_text(targets, size).encode("utf-8")
    else:
        label = targets.label_image if targets.label_image is not None else \
            np.zeros((size[1], size[0]), np.uint8)
        data = label_png(label, source.palette)
    entry.update(file=rel, sha256=hashlib.sha256(data).hexdigest())
    return LabelOutput(rel, data, entry, counts)


def label_file(row: Mapping[str, Any]) -> str | None:
    """The label file a manifest row records (rows of annotated layouts, schema 4)."""
    targets = row.get("targets")
    return targets.get("file") if isinstance(targets, dict) else None


def targets_problem(row: Mapping[str, Any]) -> str | None:
    """What is wrong with a row's `targets` entry, or None: its label file must be the one its
    image's name gives (so a row can never make the run write or delete another file)."""
    targets = row["targets"]
    if not isinstance(targets, dict):
        return "targets is not an object"
    for key in TargetCounts().as_dict():
        value = targets.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"targets.{key} {value!r} is not a count"
    file, sha256 = targets.get("file"), targets.get("sha256")
    if file is None:
        return None if sha256 is None else "targets.sha256 without a file"
    if not row["file_name"].startswith("images/") or \
            file not in (label_file_for(Layout.YOLO, row["file_name"]),
                    label_file_for(Layout.MASKS, row["file_name"])):
        return f"targets.file {file!r} is not the label file of {row['file_name']!r}"
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return "targets.sha256 is not a SHA-256 in hex"
    return None


def label_folders() -> tuple[str, ...]:
    """DIR's folders that hold labels (never written through a link)."""
    return tuple(name for name in LABEL_FOLDERS if name != "annotations")


def coco_output(categories: Iterable[Mapping[str, Any]], rows: Iterable[Mapping[str, Any]]
                ) -> bytes:
    """DIR/annotations.json from the manifest's rows: every output image, its annotations."""
    return coco_document(list(categories), [
        (coco_name(row["file_name"]), row["width"], row["height"],
         row["targets"].get("annotations") or []) for row in rows])


def coco_targets(annotations: list[dict[str, Any]], file_name: str, size: tuple[int, int]
                 ) -> ImageTargets:
    """A manifest row's COCO annotations as targets, read by the same reader as SRC's document.

    Raises:
        AnnotationError: one of them is not a usable annotation.
    """
    document = {"images": [{"id": 1, "file_name": file_name, "width": size[0],
                            "height": size[1]}],
                "annotations": [{**annotation, "id": number, "image_id": 1}
                                for number, annotation in enumerate(annotations, 1)],
                "categories": [{"id": category} for category in
                               sorted({a.get("category_id") for a in annotations}, key=str)]}
    try:
        source = coco_source(document, file_name)
    except DatasetLayoutError as exc:
        raise AnnotationError(str(exc)) from None
    if file_name in source.rejected:
        raise AnnotationError(source.rejected[file_name])
    return source.images[file_name][2] if file_name in source.images else ImageTargets()


def output_targets(layout: Layout, out: Store, row: Mapping[str, Any], size: tuple[int, int]
                   ) -> ImageTargets:
    """An output's targets as DIR holds them (its label file, or its row's COCO annotations):
    what inspect draws.

    Raises:
        AnnotationError: its label cannot be read.
    """
    shipped = None
    if layout is Layout.COCO:
        annotations = row["targets"].get("annotations") or []
        shipped = coco_targets(annotations, coco_name(row["file_name"]), size)
    return read_targets(layout, out, row["file_name"], size, shipped).targets
