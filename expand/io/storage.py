"""All file access: reading sources, atomic writes into DIR, listing. Local paths stay on pathlib;
URLs (`s3://`, `gs://`, `memory://`, any fsspec filesystem) go through fsspec, imported only then.

A folder is a *store* (the `Store` protocol), addressed by POSIX paths relative to it
(`circle/a.png__aug0000.png`): `open_store(location, options)` gives a `LocalStore` for a path or a
`file://` URL and a `RemoteStore` for any other URL. The difference that matters: a local file is
written as `NAME.part` and renamed into place; an object store has no rename, so a finished object
is written in one PUT, which it publishes whole or not at all. Code outside this module asks the
store (methods), never which kind it is.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from expand.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

TEMP_SUFFIX = ".part"

#: A folder as the user gave it: a local path, or a URL of an fsspec filesystem.
Location = Path | str

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Object stores: the first path component is a bucket (container), which a run never creates.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss", "r2"})
_VERIFY_BATCH = 64  # objects fetched concurrently when checking hashes on an object store

T = TypeVar("T")


def _write_all(handle: int, data: bytes) -> None:
    """Write every byte (os.write may write fewer than asked), then close the handle."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view):]
    finally:
        os.close(handle)


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


def as_location(value: Location) -> Location:
    """A URL stays a string (as given: run.json records it so); anything else becomes a Path."""
    if isinstance(value, str) and not is_url(value):
        return Path(value)
    return value


#: The largest file read whole (a source, an output checked by replay): 1 GiB. A larger one is
#: refused from its size, before a byte is read; an image that big would not decode anyway under
#: the default pixel limit.
MAX_READ_BYTES = 2**30
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO then opens at once, to be refused, instead of waiting


def _open_regular(path: Path | str) -> tuple[int, int]:
    """(descriptor, size) of a regular file opened for reading. Anything else (a FIFO, which
    would block, a device such as /dev/zero, which never ends) is refused without a read.

    Raises:
        OSError: it cannot be opened, or is not a regular file (errno EINVAL).
    """
    handle = os.open(path, _READ)
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file; never read")
    except BaseException:
        os.close(handle)
        raise
    return handle, info.st_size


def _too_large(limit: int) -> OSError:
    return OSError(errno.EFBIG, f"over {limit:,} bytes, the most a file read whole may be")


def read_bytes(path: Path | str, limit: int = MAX_READ_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them.

    Raises:
        OSError: it cannot be read, is not a regular file, or is larger than `limit` (EFBIG).
    """
    handle, size = _open_regular(path)
    try:
        if size > limit:
            raise _too_large(limit)
        parts = []
        left = limit + 1  # one byte over the limit tells a file that grew while being read
        want = size + 1  # usually one read, and one more that finds the end
        while left > 0:
            part = os.read(handle, min(want, left))
            if not part:
                break
            parts.append(part)
            left -= len(part)
            want = 2**20
        if left <= 0:
            raise _too_large(limit)
        return b"".join(parts)  # a single part is returned as it is, not copied
    finally:
        os.close(handle)


def read_head(path: Path | str, size: int) -> bytes:
    """The first `size` bytes of a regular file (fewer when the file is shorter).

    Raises:
        OSError: it cannot be read, or is not a regular file.
    """
    handle, _ = _open_regular(path)
    with open(handle, "rb") as reader:
        return reader.read(size)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0) \
    | getattr(os, "O_CLOEXEC", 0)


def write_atomic(path: Path | str, data: bytes) -> None:
    """Write to `path.part`, then rename: a reader never sees half a file under the final name.
    Plain os calls: a small output needs neither pathlib's objects nor a buffered file's layer."""
    target = os.fspath(path)
    temp = target + TEMP_SUFFIX
    try:
        handle = os.open(temp, _CREATE, 0o666)
        _write_all(handle, data)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def holds(path: Path | str, data: bytes) -> bool:
    """True when `path` exists with exactly `data` (cheap: the size is compared first)."""
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def remove_temporaries(root: Path, owned: Callable[[str], bool], keep: str | None = None) -> None:
    """Remove the `*.part` files under `root` whose final name `owned` accepts (relative POSIX
    path): never a user's, never below `keep` (SRC inside DIR), never through a symlink."""
    kept = os.path.join(root, keep) if keep else None
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if os.path.join(folder, name) != kept]
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(TEMP_SUFFIX) and \
                    owned(Path(path[:-len(TEMP_SUFFIX)]).relative_to(root).as_posix()):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def outside(rel: str) -> bool:
    """Whether a relative path could leave its root: absolute, empty, or with a `..` part."""
    return not rel or rel.startswith("/") or any(part in ("", ".", "..")
                                                 for part in rel.split("/"))


