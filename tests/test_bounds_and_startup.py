"""Absurd numbers, start-up and the smaller items of issue 20: bounds at parse time, memory that
does not grow with --copies, a run that recorded nothing, SIGTERM and Ctrl-C while the command
starts, plain scripts, sheets never written into SRC, and the minor messages."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from expand.config import MAX_COPIES, AugmentConfig, ExpandConfig
from expand.errors import ConfigError, OutputWriteError, WorkerLostError
from expand.exec.execution import max_workers
from expand.exec.executors import ProcessPoolExecutor, SerialExecutor, _Cancelled
from expand.io.discover import discover_store
from expand.io.storage import open_store
from expand.run.layout import LOCK_FILE
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset
from expand.run.state import Earlier, copies_per_source, make_plan
from tests.conftest import ROOT, snapshot

T = TypeVar("T")
R = TypeVar("R")
AUGMENT = AugmentConfig(rotation_range=10.0)


def expand(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *map(str, args)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd, check=False)


def _dataset(root: Path, count: int = 3, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    (root / "c").mkdir(parents=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "c" / f"a{i}.png")
    return root


# --- finding 5: bounds -----------------------------------------------------------------------

ABSURD = [
    ["--copies", "99999999999999999999999"],
    ["--copies", str(MAX_COPIES + 1)],
    ["--per-class-target", "99999999999999999999"],
    ["--workers", "99999999999999999999"],
    ["--workers", str(max_workers() + 1)],
    ["--seed", "99999999999999999999999"],
    ["--resize", "100000x100000"],
    ["--resize", "16000x16000"],
    ["--rotation-range", "1e308"],
    ["--shear-range", "1e308"],
    ["--channel-shift-range", "1e308"],
    ["--width-shift-range", "99999999999999999999999"],
    ["--height-shift-range", "1e308"],
    ["--zoom-range", "1e-300,1"],
    ["--brightness-range", "0,1e308"],
    ["--cval", "1e308"],
    ["--max-image-pixels", "99999999999999999999999"],
]


@pytest.mark.parametrize("args", ABSURD, ids=lambda a: " ".join(a))
def test_bounds_every_number_is_refused_at_parse_time_with_one_line(
        tmp_path: Path, args: list[str]) -> None:
    src = _dataset(tmp_path / "src")
    done = expand(src, "--out", tmp_path / "out", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("expand: error: "), done.stderr
    assert not (tmp_path / "out").exists()


def test_bounds_sheets_show_at_most_64_per_class(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    for args in (["preview", src, "--copies", "65"], ["preview", src, "--per-class", "65"],
                 ["inspect", tmp_path, "--per-class", "65"]):
        done = expand(*args, "--out", tmp_path / "sheet.png")
        assert done.returncode == 2 and "64" in done.stderr, done.stderr
    assert not (tmp_path / "sheet.png").exists()


def test_bounds_hold_for_config_files_and_the_python_api(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    config = tmp_path / "c.toml"
    config.write_text('resize = "100000x100000"\nrotation_range = 1e308\n')
    done = expand(src, "--out", tmp_path / "out", "--config", config)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    with pytest.raises(ConfigError, match="rotation_range"):
        AugmentConfig(rotation_range=1e308)
    with pytest.raises(ConfigError, match="brightness_range"):
        AugmentConfig(brightness_range=(0.0, 1e308))
    with pytest.raises(ConfigError, match="copies"):
        ExpandConfig(src=src, out=tmp_path / "out", copies=10**23)
    with pytest.raises(ConfigError, match="workers"):
        ExpandConfig(src=src, out=tmp_path / "out", workers=max_workers() + 1)
    ExpandConfig(src=src, out=tmp_path / "out", copies=MAX_COPIES, workers=max_workers(),
                 resize=(16_384, 8_192), augment=AugmentConfig(rotation_range=360.0))


def test_bounds_a_plan_takes_memory_by_what_dir_holds_not_by_copies(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    config = ExpandConfig(src=src, out=tmp_path / "out", copies=MAX_COPIES)
    dataset = discover_store(open_store(src), follow_symlinks=False)
    out = open_store(tmp_path / "out")
    plan = make_plan(dataset, config, Earlier(None, {}), out, copies_per_source(dataset, config),
                     lambda rel: None)
    assert [len(w.copies) for w in plan.work] == [MAX_COPIES] * 3
    assert all(len(pickle.dumps(w.copies)) < 1000 for w in plan.work)
    assert plan.work[0].copies[MAX_COPIES - 2:] == (MAX_COPIES - 2, MAX_COPIES - 1)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is Linux's address-space limit")
def test_bounds_a_dry_run_at_the_maximum_copies_fits_in_1_gib(tmp_path: Path) -> None:
    import resource

    src = _dataset(tmp_path / "src")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "expand", str(src), "--out",
                           str(tmp_path / "out"), "--copies", str(MAX_COPIES), "--dry-run"],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    assert f"would write {3 * MAX_COPIES} images" in done.stdout
    assert time.monotonic() - started < 60


class _Crashing(SerialExecutor):
    """A pool whose first worker dies before anything is recorded."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        raise WorkerLostError("a worker process stopped unexpectedly")


