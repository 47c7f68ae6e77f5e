"""Issue 20's containment findings, each as a guarantee: what DIR records is checked before
anything changes, nothing outside DIR is written or deleted, only the tool's own temporaries are
swept, and malformed state gets one line (FILE:LINE) instead of a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import EXIT_USAGE, DatasetLayoutError, ExpandError
from expand.io.storage import LocalStore
from expand.run.layout import JOURNAL
from expand.run.runner import expand_dataset
from expand.tools.inspection import inspect_output
from expand.tools.replay import load_run, replay
from tests.conftest import snapshot


def _source_tree(root: Path) -> Path:
    rng = np.random.default_rng(7)
    for label in ("circle", "square"):
        (root / label).mkdir(parents=True)
        for index in range(2):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{label}{index}.png")
    return root


def _config(src: Path, out: Path, **kw: Any) -> ExpandConfig:
    settings_: dict[str, Any] = {"copies": 2, "workers": 1,
                                 "augment": AugmentConfig(rotation_range=20, zoom_range=0.2)}
    settings_.update(kw)
    return ExpandConfig(src=src, out=out, **settings_)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *map(str, args)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)


def _one_line_refusal(done: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and pattern in lines[0], done.stderr


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, Path]:
    """SRC, and DIR holding a finished run of 2 copies of its 4 sources."""
    src = _source_tree(tmp_path / "src")
    out = tmp_path / "work" / "out"
    expand_dataset(_config(src, out))
    return src, out


def _append(path: Path, value: Any) -> int:
    """Append a JSON line; its line number."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(value) + "\n")
    return len(path.read_text(encoding="utf-8").splitlines())


def _first_row(out: Path) -> dict[str, Any]:
    row: dict[str, Any] = json.loads((out / "metadata.jsonl").read_text().splitlines()[0])
    return row


@pytest.mark.parametrize("name", ["../victim.txt", "ABSOLUTE", "circle/../../victim.txt"])
@pytest.mark.parametrize("flags", [["--prune"], []])
def test_finding_1_a_manifest_row_outside_dir_is_refused_and_nothing_outside_is_deleted(
        made: tuple[Path, Path], name: str, flags: list[str]) -> None:
    src, out = made
    victim = out.parent / "victim.txt"
    victim.write_text("hours of work")
    name = str(victim) if name == "ABSOLUTE" else name
    line = _append(out / "metadata.jsonl", {**_first_row(out), "file_name": name})
    before = snapshot(out.parent)
    done = _cli(src, "--out", out, "--copies", "1", "--rotation-range", "20", "--zoom-range",
                "0.2", "--workers", "1", *flags)
    _one_line_refusal(done, f"metadata.jsonl:{line}: file_name {name!r} is outside DIR")
    assert "--rebuild" in done.stderr
    assert snapshot(out.parent) == before  # DIR and its neighbours byte-identical


def test_finding_1_rebuild_and_prune_set_a_hostile_row_aside_and_keep_the_file_outside(
        made: tuple[Path, Path]) -> None:
    src, out = made
    victim = out.parent / "victim.txt"
    victim.write_text("hours of work")
    _append(out / "metadata.jsonl", {**_first_row(out), "file_name": "../victim.txt"})
    summary = expand_dataset(_config(src, out, copies=1, rebuild=True, prune=True))
    assert victim.read_text() == "hours of work"
    assert any("set aside" in warning for warning in summary.warnings)
    names = [json.loads(line)["file_name"] for line in (out / "metadata.jsonl").open()]
    assert len(names) == 4 and all(".." not in name for name in names)


