"""Object storage for real: moto's S3 server on 127.0.0.1 (a random free port, dummy credentials),
driven through the CLI the way a user would, on a LocalCluster and on the local pool."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import snapshot

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "shapes" / "train"
OPTIONS = ["--copies", "4", "--rotation-range", "20", "--zoom-range", "0.2", "--horizontal-flip",
           "--quiet"]
# Dummy credentials, no real AWS configuration, no instance-metadata lookups off this machine.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as env:
        for key, value in AWS_ENV.items():
            env.setenv(key, value)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            assert host == "127.0.0.1"
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture
def bucket(endpoint: str) -> str:
    """A new bucket holding train/ (the samples)."""
    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    name = f"data-{uuid.uuid4().hex[:8]}"
    fs.mkdir(name)
    fs.put(str(SAMPLES), f"{name}/train", recursive=True)
    return name


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "aug"
    done = _expand(str(SAMPLES), "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stderr
    return out


def _expand(*args: str, endpoint: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    storage = ["--storage-option", f"endpoint_url={endpoint}"] if endpoint else []
    return subprocess.run([sys.executable, "-m", "expand", *args, *OPTIONS, *storage],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, env=_env())


def _env() -> dict[str, str]:
    return {**os.environ, **AWS_ENV, "PYTHONPATH": str(ROOT)}


def _objects(endpoint: str, url: str) -> dict[str, str]:
    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    fs.invalidate_cache()  # fsspec shares one instance per endpoint, with its listing cache
    root = url.removeprefix("s3://")
    return {path[len(root) + 1:]: hashlib.sha256(fs.cat_file(path)).hexdigest()
            for path in sorted(fs.find(root))}


def _expected(local_out: Path, url_src: str) -> dict[str, str]:
    """The local run's files, hash for hash, as the S3 run must have written them. run.json
    records SRC as given, so there the local path is replaced by the URL (exactly one occurrence,
    JSON-encoded) and the rest of its bytes must match. Both locks are removed as the run ends:
    the local flock file and the S3 lock object."""
    expected = snapshot(local_out)
    text = (local_out / "run.json").read_text(encoding="utf-8")
    local = f'"src": {json.dumps(str(SAMPLES))}'
    assert text.count(local) == 1
    text = text.replace(local, f'"src": {json.dumps(url_src)}')
    expected["run.json"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return expected


def test_s3_in_s3_out_on_a_local_cluster_equals_a_local_run(endpoint: str, bucket: str,
                                                           local_reference: Path) -> None:
    src, out = f"s3://{bucket}/train", f"s3://{bucket}/aug"
    done = _expand(src, "--out", out, "--scheduler", "local", "--json", endpoint=endpoint)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["executor"] == "dask" and summary["workers"] == 2
    assert summary["images_written"] == 45 * 4
    assert _objects(endpoint, out) == _expected(local_reference, src)
    assert _objects(endpoint, src) == snapshot(SAMPLES)


def test_a_killed_s3_run_resumes_to_the_same_objects(endpoint: str, bucket: str,
                                                     local_reference: Path) -> None:
    src, out = f"s3://{bucket}/train", f"s3://{bucket}/aug"
    command = [sys.executable, "-m", "expand", src, "--out", out, *OPTIONS, "--workers", "2",
               "--storage-option", f"endpoint_url={endpoint}"]
    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    process = subprocess.Popen(command, start_new_session=True, env=_env(),
                               stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        fs.invalidate_cache()
        if len(fs.glob(f"{bucket}/aug/*/*__aug*")) >= 40:
            break
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    fs.invalidate_cache()
    left = fs.ls(f"{bucket}/aug", detail=False)
    assert f"{bucket}/aug/.expand.lock" in left and f"{bucket}/aug/metadata.jsonl" not in left
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300, env=_env())  # the dead run's lock does not block it
    assert done.returncode == 0, done.stderr
    assert _objects(endpoint, out) == _expected(local_reference, src)


def test_errors_on_s3_are_one_line_and_exit_3(endpoint: str, bucket: str,
                                             tmp_path: Path) -> None:
    done = _expand("s3://no-such-bucket/train", "--out", str(tmp_path / "a"), endpoint=endpoint)
    assert done.returncode == 3 and "s3://no-such-bucket: no such bucket" in done.stderr
    done = _expand(str(SAMPLES), "--out", "s3://no-such-bucket/aug", endpoint=endpoint)
    assert done.returncode == 3 and "no such bucket" in done.stderr
    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    fs.pipe_file(f"{bucket}/aug/.expand.lock", json.dumps(
        {"tool": "expand", "token": "x", "host": "elsewhere/boot", "pid": 1,
         "started": time.time(), "heartbeat": time.time()}).encode())
    done = _expand(f"s3://{bucket}/train", "--out", f"s3://{bucket}/aug", endpoint=endpoint)
    assert done.returncode == 3 and "another expand run is writing here" in done.stderr
    for stderr in (done.stderr,):
        assert "Traceback" not in stderr
    assert fs.ls(f"{bucket}/aug", detail=False) == [f"{bucket}/aug/.expand.lock"]


def test_a_header_is_read_with_one_ranged_request(endpoint: str, bucket: str) -> None:
    """What the estimates before a run read of a source: its head, not the whole object."""
    from expand.io.storage import open_store

    store = open_store(f"s3://{bucket}/train", {"endpoint_url": endpoint})
    name = "circle/" + sorted(p.name for p in (SAMPLES / "circle").iterdir())[0]
    whole = (SAMPLES / name).read_bytes()
    assert store.read_head(name, 100) == whole[:100]
    assert store.read_head(name, len(whole) + 1000) == whole


def _tool(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *args, "--storage-option",
                           f"endpoint_url={endpoint}"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, env=_env())


def test_replay_and_inspect_read_an_s3_output(endpoint: str, bucket: str,
                                              tmp_path: Path) -> None:
    """Both read DIR, and the sources run.json names, through the store: an s3:// output (made
    from s3:// sources) is replayed and drawn as a local one is."""
    src, out = f"s3://{bucket}/train", f"s3://{bucket}/aug"
    done = _expand(src, "--out", out, "--workers", "1", endpoint=endpoint)
    assert done.returncode == 0, done.stderr
    replayed = _tool("replay", out, "--all", "--quiet", endpoint=endpoint)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == ""  # --quiet: silent when every file matches
    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    fs.invalidate_cache()
    # the class's first output: inspect always draws it
    name = sorted(p.split("/", 2)[2] for p in fs.glob(f"{bucket}/aug/circle/*__aug*"))[0]
    fs.pipe_file(f"{bucket}/aug/{name}", b"not the run's bytes")
    changed = _tool("replay", out, f"{out}/{name}", endpoint=endpoint)
    assert changed.returncode == 1, changed.stderr
    assert f"{name}: MISMATCH" in changed.stderr and "changed after the run" in changed.stderr
    assert "replayed 1 file: 0 match, 1 do not" in changed.stdout
    sheet = tmp_path / "sheet.png"
    inspected = _tool("inspect", out, "--out", str(sheet), "--per-class", "2", "--json",
                      endpoint=endpoint)
    assert inspected.returncode == 1, inspected.stderr  # the changed file cannot be decoded
    assert f"expand: skipped {name}: not an image Pillow can read" in inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["dir"] == out and sheet.is_file()
    assert report["stats"]["images_per_class"] == {"circle": 60, "rectangle": 60, "triangle": 60}
