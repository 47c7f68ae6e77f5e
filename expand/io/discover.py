"""Walk SRC/<class>/...: sorted classes and sources; junk and non-image files ignored, sources
that cannot be used rejected with a reason. A local SRC is walked by os.walk's rules (symlink
policy, non-UTF-8 names); a URL is listed once through its store."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from expand.annotations import Layout
from expand.errors import DatasetLayoutError
from expand.io.storage import Store, reason

T = TypeVar("T")

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
#: Image formats that are not read (no decoder here, or not one we test): reported, since the user
#: may expect them to be used; any other extension is ignored, as Keras's loader ignores it.
UNSUPPORTED_IMAGE_EXTENSIONS = frozenset({
    ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".jpx", ".jfif", ".psd", ".svg", ".ico",
    ".tga", ".ppm", ".pgm", ".pbm", ".pnm", ".pcx", ".dds", ".exr", ".hdr", ".qoi", ".xcf",
    ".dng", ".raw", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"})
# Lower case: Windows and macOS write these in any case (THUMBS.DB, thumbs.db).
JUNK_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini", ".ds_store", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class SourceImage:
    """One source file; `rel_path` (POSIX, relative to SRC) is its identity everywhere."""

    path: Path | str  # a local Path, or the object's URL
    rel_path: str
    label: str


@dataclass(frozen=True)
class Dataset:
    classes: tuple[str, ...]
    sources: tuple[SourceImage, ...]
    not_images: tuple[str, ...]  # rel paths of files with a non-image extension: ignored
    top_level_files: tuple[str, ...]  # at SRC's top, not a class folder: files, links to files
    empty_classes: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...] = ()  # (rel path, reason): skipped without reading
    linked_classes: tuple[str, ...] = ()  # symlinked class folders, not followed
    #: an annotated layout's files at SRC's top that DIR gets unchanged (data.yaml, classes.txt)
    copied: tuple[str, ...] = ()


#: The class folder of an annotated layout: its images, in any sub-folders (splits are kept).
IMAGES = "images"
#: Files at SRC's top that name an annotated dataset's classes: copied into DIR unchanged.
CLASS_LISTS = ("data.yaml", "classes.txt")
#: Folders at SRC's top that hold an annotated layout's labels: never classes.
LABEL_FOLDERS = ("labels", "masks", "annotations")


def _annotation_part(name: str, is_folder: bool) -> bool:
    """Whether a top-level entry of SRC belongs to an annotated layout's labels (not a class
    folder, not a stray file to report)."""
    if is_folder:
        return name in LABEL_FOLDERS
    return name in CLASS_LISTS or name.lower().endswith(".json")


def _layout_classes(where: object, layout: Layout, folders: list[str], top_files: list[str]
                    ) -> tuple[list[str], list[str], tuple[str, ...]]:
    """An annotated layout's one class folder (images), the top-level entries still reported
    (not its label folders or files), and the class lists to copy."""
    if IMAGES not in folders:
        raise DatasetLayoutError(f"{where}: no {IMAGES}/ folder (expected SRC/{IMAGES}/ and its "
                                 f"labels, layout {layout.value})")
    reported = [name for name in top_files if not _annotation_part(name, False)]
    reported += sorted(f"{name}/" for name in folders
                       if name != IMAGES and not _annotation_part(name, True))
    copied = tuple(name for name in CLASS_LISTS if name in top_files)
    return [IMAGES], sorted(reported), copied


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in JUNK_NAMES


def _printable(name: str) -> str:
    """A name as UTF-8 text: bytes that are not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _by_extension(name: str) -> str | None:
    """None for a source's extension; "" for a file to ignore; else why it is rejected."""
    extension = os.path.splitext(name)[1].lower()
    if extension in IMAGE_EXTENSIONS:
        return None
    if extension in UNSUPPORTED_IMAGE_EXTENSIONS:
        return f"image format not supported ({extension[1:].upper()}); convert it to PNG or JPEG"
    return ""