def test_a_run_that_recorded_nothing_does_not_pin_the_settings(tmp_path: Path) -> None:
    """After a worker crashed before the first output, the corrected command was refused as
    'other settings' although nothing was written."""
    src = _dataset(tmp_path / "src")
    out = tmp_path / "out"
    first = ExpandConfig(src=src, out=out, copies=2, augment=AugmentConfig(rotation_range=90.0))
    with pytest.raises(WorkerLostError):
        expand_dataset(first, executor_factory=lambda spec, work: _Crashing())
    corrected = ExpandConfig(src=src, out=out, copies=2, augment=AUGMENT)
    summary = expand_dataset(corrected)
    assert summary.images_written == 6
    assert json.loads((out / "run.json").read_text())["config"]["augment"]["rotation_range"] == 10


# --- start-up: SIGTERM, Ctrl-C, forking --------------------------------------------------------

_SLOW_IMPORT = """
import sys, time
from importlib.abc import MetaPathFinder

class Slow(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "expand.cli":  # the command is importing: the worker server is started
            print("importing", flush=True)
            time.sleep(60)
        return None

sys.meta_path.insert(0, Slow())
sys.argv = ["expand", *sys.argv[1:]]
from expand.launch import main
main()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_while_the_command_imports_exits_130_without_a_traceback(
        tmp_path: Path, signum: int) -> None:
    """Ctrl-C while the CLI imported printed a KeyboardInterrupt traceback; SIGTERM ended the
    command with -15. The import is held (a finder that sleeps) so the signal lands in it."""
    src = _dataset(tmp_path / "src")
    command = subprocess.Popen([sys.executable, "-c", _SLOW_IMPORT, str(src), "--out",
                                str(tmp_path / "out"), "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    assert command.stdout is not None and command.stdout.readline() == "importing\n"
    command.send_signal(signum)
    _, stderr = command.communicate(timeout=60)
    assert command.returncode == 130, stderr
    assert stderr == "expand: interrupted\n"
    assert not (tmp_path / "out").exists()


def test_a_pool_whose_start_is_called_off_forks_no_more() -> None:
    """SIGTERM while a prewarmed pool was starting: its thread kept forking."""
    import multiprocessing

    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(_Cancelled):
        ProcessPoolExecutor(3, None, cancelled=cancelled)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("expand")]


def test_the_launcher_never_prewarms_more_workers_than_allowed() -> None:
    from expand.launch import _pool_size

    assert _pool_size(["d", "--out", "o", "--workers", "99999999999999999999"]) is None
    assert _pool_size(["d", "--out", "o", "--workers", str(max_workers() + 1)]) is None
    assert _pool_size(["d", "--out", "o", "--workers", "9" * 5000]) is None


def test_the_readme_python_example_runs_as_a_plain_script(tmp_path: Path) -> None:
    """Saved as a script without an `if __name__ == "__main__":` guard, it met its own lock in
    the workers (WorkerLostError) and left a half-made DIR."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"From Python:\n\n<!-- runnable -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert block is not None and "workers=2" in block.group(1)
    assert "__main__" not in block.group(1)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    (tmp_path / "script.py").write_text(block.group(1))
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    rows = list(read_manifest(tmp_path / "aug-api"))
    assert len(rows) == 45 * 20 and done.stdout.split() == ["900", "()"]
    assert (tmp_path / "aug-api" / "run.json").is_file()


