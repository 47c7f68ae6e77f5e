"""Folders addressed by URL: fsspec's in-memory filesystem stands in for an object store (no rename,
no append), in this process; the S3 and Dask tests run the same code against real servers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import ConfigError, LockHeldError, StorageError
from expand.io import storage
from expand.run.layout import LOCK_FILE, RemoteLock, _host_id
from expand.run.runner import expand_dataset
from expand.run.state import SEGMENT_PREFIX, ObjectJournal
from tests.conftest import snapshot

fsspec = pytest.importorskip("fsspec")

AUGMENT = AugmentConfig(rotation_range=20, width_shift_range=0.1, zoom_range=0.2,
                        horizontal_flip=True)


@pytest.fixture
def bucket(samples_train: Path) -> Iterator[str]:
    """memory://<unique>/ holding train/ (the samples); removed afterwards."""
    fs = fsspec.filesystem("memory")
    name = f"bucket-{uuid.uuid4().hex[:8]}"
    fs.put(str(samples_train), f"/{name}/train", recursive=True)
    yield name
    fs.rm(f"/{name}", recursive=True)


def _objects(url: str) -> dict[str, str]:
    """Every object under a URL (relative path → SHA-256), as `snapshot` does for a folder."""
    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    return {path[len(root) + 1:]: hashlib.sha256(fs.cat_file(path)).hexdigest()
            for path in sorted(fs.find(root))}


def _config(src: Path | str, out: Path | str, **kw: object) -> ExpandConfig:
    settings: dict[str, object] = {"copies": 3, "augment": AUGMENT, "workers": 1}
    settings.update(kw)
    return ExpandConfig(src=src, out=out, **settings)  # type: ignore[arg-type]