def test_finding_1_a_journal_row_outside_dir_is_refused_on_resume(made: tuple[Path, Path]) -> None:
    src, out = made
    victim = out.parent / "victim.txt"
    victim.write_text("hours of work")
    # What a killed run leaves: the journal (header, then rows), no manifest, no run.json.
    config = json.loads((out / "run.json").read_text())["config"]
    rows = [json.loads(line) for line in (out / "metadata.jsonl").open()]
    (out / JOURNAL).write_text(json.dumps({"journal": 1, "config": config}) + "\n"
                               + json.dumps({"rows": rows[:3]}) + "\n")
    (out / "metadata.jsonl").unlink()
    (out / "run.json").unlink()
    line = _append(out / JOURNAL, {"rows": [{**rows[3], "file_name": "../victim.txt"}]})
    before = snapshot(out.parent)
    done = _cli(src, "--out", out, "--copies", "1", "--rotation-range", "20", "--zoom-range",
                "0.2", "--workers", "1", "--prune")
    _one_line_refusal(done, f"{JOURNAL}:{line}: file_name '../victim.txt' is outside DIR")
    assert snapshot(out.parent) == before


def test_finding_1_the_store_itself_never_deletes_or_writes_outside_its_root(
        tmp_path: Path) -> None:
    root = tmp_path / "dir"
    (root / "c").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (outside / "x.png").write_bytes(b"keep")
    store = LocalStore(root)
    for rel in ("../victim.txt", str(victim), "c/../../victim.txt", "linked/x.png"):
        with pytest.raises(PermissionError):
            store.remove(rel)
    with pytest.raises(PermissionError):
        store.write("linked/new.png", b"data")
    assert victim.read_text() == "keep" and sorted(os.listdir(outside)) == ["x.png"]


def test_finding_11_a_class_folder_replaced_by_a_symlink_is_refused(
        made: tuple[Path, Path]) -> None:
    src, out = made
    elsewhere = out.parent / "elsewhere"
    shutil.move(out / "circle", elsewhere)
    (out / "circle").symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(elsewhere)
    for copies in ("1", "3"):  # a prune deletes, an increase writes
        done = _cli(src, "--out", out, "--copies", copies, "--rotation-range", "20",
                    "--zoom-range", "0.2", "--workers", "1", "--prune")
        _one_line_refusal(done, f"{out / 'circle'}: is a symbolic link")
    with pytest.raises(DatasetLayoutError, match="symbolic link"):
        expand_dataset(_config(src, out, copies=3, rebuild=True, prune=True))
    assert snapshot(elsewhere) == before


def test_finding_9_only_the_tools_own_temporaries_are_swept(made: tuple[Path, Path]) -> None:
    src, out = made
    users = ["notes/thesis.docx.part", ".git/objects/pack.part", "circle/mine.part",
             "circle/circle0.png__aug0000.jpg.txt.part", ".expand-notes.part"]
    ours = ["circle/circle0.png__aug0007.png.part", "metadata.jsonl.part", "run.json.part",
            f"{JOURNAL}.part"]
    for rel in users + ours:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"partial")
    expand_dataset(_config(src, out))
    assert all((out / rel).read_bytes() == b"partial" for rel in users)
    assert not any((out / rel).exists() for rel in ours)


def test_a_spool_folder_left_by_a_kill_is_removed_by_the_next_run(made: tuple[Path, Path]) -> None:
    src, out = made
    left = out / ".expand-spool-abc123"
    left.mkdir()
    (left / "run000000.jsonl").write_text("{}\n")
    mixed = out / ".expand-spool-def456"
    mixed.mkdir()
    (mixed / "run000000.jsonl").write_text("{}\n")
    (mixed / "mine.txt").write_text("a user's")
    expand_dataset(_config(src, out))
    assert not left.exists()
    assert sorted(os.listdir(mixed)) == ["mine.txt"]


def _rewrite_first(out: Path, change: Any) -> None:
    lines = (out / "metadata.jsonl").read_text().splitlines()
    lines[0] = change(lines[0])
    (out / "metadata.jsonl").write_text("\n".join(lines) + "\n")


def _row_edit(edit: Any) -> Any:
    def change(line: str) -> str:
        row = json.loads(line)
        edit(row)
        return json.dumps(row)
    return change


