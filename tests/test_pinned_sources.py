"""Sources are pinned by their SHA-256: a changed source is never mixed into DIR, and SRC is the
same SRC by its content, however its path is typed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import DatasetLayoutError
from expand.run.runner import RunSummary, expand_dataset
from expand.run.state import JOURNAL
from expand.tools.replay import Replayed, load_run, replay
from tests.conftest import snapshot

AUGMENT = AugmentConfig(rotation_range=20, zoom_range=0.2, horizontal_flip=True)
CHANGED = "circle/circle001.png"


def _run(src: Path, out: Path, **kw: object) -> RunSummary:
    settings: dict[str, object] = {"copies": 2, "augment": AUGMENT, "workers": 1}
    settings.update(kw)
    return expand_dataset(ExpandConfig(src=src, out=out, **settings))  # type: ignore[arg-type]


def _outputs(out: Path) -> dict[str, str]:
    """DIR's files but run.json (it keeps SRC as given) and the run's own lock and journal."""
    return {k: v for k, v in snapshot(out).items()
            if not k.startswith(".expand") and k != "run.json"}


def _replay_all(out: Path, src: Path | None = None) -> list[Replayed]:
    return list(replay(load_run(out, src), None))


def _replace(path: Path, colour: str = "purple") -> None:
    """Another picture under the same name (same size, so that nothing but its bytes differ)."""
    with Image.open(path) as old:
        size = old.size
    picture = Image.new("RGB", size, "white")
    picture.paste(Image.new("RGB", (size[0] // 2, size[1] // 2), colour), (2, 2))
    picture.save(path)


@pytest.fixture
def src(samples_train: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "work" / "src"
    shutil.copytree(samples_train, copy)
    return copy


def test_a_replaced_source_has_its_copies_made_again_and_replays(src: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(src, out, copies=2)
    _replace(src / CHANGED)
    summary = _run(src, out, copies=4)
    assert summary.changed == (CHANGED,) and summary.exit_code == 0
    assert f"{CHANGED} changed since the last run: its 4 copies were made again" \
        in summary.warnings
    assert summary.images_written == 44 * 2 + 4 and summary.kept == 44 * 2
    _run(src, tmp_path / "fresh", copies=4)
    assert _outputs(out) == _outputs(tmp_path / "fresh")
    assert all(r.ok for r in _replay_all(out))


def test_fewer_copies_of_a_replaced_source_leave_none_of_its_old_ones(src: Path,
                                                                      tmp_path: Path) -> None:
    """Copies no longer asked for are kept as orphans (without --prune), but not those of a
    source that changed: they could never be made again from it."""
    out = tmp_path / "out"
    _run(src, out, copies=3, include_originals=True)
    _replace(src / CHANGED)
    summary = _run(src, out, copies=1, include_originals=True)
    assert f"{CHANGED} changed since the last run: its 1 copy and original were made again" \
        in summary.warnings
    assert summary.orphans_kept == 44 * 2
    assert not list((out / "circle").glob("circle001.png__aug000[12].png"))
    assert all(r.ok for r in _replay_all(out))


def test_replay_names_a_changed_source_as_the_reason(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(src, out)
    _replace(src / CHANGED)
    failed = [r for r in _replay_all(out) if not r.ok]
    assert sorted(r.file_name for r in failed) == [f"{CHANGED}__aug000{k}.png" for k in (0, 1)]
    assert all(f"its source {CHANGED} changed since the run" in r.explain() for r in failed)
    done = subprocess.run([sys.executable, "-m", "expand", "replay", str(out), "--all", "-q"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"its source {CHANGED} changed since the run" in done.stderr


def test_a_source_changed_into_a_bad_file_leaves_none_of_its_outputs(src: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(src, out)
    (src / CHANGED).write_bytes(b"not an image any more")
    summary = _run(src, out)
    assert summary.exit_code == 1 and [s.source for s in summary.skipped] == [CHANGED]
    assert f"{CHANGED} changed since the last run: its earlier outputs were removed (it is " \
        "skipped now)" in summary.warnings
    assert not list((out / "circle").glob("circle001.png__*"))
    assert all(r.ok for r in _replay_all(out))


def _journaled(out: Path) -> list[str]:
    """The sources the journal of a stopped run records, complete lines only."""
    try:
        text = (out / JOURNAL).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # the last may be cut short
    return [row["source"] for line in lines[2:] for row in json.loads(line)["rows"]]


@pytest.mark.slow
def test_a_source_replaced_between_a_kill_and_the_resume_is_made_again(
        src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "expand", str(src), "--out", str(out), "--copies", "60",
               "--rotation-range", "20", "--zoom-range", "0.2", "--horizontal-flip",
               "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(set(_journaled(out))) < 3 and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "metadata.jsonl").exists(), "the kill should land in the middle of the run"
    victim = _journaled(out)[0]
    _replace(src / victim)
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert f"{victim} changed since the last run: its 60 copies were made again" in done.stderr
    subprocess.run([*command[:5], str(tmp_path / "fresh"), *command[6:]], check=True,
                   timeout=300, stdin=subprocess.DEVNULL)
    assert _outputs(out) == _outputs(tmp_path / "fresh")
    replayed = subprocess.run([sys.executable, "-m", "expand", "replay", str(out), "--all", "-q"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              check=False)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (0, "", "")


def test_the_same_src_typed_another_way_is_the_same_src(
        src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    _run(src.resolve(), out)
    expected = _outputs(out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, given in ((src.parent, Path("src")), (elsewhere, Path("../work/src")),
                       (src, Path("."))):
        monkeypatch.chdir(cwd)
        summary = _run(given, out)
        assert (summary.kept, summary.images_written, summary.changed) == (45 * 2, 0, ())
        assert _outputs(out) == expected
        # run.json keeps SRC as given, never resolved
        assert json.loads((out / "run.json").read_text())["config"]["src"] == str(given)


def test_another_folder_of_the_same_name_is_rebuilt_where_it_differs(
        src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from two working folders, `src` names two datasets: the sources they share (same
    path, same bytes) keep their copies; the others are made again; those only in the first
    are kept as orphans, or removed by --prune."""
    other = tmp_path / "other" / "src"
    shutil.copytree(src, other)
    _replace(other / CHANGED)
    (other / "triangle" / "triangle001.png").unlink()
    out = tmp_path / "out"
    monkeypatch.chdir(src.parent)
    _run(Path("src"), out)
    monkeypatch.chdir(other.parent)
    summary = _run(Path("src"), out, prune=True)
    assert summary.changed == (CHANGED,) and summary.pruned == 2
    assert summary.kept == 43 * 2 and summary.images_written == 2
    _run(other, tmp_path / "fresh")
    assert _outputs(out) == _outputs(tmp_path / "fresh")
    assert all(r.ok for r in _replay_all(out, other))