def linked_folder(root: str, rel: str) -> str | None:
    """The first folder on `rel`'s way below `root` that is a symbolic link, or None: a write or
    a delete through it would land outside the root."""
    parts = rel.split("/")[:-1]
    path = root
    for part in parts:
        path = os.path.join(path, part)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return path
        except FileNotFoundError:
            return None
    return None


def check_inside(rel: str) -> None:
    """Raises PermissionError when `rel` could leave its root (see `outside`)."""
    if outside(rel):
        raise PermissionError(errno.EPERM, f"{rel!r} is outside the folder")


def _contained(root: str, rel: str) -> str:
    """`root/rel`, checked to stay inside `root` without following a link.

    Raises:
        PermissionError: it would not.
    """
    check_inside(rel)
    link = linked_folder(root, rel)
    if link is not None:
        raise PermissionError(errno.EPERM, f"{link} is a symbolic link (never followed)")
    return os.path.join(root, rel)


#: NAME_MAX where the file system does not say (POSIX's usual, and Linux's for most).
_NAME_MAX = 255


def reason(exc: OSError) -> str:
    """The human part of an OSError (some filesystems set only the message, not strerror)."""
    return exc.strerror or str(exc) or type(exc).__name__


def _sha256_matches(data: bytes, row: Mapping[str, Any]) -> bool:
    return len(data) == row.get("bytes") and hashlib.sha256(data).hexdigest() == row.get("sha256")