# --- finding 2: sheets never written into SRC ---------------------------------------------------

def test_inspect_refuses_a_destination_inside_src_dir_or_another_output(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    assert expand(src, "--out", tmp_path / "out", "-n", "1", "-q").returncode == 0
    assert expand(src, "--out", tmp_path / "other", "-n", "1", "-q").returncode == 0
    before = snapshot(tmp_path)
    for target in (src / "c" / "a0.png", src / "c" / "new.png", tmp_path / "out" / "s.png",
                   tmp_path / "other" / "c" / "s.png"):
        done = expand("inspect", tmp_path / "out", "--out", target)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (target, done.stderr)
    assert snapshot(tmp_path) == before


# --- minor items ----------------------------------------------------------------------------------

def test_replay_of_a_deleted_file_given_as_a_path_says_it_is_missing(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    out = tmp_path / "out"
    assert expand(src, "--out", out, "-n", "1", "-q").returncode == 0
    (out / "c" / "a0.png__aug0000.png").unlink()
    for given in (out / "c" / "a0.png__aug0000.png", "c/a0.png__aug0000.png"):
        done = expand("replay", out, given)
        assert done.returncode == 1, done.stderr
        assert "the file is missing" in done.stderr + done.stdout


def test_per_class_target_counts_the_sources_of_src_when_old_copies_are_kept(
        tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src", count=4)
    out = tmp_path / "out"
    assert expand(src, "--out", out, "--per-class-target", "8", "-q").returncode == 0
    (src / "c" / "a2.png").unlink()
    (src / "c" / "a3.png").unlink()
    done = expand(src, "--out", out, "--per-class-target", "8")
    assert done.returncode == 0, done.stderr
    counts = json.loads((out / "run.json").read_text())["counts"]
    assert counts["classes"]["c"] == {"sources": 2, "images": 12} and counts["sources"] == 2
    assert "above --per-class-target" not in done.stderr
    assert "4 earlier outputs whose source is gone" in done.stderr


def test_preview_names_each_unreadable_source_once(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src", count=1)
    (src / "c" / "bad.png").write_bytes(b"not an image")
    done = expand("preview", src, "--out", tmp_path / "sheet.png", "--per-class", "4")
    assert done.returncode == 1
    skips = [line for line in done.stderr.splitlines() if "skipped" in line]
    assert skips == ["expand: skipped c/bad.png: not an image Pillow can read"], done.stderr


class _RemovesDir(SerialExecutor):
    """Runs in this process; DIR is removed (`rm -rf`) after the first task."""

    def __init__(self, out: Path) -> None:
        super().__init__(None)
        self.out = out

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for number, item in enumerate(items):
            yield fn(item)
            if number == 0:
                shutil.rmtree(self.out)


def test_removing_dir_during_a_run_fails_without_a_manifest(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    out = tmp_path / "out"
    config = ExpandConfig(src=src, out=out, copies=2, augment=AUGMENT)
    with pytest.raises(OutputWriteError, match="removed or replaced") as caught:
        expand_dataset(config, executor_factory=lambda spec, work: _RemovesDir(out))
    assert caught.value.exit_code == 3
    assert not (out / "metadata.jsonl").exists() and not (out / "run.json").exists()


def test_the_lock_file_is_removed_after_a_finished_run(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    out = tmp_path / "out"
    expand_dataset(ExpandConfig(src=src, out=out, copies=1, augment=AUGMENT))
    assert not (out / LOCK_FILE).exists()
    expand_dataset(ExpandConfig(src=src, out=out, copies=2, augment=AUGMENT))  # resumes as ever
    assert not (out / LOCK_FILE).exists() and len(list(read_manifest(out))) == 6


@pytest.mark.slow
def test_an_unreachable_scheduler_is_reported_within_seconds(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    src = _dataset(tmp_path / "src")
    started = time.monotonic()
    done = expand(src, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:1")
    assert done.returncode == 3 and "cannot reach the Dask scheduler" in done.stderr
    assert time.monotonic() - started < 20

