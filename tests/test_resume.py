"""Kills, interrupts, full disks and updates: the output always ends as a run never stopped."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import EXIT_FATAL, OutputWriteError, StateError
from expand.io import storage
from expand.run.runner import dry_run, expand_dataset
from expand.run.state import JOURNAL, Journal, Row
from expand.run.tasks import COPIES_PER_TASK
from tests.conftest import snapshot

ARGS = ["--copies", "30", "--rotation-range", "20", "--zoom-range", "0.2", "--horizontal-flip",
        "--workers", "2", "--quiet"]


def _command(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "expand", str(src), "--out", str(out), *ARGS, *extra]


def _finished(out: Path) -> dict[str, tuple[int, int]]:
    """Final-named files (inode, mtime) that a kill left: complete by construction (renamed)."""
    return {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in out.rglob("*") if p.is_file() and not p.name.endswith(storage.TEMP_SUFFIX)
            and not p.name.startswith(".expand")}


def _outputs(out: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(out).items() if not k.startswith(".expand")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    src = Path(__file__).resolve().parents[1] / "samples" / "shapes" / "train"
    out = tmp_path_factory.mktemp("reference") / "out"
    subprocess.run(_command(src, out), check=True, timeout=300)
    return src, _outputs(out)


def _kill_trials(reference: tuple[Path, dict[str, str]], tmp_path: Path, trials: int) -> None:
    src, expected = reference
    chooser = random.Random(20261122)
    # Kill times spread over how long a whole run takes here (start-up included), so that most
    # land before its end however fast the machine and the tool are: the shorter of two runs, as
    # one slowed by a busy machine would put most kills after the end.
    durations = []
    for timing in ("timing1", "timing2"):
        started = time.monotonic()
        subprocess.run(_command(src, tmp_path / timing), check=True, timeout=300,
                       stdin=subprocess.DEVNULL)
        durations.append(time.monotonic() - started)
    duration = min(durations)
    hits = 0
    for trial in range(trials):
        out = tmp_path / f"trial{trial}"
        process = subprocess.Popen(_command(src, out), start_new_session=True,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(chooser.uniform(0.2, max(0.4, 0.9 * duration)))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        before = _finished(out) if out.exists() else {}
        hits += "metadata.jsonl" not in before
        subprocess.run(_command(src, out), check=True, timeout=300, stdin=subprocess.DEVNULL)
        assert _outputs(out) == expected, f"trial {trial}"
        after = _finished(out)
        untouched = {k: v for k, v in before.items()
                     if k not in ("metadata.jsonl", "run.json")}
        assert {k: after[k] for k in untouched} == untouched, f"trial {trial}: rewritten files"
    assert hits >= trials // 2, "most kills should land in the middle of a run"


def test_sigkill_at_random_points_then_rerun_gives_the_same_output(
        reference: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _kill_trials(reference, tmp_path, trials=3)


@pytest.mark.slow
def test_sigkill_twenty_times(reference: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _kill_trials(reference, tmp_path, trials=20)


def test_ctrl_c_stops_quickly_says_how_to_resume_and_exits_130(
        reference: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    src, expected = reference
    out = tmp_path / "out"
    # many copies, so that the run is still going when the signal lands, even on a loaded machine
    process = subprocess.Popen(_command(src, out, "--copies", "400"), start_new_session=True,
                               text=True, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(out.glob("*/*__aug*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 10.0  # "a couple of seconds"; slack for a loaded CI machine
    assert process.returncode == 130
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    assert not list(out.rglob(f"*{storage.TEMP_SUFFIX}"))
    assert not (out / "metadata.jsonl").exists()  # it was stopped, not finished
    subprocess.run(_command(src, out, "--copies", "30", "--prune"), check=True, timeout=300)
    assert _outputs(out) == expected


def _config(src: Path, out: Path, **kw: object) -> ExpandConfig:
    settings: dict[str, object] = {"copies": 3, "workers": 1,
                                   "augment": AugmentConfig(rotation_range=30, zoom_range=0.3)}
    settings.update(kw)
    return ExpandConfig(src=src, out=out, **settings)  # type: ignore[arg-type]


def test_a_full_disk_stops_the_run_cleanly_and_it_resumes(samples_train: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    expand_dataset(_config(samples_train, tmp_path / "reference"))
    real_write = storage.write_atomic
    calls = {"n": 0}

    def failing_write(path: Path | str, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 40:
            # what a real full disk does: the temporary file is begun, then the write fails
            Path(f"{path}{storage.TEMP_SUFFIX}").write_bytes(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(storage, "write_atomic", failing_write)
    out = tmp_path / "out"
    with pytest.raises(OutputWriteError, match="No space left on device") as raised:
        expand_dataset(_config(samples_train, out))
    assert raised.value.exit_code == EXIT_FATAL
    assert not list(out.rglob(f"*{storage.TEMP_SUFFIX}"))
    assert not (out / "metadata.jsonl").exists()
    monkeypatch.setattr(storage, "write_atomic", real_write)
    summary = expand_dataset(_config(samples_train, out))
    assert summary.kept == 39  # 13 whole sources were journaled before the failure
    assert _outputs(out) == _outputs(tmp_path / "reference")


def test_not_enough_free_space_is_refused_before_any_work(samples_train: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(  # type: ignore[attr-defined]
        10**6, 10**6 - 1000, 1000))
    out = tmp_path / "out"
    assert not dry_run(_config(samples_train, out)).fits
    done = subprocess.run([sys.executable, "-c",
                           "import shutil, sys\n"
                           "shutil.disk_usage = lambda p: shutil._ntuple_diskusage(10**6, 0, 1000)\n"
                           "from expand.cli import main\nmain()",
                           str(samples_train), "--out", str(out), "--copies", "5"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 3 and "free some space" in done.stderr
    assert not list(out.glob("*/*"))


def test_dry_run_writes_nothing(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "expand", str(samples_train), "--out", str(out),
                           "--copies", "4", "--dry-run", "--json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["to_write"] == 45 * 4
    assert report["to_write_per_class"] == {"circle": 60, "rectangle": 60, "triangle": 60}
    assert 45 * 4 * 300 < report["estimated_bytes"] < 45 * 4 * 3000 and report["fits"]
    assert not out.exists()


def test_raising_copies_writes_only_the_new_ones(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    expand_dataset(_config(samples_train, out, copies=3))
    before = _finished(out)
    summary = expand_dataset(_config(samples_train, out, copies=5))
    after = _finished(out)
    images_before = {k: v for k, v in before.items() if "__aug" in k}
    assert {k: after[k] for k in images_before} == images_before
    new = set(after) - set(before)
    assert len(new) == 45 * 2 and all(k.endswith(("__aug0003.png", "__aug0004.png")) for k in new)
    assert summary.images_written == 45 * 2
    expand_dataset(_config(samples_train, tmp_path / "fresh", copies=5))
    assert _outputs(out) == _outputs(tmp_path / "fresh")


def test_adding_a_source_writes_only_its_copies(samples_train: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    out = tmp_path / "out"
    expand_dataset(_config(src, out))
    before = _finished(out)
    Image.new("RGB", (24, 24), "white").save(src / "triangle" / "triangle099.png")
    summary = expand_dataset(_config(src, out))
    after = _finished(out)
    new = set(after) - set(before)
    assert new == {f"triangle/triangle099.png__aug000{k}.png" for k in range(3)}
    assert summary.images_written == 3
    assert {k: after[k] for k in before if "__aug" in k} == \
        {k: v for k, v in before.items() if "__aug" in k}


def test_fewer_copies_and_removed_sources_are_kept_unless_pruned(samples_train: Path,
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    out = tmp_path / "out"
    expand_dataset(_config(src, out, copies=4))
    (src / "circle" / "circle001.png").unlink()
    summary = expand_dataset(_config(src, out, copies=2))
    assert summary.orphans_kept == 44 * 2 + 4
    assert any("--prune" in w for w in summary.warnings)
    rows = [json.loads(line) for line in (out / "metadata.jsonl").open()]
    assert len(rows) == len(list(out.glob("*/*.png"))) == 45 * 4
    summary = expand_dataset(_config(src, out, copies=2, prune=True))
    assert summary.pruned == 44 * 2 + 4
    expand_dataset(_config(src, tmp_path / "fresh", copies=2))
    assert _outputs(out) == _outputs(tmp_path / "fresh")


def _stopped_mid_run(src: Path, out: Path, monkeypatch: pytest.MonkeyPatch, copies: int,
                     journaled: int, per_task: int | None = None) -> set[str]:
    """Stop a run as Ctrl-C stops a task in flight: after `journaled` tasks were recorded (each
    of `per_task` outputs; default `copies`, a source a task), the next one's outputs are written
    but never journaled. Returns those outputs' names."""
    real_add = Journal.add
    calls = {"n": 0}

    def add(journal: Journal, rows: list[Row]) -> None:
        calls["n"] += 1
        if calls["n"] > journaled:
            raise KeyboardInterrupt
        real_add(journal, rows)

    monkeypatch.setattr(Journal, "add", add)
    with pytest.raises(KeyboardInterrupt):
        expand_dataset(_config(src, out, copies=copies))
    monkeypatch.setattr(Journal, "add", real_add)
    recorded = {row["file_name"] for line in (out / JOURNAL).open()
                for row in json.loads(line).get("rows", [])}
    assert len(recorded) == journaled * (per_task or copies)
    assert not (out / "metadata.jsonl").exists()
    return {p.relative_to(out).as_posix() for p in out.glob("*/*.png")} - recorded