_SPECIAL = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str | None:
    """Why a file of this st_mode is never opened (a FIFO blocks, a device never ends), or None
    for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((text for test, text in _SPECIAL if test(mode)), "a special file")
    return f"{kind}, not a regular file; never read"


def _file_problem(entry: os.DirEntry[str], src_real: Path, follow_symlinks: bool) -> str | None:
    """Why a file found in a class folder is not a source (links, special files), or None. A
    regular file costs no stat: the folder listing gave its type."""
    if entry.is_symlink():
        try:
            mode = os.stat(entry.path).st_mode
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symbolic link loop"
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return "broken symbolic link"
            return f"cannot read ({reason(exc)})"
        if not follow_symlinks and src_real not in Path(entry.path).resolve().parents:
            return "symbolic link to outside SRC (not followed; --follow-symlinks follows it)"
        return _not_regular(mode)
    if entry.is_file(follow_symlinks=False):
        return None
    try:
        return _not_regular(entry.stat(follow_symlinks=False).st_mode)
    except OSError as exc:
        return f"cannot read ({reason(exc)})"


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether the entry is, or links to, a folder (a link loop or an unreadable target: no)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def discover(src: Path, follow_symlinks: bool = False,
             layout: Layout = Layout.CLASSES) -> Dataset:
    """List the dataset without reading any image. An annotated `layout` has one class folder,
    images/; its label folders and files are not classes, and not reported.

    Symbolic links: by default a linked folder is not entered and a linked file is used only when
    it points inside SRC; with `follow_symlinks` both are followed, loops excepted.

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
    # A symlinked class folder is not followed unless asked, like os.walk's symlinked
    # sub-folders: no cycles, no sources from outside SRC. It is reported as such.
    folders: list[str] = []
    linked: list[str] = []
    top_files: list[str] = []
    for entry in entries:
        if _ignored(entry.name):
            continue
        if not _is_dir(entry):
            top_files.append(_printable(entry.name))
        elif entry.is_symlink() and not follow_symlinks:
            linked.append(_printable(entry.name))
        else:
            folders.append(entry.name)
    copied: tuple[str, ...] = ()
    if layout is not Layout.CLASSES:
        folders, top_files, copied = _layout_classes(src, layout, folders, top_files)
    rejected = [(_printable(name), "class folder name is not valid UTF-8; rename it")
                for name in folders if not _is_utf8(name)]
    classes = [name for name in folders if _is_utf8(name)]
    if not classes:
        raise DatasetLayoutError(f"{src}: no class folders (expected SRC/<class>/<images>)")
    src_real = src.resolve()
    sources: list[SourceImage] = []
    not_images: list[str] = []
    empty: list[str] = []
    for label in classes:
        found = 0
        visited: set[Path] = set()
        unreadable: list[tuple[str, OSError]] = []
        for dirpath, dirnames, files in _walk(os.path.join(src, label), follow_symlinks,
                                              unreadable):
            real = Path(dirpath).resolve()
            if real in visited:  # a loop through a followed link
                dirnames[:] = []
                continue
            visited.add(real)
            dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
            rel_dir = Path(dirpath).relative_to(src).as_posix()
            for entry in sorted(files, key=lambda e: e.name):
                name = entry.name
                if _ignored(name):
                    continue
                rel = f"{rel_dir}/{name}"
                problem = _by_extension(name)
                if problem == "":
                    not_images.append(_printable(rel))
                    continue
                if problem is None:
                    problem = "name is not valid UTF-8; rename it" if not _is_utf8(rel) else \
                        _file_problem(entry, src_real, follow_symlinks)
                if problem is not None:
                    rejected.append((_printable(rel), problem))
                else:
                    sources.append(SourceImage(Path(entry.path), rel, label))
                    found += 1
        rejected += [(_printable(Path(path).relative_to(src).as_posix()),
                      f"folder cannot be read ({reason(exc)}); its images are not used")
                     for path, exc in unreadable]
        if not found and not any(path == os.path.join(src, label) for path, _ in unreadable):
            empty.append(label)
    sources.sort(key=lambda s: s.rel_path)
    return Dataset(tuple(classes), tuple(sources), tuple(sorted(not_images)), tuple(top_files),
                   tuple(empty), tuple(sorted(rejected)), tuple(linked), copied)


