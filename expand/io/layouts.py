"""Which layout SRC holds (docs/detection.md, "Layouts") and where an image's label file is: one
rule for sources and outputs, so an output's label pairs with its image by name."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from expand.annotations import Layout
from expand.errors import DatasetLayoutError

#: The COCO file an expand output writes: preferred when SRC's top holds several JSON files.
COCO_NAME = "annotations.json"


def _folder(src: Path, name: str) -> bool:
    return (src / name).is_dir()


def _json_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir()
                  if path.suffix.lower() == ".json" and path.is_file())


def coco_json(src: Path) -> Path | None:
    """SRC's COCO document: annotations.json at SRC's top, else the only JSON file there, else the
    only one in annotations/; None when there is none.

    Raises:
        DatasetLayoutError: several JSON files and none of them annotations.json.
    """
    for folder in (src, src / "annotations"):
        found = _json_files(folder)
        if folder / COCO_NAME in found:
            return folder / COCO_NAME
        if len(found) > 1:
            names = ", ".join(str(path.relative_to(src)) for path in found)
            raise DatasetLayoutError(f"{src} holds several JSON files ({names}): keep one COCO "
                                     f"JSON there, or name it {COCO_NAME}")
        if found:
            return found[0]
    return None


def detect_layout(src: Path, asked: Layout | None) -> Layout:
    """The layout of SRC: `asked` when SRC fits it, else the one its folders show (`asked` None).

    Raises:
        DatasetLayoutError: SRC lacks what `asked` needs, or shows two layouts at once (one line
            saying what is missing, or which to choose).
    """
    if asked is Layout.CLASSES:
        return asked
    images = _folder(src, "images")
    if asked is not None:
        needs = {Layout.YOLO: "labels/ folder (one .txt per image)",
                 Layout.MASKS: "masks/ folder (one label PNG per image)",
                 Layout.COCO: "COCO JSON (at its top or in annotations/)"}[asked]
        if not images:
            raise DatasetLayoutError(f"--layout {asked.value}: {src} has no images/ folder "
                                     f"(layout {asked.value} keeps its images there)")
        present = (coco_json(src) is not None if asked is Layout.COCO
                   else _folder(src, "labels" if asked is Layout.YOLO else "masks"))
        if not present:
            raise DatasetLayoutError(f"--layout {asked.value}: {src} has images/ but no {needs}")
        return asked
    if not images:
        return Layout.CLASSES
    labels, masks = _folder(src, "labels"), _folder(src, "masks")
    if labels and masks:
        raise DatasetLayoutError(f"{src} has images/ with both labels/ and masks/: say --layout "
                                 "yolo or --layout masks")
    if labels:
        return Layout.YOLO
    if masks:
        return Layout.MASKS
    try:
        document = coco_json(src)
    except DatasetLayoutError as error:
        raise DatasetLayoutError(f"{error} (or say --layout classes if images/ is a class "
                                 "folder)") from None
    return Layout.CLASSES if document is None else Layout.COCO


def label_file_for(layout: Layout, image_rel: str) -> str | None:
    """The label file (relative to SRC or DIR) of the image `image_rel` (images/...): YOLO
    labels/<same folders>/<stem>.txt, masks masks/<same folders>/<stem>.png; None for COCO and
    class folders, whose labels are not one file an image. An output keeps its source's name
    plus a suffix (images/a/b.jpg__aug0003.jpg), so its label pairs by the same rule."""
    if layout not in (Layout.YOLO, Layout.MASKS):
        return None
    path = PurePosixPath(image_rel)
    if path.parts[:1] != ("images",) or len(path.parts) < 2:
        raise ValueError(f"{image_rel!r} is not inside images/")
    folder, extension = ("labels", ".txt") if layout is Layout.YOLO else ("masks", ".png")
    return str(PurePosixPath(folder, *path.parts[1:-1], path.stem + extension))
