"""The Dask backend on a LocalCluster of 2 worker processes on 127.0.0.1: the same bytes as the
local pool, also when a worker dies mid-run; clear errors when the scheduler cannot be reached."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import EngineError
from expand.run.runner import expand_dataset
from tests.conftest import snapshot

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

AUGMENT = AugmentConfig(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1,
                        zoom_range=0.2, horizontal_flip=True, channel_shift_range=20)
ROOT = Path(__file__).resolve().parents[1]


def _cluster() -> distributed.LocalCluster:
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                    silence_logs=50)


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with _cluster() as running:
        yield running


def _config(src: Path, out: Path, **kw: object) -> ExpandConfig:
    settings: dict[str, object] = {"copies": 6, "augment": AUGMENT, "workers": 2}
    settings.update(kw)
    return ExpandConfig(src=src, out=out, **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pool_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("pool") / "aug"
    summary = expand_dataset(_config(ROOT / "samples" / "shapes" / "train", out))
    assert summary.executor == "process-pool" and summary.workers == 2
    return snapshot(out)


def test_a_local_cluster_writes_the_bytes_of_the_local_pool(
        cluster: distributed.LocalCluster, pool_output: dict[str, str], samples_train: Path,
        tmp_path: Path) -> None:
    summary = expand_dataset(_config(samples_train, tmp_path / "aug",
                                     scheduler=cluster.scheduler_address))
    assert summary.executor == "dask" and summary.workers == 2
    assert summary.images_written == 45 * 6
    assert snapshot(tmp_path / "aug") == pool_output


def test_the_cli_starts_its_own_local_cluster(pool_output: dict[str, str], samples_train: Path,
                                              tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "expand", str(samples_train), "--out", str(tmp_path / "aug"),
         "--copies", "6", "--rotation-range", "20", "--width-shift-range", "0.1",
         "--height-shift-range", "0.1", "--zoom-range", "0.2", "--horizontal-flip",
         "--channel-shift-range", "20", "--scheduler", "local"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "; dask, 2 workers)" in done.stdout and "Traceback" not in done.stderr
    assert snapshot(tmp_path / "aug") == pool_output


class _KillAWorker:
    """Progress sink that, once a few sources have landed, kills a busy worker process with
    SIGKILL (no cleanup, as a machine loss would); its nanny then starts a new one."""

    def __init__(self, client: distributed.Client, after: int) -> None:
        self.client = client
        self.after = after
        self.killed: str | None = None
        self.seen = 0

    def start(self, total: int) -> None:
        return None

    def advance(self, images: int) -> None:
        self.seen += 1
        if self.seen >= self.after and self.killed is None:
            # the scheduler may show no worker busy for a moment between batches: try again at
            # the next source (the test fails if no kill ever lands)
            processing = self.client.processing()
            busy = sorted(address for address, keys in processing.items() if keys)
            if busy:
                self.killed = busy[0]
                pid = self.client.run(os.getpid, workers=[self.killed])[self.killed]
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        return None


def test_a_worker_killed_mid_run_changes_nothing(pool_output: dict[str, str],
                                                 samples_train: Path, tmp_path: Path) -> None:
    with _cluster() as own, distributed.Client(own, set_as_default=False) as client:
        before = set(client.scheduler_info()["workers"])
        killer = _KillAWorker(client, after=3)
        summary = expand_dataset(_config(samples_train, tmp_path / "aug",
                                         scheduler=own.scheduler_address), progress=killer)
        assert killer.killed in before
        assert killer.killed not in client.scheduler_info()["workers"]  # really gone
    assert summary.images_written == 45 * 6 and summary.exit_code == 0
    assert snapshot(tmp_path / "aug") == pool_output  # no duplicate, no .part, same manifest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_scheduler_is_a_one_line_error(samples_train: Path,
                                                      tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "expand", str(samples_train), "--out", str(tmp_path / "aug"),
         "--copies", "1", "--scheduler", f"tcp://127.0.0.1:{_free_port()}"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT),
             "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if line.startswith("expand: error:")]
    assert len(errors) == 1 and "cannot reach the Dask scheduler" in errors[0]
    assert "Traceback" not in done.stderr


def test_a_worker_with_other_libraries_refuses_to_write() -> None:
    from expand.exec.dask_executor import fingerprint, run_batch

    expected = {**fingerprint(), "pillow": "0.0"}
    with pytest.raises(EngineError, match="pillow"):
        run_batch(str, [1], expected)
    assert run_batch(str, [1, 2], fingerprint()) == ["1", "2"]


def test_ctrl_c_stops_a_local_cluster_quickly_and_the_run_resumes(samples_train: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "aug"
    command = [sys.executable, "-m", "expand", str(samples_train), "--out", str(out),
               "--copies", "20", "--rotation-range", "20", "--scheduler", "local", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, start_new_session=True, text=True, env=env,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/*__aug*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the workers get it too
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    stopped = time.monotonic() - sent
    # Well under a second when the machine is idle; the margin is for a loaded CI machine.
    assert stopped < 5.0, f"stopped in {stopped:.1f} s"
    assert process.returncode == 130, (process.returncode, stderr[-2000:])
    assert "Traceback" not in stderr and "run the same command again to resume" in stderr, \
        stderr[-2000:]
    assert not list(out.rglob("*.part")) and not (out / "metadata.jsonl").exists()
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stderr
    expand_dataset(ExpandConfig(src=samples_train, out=tmp_path / "pool", copies=20, workers=2,
                                augment=AugmentConfig(rotation_range=20)))
    assert snapshot(out) == snapshot(tmp_path / "pool")
