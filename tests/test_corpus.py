"""A corpus of malformed and unusual inputs, each with its expected outcome, in one real run."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import snapshot

COPIES = 2


def _png(mode: str = "RGB", size: tuple[int, int] = (20, 16), **save: object) -> bytes:
    rng = np.random.default_rng(len(mode) + size[0])
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(mode, 3)
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    buffer = io.BytesIO()
    image.save(buffer, format=str(save.pop("format", "PNG")), **save)
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header that claims a huge size: refused before any pixel is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _gif_animated() -> bytes:
    frames = [Image.new("RGB", (12, 12), (i * 80, 0, 255 - i * 80)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


def _jpeg_exif_rotated() -> bytes:
    image = Image.fromarray(np.tile(np.arange(30, dtype=np.uint8)[None, :, None] * 8, (20, 1, 3)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def _palette_transparent() -> bytes:
    image = Image.new("P", (10, 10), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


def _broken_crc() -> bytes:
    data = bytearray(_png())
    data[29] ^= 0xFF  # inside IHDR's CRC
    return bytes(data)


# name → (bytes, expected): "ok:<mode>:<w>x<h>" expanded; "skip:<reason part>"; "ignored".
CORPUS: dict[str, tuple[bytes, str]] = {
    "mix/good.png": (_png(), "ok:RGB:20x16"),
    "mix/zero.png": (b"", "skip:empty file"),
    "mix/truncated.png": (_png()[:60], "skip:cannot decode"),
    "mix/truncated.jpg": (_png(format="JPEG", quality=90)[:300], "skip:cannot decode"),
    "mix/text.png": (b"this is not an image\n" * 5, "skip:not an image Pillow can read"),
    "mix/broken-crc.png": (_broken_crc(), "skip:"),
    "mix/jpeg-named.png": (_png(format="JPEG"), "ok:RGB:20x16"),
    "mix/png-named.jpg": (_png(), "ok:RGB:20x16"),
    "mix/drawing.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                         "skip:image format not supported (SVG)"),
    "mix/photo.heic": (b"\0\0\0\x18ftypheic", "skip:image format not supported (HEIC)"),
    "mix/animated.gif": (_gif_animated(), "ok:RGB:12x12"),
    "mix/cmyk.jpg": (_png("RGB", format="JPEG"), "ok:RGB:20x16"),  # replaced by CMYK below
    "mix/deep16.png": (b"", "ok:L:9x7"),  # replaced by a 16-bit PNG below
    "mix/palette-transparent.png": (_palette_transparent(), "ok:RGBA:10x10"),
    "mix/grey-alpha.png": (_png("LA"), "ok:LA:20x16"),
    "mix/one-pixel.png": (_png(size=(1, 1)), "ok:RGB:1x1"),
    "mix/bomb.png": (_bomb_png(60000, 60000), "skip:decompression bomb"),
    "mix/exif-rotated.jpg": (_jpeg_exif_rotated(), "ok:RGB:20x30"),
    "mix/círculo ✓.png": (_png(), "ok:RGB:20x16"),
    "mix/with space & odd'chars;(1).png": (_png(), "ok:RGB:20x16"),
    "mix/UPPER.JPG": (_png(format="JPEG"), "ok:RGB:20x16"),
    "mix/image.bmp": (_png("RGB", format="BMP"), "ok:RGB:20x16"),
    "mix/image.tiff": (_png("RGBA", format="TIFF"), "ok:RGBA:20x16"),
    "mix/alpha.webp": (_png("RGBA", format="WEBP", lossless=True), "ok:RGBA:20x16"),
    "mix/sub/deeper/nested.png": (_png("L"), "ok:L:20x16"),
    "mix/.hidden.png": (_png(), "ignored"),
    "mix/Thumbs.db": (b"junk", "ignored"),
    "mix/__MACOSX/._good.png": (b"junk", "ignored"),
    "mix/.ipynb_checkpoints/good-checkpoint.png": (_png(), "ignored"),
    "mix/notes.txt": (b"hello", "ignored"),
}


def _build(src: Path, outside: Path) -> dict[str, str]:
    expected = {}
    for rel, (data, outcome) in CORPUS.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == "mix/cmyk.jpg":
            Image.new("CMYK", (20, 16), (10, 200, 30, 5)).save(path, format="JPEG")
        elif rel == "mix/deep16.png":
            deep = np.array([[0, 1000, 65535] * 3] * 7, dtype=np.uint16)
            Image.fromarray(deep).save(path)
        else:
            path.write_bytes(data)
        expected[rel] = outcome
    # names the file system makes, not bytes: links, a name that is not UTF-8, an empty class
    os.symlink(src / "mix" / "nowhere.png", src / "mix" / "dangling.png")
    expected["mix/dangling.png"] = "skip:broken symbolic link"
    outside.write_bytes(_png())
    os.symlink(outside, src / "mix" / "outside.png")
    expected["mix/outside.png"] = "skip:outside SRC"
    os.symlink(src / "mix" / "good.png", src / "mix" / "inside-link.png")
    expected["mix/inside-link.png"] = "ok:RGB:20x16"
    Path(os.fsdecode(os.fsencode(src / "mix") + b"/latin1-caf\xe9.png")).write_bytes(_png())
    expected["mix/latin1-caf\\xe9.png"] = "skip:not valid UTF-8"
    (src / "empty-class").mkdir()
    (src / "README.txt").write_text("top-level file")
    return expected


def test_every_input_of_the_corpus_gets_its_expected_outcome(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    expected = _build(src, tmp_path / "outside.png")
    assert len(expected) >= 25
    before = snapshot(src)
    done = subprocess.run([sys.executable, "-m", "expand", str(src), "--out", str(out),
                           "--copies", str(COPIES), "--rotation-range", "20", "--workers", "2"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    skipped = {s["source"]: s["reason"] for s in run["skipped"]}
    rows: dict[str, list[dict[str, object]]] = {}
    for line in (out / "metadata.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        rows.setdefault(str(row["source"]), []).append(row)
    for rel, outcome in expected.items():
        kind, _, detail = outcome.partition(":")
        if kind == "ok":
            mode, size = detail.split(":")
            width, height = (int(v) for v in size.split("x"))
            assert len(rows.get(rel, [])) == COPIES, rel
            for row in rows[rel]:
                assert (row["mode"], row["width"], row["height"]) == (mode, width, height), rel
                with Image.open(out / str(row["file_name"])) as written:
                    assert written.size == (width, height)
        elif kind == "skip":
            assert rel in skipped and detail in skipped[rel], (rel, skipped.get(rel))
            assert f"skipped {rel}" in done.stderr
        else:
            assert rel not in rows and rel not in skipped
    assert set(skipped) == {r for r, o in expected.items() if o.startswith("skip")}
    assert "animated.gif: 3 frames; only the first is used" in done.stderr
    assert "empty-class: class folder holds no image" in done.stderr
    assert "README.txt: file at the top level" in done.stderr
    assert rows["mix/jpeg-named.png"][0]["file_name"] == "mix/jpeg-named.png__aug0000.jpg"
    assert rows["mix/png-named.jpg"][0]["file_name"] == "mix/png-named.jpg__aug0000.png"
    assert all(Path(out, p).resolve().is_relative_to(out.resolve())
               for p in (f for r in rows.values() for f in (str(x["file_name"]) for x in r)))
    assert snapshot(src) == before


@pytest.mark.parametrize("limit, outcome", [(100, 1), (10_000, 0)])
def test_the_decompression_bomb_limit_is_configurable(tmp_path: Path, limit: int,
                                                     outcome: int) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.png").write_bytes(_png(size=(40, 30)))
    done = subprocess.run([sys.executable, "-m", "expand", str(src), "--out", str(tmp_path / "o"),
                           "--copies", "1", "--max-image-pixels", str(limit)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == outcome
    assert ("decompression bomb" in done.stderr) == bool(outcome)
