"""Walk SRC/<class>/...: sorted classes and sources; junk ignored, non-images reported."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from expand.errors import DatasetLayoutError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# Lower case: Windows and macOS write these in any case (THUMBS.DB, thumbs.db).
JUNK_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini", ".ds_store", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class SourceImage:
    """One source file; `rel_path` (POSIX, relative to SRC) is its identity everywhere."""

    path: Path
    rel_path: str
    label: str


@dataclass(frozen=True)
class Dataset:
    classes: tuple[str, ...]
    sources: tuple[SourceImage, ...]
    not_images: tuple[str, ...]  # rel paths of files with a non-image extension
    top_level_files: tuple[str, ...]  # names at SRC's top that are not class folders (incl. symlinks)
    empty_classes: tuple[str, ...]


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in JUNK_NAMES


def discover(src: Path) -> Dataset:
    """List the dataset without reading any image.

    Raises:
        DatasetLayoutError: SRC is missing, not a folder, or holds no class folder.
    """
    if not src.exists():
        raise DatasetLayoutError(f"{src}: no such folder")
    if not src.is_dir():
        raise DatasetLayoutError(f"{src}: is a file; expected a folder of class folders")
    try:
        entries = sorted(os.scandir(src), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetLayoutError(f"{src}: cannot list ({exc.strerror})") from None
    # A symlinked class folder is not followed, like os.walk's symlinked sub-folders: no cycles,
    # no sources from outside SRC. It is reported with the top-level files instead of dropped.
    classes = [e.name for e in entries if e.is_dir(follow_symlinks=False) and not _ignored(e.name)]
    top_files = [e.name for e in entries
                 if not e.is_dir(follow_symlinks=False) and not _ignored(e.name)]
    if not classes:
        raise DatasetLayoutError(f"{src}: no class folders (expected SRC/<class>/<images>)")
    sources: list[SourceImage] = []
    not_images: list[str] = []
    empty: list[str] = []
    for label in classes:
        found = 0
        for dirpath, dirnames, filenames in os.walk(src / label):
            dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
            rel_dir = PurePosixPath(Path(dirpath).relative_to(src).as_posix())
            for name in sorted(filenames):
                if _ignored(name):
                    continue
                rel = str(rel_dir / name)
                if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                    sources.append(SourceImage(Path(dirpath) / name, rel, label))
                    found += 1
                else:
                    not_images.append(rel)
        if not found:
            empty.append(label)
    sources.sort(key=lambda s: s.rel_path)
    return Dataset(tuple(classes), tuple(sources), tuple(sorted(not_images)), tuple(top_files),
                   tuple(empty))