MALFORMED: dict[str, Any] = {
    "row without source": _row_edit(lambda row: row.pop("source")),
    "copy abc": _row_edit(lambda row: row.update(copy="abc")),
    "a list row": lambda line: json.dumps([1, 2]),
    "null file_name": _row_edit(lambda row: row.update(file_name=None)),
    "bytes x": _row_edit(lambda row: row.update(bytes="x")),
    "garbage line": lambda line: "garbage {",
    "params hello": _row_edit(lambda row: row.update(params="hello")),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_finding_8_a_malformed_manifest_row_gets_one_line_in_run_replay_and_inspect(
        made: tuple[Path, Path], case: str, tmp_path: Path) -> None:
    src, out = made
    _rewrite_first(out, MALFORMED[case])
    before = snapshot(out)
    commands: list[list[str | Path]] = [
        ["replay", out, "--all", "--src", src],
        ["inspect", out, "--out", tmp_path / "sheet.png"],
    ]
    if case != "params hello":  # a run does not read params: it replays nothing
        commands.append([src, "--out", out, "--copies", "2", "--rotation-range", "20",
                         "--zoom-range", "0.2", "--workers", "1"])
    for command in commands:
        done = _cli(*command)
        _one_line_refusal(done, f"{out / 'metadata.jsonl'}:1: ")
    assert snapshot(out) == before


@pytest.mark.parametrize("case", ["config hello", "missing manifest", "manifest a folder"])
def test_finding_8_malformed_run_json_and_manifest_files_get_one_line(
        made: tuple[Path, Path], case: str, tmp_path: Path) -> None:
    src, out = made
    if case == "config hello":
        record = json.loads((out / "run.json").read_text())
        (out / "run.json").write_text(json.dumps({**record, "config": "hello"}))
        named = "run.json"
    else:
        (out / "metadata.jsonl").unlink()
        if case == "manifest a folder":
            (out / "metadata.jsonl").mkdir()
        named = "metadata.jsonl"
    commands: list[list[str | Path]] = [
        ["replay", out, "--all", "--src", src],
        ["inspect", out, "--out", tmp_path / "sheet.png"]]
    if case != "missing manifest":  # a run recovers from that one: it checks every file
        commands.append([src, "--out", out, "--copies", "2", "--rotation-range", "20",
                         "--zoom-range", "0.2", "--workers", "1"])
    before = snapshot(out)
    for command in commands:
        done = _cli(*command)
        _one_line_refusal(done, f"{out / named}")
    assert snapshot(out) == before


def test_finding_8_a_lock_that_cannot_be_opened_is_one_line_exit_3(made: tuple[Path, Path]) -> None:
    src, out = made
    (out / ".expand.lock").unlink(missing_ok=True)
    (out / ".expand.lock").mkdir()  # what a read-only DIR gives root: the lock cannot be opened
    done = _cli(src, "--out", out, "--copies", "2", "--rotation-range", "20", "--zoom-range",
                "0.2", "--workers", "1")
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and ".expand.lock" in done.stderr


# A property: whatever a hostile or careless edit does to DIR's records, no operation changes a
# file outside DIR or ends in anything but a result or an ExpandError; a refusal (exit 2) names the
# file, and leaves DIR as it was.

HOSTILE_VALUES = ["../sentinel/keep.txt", "SENTINEL", "circle/../../sentinel/keep.txt", ".git/x",
                  "circle", None, 5, [], {}, "abc", -1, True, "", "circle/circle0.png"]
FIELDS = ["file_name", "source", "label", "copy", "bytes", "sha256", "params", "width", "mode",
          "source_sha256"]


@st.composite
def _edits(draw: st.DrawFn) -> list[tuple[str, Any]]:
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "drop", "truncate", "garbage", "run", "extra"]))
        if kind == "field":
            edits.append((kind, (draw(st.sampled_from(FIELDS)),
                                 draw(st.sampled_from(HOSTILE_VALUES)), draw(st.integers(0, 7)))))
        elif kind == "drop":
            edits.append((kind, (draw(st.sampled_from(FIELDS)), draw(st.integers(0, 7)))))
        elif kind in ("truncate", "garbage"):
            edits.append((kind, draw(st.floats(0, 1))))
        elif kind == "run":
            edits.append((kind, (draw(st.sampled_from(["config", "tool", "augment", "seed"])),
                                 draw(st.sampled_from(HOSTILE_VALUES)))))
        else:
            edits.append((kind, (draw(st.sampled_from(FIELDS)),
                                 draw(st.sampled_from(HOSTILE_VALUES)))))
    return edits


