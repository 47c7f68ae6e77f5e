"""Issue 20, the source side: what a hostile or careless SRC holds (FIFOs, devices, link loops,
names too long once suffixed, a SRC path that is not UTF-8, colour-keyed PNGs, unreadable and
linked class folders, stray non-image files) costs one line for that file, never the run."""

from __future__ import annotations

import errno
import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.io import storage
from expand.run.manifest import read_manifest
from expand.run.runner import RunSummary, expand_dataset


def _png(path: Path, colour: tuple[int, int, int] = (200, 40, 10), fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), colour).save(path, format=fmt)
    return path


def _src(root: Path) -> Path:
    src = root / "src"
    _png(src / "c" / "a.png")
    _png(src / "d" / "b.png", (10, 200, 40))
    return src


def _run(src: Path, out: Path, **options: Any) -> RunSummary:
    return expand_dataset(ExpandConfig(src=src, out=out, copies=2, workers=1,
                                       augment=AugmentConfig(rotation_range=20.0), **options))


def _reasons(summary: RunSummary) -> dict[str, str]:
    return {s.source: s.reason for s in summary.skipped}


def _cli(*args: str | Path, memory: int | None = None) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess that must end within a minute (a hang fails the test), with
    an address-space limit when given (a read without end then fails fast, not the machine)."""
    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "expand", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          preexec_fn=limit)


def test_finding_3_a_fifo_in_src_hangs_neither_run_nor_dry_run_nor_preview(tmp_path: Path) -> None:
    src = _src(tmp_path)
    os.mkfifo(src / "c" / "pipe.png")
    done = _cli(src, "--out", tmp_path / "out", "--copies", "1", "--workers", "1")
    assert done.returncode == 1, done.stderr
    assert "skipped c/pipe.png: a FIFO (named pipe), not a regular file" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "out" / "d" / "b.png__aug0000.png").is_file()
    dry = _cli(src, "--out", tmp_path / "dry", "--copies", "1", "--dry-run")
    assert dry.returncode == 0 and "would write 2 images from 2 sources" in dry.stdout, dry.stderr
    sheet = _cli("preview", src, "--out", tmp_path / "sheet.png", "--copies", "1")
    assert sheet.returncode == 0 and (tmp_path / "sheet.png").is_file(), sheet.stderr


def test_finding_3_a_character_device_is_never_read(tmp_path: Path) -> None:
    """/dev/zero reached through a followed link (and, where mknod is allowed, a device node in
    SRC itself) is skipped; under a 2 GiB address-space limit a read of it would fail."""
    src = _src(tmp_path)
    os.symlink("/dev/zero", src / "c" / "zero.png")
    expected = {"c/zero.png"}
    try:
        os.mknod(src / "d" / "zero.png", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        expected.add("d/zero.png")
    except PermissionError:
        pass  # not root: the linked device still holds the guarantee
    done = _cli(src, "--out", tmp_path / "out", "--copies", "1", "--workers", "1",
                "--follow-symlinks", memory=2 * 2**30)
    assert done.returncode == 1, done.stderr
    for rel in expected:
        assert f"skipped {rel}: a character device, not a regular file" in done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr


def test_finding_3_reading_is_bounded(tmp_path: Path) -> None:
    """Every whole-file read checks the file's type and size before reading (a file that grows
    past the limit while read is refused too); a FIFO is refused at once, not waited on."""
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 101)
    with pytest.raises(OSError) as caught:
        storage.read_bytes(big, limit=100)
    assert caught.value.errno == errno.EFBIG
    assert storage.read_bytes(big, limit=101) == b"x" * 101
    assert storage.MAX_READ_BYTES == 2**30
    os.mkfifo(tmp_path / "pipe")
    for read in (storage.read_bytes, lambda path: storage.read_head(path, 10)):
        with pytest.raises(OSError) as caught:
            read(tmp_path / "pipe")
        assert caught.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        storage.read_bytes(Path("/dev/zero"))


def test_finding_4_a_symlink_loop_is_skipped_and_the_rest_goes_on(tmp_path: Path) -> None:
    src = _src(tmp_path)
    os.symlink("self.png", src / "c" / "self.png")
    summary = _run(src, tmp_path / "out")
    assert _reasons(summary) == {"c/self.png": "c/self.png: symbolic link loop"}
    assert summary.images_written == 4 and summary.exit_code == 1


def test_finding_4_folder_loops_are_walked_once_with_follow_symlinks(tmp_path: Path) -> None:
    src = _src(tmp_path)
    os.symlink("two", src / "c" / "one")  # a loop of two links named like folders
    os.symlink("one", src / "c" / "two")
    os.symlink("one.png", src / "c" / "two.png")
    os.symlink("two.png", src / "c" / "one.png")
    (src / "c" / "sub").mkdir()
    os.symlink("..", src / "c" / "sub" / "up")  # a cycle: each folder is entered once
    summary = _run(src, tmp_path / "out", follow_symlinks=True)
    assert _reasons(summary) == {rel: f"{rel}: symbolic link loop"
                                 for rel in ("c/one.png", "c/two.png")}
    assert sorted({row["source"] for row in read_manifest(tmp_path / "out")}) == \
        ["c/a.png", "d/b.png"]


def test_finding_6_a_name_too_long_once_suffixed_is_skipped_and_resume_works(
        tmp_path: Path) -> None:
    src = _src(tmp_path)
    name = "n" * 245 + ".png"  # 249 bytes: legal; with `__aug0000.png` over 255
    _png(src / "c" / name)
    for attempt in range(2):  # the same on a second run: nothing left behind to trip it
        summary = _run(src, tmp_path / "out")
        assert list(_reasons(summary)) == [f"c/{name}"]
        assert "name too long for DIR's file system once the output suffix is added" \
            in summary.skipped[0].reason
        assert summary.exit_code == 1
        assert summary.images_written == (4 if attempt == 0 else 0)
    assert (tmp_path / "out" / "run.json").is_file()


def test_finding_6_a_name_refused_at_the_write_skips_only_that_source(tmp_path: Path) -> None:
    """A name that fits as planned (a .png name) but not as written (its content is WebP, so
    under --format same its outputs are .webp, one byte longer): the worker's ENAMETOOLONG
    skips the source, and the original it had written first is removed again."""
    src = _src(tmp_path)
    name = "w" * 233 + ".png"  # __aug0001.png: 250 bytes, .part included 255; .webp: 256
    _png(src / "c" / name, fmt="WEBP")
    out = tmp_path / "out"
    summary = _run(src, out, include_originals=True)
    assert list(_reasons(summary)) == [f"c/{name}"]
    assert "cannot store this output's name" in summary.skipped[0].reason
    assert not [p for p in (out / "c").iterdir() if p.name.startswith("www")]
    assert summary.images_written == 6 and summary.exit_code == 1


def test_finding_7_a_src_path_that_is_not_utf8_is_recorded_and_reruns_work(
        tmp_path: Path) -> None:
    src = Path(os.fsdecode(os.fsencode(tmp_path) + b"/src\xff"))
    _png(src / "c" / "a.png")
    out = tmp_path / "out"
    assert _run(src, out).exit_code == 0
    text = (out / "run.json").read_bytes().decode("utf-8")  # valid UTF-8
    assert "src\\udcff" in text
    assert json.loads(text)["config"]["src"] == str(src)  # reads back as the same path
    summary = expand_dataset(ExpandConfig(src=src, out=out, copies=3, workers=1,
                                          augment=AugmentConfig(rotation_range=20.0)))
    assert summary.exit_code == 0 and summary.kept == 2 and summary.images_written == 1


def test_finding_10_colour_keyed_pngs_keep_their_transparency(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "c").mkdir(parents=True)
    rgb = np.full((10, 12, 3), (30, 60, 90), np.uint8)
    rgb[2:5, 3:7] = (0, 255, 0)
    Image.fromarray(rgb, "RGB").save(src / "c" / "rgb.png", transparency=(0, 255, 0))
    grey = np.full((10, 12), 80, np.uint8)
    grey[6:9, 1:4] = 7
    Image.fromarray(grey, "L").save(src / "c" / "grey.png", transparency=7)
    done = _cli(src, "--out", tmp_path / "out", "--copies", "1", "--preset", "none",
                "--workers", "1")
    assert done.returncode == 0, done.stderr
    for name, mode, keyed in (("rgb", "RGBA", (rgb == (0, 255, 0)).all(axis=2)),
                              ("grey", "LA", grey == 7)):
        with Image.open(tmp_path / "out" / "c" / f"{name}.png__aug0000.png") as image:
            assert image.mode == mode
            alpha = np.asarray(image)[..., -1]
        assert (alpha[keyed] == 0).all() and (alpha[~keyed] == 255).all()


def test_an_unreadable_class_folder_is_named_unreadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, whom chmod 000 does not stop: the listing is refused as it would be.
    src = _src(tmp_path)
    _png(src / "d" / "sub" / "c.png")
    refused = {os.path.join(src, "c"), os.path.join(src, "d", "sub")}
    scandir = os.scandir

    def guarded(path: str) -> object:
        if os.fspath(path) in refused:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", guarded)
    summary = _run(src, tmp_path / "out")
    assert _reasons(summary) == {
        rel: f"{rel}: folder cannot be read (Permission denied); its images are not used"
        for rel in ("c", "d/sub")}
    assert not any("holds no image" in warning for warning in summary.warnings)
    assert summary.exit_code == 1 and summary.images_written == 2


def test_a_symlinked_class_folder_is_named_as_such_and_followed_when_asked(
        tmp_path: Path) -> None:
    src = _src(tmp_path)
    _png(tmp_path / "elsewhere" / "e.png")
    os.symlink(tmp_path / "elsewhere", src / "linked")
    summary = _run(src, tmp_path / "out")
    assert [w for w in summary.warnings if "linked" in w] == [(
        f"{src / 'linked'}: symbolic link to a class folder, not followed (--follow-symlinks "
        "follows it)")]
    assert not any("top level" in warning for warning in summary.warnings)
    followed = _run(src, tmp_path / "followed", follow_symlinks=True)
    assert followed.images_per_class["linked"] == 2


def test_files_that_are_not_images_are_ignored_and_counted_exit_0(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "c" / "notes.txt").write_text("remember the milk\n")
    (src / "d" / "labels.csv").write_text("a,b\n")
    Path(os.fsdecode(os.fsencode(src) + b"/d/caf\xe9.txt")).write_text("not UTF-8, not an image")
    done = _cli(src, "--out", tmp_path / "out", "--copies", "1", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "skipped" not in done.stderr
    assert "ignored 3 files that are not images (first: c/notes.txt; all in --json)" \
        in done.stdout
    (src / "c" / "photo.heic").write_bytes(b"an image format not read here")
    again = _cli(src, "--out", tmp_path / "out", "--copies", "1", "--workers", "1", "--json")
    assert again.returncode == 1
    assert "skipped c/photo.heic: image format not supported (HEIC)" in again.stderr
    assert json.loads(again.stdout)["ignored"] == ["c/notes.txt", "d/caf\\xe9.txt",
                                                   "d/labels.csv"]
