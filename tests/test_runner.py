"""The main job through the library: counts, determinism, streams, DIR rules."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import DatasetLayoutError, ImageReadError, LockHeldError
from expand.exec.execution import ExecutorSpec, Workload
from expand.exec.executors import ProcessPoolExecutor, SerialExecutor, pool_chunksize
from expand.io.discover import discover
from expand.io.storage import LocalStore, open_store
from expand.run.layout import OutputLock
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset
from expand.run.state import copies_per_source
from expand.run.tasks import COPIES_PER_TASK, HEAD_BYTES, output_ms, outputs_per_task, probe
from expand.run.worker import Task, worker_init
from tests.conftest import snapshot

T = TypeVar("T")
R = TypeVar("R")

AUGMENT = AugmentConfig(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1,
                        zoom_range=0.2, horizontal_flip=True)


def _run(src: Path, out: Path, **kw: object) -> None:
    settings: dict[str, object] = {"copies": 3, "augment": AUGMENT, "workers": 1}
    settings.update(kw)
    expand_dataset(ExpandConfig(src=src, out=out, **settings))  # type: ignore[arg-type]


def test_counts_manifest_and_layout(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "aug"
    summary = expand_dataset(ExpandConfig(src=samples_train, out=out, copies=4, augment=AUGMENT,
                                          include_originals=True))
    sources = sorted(samples_train.rglob("*.png"))
    assert summary.exit_code == 0 and summary.sources == len(sources)
    rows = list(read_manifest(out))
    images = sorted(p for p in out.rglob("*") if p.suffix == ".png")
    assert len(rows) == len(images) == len(sources) * 5 == summary.images_written
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "circle", "metadata.jsonl",
                                                    "rectangle", "run.json", "triangle"]
    assert [r["file_name"] for r in rows] == sorted(r["file_name"] for r in rows)
    keys = ["file_name", "label", "source", "source_sha256", "copy", "sha256", "bytes", "width",
            "height", "mode", "params"]
    assert all(list(r) == keys for r in rows)
    for row in rows:
        assert (out / row["file_name"]).stat().st_size == row["bytes"]
        assert row["source_sha256"] == hashlib.sha256(
            (samples_train / row["source"]).read_bytes()).hexdigest()
        assert row["label"] == row["file_name"].split("/")[0] == row["source"].split("/")[0]
        assert (row["copy"] is None) == (row["params"] is None)
    originals = [r for r in rows if r["copy"] is None]
    assert len(originals) == len(sources)
    assert all(r["file_name"].endswith(".png__orig.png") for r in originals)
    run = json.loads((out / "run.json").read_text())
    assert run["manifest_schema"] == 2 and run["random_streams"] == 1
    assert run["counts"]["images"] == len(rows) and run["skipped"] == []
    assert run["config"]["src"] == str(samples_train) and str(out) not in json.dumps(run)


def test_copies_of_one_source_differ_and_another_seed_changes_the_bytes(
        samples_train: Path, tmp_path: Path) -> None:
    _run(samples_train, tmp_path / "a", copies=5)
    _run(samples_train, tmp_path / "b", copies=5, seed=1)
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    copies = [h for name, h in a.items() if name.startswith("circle/circle001.png__aug")]
    assert len(copies) == 5 and len(set(copies)) == 5
    images = [n for n in a if n.endswith(".png")]
    assert sum(a[n] != b[n] for n in images) > 0.95 * len(images)


def test_same_inputs_give_byte_identical_output_for_any_worker_count(
        samples_train: Path, tmp_path: Path) -> None:
    _run(samples_train, tmp_path / "w1", workers=1)
    _run(samples_train, tmp_path / "w1-again", workers=1)
    _run(samples_train, tmp_path / "w2", workers=2)
    reference = snapshot(tmp_path / "w1")
    assert snapshot(tmp_path / "w1-again") == reference
    assert snapshot(tmp_path / "w2") == reference
    assert "metadata.jsonl" in reference and "run.json" in reference


def test_the_start_method_changes_nothing(samples_train: Path, tmp_path: Path) -> None:
    for method in ("spawn", "forkserver"):
        def factory(spec: ExecutorSpec, work: Workload,
                    method: str = method) -> ProcessPoolExecutor:
            return ProcessPoolExecutor(spec.workers, worker_init,
                                       pool_chunksize(work, spec.workers), start_method=method)

        expand_dataset(ExpandConfig(src=samples_train, out=tmp_path / method, copies=2,
                                    augment=AUGMENT, workers=2), executor_factory=factory)
    assert snapshot(tmp_path / "spawn") == snapshot(tmp_path / "forkserver")


def test_adding_a_source_changes_no_other_output(samples_train: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    _run(src, tmp_path / "before")
    Image.new("RGB", (24, 24), "white").save(src / "circle" / "circle000.png")
    _run(src, tmp_path / "after")
    before, after = snapshot(tmp_path / "before"), snapshot(tmp_path / "after")
    added = {n for n in after if n.startswith("circle/circle000.png__aug")}
    assert len(added) == 3
    assert {n: h for n, h in after.items() if n not in added and n.endswith(".png")} == \
        {n: h for n, h in before.items() if n.endswith(".png")}


def test_output_rules(samples_train: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    with pytest.raises(DatasetLayoutError, match="inside the source folder"):
        _run(src, src / "aug")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetLayoutError, match="holds no earlier expand run"):
        _run(src, foreign)
    _run(src, tmp_path / "aug")
    _run(src, tmp_path / "aug")  # the same settings again: allowed, same result
    with pytest.raises(DatasetLayoutError, match="other settings"):
        _run(src, tmp_path / "aug", seed=9)
    assert snapshot(src) == snapshot(samples_train)


def test_a_second_run_into_a_locked_dir_is_refused(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "aug"
    out.mkdir()
    with OutputLock(out), pytest.raises(LockHeldError):
        _run(samples_train, out)


def test_resize_happens_before_augmentation(samples_train: Path, tmp_path: Path) -> None:
    _run(samples_train, tmp_path / "aug", resize=(40, 32), copies=1, image_format="jpeg")
    rows = list(read_manifest(tmp_path / "aug"))
    assert {(r["width"], r["height"]) for r in rows} == {(40, 32)}
    assert all(r["file_name"].endswith(".png__aug0000.jpg") for r in rows)
    assert all(Image.open(tmp_path / "aug" / r["file_name"]).size == (40, 32) for r in rows)


def test_a_serial_run_keeps_ctrl_c(samples_train: Path, tmp_path: Path) -> None:
    """--workers 1 runs the worker initialiser in this process: it must not ignore SIGINT (the
    CLI would not stop, and every process started afterwards would inherit the ignore)."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    _run(samples_train, tmp_path / "aug", copies=1, workers=1)
    assert signal.getsignal(signal.SIGINT) is before is not signal.SIG_IGN


