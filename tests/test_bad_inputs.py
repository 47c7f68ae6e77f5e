"""End to end through the library: bad sources skipped and named, good ones expanded, SRC intact."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

from PIL import Image

from expand.config import AugmentConfig, ExpandConfig
from expand.errors import EXIT_OK, EXIT_SKIPPED
from expand.io.storage import TEMP_SUFFIX
from expand.run.runner import RunSummary, expand_dataset

COPIES = 2
GOOD = {
    "circle/a.png": ("PNG", "RGB"),
    "circle/b.jpg": ("JPEG", "RGB"),
    "circle/sub/c.webp": ("WEBP", "RGBA"),
    "square/d.bmp": ("BMP", "L"),
    "square/e.GIF": ("GIF", "P"),
    "square/f.tiff": ("TIFF", "RGB"),
}


def _image_bytes(fmt: str, mode: str, size: tuple[int, int] = (20, 16)) -> bytes:
    buffer = io.BytesIO()
    image = Image.linear_gradient("L").resize(size).convert(mode)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _make_good(src: Path) -> None:
    for rel, (fmt, mode) in GOOD.items():
        _write(src / rel, _image_bytes(fmt, mode))


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under root: folders by name, files by SHA-256 of their bytes."""
    return {p.relative_to(root).as_posix(): ("<dir>" if p.is_dir()
                                             else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))}


def _run(src: Path, out: Path) -> RunSummary:
    return expand_dataset(ExpandConfig(src=src, out=out, copies=COPIES, workers=1,
                                       augment=AugmentConfig(rotation_range=20.0,
                                                             horizontal_flip=True)))


def _manifest(out: Path) -> list[dict[str, object]]:
    lines = (out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_bad_sources_are_skipped_and_named_and_the_rest_expanded(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _make_good(src)
    png = _image_bytes("PNG", "RGB", (64, 48))
    bad = {
        "circle/x.png": b"I am a text file wearing a .png name\n",
        "circle/empty.jpg": b"",
        "square/cut.png": png[: len(png) // 2],
        "square/sub/cut.jpg": _image_bytes("JPEG", "RGB", (64, 48))[:300],
        "square/photo.HEIC": b"an image format not read here\n",
    }
    for rel, data in {**bad, "square/notes.txt": b"remember the milk\n"}.items():
        _write(src / rel, data)
    before = _snapshot(src)

    summary = _run(src, out)

    assert summary.exit_code == EXIT_SKIPPED == 1
    assert [s.source for s in summary.skipped] == sorted(bad)
    for skipped in summary.skipped:
        assert skipped.source in skipped.reason
    assert summary.images_written == COPIES * len(GOOD)
    assert summary.images_per_class == {"circle": COPIES * 3, "square": COPIES * 3}
    assert summary.ignored == ("square/notes.txt",)  # not an image format: ignored, not skipped

    rows = _manifest(out)
    assert sorted({str(row["source"]) for row in rows}) == sorted(GOOD)
    assert sorted((row["source"], row["copy"]) for row in rows) == sorted(
        (rel, copy) for rel in GOOD for copy in range(COPIES))
    for row in rows:
        written = out / str(row["file_name"])
        assert hashlib.sha256(written.read_bytes()).hexdigest() == row["sha256"]
        with Image.open(written) as image:
            image.load()
            assert image.mode == row["mode"]
        assert str(row["source"]) not in bad

    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [s["source"] for s in run["skipped"]] == sorted(bad)
    assert all(s["source"] in s["reason"] for s in run["skipped"])
    assert run["counts"]["skipped"] == len(bad)

    assert not [p for p in out.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    written_files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {str(row["file_name"]) for row in rows} <= written_files
    assert not any(Path(name).name.startswith(Path(rel).name) for name in written_files
                   for rel in bad)
    assert _snapshot(src) == before


def test_the_same_dataset_without_bad_sources_exits_0(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _make_good(src)
    before = _snapshot(src)
    summary = _run(src, out)
    assert summary.exit_code == EXIT_OK
    assert summary.skipped == ()
    assert summary.images_written == COPIES * len(GOOD)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["skipped"] == []
    assert _snapshot(src) == before


def test_a_name_that_is_not_utf8_is_skipped_and_the_rest_goes_on(tmp_path: Path) -> None:
    # Before discover rejected it, the run wrote every image and then crashed writing the manifest.
    src, out = tmp_path / "src", tmp_path / "out"
    _make_good(src)
    _write(Path(os.fsdecode(os.fsencode(src) + b"/circle/caf\xe9.png")), _image_bytes("PNG", "RGB"))
    before = _snapshot(src)
    summary = _run(src, out)
    assert [s.source for s in summary.skipped] == ["circle/caf\\xe9.png"]
    assert "UTF-8" in summary.skipped[0].reason and summary.exit_code == 1
    assert summary.images_written == COPIES * len(GOOD)
    assert _snapshot(src) == before