def _apply(out: Path, sentinel: Path, records: str, edits: list[tuple[str, Any]]) -> None:
    path = out / records
    lines = path.read_text().splitlines()
    rows_at = 1 if records == JOURNAL else 0  # the journal's first line is its header

    def rows() -> list[dict[str, Any]]:
        if records == JOURNAL:
            found: list[dict[str, Any]] = json.loads(lines[rows_at])["rows"]
            return found
        return [json.loads(line) for line in lines]

    def put(found: list[dict[str, Any]]) -> None:
        if records == JOURNAL:
            lines[rows_at] = json.dumps({"rows": found})
        else:
            lines[:] = [json.dumps(row) for row in found]

    def real(value: Any) -> Any:
        return str(sentinel / "keep.txt") if value == "SENTINEL" else value

    # Row edits first: text edits (truncation, garbage) leave lines that are not rows.
    for kind, arg in sorted(edits, key=lambda edit: edit[0] in ("truncate", "garbage")):
        if kind in ("field", "drop", "extra"):
            found = rows()
            if kind == "extra":
                found.append({**found[0], arg[0]: real(arg[1])})
            elif kind == "field":
                found[arg[2] % len(found)][arg[0]] = real(arg[1])
            else:
                found[arg[1] % len(found)].pop(arg[0], None)
            put(found)
        elif kind == "truncate":
            text = "\n".join(lines)
            lines = text[:int(len(text) * arg)].split("\n")
        elif kind == "garbage":
            lines.insert(int(len(lines) * arg), "garbage {")
        elif kind == "run":
            record = json.loads((out / "run.json").read_text())
            if arg[0] in ("config", "tool"):
                record[arg[0]] = real(arg[1])
            elif isinstance(record["config"], dict):
                record["config"][arg[0]] = real(arg[1])
            (out / "run.json").write_text(json.dumps(record))
    path.write_text("".join(line + "\n" for line in lines))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pristine")
    src = _source_tree(root / "src")
    out = root / "out"
    expand_dataset(_config(src, out))
    return src, out


@pytest.mark.slow
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_edits(), records=st.sampled_from(["metadata.jsonl", JOURNAL]),
       operation=st.sampled_from(["run", "resume", "prune", "rebuild", "rebuild-prune",
                                  "replay", "inspect"]))
def test_no_edit_of_dirs_records_reaches_outside_dir_or_ends_in_a_traceback(
        pristine: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory,
        edits: list[tuple[str, Any]], records: str, operation: str) -> None:
    src, made_out = pristine
    root = tmp_path_factory.mktemp("case")
    out = root / "out"
    shutil.copytree(made_out, out, symlinks=True)
    sentinel = root / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("a user's file")
    (sentinel / "circle").mkdir()
    (sentinel / "circle" / "circle0.png__aug0000.png").write_bytes(b"not DIR's")
    if records == JOURNAL:  # a killed run's state: the journal, no manifest
        config = json.loads((out / "run.json").read_text())["config"]
        rows = [json.loads(line) for line in (out / "metadata.jsonl").open()]
        (out / JOURNAL).write_text(json.dumps({"journal": 1, "config": config}) + "\n"
                                   + json.dumps({"rows": rows}) + "\n")
        (out / "metadata.jsonl").unlink()
    _apply(out, sentinel, records, edits)
    outside, before = snapshot(sentinel), snapshot(out)
    try:
        if operation in ("replay", "inspect"):
            run = load_run(out, src)
            if operation == "replay":
                list(replay(run, None))
            else:
                inspect_output(run, 2, 48)
        else:
            expand_dataset(_config(src, out, copies=1 if "prune" in operation else 2,
                                   prune="prune" in operation,
                                   rebuild=operation.startswith("rebuild")))
    except ExpandError as exc:
        assert exc.exit_code == EXIT_USAGE, exc
        assert str(exc).startswith(str(out)), exc  # the file is named
        assert snapshot(out) == before  # a refusal changes nothing
    assert snapshot(sentinel) == outside