def _chunks(tasks: int, outputs: int, cost: float) -> int:
    """The local pool's tasks per message for 2 workers."""
    return pool_chunksize(Workload(tasks, outputs * cost), 2)


class _Recording(SerialExecutor):
    """Runs in this process and keeps the tasks it was given."""

    def __init__(self) -> None:
        super().__init__(None)
        self.tasks: list[Task] = []

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            self.tasks.append(item)  # type: ignore[arg-type]
            yield fn(item)


def test_outputs_are_compared_with_files_already_there_only_when_dir_held_a_run(
        samples_train: Path, tmp_path: Path) -> None:
    """A new DIR cannot hold an output already: its tasks write without looking first. A DIR
    with an earlier run may: a file already holding its bytes is kept (same inode)."""
    out = tmp_path / "out"
    first = _Recording()
    config = ExpandConfig(src=samples_train, out=out, copies=2, augment=AUGMENT, workers=1)
    expand_dataset(config, executor_factory=lambda spec, work: first)
    assert first.tasks and all(task.new_dir for task in first.tasks)
    kept = out / "circle" / sorted(p.name for p in (out / "circle").iterdir())[0]
    inode = kept.stat().st_ino
    (out / "metadata.jsonl").unlink()  # its rows are lost: every source is redone
    again = _Recording()
    expand_dataset(config, executor_factory=lambda spec, work: again)
    assert again.tasks and not any(task.new_dir for task in again.tasks)
    assert kept.stat().st_ino == inode