def _walk(top: str, follow_symlinks: bool, unreadable: list[tuple[str, OSError]]
          ) -> Iterator[tuple[str, list[str], list[os.DirEntry[str]]]]:
    """os.walk (top-down: the caller may prune the folder names; a linked folder is entered only
    when following links), with each folder's files as scandir entries, whose type is known
    without a stat (os.walk's names needed an lstat and three Path objects a file). A folder
    that cannot be listed is added to `unreadable` with its error, and skipped."""
    try:
        with os.scandir(top) as listing:
            entries = list(listing)
    except OSError as exc:
        unreadable.append((top, exc))
        return
    folders: list[str] = []
    files: list[os.DirEntry[str]] = []
    for entry in entries:
        if _is_dir(entry):
            folders.append(entry.name)
        else:
            files.append(entry)
    yield top, folders, files
    for name in folders:
        path = os.path.join(top, name)
        if follow_symlinks or not os.path.islink(path):
            yield from _walk(path, follow_symlinks, unreadable)


def _is_utf8(name: str) -> bool:
    """False for a name Python decoded with surrogate escapes (bytes that are not UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def spread(items: Sequence[T], count: int) -> list[T]:
    """At most `count` of `items`, spread evenly over them from the first (the samples that
    estimates, preview and inspect look at)."""
    shown = min(count, len(items))
    return [items[i * len(items) // shown] for i in range(shown)]


def discover_store(store: Store, follow_symlinks: bool = False,
                   layout: Layout = Layout.CLASSES) -> Dataset:
    """`discover` for any store: a local folder is walked, a remote one listed in one call.

    Raises:
        DatasetLayoutError: SRC is missing, not a folder, or holds no class folder.
        StorageError: the bucket is missing or denies access.
    """
    folder = store.local_folder()
    if folder is not None:  # walked, with the rules for links a listing cannot see
        return discover(folder, follow_symlinks, layout)
    store.check()
    if not store.is_dir():
        if store.exists():
            raise DatasetLayoutError(f"{store.location}: is a file; expected a folder of class "
                                     "folders")
        raise DatasetLayoutError(f"{store.location}: no such folder")
    try:
        entries = store.tree()
    except OSError as exc:
        raise DatasetLayoutError(f"{store.location}: cannot list ({exc.strerror or exc})") \
            from None
    return _from_listing(store, entries, layout)


def _from_listing(store: Store, entries: list[tuple[str, bool]], layout: Layout) -> Dataset:
    """The same rules as the local walk, applied to (relative path, is a folder) pairs."""
    tops = {rel.split("/", 1)[0] for rel, _ in entries}
    folders = {rel.split("/", 1)[0] for rel, is_dir in entries if is_dir or "/" in rel}
    classes = sorted(name for name in folders if not _ignored(name))
    top_files = sorted(name for name in tops - folders if not _ignored(name))
    copied: tuple[str, ...] = ()
    if layout is not Layout.CLASSES:
        classes, top_files, copied = _layout_classes(store.location, layout, classes,
                                                     top_files)
    entries = [(rel, is_dir) for rel, is_dir in entries if rel.split("/", 1)[0] in classes]
    if not classes:
        raise DatasetLayoutError(f"{store.location}: no class folders (expected "
                                 "SRC/<class>/<images>)")
    sources: list[SourceImage] = []
    not_images: list[str] = []
    rejected: list[tuple[str, str]] = []
    found = dict.fromkeys(classes, 0)
    for rel, is_dir in entries:
        parts = rel.split("/")
        if is_dir or len(parts) < 2 or any(_ignored(part) for part in parts):
            continue
        problem = _by_extension(parts[-1])
        if problem is None:
            sources.append(SourceImage(store.display(rel), rel, parts[0]))
            found[parts[0]] += 1
        elif problem:
            rejected.append((rel, problem))
        else:
            not_images.append(rel)
    sources.sort(key=lambda s: s.rel_path)
    return Dataset(tuple(classes), tuple(sources), tuple(sorted(not_images)), tuple(top_files),
                   tuple(label for label in classes if not found[label]), tuple(sorted(rejected)),
                   (), copied)
