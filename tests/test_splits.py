"""Splits on disk (`expand SRC --out DIR --val F [--test F]`): each source on one side only,
stable when sources are added, resumable after a kill, and read by `train fit` as a split."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from expand.cli import app
from expand.errors import ConfigError
from expand.run.splits import Split, side
from tests.conftest import SAMPLES, snapshot

runner = CliRunner()
ARGS = ["--copies", "3", "--rotation-range", "10", "--workers", "1", "--quiet"]


def _split(src: Path, out: Path, *extra: str) -> int:
    result = runner.invoke(app, ["run", str(src), "--out", str(out), *ARGS, *extra])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code


def _sources(part: Path) -> dict[str, set[str]]:
    """Source -> its files, read from the part's manifest."""
    found: dict[str, set[str]] = {}
    for line in (part / "metadata.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        found.setdefault(row["source"], set()).add(row["file_name"])
    return found


def _parts(out: Path) -> dict[str, dict[str, set[str]]]:
    return {p.name: _sources(p) for p in sorted(out.iterdir()) if p.is_dir()}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    copy = tmp_path / "src"
    shutil.copytree(SAMPLES / "train", copy)
    return copy


def test_every_source_is_on_one_side_only_and_each_part_is_a_normal_output(
        src: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    _split(src, out, "--val", "0.2", "--test", "0.2")
    parts = _parts(out)
    assert sorted(parts) == ["test", "train", "val"]
    everything = [s for sources in parts.values() for s in sources]
    assert len(everything) == len(set(everything)) == 45  # every source, once
    for name, sources in parts.items():
        for source, files in sources.items():
            assert side(0, source, 0.2, 0.2) == name
            # copies only in train; one original elsewhere
            assert len(files) == (3 if name == "train" else 1), (name, source, files)
        run = json.loads((out / name / "run.json").read_text())
        assert run["config"]["split"] == {"part": name, "val": 0.2, "test": 0.2}
        # every class folder in every part, so that loaders number the classes alike
        assert sorted(p.name for p in (out / name).iterdir() if p.is_dir()) == \
            ["circle", "rectangle", "triangle"]
    # originals are the sources re-encoded with no augmentation: same pixels
    row = json.loads((out / "val" / "metadata.jsonl").read_text().splitlines()[0])
    with Image.open(out / "val" / row["file_name"]) as made, Image.open(src / row["source"]) as s:
        assert np.array_equal(np.asarray(made.convert("RGB")), np.asarray(s.convert("RGB")))
    assert row["copy"] is None and row["params"] is None


def test_adding_a_source_moves_no_other_source_and_keeps_every_file(
        src: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    _split(src, out, "--val", "0.3", "--test", "0.2")
    before_parts = _parts(out)
    before_files = {name: snapshot(out / name) for name in before_parts}
    for i in range(6):  # several additions: at least one lands in each part in expectation
        shutil.copy(src / "circle" / "circle001.png", src / "circle" / f"added_{i}.png")
    _split(src, out, "--val", "0.3", "--test", "0.2")
    after = _parts(out)
    for name, sources in before_parts.items():
        assert {s: after[name][s] for s in sources} == sources  # still there, same files
    moved = {s for name in after for s in after[name]} - \
        {s for name in before_parts for s in before_parts[name]}
    assert moved == {f"circle/added_{i}.png" for i in range(6)}
    for name, files in before_files.items():  # the earlier outputs are the same bytes
        now = snapshot(out / name)
        kept = {k: v for k, v in files.items()
                if k not in ("metadata.jsonl", "run.json")}
        assert {k: now[k] for k in kept} == kept


def test_the_side_is_a_function_of_seed_and_path_and_fractions_hold_in_expectation() -> None:
    paths = [f"c/{i:05d}.png" for i in range(20000)]
    counts = Counter(side(7, p, 0.2, 0.1) for p in paths)
    for name, fraction in (("val", 0.2), ("test", 0.1), ("train", 0.7)):
        sd = (len(paths) * fraction * (1 - fraction)) ** 0.5
        assert abs(counts[name] - fraction * len(paths)) < 4 * sd, counts
    assert [side(7, p, 0.2, 0.1) for p in paths[:50]] == [side(7, p, 0.2, 0.1) for p in paths[:50]]
    assert [side(7, p, 0.2, 0.1) for p in paths[:200]] != [side(8, p, 0.2, 0.1) for p in paths[:200]]


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.1), (0.6, 0.4), (1.2, 0.0), (-0.1, 0.0)])
def test_fractions_that_leave_nothing_are_refused(val: float, test: float) -> None:
    with pytest.raises(ConfigError):
        Split("train", val, test)