def _as_schema_1(out: Path) -> None:
    """Make DIR what the version before pinning wrote: rows without `source_sha256`, run.json
    with manifest_schema 1 (checked, byte for byte, against that version's own output)."""
    rows = [json.loads(line) for line in (out / "metadata.jsonl").open(encoding="utf-8")]
    (out / "metadata.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in row.items() if k != "source_sha256"},
                           ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    run["manifest_schema"] = 1
    (out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True, ensure_ascii=False)
                                  + "\n", encoding="utf-8")


def test_a_dir_of_the_previous_schema_is_updated_and_gets_its_hashes(src: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(src, out, copies=2)
    _as_schema_1(out)
    assert all(r.ok for r in _replay_all(out))  # replay reads schema 1
    (src / "triangle" / "triangle001.png").unlink()  # a gone source: its hash is unknown
    done = subprocess.run([sys.executable, "-m", "expand", str(src), "--out", str(out),
                           "--copies", "3", "--rotation-range", "20", "--zoom-range", "0.2",
                           "--horizontal-flip", "--workers", "1", "--quiet"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    notices = [line for line in done.stderr.splitlines() if "pinned" in line]
    assert notices == [(f"expand: warning: {out}: made before sources were pinned (manifest "
                        "schema 1): the SHA-256 of its 44 sources is recorded now")]
    rows = {r["file_name"]: r for r in map(json.loads, (out / "metadata.jsonl").open())}
    assert rows["triangle/triangle001.png__aug0000.png"]["source_sha256"] is None
    assert json.loads((out / "run.json").read_text())["manifest_schema"] == 2
    # pinned now: exactly what a fresh run writes (the gone source's copies aside)
    _run(src, tmp_path / "fresh", copies=3)
    images = {k: v for k, v in _outputs(out).items() if k != "metadata.jsonl"}
    assert {k: v for k, v in images.items() if "triangle001" not in k} == \
        {k: v for k, v in _outputs(tmp_path / "fresh").items() if k != "metadata.jsonl"}
    fresh = {r["file_name"]: r for r in map(json.loads,
                                            (tmp_path / "fresh" / "metadata.jsonl").open())}
    assert {k: v for k, v in rows.items() if "triangle001" not in k} == fresh
    # and from now on a changed source is caught
    _replace(src / CHANGED)
    assert _run(src, out, copies=3).changed == (CHANGED,)


def test_a_dir_of_the_previous_schema_still_needs_src_as_it_was_given(src: Path,
                                                                      tmp_path: Path) -> None:
    """Without hashes nothing tells whether another SRC holds the same sources: until its first
    run of this version has recorded them, such a DIR is compared by SRC as typed."""
    out = tmp_path / "out"
    _run(src, out)
    _as_schema_1(out)
    with pytest.raises(DatasetLayoutError, match="src differ"):
        _run(src / ".." / "src", out)
    _run(src, out)
    assert _run(src / ".." / "src", out).kept == 45 * 2