def _same_but_src(local_out: Path, local_src: Path, url_src: str) -> dict[str, str]:
    """The local run's files as the URL run should have written them: run.json records SRC as
    given, so its `src` is the one difference; everything else, byte for byte. Both locks are
    removed when the run ends."""
    expected = snapshot(local_out)
    assert LOCK_FILE not in expected
    text = (local_out / "run.json").read_text(encoding="utf-8")
    given = json.dumps(str(local_src))
    assert text.count(f'"src": {given}') == 1
    text = text.replace(f'"src": {given}', f'"src": {json.dumps(url_src)}')
    expected["run.json"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return expected


def test_locations_pick_their_store(tmp_path: Path) -> None:
    assert isinstance(storage.open_store(tmp_path), storage.LocalStore)
    assert isinstance(storage.open_store(str(tmp_path)), storage.LocalStore)
    local = storage.open_store(f"file://{tmp_path}")
    assert isinstance(local, storage.LocalStore) and local.root == tmp_path
    assert isinstance(storage.open_store("memory://b/x"), storage.RemoteStore)
    assert storage.as_location("data/train") == Path("data/train")
    assert storage.as_location("s3://b/train") == "s3://b/train"
    with pytest.raises(ConfigError, match="nosuchfs"):
        storage.open_store("nosuchfs://b/x")


def test_a_url_run_writes_the_same_objects_as_a_local_run(
        samples_train: Path, tmp_path: Path, bucket: str) -> None:
    expand_dataset(_config(samples_train, tmp_path / "local"))
    summary = expand_dataset(_config(f"memory://{bucket}/train", f"memory://{bucket}/aug"))
    assert summary.images_written == 45 * 3 and summary.exit_code == 0
    assert _objects(f"memory://{bucket}/aug") == \
        _same_but_src(tmp_path / "local", samples_train, f"memory://{bucket}/train")
    assert _objects(f"memory://{bucket}/train") == snapshot(samples_train)  # SRC untouched


def test_file_urls_are_local_folders(samples_train: Path, tmp_path: Path) -> None:
    expand_dataset(_config(samples_train, tmp_path / "plain"))
    expand_dataset(_config(f"file://{samples_train}", f"file://{tmp_path / 'url'}"))
    plain, url = snapshot(tmp_path / "plain"), snapshot(tmp_path / "url")
    assert {k: v for k, v in url.items() if k != "run.json"} == \
        {k: v for k, v in plain.items() if k != "run.json"}
    run = json.loads((tmp_path / "url" / "run.json").read_text())
    assert run["config"]["src"] == f"file://{samples_train}"


class _StopAfter:
    """A progress sink that interrupts the run (as Ctrl-C would) after some sources landed."""

    def __init__(self, sources: int) -> None:
        self.left = sources

    def start(self, total: int) -> None:
        return None

    def advance(self, images: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt

    def close(self) -> None:
        return None


def test_an_interrupted_url_run_resumes_from_its_journal_objects(
        samples_train: Path, tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("expand.run.state.SEGMENT_ROWS", 4)  # several segments in a small run
    src, out = f"memory://{bucket}/train", f"memory://{bucket}/aug"
    with pytest.raises(KeyboardInterrupt):
        expand_dataset(_config(src, out), progress=_StopAfter(20))
    left = _objects(out)
    segments = [name for name in left if name.startswith(SEGMENT_PREFIX)]
    assert len(segments) >= 5 and "metadata.jsonl" not in left and LOCK_FILE not in left
    summary = expand_dataset(_config(src, out))
    assert summary.kept == 20 * 3 and summary.images_written == 25 * 3
    expand_dataset(_config(samples_train, tmp_path / "local"))
    assert _objects(out) == _same_but_src(tmp_path / "local", samples_train, src)


def test_objects_a_killed_url_run_never_journaled_are_removed_with_fewer_copies(
        samples_train: Path, tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = f"memory://{bucket}/train", f"memory://{bucket}/aug"
    monkeypatch.setattr(ObjectJournal, "close", lambda self: None)  # a kill flushes nothing
    with pytest.raises(KeyboardInterrupt):
        expand_dataset(_config(src, out), progress=_StopAfter(20))
    monkeypatch.undo()
    assert len([name for name in _objects(out) if "__aug" in name]) == 20 * 3
    summary = expand_dataset(_config(src, out, copies=2))
    assert summary.unrecorded_removed == 20 and summary.kept == 0
    expand_dataset(_config(samples_train, tmp_path / "local", copies=2))
    assert _objects(out) == _same_but_src(tmp_path / "local", samples_train, src)


def test_more_copies_on_a_url_adds_only_the_new_ones(samples_train: Path, tmp_path: Path,
                                                     bucket: str) -> None:
    src, out = f"memory://{bucket}/train", f"memory://{bucket}/aug"
    expand_dataset(_config(src, out, copies=2))
    fs = fsspec.filesystem("memory")
    first = fs.info(f"/{bucket}/aug/circle/circle001.png__aug0000.png")["created"]
    summary = expand_dataset(_config(src, out, copies=3))
    assert summary.images_written == 45 and summary.kept == 90
    assert fs.info(f"/{bucket}/aug/circle/circle001.png__aug0000.png")["created"] == first
    expand_dataset(_config(samples_train, tmp_path / "local", copies=3))
    assert _objects(out) == _same_but_src(tmp_path / "local", samples_train, src)


def test_a_damaged_object_is_found_by_its_hash_and_redone(bucket: str) -> None:
    src, out = f"memory://{bucket}/train", f"memory://{bucket}/aug"
    expand_dataset(_config(src, out))
    reference = _objects(out)
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"/{bucket}/aug/circle/circle002.png__aug0001.png", b"\x89PNG broken")
    fs.rm_file(f"/{bucket}/aug/triangle/triangle003.png__aug0002.png")
    summary = expand_dataset(_config(src, out))
    assert summary.redone == 2 and summary.images_written == 2
    assert _objects(out) == reference


def _lock_record(host: str, pid: int, age_s: float) -> bytes:
    return json.dumps({"tool": "expand", "token": "other", "host": host, "pid": pid,
                       "started": time.time() - age_s, "heartbeat": time.time() - age_s}).encode()


def test_the_lock_object_refuses_a_live_owner_and_takes_over_a_stale_one(bucket: str) -> None:
    src, out = f"memory://{bucket}/train", f"memory://{bucket}/aug"
    store = storage.open_store(out)
    assert isinstance(store, storage.RemoteStore)
    store.write(LOCK_FILE, _lock_record("elsewhere/boot", 4242, age_s=5))
    with pytest.raises(LockHeldError, match="another expand run is writing here.*elsewhere"):
        expand_dataset(_config(src, out))
    assert _objects(out).keys() == {LOCK_FILE}  # refused before writing anything
    store.write(LOCK_FILE, _lock_record("elsewhere/boot", 4242, age_s=600))  # heartbeat stopped
    assert expand_dataset(_config(src, out)).exit_code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.write(LOCK_FILE, _lock_record(_host_id(), dead.pid, age_s=1))  # a killed run, here
    assert expand_dataset(_config(src, out, copies=4)).images_written == 45
    assert LOCK_FILE not in _objects(out)


def test_the_lock_heartbeat_refreshes_and_notices_a_takeover(bucket: str) -> None:
    store = storage.open_store(f"memory://{bucket}/aug")
    assert isinstance(store, storage.RemoteStore)
    with RemoteLock(store, heartbeat=0.05) as lock:
        first = json.loads(store.read_bytes(LOCK_FILE))["heartbeat"]
        deadline = time.monotonic() + 5
        while json.loads(store.read_bytes(LOCK_FILE))["heartbeat"] == first and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        assert json.loads(store.read_bytes(LOCK_FILE))["heartbeat"] > first
        lock.verify()
        store.write(LOCK_FILE, _lock_record("elsewhere/boot", 1, age_s=0))
        while lock.lost is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(LockHeldError, match="took the lock over"):
            lock.verify()
    assert store.exists_member(LOCK_FILE)  # not ours any more: left for its owner


def test_a_missing_bucket_or_denied_access_is_a_storage_error(
        bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = storage.open_store("memory://nosuchbucket/train")
    assert isinstance(store, storage.RemoteStore)
    monkeypatch.setattr(store, "protocol", "s3")  # memory:// has no buckets; pretend
    with pytest.raises(StorageError, match="nosuchbucket.*: no such bucket"):
        store.check()
    denied = storage.open_store(f"memory://{bucket}/train")
    assert isinstance(denied, storage.RemoteStore)

    def refuse(path: str, **kw: object) -> None:
        raise PermissionError("Access Denied")

    monkeypatch.setattr(denied.fs, "info", refuse)
    with pytest.raises(StorageError, match="access denied"):
        denied.check()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def test_cli_errors_for_urls_and_schedulers(samples_train: Path, tmp_path: Path) -> None:
    done = _cli(str(samples_train), "--out", "nosuchfs://x/aug", "--copies", "1")
    assert done.returncode == 2 and "nosuchfs" in done.stderr and "Traceback" not in done.stderr
    done = _cli(str(samples_train), "--out", str(tmp_path / "a"), "--scheduler", "tcp://h:1",
                "--workers", "3")
    assert done.returncode == 2 and "--workers" in done.stderr
    done = _cli(str(samples_train), "--out", str(tmp_path / "a"), "--scheduler", "nowhere")
    assert done.returncode == 2 and "scheduler" in done.stderr
    done = _cli(str(samples_train), "--out", str(tmp_path / "a"), "--storage-option", "novalue")
    assert done.returncode == 2 and "KEY=VALUE" in done.stderr
    assert not (tmp_path / "a").exists()


def test_a_local_run_imports_neither_dask_nor_fsspec(samples_train: Path, tmp_path: Path) -> None:
    code = ("import sys\nfrom expand.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'fsspec', 's3fs', 'botocore')))")
    done = subprocess.run([sys.executable, "-c", code, str(samples_train), "--out",
                           str(tmp_path / "aug"), "--copies", "1", "--workers", "2", "-q"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_tasks_on_a_cluster_carry_absolute_local_paths(tmp_path: Path) -> None:
    from expand.run.tasks import for_workers as _for_workers

    relative = _config(Path("data/train"), "s3://b/aug", scheduler="tcp://127.0.0.1:8786")
    moved = _for_workers(relative)
    assert moved.src == Path.cwd() / "data" / "train" and moved.out == "s3://b/aug"
    assert relative.determining()["src"] == "data/train"  # run.json keeps SRC as given
    assert _for_workers(_config(Path("data/train"), tmp_path)).src == Path("data/train")


def test_a_class_folder_removed_during_a_run_is_made_again(tmp_path: Path) -> None:
    from expand.io.storage import LocalStore

    store = LocalStore(tmp_path / "out")
    store.write("circle/a.png", b"first")
    shutil.rmtree(tmp_path / "out" / "circle")
    store.write("circle/b.png", b"second")
    assert (tmp_path / "out" / "circle" / "b.png").read_bytes() == b"second"


def test_only_storage_knows_which_kind_of_store_it_is() -> None:
    """Every other module asks a store (the Store protocol's methods), never its class."""
    package = Path(__file__).resolve().parents[1] / "expand"
    naming = [path.name for path in package.rglob("*.py") if path.name != "storage.py"
              and any(kind in path.read_text(encoding="utf-8")
                      for kind in ("LocalStore", "RemoteStore"))]
    assert naming == []


def test_both_stores_answer_the_protocol_alike(bucket: str, samples_train: Path,
                                               tmp_path: Path) -> None:
    """The same folder, local and as memory:// objects: the same tree, names, reads and
    anchors that place one store inside another."""
    local = storage.open_store(samples_train)
    remote = storage.open_store(f"memory://{bucket}/train")
    assert local.tree() == remote.tree()
    assert sorted(local.files()) == sorted(remote.files())
    name = sorted(local.files())[0]
    assert local.read_bytes(name) == remote.read_bytes(name)
    assert local.read_head(name, 10) == remote.read_head(name, 10)
    assert not local.is_link(name) and not remote.is_link(name)
    assert remote.name_limit() is None and (local.name_limit() or 0) >= 14
    assert remote.anchor() == ("memory", f"/{bucket}/train") and local.anchor()[0] == "file"
    for store in (storage.open_store(tmp_path / "out"),
                  storage.open_store(f"memory://{bucket}/out")):
        store.write_lines("a/list.txt", (f"{i}\n" for i in range(3)))
        assert list(store.lines("a/list.txt")) == ["0\n", "1\n", "2\n"]
        store.create("lock", b"mine")
        with pytest.raises(FileExistsError):
            store.create("lock", b"theirs")
        assert store.read_bytes("lock") == b"mine"