def test_a_message_to_a_worker_carries_about_20_ms_of_work(tmp_path: Path) -> None:
    """Tiny sources go several to a message (a message costs about 1 ms), large ones one at a
    time, and every worker gets at least 6 messages to balance the end of the run."""
    for name, size, suffix in (("tiny", (24, 24), ".png"), ("large", (1024, 768), ".jpg")):
        for label in ("a", "b"):
            (tmp_path / name / label).mkdir(parents=True)
            for i in range(50):
                Image.new("RGB", size, (i, 2 * i, 3 * i)).save(
                    tmp_path / name / label / f"{i}{suffix}")
    chunks, task_ms = {}, {}
    for name in ("tiny", "large"):
        config = ExpandConfig(src=tmp_path / name, out=tmp_path / "out", copies=20, workers=2)
        sources = discover(tmp_path / name).sources
        task_ms[name] = 20 * output_ms(config, open_store(tmp_path / name), sources)
        chunks[name] = _chunks(len(sources), 20, task_ms[name] / 20)
    assert chunks["large"] == 1 and task_ms["large"] > 20
    # the fewest tiny sources that make 20 ms (100 sources leave the 6-a-worker cap above it)
    assert chunks["tiny"] > 1
    assert chunks["tiny"] * task_ms["tiny"] >= 20 > (chunks["tiny"] - 1) * task_ms["tiny"]
    assert _chunks(12, 20, 0.19) == 1  # too few sources to group any


def test_a_balanced_run_chunks_by_the_copies_its_tasks_make(tmp_path: Path) -> None:
    """Under --per-class-target `copies` is not used: a message's size comes from the most
    copies a task makes (here sources get 2,000 and 100, in tasks of COPIES_PER_TASK), so such
    tasks go one at a time."""
    for label, count in (("few", 10), ("many", 200)):
        (tmp_path / "src" / label).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (24, 24), (i, 0, 0)).save(tmp_path / "src" / label / f"{i}.png")
    dataset = discover(tmp_path / "src")
    balanced = ExpandConfig(src=tmp_path / "src", out=tmp_path / "out", per_class_target=20_000)
    assert max(copies_per_source(dataset, balanced).values()) == 2_000
    assert outputs_per_task(balanced, copies_per_source(dataset, balanced)) == COPIES_PER_TASK
    plain = ExpandConfig(src=tmp_path / "src", out=tmp_path / "out", copies=20,
                         include_originals=True)
    assert outputs_per_task(plain, copies_per_source(dataset, plain)) == 21
    cost = output_ms(balanced, open_store(tmp_path / "src"), dataset.sources)
    assert _chunks(len(dataset.sources), COPIES_PER_TASK, cost) == 1
    assert _chunks(len(dataset.sources), 10, cost) > 1  # what `copies` gave


def test_a_source_asked_for_many_copies_is_split_into_tasks_with_the_same_outputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More copies than COPIES_PER_TASK make several tasks, the original with the first: every
    worker can share the source, and a task's answer stays bounded. The files, the manifest and
    run.json are those of the source in one task."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
        src / "a" / "one.png")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(src / "a" / "two.png")
    copies = 2 * COPIES_PER_TASK + 40
    recording = _Recording()
    split = ExpandConfig(src=src, out=tmp_path / "split", copies=copies, augment=AUGMENT,
                         include_originals=True, workers=1)
    summary = expand_dataset(split, executor_factory=lambda spec, work: recording)
    assert summary.exit_code == 0 and summary.images_written == 2 * (copies + 1)
    made = [(t.source.rel_path, t.copies[0], t.copies[-1], t.original) for t in recording.tasks]
    last = copies - 1
    assert made == [(name, start, min(start + COPIES_PER_TASK - 1, last), start == 0)
                    for name in ("a/one.png", "a/two.png")
                    for start in range(0, copies, COPIES_PER_TASK)]
    monkeypatch.setattr("expand.run.tasks.COPIES_PER_TASK", 10 * copies)
    whole = _Recording()
    expand_dataset(ExpandConfig(src=src, out=tmp_path / "whole", copies=copies, augment=AUGMENT,
                                include_originals=True, workers=1),
                   executor_factory=lambda spec, work: whole)
    assert len(whole.tasks) == 2
    assert snapshot(tmp_path / "split") == snapshot(tmp_path / "whole")