class LocalStore:
    """A folder on this machine (pathlib; temporary `.part` files renamed into place)."""

    def __init__(self, root: Path, location: str | None = None) -> None:
        self.root = root
        self._root = os.fspath(root)
        self.location = location if location is not None else str(root)
        #: folders this store made or found (a class folder holds thousands of outputs): one
        #: makedirs each; in a worker, the store of a task's config lives for that task
        self._made: set[str] = set()

    def local_folder(self) -> Path:
        return self.root

    def anchor(self) -> tuple[str, str]:
        return "file", self.root.resolve().as_posix()

    def is_link(self, rel: str) -> bool:
        return (self.root / rel).is_symlink()

    def name_limit(self) -> int | None:
        """The longest file name (bytes) of the file system the root is, or will be, on."""
        path = self.root.absolute()
        while not path.exists() and path != path.parent:
            path = path.parent
        try:
            limit = os.pathconf(path, "PC_NAME_MAX")
        except (OSError, ValueError):
            return _NAME_MAX
        return limit if limit > 0 else _NAME_MAX

    def exists_member(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def display(self, rel: str = "") -> str:
        return str(self.root / rel) if rel else self.location

    def member(self, rel: str) -> Path:
        return self.root / rel

    def check(self) -> None:
        return None  # a local folder's problems surface as clear OSErrors where it is used

    def exists(self) -> bool:
        return self.root.exists()

    def is_dir(self) -> bool:
        return self.root.is_dir()

    def make(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def top_names(self) -> list[str]:
        return [entry.name for entry in os.scandir(self.root)] if self.root.is_dir() else []

    def tree(self) -> list[tuple[str, bool]]:
        """Everything under the root as (relative POSIX path, is a folder); links not followed."""
        found = []
        for folder, folders, names in os.walk(self.root):
            base = Path(folder).relative_to(self.root)
            found += [((base / name).as_posix(), name in folders) for name in [*folders, *names]]
        return sorted(found)

    def files(self) -> Iterator[str]:
        """Every regular file under the root as a relative POSIX path, streamed; symbolic links
        are neither followed nor listed (what they point to is not DIR's)."""
        for folder, _, names in os.walk(self.root):
            base = Path(folder)
            for name in names:
                path = base / name
                if not path.is_symlink():
                    yield path.relative_to(self.root).as_posix()

    def read_bytes(self, rel: str) -> bytes:
        return read_bytes(self.root / rel)

    def read_head(self, rel: str, size: int) -> bytes:
        """The first `size` bytes (fewer when the file is shorter)."""
        return read_head(self.root / rel, size)

    def lines(self, rel: str) -> Iterator[str]:
        """The lines of a UTF-8 text file, streamed; FileNotFoundError if it is absent."""
        with open(self.root / rel, encoding="utf-8") as handle:
            yield from handle

    def write(self, rel: str, data: bytes) -> None:
        """Folders are made once per store; one removed meanwhile is made again."""
        target = os.path.join(self._root, rel)
        folder = os.path.dirname(target)
        if folder not in self._made:
            _contained(self._root, rel)
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        try:
            write_atomic(target, data)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            write_atomic(target, data)

    def create(self, rel: str, data: bytes) -> None:
        """Write only if no file has this name; FileExistsError otherwise."""
        handle = os.open(_contained(self._root, rel), _CREATE | os.O_EXCL, 0o666)
        _write_all(handle, data)

    def write_lines(self, rel: str, lines: Iterable[str]) -> None:
        """A text file written whole, under a temporary name renamed into place."""
        target = _contained(self._root, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temp = target + TEMP_SUFFIX
        try:
            with open(temp, "w", encoding="utf-8") as sink:
                sink.writelines(lines)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def ensure(self, rel: str, data: bytes) -> None:
        """Make `rel` hold `data`; a file that already does (left by a killed run) is not
        rewritten, so its inode and mtime stay."""
        if not holds(os.path.join(self._root, rel), data):
            self.write(rel, data)

    def remove(self, rel: str) -> bool:
        """Never outside the root, never through a linked folder (PermissionError)."""
        try:
            os.unlink(_contained(self._root, rel))
        except FileNotFoundError:
            return False
        return True

    def intact(self, rows: Iterable[Mapping[str, Any]]) -> set[str]:
        """The file names among `rows` whose file holds the recorded size and SHA-256."""
        found = set()
        for row in rows:
            try:
                data = (self.root / row["file_name"]).read_bytes()
            except OSError:
                continue
            if _sha256_matches(data, row):
                found.add(row["file_name"])
        return found

    def remove_temporaries(self, owned: Callable[[str], bool], keep: str | None = None) -> None:
        """`owned`: which final names are the tool's; `keep`: a folder below DIR (SRC's place
        inside it) left alone."""
        if self.root.is_dir():
            remove_temporaries(self.root, owned, keep)

    def spool_folder(self) -> Path | None:
        """Where a run spools its manifest: in DIR itself (the same disk, whose space the run
        checked)."""
        return self.root

    def free_bytes(self) -> int | None:
        probe = self.root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            return shutil.disk_usage(probe).free
        except OSError:
            return None


def _backend_errors() -> tuple[type[BaseException], ...]:
    """Errors of the loaded storage clients that are not OSErrors (narrow, not Exception)."""
    errors: list[type[BaseException]] = [OSError]
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        errors += [botocore.BotoCoreError, botocore.ClientError]
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        errors.append(aiohttp.ClientError)
    return tuple(errors)


def _as_os_error(exc: BaseException) -> OSError:
    if isinstance(exc, OSError):
        if exc.strerror:
            return exc
        return type(exc)(exc.errno or errno.EIO, str(exc) or type(exc).__name__)
    return OSError(errno.EIO, f"{type(exc).__name__}: {exc}")


class RemoteStore:
    """A folder (a prefix) on an fsspec filesystem; on object stores there is no rename, so every
    object is written whole in one PUT. Errors of the storage client come out as OSErrors."""

    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError:
            raise ConfigError(f"{url}: URLs need fsspec: pip install 'expand-images[s3]' (or "
                              "fsspec and the package of your filesystem)") from None
        self.location = url.rstrip("/")
        self.options = dict(options or {})
        try:
            fs, root = fsspec.core.url_to_fs(self.location, **self.options)
        except (ImportError, ValueError) as exc:  # no such protocol, or its package is missing
            raise ConfigError(f"{url}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{url}: storage options not accepted: {exc}") from None
        self.fs: AbstractFileSystem = fs
        self.protocol = self.location.split("://", 1)[0].lower()
        self.root: str = root.rstrip("/")
        self._made: set[str] = set()  # folders made by this store (filesystems that have them)

    def display(self, rel: str = "") -> str:
        return f"{self.location}/{rel}" if rel else self.location

    def member(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root else rel

    def local_folder(self) -> None:
        return None

    def anchor(self) -> tuple[str, str]:
        return self.protocol, self.root

    def is_link(self, rel: str) -> bool:
        return False  # no links in an object store, none followed on other filesystems

    def name_limit(self) -> int | None:
        return None  # an object's name has no per-component limit a run could reach

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except _backend_errors() as exc:
            raise _as_os_error(exc) from None

    def check(self) -> None:
        """Raise StorageError when the bucket is missing, access is denied, or the service
        cannot be reached; a missing prefix inside an existing bucket is fine (a new DIR)."""
        try:
            self.fs.invalidate_cache()
            self._call(self.fs.info, self.root)
            return
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"{self.location}: {self._explain(exc)}") from None
        bucket = self.root.split("/", 1)[0]
        if self.protocol in OBJECT_STORES and bucket and bucket != self.root:
            try:
                self._call(self.fs.info, bucket)
            except FileNotFoundError:
                raise StorageError(f"{self.protocol}://{bucket}: no such bucket") from None
            except OSError as exc:
                raise StorageError(f"{self.protocol}://{bucket}: {self._explain(exc)}") from None
        elif self.protocol in OBJECT_STORES:
            raise StorageError(f"{self.location}: no such bucket")

    @staticmethod
    def _explain(exc: OSError) -> str:
        if isinstance(exc, PermissionError):
            return f"access denied ({reason(exc)}); check the credentials (see README)"
        return reason(exc)

    def exists(self) -> bool:
        try:
            self._call(self.fs.info, self.root)
        except FileNotFoundError:
            return False
        return True

    def is_dir(self) -> bool:
        try:
            info = self._call(self.fs.info, self.root)
        except FileNotFoundError:
            return False
        return bool(info.get("type") == "directory")

    def make(self) -> None:
        if self.protocol not in OBJECT_STORES:  # object stores have no folders to make
            self._call(self.fs.makedirs, self.root, exist_ok=True)

    def top_names(self) -> list[str]:
        try:
            self.fs.invalidate_cache(self.root)
            paths = self._call(self.fs.ls, self.root, detail=False)
        except FileNotFoundError:
            return []
        return sorted({str(p).rstrip("/").rsplit("/", 1)[-1] for p in paths} - {""})

    def tree(self) -> list[tuple[str, bool]]:
        """Everything under the root as (relative POSIX path, is a folder), in one listing."""
        self.fs.invalidate_cache()
        found = self._call(self.fs.find, self.root, withdirs=True, detail=True)
        prefix = self.root + "/"
        return sorted((str(path)[len(prefix):], info.get("type") == "directory")
                      for path, info in found.items() if str(path).startswith(prefix))

    def files(self) -> Iterator[str]:
        """Every object under the root as a relative path, from one (paginated) listing."""
        return (rel for rel, _ in self._sizes())

    def sizes(self) -> dict[str, int]:
        """Every object under the root with its size, from one (paginated) listing."""
        return {rel: size for rel, size in self._sizes()}

    def _sizes(self) -> Iterable[tuple[str, int]]:
        self.fs.invalidate_cache()
        try:
            found = self._call(self.fs.find, self.root, detail=True)
        except FileNotFoundError:
            return
        prefix = self.root + "/"
        for path, info in found.items():
            if str(path).startswith(prefix) and info.get("type") != "directory":
                yield str(path)[len(prefix):], int(info.get("size") or 0)

    def read_bytes(self, rel: str) -> bytes:
        data: bytes = self._call(self.fs.cat_file, self.member(rel))
        return data

    def read_head(self, rel: str, size: int) -> bytes:
        """The first `size` bytes (fewer when the object is shorter), in one ranged request."""
        data: bytes = self._call(self.fs.cat_file, self.member(rel), start=0, end=size)
        return data

    def lines(self, rel: str) -> Iterator[str]:
        """The lines of a UTF-8 text object, streamed; FileNotFoundError if it is absent."""
        try:
            with self.fs.open(self.member(rel), "rb") as handle, \
                    io.TextIOWrapper(handle, encoding="utf-8") as text:
                yield from text
        except _backend_errors() as exc:
            raise _as_os_error(exc) from None

    def write(self, rel: str, data: bytes) -> None:
        """One PUT of the finished object: no temporary name (there is no rename to move it)."""
        check_inside(rel)
        if self.protocol not in OBJECT_STORES and "/" in rel:  # a filesystem with real folders
            parent = self.member(rel).rsplit("/", 1)[0]
            if parent not in self._made:
                self._call(self.fs.makedirs, parent, exist_ok=True)
                self._made.add(parent)
        self._call(self.fs.pipe_file, self.member(rel), data)

    def create(self, rel: str, data: bytes) -> None:
        """Write only if no object has this name; FileExistsError otherwise. Exclusive where the
        store supports conditional writes (S3 If-None-Match); elsewhere checked, then written."""
        try:
            self._call(self.fs.pipe_file, self.member(rel), data, mode="create")
        except TypeError:  # an fsspec filesystem without `mode`: check, then write
            if self.exists_member(rel):
                raise FileExistsError(errno.EEXIST, "exists") from None
            self.write(rel, data)

    def exists_member(self, rel: str) -> bool:
        self.fs.invalidate_cache(self.member(rel))
        try:
            self._call(self.fs.info, self.member(rel))
        except FileNotFoundError:
            return False
        return True

    def write_lines(self, rel: str, lines: Iterable[str]) -> None:
        """A text object built in a local temporary file (it may be larger than memory), then
        uploaded in one PUT."""
        with tempfile.TemporaryDirectory(prefix="expand-") as folder:
            local = os.path.join(folder, "upload")
            with open(local, "w", encoding="utf-8") as sink:
                sink.writelines(lines)
            self._call(self.fs.put_file, local, self.member(rel))

    def ensure(self, rel: str, data: bytes) -> None:
        """Make `rel` hold `data`: one PUT. Checking first would cost a HEAD (and on s3fs a
        LIST when the object is missing) to save at best that PUT of the same bytes."""
        self.write(rel, data)

    def remove(self, rel: str) -> bool:
        check_inside(rel)
        if not self.exists_member(rel):
            return False
        self._call(self.fs.rm_file, self.member(rel))
        return True

    def intact(self, rows: Iterable[Mapping[str, Any]]) -> set[str]:
        """The file names among `rows` whose object holds the recorded size and SHA-256: sizes
        from one listing, then the objects of the right size fetched concurrently and hashed."""
        sizes = self.sizes()
        candidates = [row for row in rows if sizes.get(row["file_name"]) == row.get("bytes")]
        found = set()
        for start in range(0, len(candidates), _VERIFY_BATCH):
            batch = {self.member(row["file_name"]): row
                     for row in candidates[start:start + _VERIFY_BATCH]}
            fetched = self._call(self.fs.cat, list(batch), on_error="return")
            for path, row in batch.items():
                data = fetched.get(path)
                if isinstance(data, bytes) and _sha256_matches(data, row):
                    found.add(row["file_name"])
        return found

    def remove_temporaries(self, owned: Callable[[str], bool], keep: str | None = None) -> None:
        return None  # nothing is written under a temporary name here

    def spool_folder(self) -> Path | None:
        return None  # a local temporary folder: the manifest is uploaded once built

    def free_bytes(self) -> int | None:
        return None  # unknown (and unlimited for object stores)


class Store(Protocol):
    """A folder: a local one or a prefix of an fsspec filesystem, addressed by relative POSIX
    paths. Reads and listings raise OSError (a storage client's own errors come out as such)."""

    location: str

    def display(self, rel: str = "") -> str: ...

    def local_folder(self) -> Path | None:
        """The folder on this machine, when the store is one: what only a local file system has
        (symbolic links to refuse while walking SRC, an flock, a journal appended to) needs it."""

    def anchor(self) -> tuple[str, str]:
        """(filesystem, root) to compare two stores by: the same anchor is the same folder."""

    def is_link(self, rel: str) -> bool: ...

    def name_limit(self) -> int | None:
        """The longest file name (bytes) the store can hold, if it has a limit."""

    def check(self) -> None:
        """Raises StorageError when the store cannot be used at all (no bucket, no access)."""

    def exists(self) -> bool: ...

    def is_dir(self) -> bool: ...

    def make(self) -> None: ...

    def top_names(self) -> list[str]: ...

    def tree(self) -> list[tuple[str, bool]]: ...

    def files(self) -> Iterator[str]: ...

    def exists_member(self, rel: str) -> bool: ...

    def read_bytes(self, rel: str) -> bytes: ...

    def read_head(self, rel: str, size: int) -> bytes: ...

    def lines(self, rel: str) -> Iterator[str]: ...

    def write(self, rel: str, data: bytes) -> None:
        """Publish `data` whole under `rel`: a reader never sees part of it."""

    def create(self, rel: str, data: bytes) -> None:
        """Write `rel` only if nothing has that name yet; FileExistsError otherwise."""

    def write_lines(self, rel: str, lines: Iterable[str]) -> None:
        """Publish a text file whole, written from `lines` as they come."""

    def ensure(self, rel: str, data: bytes) -> None: ...

    def remove(self, rel: str) -> bool: ...

    def intact(self, rows: Iterable[Mapping[str, Any]]) -> set[str]: ...

    def remove_temporaries(self, owned: Callable[[str], bool], keep: str | None = None) -> None:
        ...

    def spool_folder(self) -> Path | None: ...

    def free_bytes(self) -> int | None: ...


def open_store(location: Location, options: Mapping[str, Any] | None = None) -> Store:
    """The store for a folder: a path or `file://` URL is local, any other URL goes to fsspec.

    Raises:
        ConfigError: the URL's filesystem is unknown, its package is not installed, or it does not
            take the storage options given.
    """
    if isinstance(location, Path):
        return LocalStore(location)
    if not is_url(location):
        return LocalStore(Path(location))
    if location.lower().startswith("file://"):
        return LocalStore(Path(location[len("file://"):]), location)
    return RemoteStore(location, options)