def test_other_fractions_and_stray_parts_are_refused_not_mixed(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    _split(src, out, "--val", "0.2", "--test", "0.2")
    result = runner.invoke(app, ["run", str(src), "--out", str(out), *ARGS, "--val", "0.3",
                                 "--test", "0.2"])
    assert result.exit_code == 2 and "split differ" in result.output
    result = runner.invoke(app, ["run", str(src), "--out", str(out), *ARGS, "--val", "0.2",
                                 "--rebuild"])
    assert result.exit_code == 2 and "test part of an earlier split" in result.output
    # a plain run into a part would mix the held-out sources into it
    result = runner.invoke(app, ["run", str(src), "--out", str(out / "train"), *ARGS])
    assert result.exit_code == 2 and "split differ" in result.output


def test_a_part_replays(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    _split(src, out, "--val", "0.2")
    for part in ("train", "val"):
        result = runner.invoke(app, ["replay", str(out / part), "--all", "--src", str(src),
                                     "--quiet"])
        assert result.exit_code == 0, result.output


def _command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "expand", str(src), "--out", str(out), "--copies", "20",
            "--rotation-range", "20", "--val", "0.2", "--test", "0.1", "--workers", "2",
            "--quiet"]


def test_sigkill_then_rerun_gives_the_same_bytes(src: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    reference = tmp_path / "reference"
    durations = []  # the shorter of two runs: one slowed by a busy machine puts kills after it
    for out in (reference, tmp_path / "timing"):
        started = time.monotonic()
        subprocess.run(_command(src, out), check=True, timeout=300, env=env)
        durations.append(time.monotonic() - started)
    duration = min(durations)
    expected = {k: v for k, v in snapshot(reference).items() if ".expand" not in k}
    chooser = random.Random(24)
    hits = 0
    for trial in range(3):
        out = tmp_path / f"trial{trial}"
        process = subprocess.Popen(_command(src, out), start_new_session=True, env=env,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(chooser.uniform(0.2, max(0.4, 0.9 * duration)))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        hits += not (out / "test" / "run.json").exists()  # stopped before the last part ended
        subprocess.run(_command(src, out), check=True, timeout=300, env=env,
                       stdin=subprocess.DEVNULL)
        assert {k: v for k, v in snapshot(out).items() if ".expand" not in k} == expected
    assert hits >= 1, "a kill should land in the middle of the split"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras's
def test_train_fit_on_the_split_folder_validates_on_val_counted_by_source(
        src: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="needs the train extra (TensorFlow)")
    from train.cli import app as train_app

    out = tmp_path / "split"
    _split(src, out, "--val", "0.3")
    val_sources = len(_sources(out / "val"))
    train_sources = len(_sources(out / "train"))
    result = runner.invoke(train_app, ["fit", str(out), "--out", str(tmp_path / "run"),
                                       "--epochs", "1", "--batch-size", "16", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["split"]["method"] == "val-dir"
    assert report["split"]["train_sources"] == train_sources
    assert report["validation"]["sources"] == val_sources
    assert report["validation"]["images"] == val_sources  # originals only: one file a source


def test_a_class_with_no_source_in_a_part_still_has_its_folder_and_is_warned_of(
        tmp_path: Path) -> None:
    src = tmp_path / "src"
    for label, count in (("big", 12), ("tiny", 1)):
        (src / label).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (16, 16), (20 * i, 0, 0)).save(src / label / f"{i}.png")
    tiny = side(0, "tiny/0.png", 0.3, 0.0)
    out = tmp_path / "split"
    result = runner.invoke(app, ["run", str(src), "--out", str(out), "--copies", "1",
                                 "--workers", "1", "--val", "0.3"])
    assert result.exit_code == 0, result.output
    empty = "val" if tiny == "train" else "train"
    assert (out / empty / "tiny").is_dir() and not any((out / empty / "tiny").iterdir())
    assert f"class tiny: no source in {empty}" in result.output