def test_a_bad_source_split_into_tasks_is_skipped_once(tmp_path: Path) -> None:
    """Each of its tasks fails on it; the summary and run.json list it once, and a note about a
    source (here: frames beyond the first) is given once, not once a task."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(2)]
    frames[0].save(src / "a" / "moving.gif", save_all=True, append_images=frames[1:])
    copies = COPIES_PER_TASK + 1
    summary = expand_dataset(ExpandConfig(src=src, out=tmp_path / "out", copies=copies,
                                          augment=AUGMENT, workers=1))
    assert [s.source for s in summary.skipped] == ["a/bad.png"]
    assert summary.images_written == copies and summary.exit_code == 1
    assert [w for w in summary.warnings if "frames" in w] == \
        ["a/moving.gif: 2 frames; only the first is used"]
    recorded = json.loads((tmp_path / "out" / "run.json").read_text())
    assert recorded["counts"]["skipped"] == 1 and len(recorded["skipped"]) == 1


def test_a_source_unreadable_for_one_of_its_tasks_counts_what_was_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that fails once (a network share's hiccup) fails one task of a split source: the
    source is reported, the summary counts the files its other task wrote, and a rerun makes the
    copies that are missing."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8), (30, 60, 90)).save(src / "a" / "one.png")
    copies = COPIES_PER_TASK + 10
    real = LocalStore.read_bytes
    reads = {"n": 0}

    def flaky(store: LocalStore, rel: str) -> bytes:
        if rel == "a/one.png":
            reads["n"] += 1
            if reads["n"] == 2:
                raise OSError(5, "Input/output error")
        return real(store, rel)

    monkeypatch.setattr(LocalStore, "read_bytes", flaky)
    config = ExpandConfig(src=src, out=tmp_path / "out", copies=copies, augment=AUGMENT, workers=1)
    summary = expand_dataset(config)
    assert [s.source for s in summary.skipped] == ["a/one.png"] and summary.exit_code == 1
    assert summary.images_written == len(list(read_manifest(tmp_path / "out"))) \
        == len(list((tmp_path / "out" / "a").iterdir())) in (10, COPIES_PER_TASK)
    again = expand_dataset(config)
    assert again.exit_code == 0 and again.images_written == copies - summary.images_written
    assert len(list(read_manifest(tmp_path / "out"))) == copies


def test_a_header_is_probed_from_the_head_and_from_the_whole_file_only_when_needed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PNG's size is in its first bytes: the rest of a large file is not read. A JPEG whose ICC
    profile pushes its size past the head, and a WebP (Pillow opens it whole), are read whole;
    a bad header in a short file is reported without a second read."""
    pixels = np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png", compress_level=0)
    Image.fromarray(pixels).save(tmp_path / "icc.jpg", icc_profile=bytes(3 * HEAD_BYTES))
    Image.fromarray(pixels).save(tmp_path / "a.webp")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert (tmp_path / "big.png").stat().st_size > 4 * HEAD_BYTES
    store = open_store(tmp_path)
    whole_reads: list[str] = []
    read_bytes = LocalStore.read_bytes

    def counted(self: LocalStore, rel: str) -> bytes:
        whole_reads.append(rel)
        return read_bytes(self, rel)

    monkeypatch.setattr(LocalStore, "read_bytes", counted)
    assert probe(store, "big.png") == ("PNG", (400, 300))
    assert probe(store, "icc.jpg") == ("JPEG", (400, 300))
    assert probe(store, "a.webp") == ("WEBP", (400, 300))
    with pytest.raises(ImageReadError):
        probe(store, "bad.png")
    assert whole_reads == ["icc.jpg", "a.webp"]


def test_a_run_whose_spool_folder_is_removed_from_outside_still_ends_cleanly(
        samples_train: Path, tmp_path: Path) -> None:
    """A user's `rm -rf DIR` racing the run took the manifest's spool folder with it: the run's
    cleanup then raised FileNotFoundError over its own ending (a traceback at the CLI)."""
    out = tmp_path / "aug"

    class RemovesTheSpool:
        def start(self, total: int) -> None:
            pass

        def advance(self, images: int) -> None:
            for folder in out.glob(".expand-spool-*"):
                shutil.rmtree(folder)

        def close(self) -> None:
            pass

    summary = expand_dataset(ExpandConfig(src=samples_train, out=out, copies=2, augment=AUGMENT,
                                          workers=1), progress=RemovesTheSpool())
    assert summary.images_written == 2 * len(list(samples_train.rglob("*.png")))
    assert len(list(read_manifest(out))) == summary.images_written
    assert not list(out.glob(".expand-spool-*"))
