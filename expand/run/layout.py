"""DIR's layout: output names, the manifest and run files, the lock, and what DIR may already hold."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from expand.errors import DatasetLayoutError, LockHeldError, OutputWriteError, StorageError
from expand.io.codec import FORMAT_EXTENSIONS, output_format
from expand.io.discover import CLASS_LISTS
from expand.io.storage import TEMP_SUFFIX, Store, open_store, reason

if TYPE_CHECKING:
    from expand.config import ExpandConfig
    from expand.io.discover import Dataset, SourceImage

MANIFEST = "metadata.jsonl"
RUN_FILE = "run.json"
STATE_PREFIX = ".expand"  # lock and spool files at DIR's top; never images, never classes
LOCK_FILE = f"{STATE_PREFIX}.lock"
JOURNAL = f"{STATE_PREFIX}-journal.jsonl"
#: The COCO document an annotated run writes into DIR, built from the manifest at its end.
COCO_FILE = "annotations.json"
TOOL_NAME = "expand"


def copy_name(source_name: str, copy: int, extension: str) -> str:
    """`circle001.png__aug0003.png`: the source's full name (a.png and a.jpg never collide) and a
    copy index that does not depend on --copies."""
    return f"{source_name}__aug{copy:04d}{extension}"


def original_name(source_name: str, extension: str) -> str:
    return f"{source_name}__orig{extension}"


# The last `__aug<digits>` or `__orig` wins: a source may itself be named like an output.
_EXTENSIONS = "|".join(re.escape(e) for e in FORMAT_EXTENSIONS.values())
_OUTPUT_NAME = re.compile(
    rf"(?P<source>.*[^/])__(?:aug(?P<copy>\d{{4,}})|orig)(?P<extension>{_EXTENSIONS})")


def parse_output_name(rel_file: str) -> tuple[str, int | None] | None:
    """(the source's relative path, its copy index or None for an original) when `rel_file` is
    named the way copy_name and original_name name outputs, else None: how a file that no
    manifest row records is still recognised as one of ours."""
    match = _OUTPUT_NAME.fullmatch(rel_file)
    if match is None:
        return None
    source, digits, extension = match.group("source", "copy", "extension")
    copy = None if digits is None else int(digits)
    named = original_name(source, extension) if copy is None else \
        copy_name(source, copy, extension)
    return (source, copy) if named == rel_file else None  # `__aug00003` is not a name we write


#: A label file of an output (labels/a/b.jpg__aug0003.txt, masks/a/b.jpg__aug0003.png): the
#: source's path below images/ and the copy, as in layout._OUTPUT_NAME.
_LABEL_NAME = re.compile(
    r"(?P<folder>labels|masks)/(?P<source>.*[^/])__(?:aug(?P<copy>\d{4,})|orig)"
    r"(?P<extension>\.txt|\.png)")


def parse_label_name(rel: str) -> tuple[str, int | None] | None:
    """(source, copy) of a file named like an output's label file, else None: how a label that
    no row records (written while a run was stopped) is still recognised as the tool's."""
    match = _LABEL_NAME.fullmatch(rel)
    if match is None:
        return None
    digits = match.group("copy")
    if digits is not None and len(digits) > 4 and digits.startswith("0"):
        return None  # `__aug00003` is not a name we write
    return f"images/{match.group('source')}", None if digits is None else int(digits)


def is_own_file(rel: str) -> bool:
    """Whether the tool writes a file of this name (relative to DIR): its records, an output
    in a class folder, or an output's label file. Only such names are ever swept as temporaries."""
    if rel in (MANIFEST, RUN_FILE, JOURNAL, COCO_FILE, *CLASS_LISTS):
        return True
    parts = rel.split("/")
    return len(parts) > 1 and not any(p.startswith(".") for p in parts) and \
        (parse_output_name(rel) is not None or parse_label_name(rel) is not None)


def check_no_links(out: Store, folders: Iterable[str]) -> None:
    """Refuse a class folder of DIR that is a symbolic link: writes and --prune would reach
    through it into a folder that is not DIR's.

    Raises:
        DatasetLayoutError: naming the link.
    """
    for name in sorted(set(folders)):
        if out.is_link(name):
            raise DatasetLayoutError(f"{out.display(name)}: is a symbolic link; expand never "
                                     "writes or deletes through one inside DIR; replace it by a "
                                     "folder")


#: The format Pillow names a source by its extension, for the extension of its outputs under
#: --format same (a source whose content is another format is caught when its output is written).
_FORMAT_BY_EXTENSION = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def without_long_names(dataset: Dataset, config: ExpandConfig, out: Store) -> Dataset:
    """The dataset with the sources whose output names DIR's file system cannot hold (a legal
    249-byte source name plus `__aug0000.png`) moved to `rejected`: skipped with one line before
    any work, instead of failing the run at the first write. An object store has no such limit."""
    name_limit = out.name_limit()
    if name_limit is None:
        return dataset
    limit = name_limit - len(TEMP_SUFFIX)  # a local output is written as NAME.part
    last_copy = max((config.per_class_target or config.copies) - 1, 0)
    sources: list[SourceImage] = []
    rejected = list(dataset.rejected)
    for source in dataset.sources:
        name = posixpath.basename(source.rel_path)
        pillow_format = _FORMAT_BY_EXTENSION.get(posixpath.splitext(name)[1].lower(), "PNG")
        extension = FORMAT_EXTENSIONS[output_format(config.image_format,
                                                    pillow_format)]
        size = len(os.fsencode(copy_name(name, last_copy, extension)))  # longer than an original
        if size > limit:
            rejected.append((source.rel_path, (
                f"name too long for DIR's file system once the output suffix is added ({size} "
                f"bytes; at most {limit}); rename it")))
        else:
            sources.append(source)
    if len(sources) == len(dataset.sources):
        return dataset
    return replace(dataset, sources=tuple(sources), rejected=tuple(sorted(rejected)))


def read_run_file(out: Path | Store) -> dict[str, Any] | None:
    store = open_store(out) if isinstance(out, Path) else out
    try:
        data = json.loads(store.read_bytes(RUN_FILE).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL_NAME else None


def relative_inside(inner: Store, outer: Store) -> str | None:
    """`inner`'s POSIX path inside `outer` ("" when both are the same folder), or None when it is
    not inside it."""
    (inner_fs, inner_root), (outer_fs, outer_root) = inner.anchor(), outer.anchor()
    if inner_fs != outer_fs:
        return None
    if inner_root == outer_root:
        return ""
    prefix = outer_root.rstrip("/") + "/"
    return inner_root[len(prefix):] if inner_root.startswith(prefix) else None


def check_output_location(src: Store, out: Store) -> None:
    """Refuse DIR inside SRC (SRC is never written to) or DIR that is a file.

    Raises:
        DatasetLayoutError: with the reason and what to do instead.
    """
    if relative_inside(out, src) is not None:
        raise DatasetLayoutError(f"{out.location}: the output folder is inside the source folder "
                                 f"{src.location}; choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise DatasetLayoutError(f"{out.location}: exists and is not a folder")


def check_not_foreign(out: Store, has_earlier_run: bool) -> None:
    """A non-empty DIR must hold an earlier (finished or interrupted) run of this tool."""
    if has_earlier_run or not out.exists():
        return
    if any(not name.startswith(STATE_PREFIX) for name in out.top_names()):
        raise DatasetLayoutError(f"{out.location}: not empty and holds no earlier expand run; "
                                 "choose an empty or new folder")


class OutputLock:
    """An exclusive flock on DIR/.expand.lock; the kernel releases it if the process dies.

    A run that finishes removes the file while it still holds the lock; so a lock is held only
    when, once taken, its file is still the one at the path (else it was removed meanwhile, and
    is taken again on a new file)."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_FILE
        self._fd: int | None = None

    def _same_file(self) -> bool:
        assert self._fd is not None
        try:
            here = os.stat(self.path)
        except OSError:
            return False
        held = os.fstat(self._fd)
        return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)

    def verify(self) -> None:
        """The kernel holds a flock for as long as this process lives; but DIR itself may have
        been removed or replaced meanwhile (`rm -rf DIR`): a manifest then would name files that
        are gone.

        Raises:
            OutputWriteError: DIR is no longer the folder the run locked.
        """
        if self._fd is not None and not self._same_file():
            raise OutputWriteError(f"{self.path.parent}: removed or replaced while the run "
                                   "wrote into it; no manifest was written")

    def __enter__(self) -> OutputLock:
        while True:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:  # a read-only DIR, or a lock that is not a file
                raise OutputWriteError(f"{self.path}: cannot open the lock ({reason(exc)})") \
                    from None
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                self._fd = None
                raise LockHeldError(f"{self.path.parent}: another expand run is writing "
                                    "here") from None
            if self._same_file():
                return self
            os.close(self._fd)  # removed by the run that held it as it finished: take it anew

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            if self._same_file():  # removed while still held: DIR is left as the run found it
                with contextlib.suppress(OSError):
                    self.path.unlink()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


#: A remote lock whose heartbeat is older than this is stale (its client died or lost the store).
LOCK_STALE_S = 120.0
LOCK_HEARTBEAT_S = 20.0


def _host_id() -> str:
    """This machine: its name and boot id (a pid is only meaningful on the machine and boot)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RemoteLock:
    """DIR/.expand.lock on an object store: an object naming its owner, refreshed by a heartbeat.

    Object stores have no flock, and no lock dies with its process. So the lock is an object
    holding the owner's machine, pid, a random token and a heartbeat time, rewritten every
    LOCK_HEARTBEAT_S by a thread of the client. Another run refuses while the heartbeat is fresh;
    a lock whose heartbeat is older than LOCK_STALE_S, or whose owner is a process of this machine
    that no longer exists, is stale and taken over (so a killed run never blocks its resume).

    It protects against a second `expand` started into the same DIR while one runs. It cannot
    protect against two runs started within the same instant on a store without conditional
    writes (S3 has them: the lock is created with If-None-Match), against a client paused for
    longer than LOCK_STALE_S (another run may then take over; the paused one notices at its next
    heartbeat and stops before writing the manifest), against clocks more than a few seconds
    apart, or against writers that are not `expand`.
    """

    def __init__(self, store: Store, stale_after: float = LOCK_STALE_S,
                 heartbeat: float = LOCK_HEARTBEAT_S) -> None:
        self.store = store
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.token = uuid.uuid4().hex
        self.started = time.time()
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({"tool": TOOL_NAME, "token": self.token, "host": _host_id(),
                           "pid": os.getpid(), "started": self.started,
                           "heartbeat": time.time()}).encode("utf-8")

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.store.read_bytes(LOCK_FILE))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}  # a damaged lock object: nobody can own it
        return data if isinstance(data, dict) else {}

    def _holder(self, record: dict[str, Any]) -> str | None:
        """Who holds a live lock, or None when the lock is stale."""
        try:
            pid, beat = int(record["pid"]), float(record["heartbeat"])
        except (KeyError, TypeError, ValueError):
            return None
        if record.get("host") == _host_id():
            return f"pid {pid} on this machine" if _pid_alive(pid) else None
        age = time.time() - beat
        if age > self.stale_after:
            return None
        host = str(record.get("host", "?")).split("/", 1)[0]
        return f"pid {pid} on {host}, heartbeat {max(0, age):.0f} s ago"

    def __enter__(self) -> RemoteLock:
        where = self.store.display(LOCK_FILE)
        try:
            existing = self._read()
            if existing is not None:
                holder = self._holder(existing)
                if holder is not None:
                    raise LockHeldError(
                        f"{self.store.location}: another expand run is writing here ({holder}); "
                        f"a lock not refreshed for {self.stale_after:.0f} s is taken over")
                self.store.remove(LOCK_FILE)
            self.store.create(LOCK_FILE, self._record())
            confirmed = (self._read() or {}).get("token") == self.token
        except FileExistsError:
            confirmed = False
        except OSError as exc:
            raise StorageError(f"{where}: cannot write the lock ({reason(exc)})") from None
        if not confirmed:
            raise LockHeldError(f"{self.store.location}: another expand run is writing here "
                                "(it started at the same moment)")
        self._thread = threading.Thread(target=self._beat, name="expand-lock-heartbeat",
                                        daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if (self._read() or {}).get("token") != self.token:
                    self.lost = "another run took the lock over (this one was silent too long)"
                    return
                self.store.write(LOCK_FILE, self._record())
            except OSError:
                # One failed refresh is not fatal: the next may succeed before the lock goes
                # stale, and if another run takes it over meanwhile, that is noticed above.
                continue

    def verify(self) -> None:
        """Raise LockHeldError if another run took the lock over while this one worked."""
        if self.lost is not None:
            raise LockHeldError(f"{self.store.location}: {self.lost}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            if (self._read() or {}).get("token") == self.token:
                self.store.remove(LOCK_FILE)
        except OSError:
            pass  # left behind: the next run finds it stale


def lock_for(out: Store) -> OutputLock | RemoteLock:
    """The lock the client holds while it writes into DIR."""
    folder = out.local_folder()
    return OutputLock(folder) if folder is not None else RemoteLock(out)