def test_a_source_stopped_between_its_tasks_resumes_where_its_journal_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source split into tasks is journaled task by task: stopped after its first task was
    recorded (the second's files written, not recorded), the rerun makes only the copies the
    journal lacks, and DIR ends as a run that was never stopped."""
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(src / "a" / "one.png")
    copies = 2 * COPIES_PER_TASK + 10
    in_flight = _stopped_mid_run(src, out, monkeypatch, copies, journaled=1,
                                 per_task=COPIES_PER_TASK)
    assert len(in_flight) == COPIES_PER_TASK  # the second task's files, written, not recorded
    summary = expand_dataset(_config(src, out, copies=copies))
    assert summary.exit_code == 0 and summary.images_written == copies - COPIES_PER_TASK
    expand_dataset(_config(src, tmp_path / "fresh", copies=copies))
    assert _outputs(out) == _outputs(tmp_path / "fresh")


@pytest.mark.parametrize("prune", [False, True])
def test_outputs_a_stopped_run_never_recorded_are_removed_with_or_without_prune(
        samples_train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prune: bool) -> None:
    out = tmp_path / "out"
    in_flight = _stopped_mid_run(samples_train, out, monkeypatch, copies=4, journaled=5)
    source = "circle/circle006.png"
    assert in_flight == {f"{source}__aug000{k}.png" for k in range(4)}
    before = _finished(out)
    summary = expand_dataset(_config(samples_train, out, copies=2, prune=prune))
    # Recorded copies no longer asked for follow --prune; unrecorded ones are removed either way.
    assert summary.unrecorded_removed == 2
    assert summary.pruned == (5 * 2 if prune else 0)
    assert summary.orphans_kept == (0 if prune else 5 * 2)
    assert any("no manifest or journal row records" in w for w in summary.warnings)
    rows = {json.loads(line)["file_name"] for line in (out / "metadata.jsonl").open()}
    assert rows == {p.relative_to(out).as_posix() for p in out.glob("*/*.png")}
    assert not {f"{source}__aug0002.png", f"{source}__aug0003.png"} & rows
    kept = [f"{source}__aug0000.png", f"{source}__aug0001.png"]  # rewritten in place: same bytes
    assert {k: _finished(out)[k] for k in kept} == {k: before[k] for k in kept}
    expand_dataset(_config(samples_train, tmp_path / "fresh", copies=2))
    fresh = _outputs(tmp_path / "fresh")
    if prune:
        assert _outputs(out) == fresh
    else:
        images = {k: v for k, v in _outputs(out).items() if k.endswith(".png")}
        assert {k: images[k] for k in fresh if k.endswith(".png")} == \
            {k: v for k, v in fresh.items() if k.endswith(".png")}
        assert len(images) == 45 * 2 + 5 * 2


def test_only_unrecorded_files_named_like_outputs_are_removed(
        samples_train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    _stopped_mid_run(samples_train, out, monkeypatch, copies=3, journaled=2)
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not ours")
    foreign = ["circle/notes.txt", "circle/circle001.png__aug0009.png.bak",
               "circle/circle001.png__aug00009.png", "circle/circle001.png__aug0009.gif",
               "circle/.circle001.png__aug0009.png", ".cache/circle/circle001.png__aug0009.png",
               "top.png__aug0009.png"]
    for name in foreign:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"someone else's")
    link = out / "circle" / "linked.png__aug0009.png"
    link.symlink_to(outside)
    ours = ["circle/gone.png__aug0000.png", "circle/sub/gone.jpg__orig.jpg",
            "triangle/triangle001.png__aug0007.webp"]
    for name in ours:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"left by a stopped run")
    summary = expand_dataset(_config(samples_train, out, copies=3))
    assert summary.unrecorded_removed == len(ours)  # circle003's are written again
    assert not any((out / name).exists() for name in ours)
    assert all((out / name).read_bytes() == b"someone else's" for name in foreign)
    assert link.is_symlink()
    assert outside.read_bytes() == b"not ours"
    expand_dataset(_config(samples_train, tmp_path / "fresh", copies=3))
    untouched = [*foreign, link.relative_to(out).as_posix()]
    assert {k: v for k, v in _outputs(out).items() if k not in untouched} == \
        _outputs(tmp_path / "fresh")


def test_a_source_folder_inside_dir_is_never_swept(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    expand_dataset(_config(samples_train, out, copies=2))
    src = out / "again"  # an earlier expansion used as a source, inside DIR
    shutil.copytree(out / "circle", src / "circle")
    (src / "circle" / "notes.part").write_text("the user's, named like a temporary file")
    before = snapshot(src)
    # another SRC is judged by its sources (all new here): the earlier ones' outputs are kept
    assert expand_dataset(_config(src, out, copies=1)).orphans_kept == 45 * 2
    assert snapshot(src) == before
    summary = expand_dataset(_config(src, out, copies=1, rebuild=True))
    assert snapshot(src) == before
    assert summary.unrecorded_removed == 0 and summary.images_written == 30
    assert {p.relative_to(out).as_posix() for p in out.glob("circle/*.png")} == \
        {f"circle/{name}__aug0000.png" for name in os.listdir(src / "circle")
         if name.endswith(".png")}


def test_a_malformed_manifest_is_refused_and_rebuild_leaves_what_it_cannot_read(
        samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    expand_dataset(_config(samples_train, out, copies=4))
    (out / "metadata.jsonl").write_text("{not json\n")
    before = _outputs(out)
    with pytest.raises(StateError, match=r"metadata\.jsonl:1: not a JSON line; .*--rebuild"):
        expand_dataset(_config(samples_train, out, copies=2))
    assert _outputs(out) == before
    summary = expand_dataset(_config(samples_train, out, copies=2, rebuild=True))
    assert summary.unrecorded_removed == 0
    assert any("set aside" in w for w in summary.warnings)
    assert len(list(out.glob("*/*.png"))) == 45 * 4  # what it recorded is unknown: kept
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 45 * 2


def test_a_change_that_alters_outputs_is_refused_unless_rebuilt(samples_train: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    expand_dataset(_config(samples_train, out))
    done = subprocess.run([sys.executable, "-m", "expand", str(samples_train), "--out", str(out),
                           "--copies", "3", "--rotation-range", "30", "--zoom-range", "0.3",
                           "--seed", "5", "--workers", "1"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "seed differ" in done.stderr and "--rebuild" in done.stderr
    expand_dataset(_config(samples_train, out, seed=5, rebuild=True))
    expand_dataset(_config(samples_train, tmp_path / "fresh", seed=5))
    assert _outputs(out) == _outputs(tmp_path / "fresh")


def test_a_second_run_at_the_same_time_is_refused(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = subprocess.Popen(_command(samples_train, out, "--copies", "100"),
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / ".expand.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(_command(samples_train, out), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    assert first.wait(timeout=300) == 0
    assert second.returncode == 3 and "another expand run is writing here" in second.stderr
