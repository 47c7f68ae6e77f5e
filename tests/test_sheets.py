"""preview and inspect: cut the cells out of the PNGs and compare them with the sources (scaled
independently here) and with the outputs a run writes and replay regenerates."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from expand.run.manifest import read_manifest
from expand.tools.replay import load_run, replay_row

CELL = 128


def _expand(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *map(str, args)], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def _cut(sheet: Image.Image, cell: dict[str, Any]) -> np.ndarray:
    return np.asarray(sheet.crop(tuple(cell["box"])))


def _grow(pixels: np.ndarray) -> np.ndarray:
    """Whole-factor nearest-neighbour growth, written out: a 24 px image as a cell shows it."""
    rgb = np.repeat(pixels, 3, axis=2) if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    factor = CELL // max(rgb.shape[:2])
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def _rgb(path_or_bytes: Path | bytes) -> np.ndarray:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _captions_are_readable(sheet: Image.Image, cells: list[dict[str, Any]]) -> None:
    for cell in cells:
        assert cell["caption"] and all(line.strip() for line in cell["caption"])
        left, top, right, bottom = cell["box"]
        left -= (CELL - (right - left)) // 2  # the picture is centred in its square
        top -= (CELL - (bottom - top)) // 2
        below = (left, top + CELL + 2, left + CELL, top + CELL + 30)
        text = np.asarray(sheet.convert("L").crop(below))
        assert (text < 128).sum() > 20  # ink under every picture


def test_preview_cells_are_the_scaled_sources_and_the_runs_copies(samples_train: Path,
                                                                   tmp_path: Path) -> None:
    png = tmp_path / "sheets" / "preview.png"
    done = _expand("preview", samples_train, "--out", png, "--preset", "heavy", "--seed", "3",
                   "--per-class", "2", "--copies", "4", "--json")
    assert done.returncode == 0, done.stderr
    layout = json.loads(done.stdout)
    sheet = Image.open(png).convert("RGB")
    assert (sheet.width, sheet.height) == (layout["width"], layout["height"])
    cells = layout["cells"]
    assert len(cells) == 3 * 2 * 5
    out = tmp_path / "run"
    ran = _expand(samples_train, "--out", out, "--preset", "heavy", "--seed", "3", "--copies", "4",
                  "--workers", "1", "-q")
    assert ran.returncode == 0, ran.stderr
    run = load_run(out)
    rows = {(r["source"], r["copy"]): r for r in read_manifest(out)}
    for cell in cells:
        shown = _cut(sheet, cell)
        if cell["copy"] is None:
            expected = _grow(_rgb(samples_train / cell["source"]))
            assert cell["caption"][0] == Path(cell["source"]).name
        else:
            row = rows[(cell["source"], cell["copy"])]
            expected = _grow(_rgb(out / row["file_name"]))
            replayed = replay_row(run, row)
            assert replayed.ok
            assert cell["caption"][0] == f"copy {cell['copy']}" and len(cell["caption"]) > 1
        assert shown.shape == (120, 120, 3)
        assert np.array_equal(shown, expected), cell
    _captions_are_readable(sheet, cells)
    assert {c["source"] for c in cells if c["copy"] is None} == {
        "circle/circle001.png", "circle/circle008.png", "rectangle/rectangle001.png",
        "rectangle/rectangle008.png", "triangle/triangle001.png", "triangle/triangle008.png"}


def test_preview_scales_large_and_transparent_sources_down(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "photo").mkdir(parents=True)
    (src / "icon").mkdir()
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:200, 0:300]
    photo = np.stack([xx * 255 // 300, yy * 255 // 200, (xx + yy) % 256], axis=2).astype(np.uint8)
    photo[50:150, 100:200] = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    Image.fromarray(photo, "RGB").save(src / "photo" / "p.png")
    icon = np.zeros((256, 256, 4), np.uint8)
    icon[64:192, 64:192] = (200, 30, 30, 255)
    icon[100:150, 100:150, 3] = 100
    Image.fromarray(icon, "RGBA").save(src / "icon" / "i.png")
    png = tmp_path / "p.png"
    done = _expand("preview", src, "--out", png, "--preset", "none", "--copies", "1", "--json")
    assert done.returncode == 0, done.stderr
    sheet = Image.open(png).convert("RGB")
    cells = json.loads(done.stdout)["cells"]
    by_source = {(c["source"], c["copy"]): _cut(sheet, c) for c in cells}
    # the photo: shrunk by area averaging to 128 x 85 (independently: OpenCV's INTER_AREA)
    import cv2

    shown = by_source[("photo/p.png", None)]
    assert shown.shape == (85, 128, 3)
    reference = cv2.resize(photo, (128, 85), interpolation=cv2.INTER_AREA).astype(int)
    difference = np.abs(shown.astype(int) - reference)
    assert np.median(difference) <= 1 and difference.mean() < 3  # the noise square differs most
    # the icon: alpha over the cell's grey (214), shrunk 2:1
    composite = icon[..., :3] * (icon[..., 3:] / 255) + 214 * (1 - icon[..., 3:] / 255)
    halved = composite.reshape(128, 2, 128, 2, 3).mean(axis=(1, 3))
    assert np.abs(by_source[("icon/i.png", None)].astype(int) - halved).max() <= 1
    # preset none: every copy looks like its original
    assert np.array_equal(by_source[("photo/p.png", 0)], shown)
    _captions_are_readable(sheet, cells)


def test_inspect_cells_are_the_outputs_and_the_statistics_add_up(samples_train: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = tmp_path / "aug.toml"
    config.write_text('version = 2\nrotation_range = 20\nrotation_p = 0.5\nhorizontal_flip = true\n'
                      '[[transforms]]\nname = "gaussian_blur"\np = 0.3\nsigma = [0.5, 1.5]\n'
                      '[[transforms]]\nname = "random_erasing"\np = 0.6\n')
    ran = _expand(samples_train, "--out", out, "--config", config, "--copies", "20",
                  "--include-originals", "-q")
    assert ran.returncode == 0, ran.stderr
    png = tmp_path / "inspect.png"
    done = _expand("inspect", out, "--out", png, "--per-class", "5", "--json")
    assert done.returncode == 0, done.stderr
    layout = json.loads(done.stdout)
    sheet = Image.open(png).convert("RGB")
    rows = {r["file_name"]: r for r in read_manifest(out)}
    run = load_run(out)
    cells = layout["cells"]
    assert len(cells) == 15
    for cell in cells:
        row = rows[cell["file_name"]]
        replayed = replay_row(run, row)
        assert replayed.ok
        assert np.array_equal(_cut(sheet, cell), _grow(_rgb(out / cell["file_name"])))
        assert cell["caption"][0].startswith(Path(row["source"]).name)
    _captions_are_readable(sheet, cells)
    stats = layout["stats"]
    assert stats["images_per_class"] == {"circle": 315, "rectangle": 315, "triangle": 315}
    firing = stats["transforms"]
    assert set(firing) == {"rotation", "horizontal_flip", "gaussian_blur", "random_erasing"}
    for name, p in (("rotation", 0.5), ("horizontal_flip", 0.5), ("gaussian_blur", 0.3),
                    ("random_erasing", 0.6)):
        assert firing[name]["configured"] == p and firing[name]["copies"] == 900
        assert abs(firing[name]["rate"] - p) < 0.06
        fired = sum(1 for r in rows.values() if r["params"] is not None and (
            r["params"]["theta"] != 0 if name == "rotation" else
            r["params"]["flip_horizontal"] if name == "horizontal_flip" else
            r["params"][name] is not None))
        assert firing[name]["fired"] == fired
    sigma = stats["params"]["gaussian_blur.sigma"]
    assert 0.5 <= sigma["min"] < sigma["max"] <= 1.5 and sigma["count"] == firing[
        "gaussian_blur"]["fired"]
    assert sheet.height > max(c["box"][3] for c in cells) + 300  # the statistics are drawn below


def test_sheets_are_never_written_into_a_dataset(samples_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _expand(samples_train, "--out", out, "--copies", "1", "-q").returncode == 0
    for args in (["preview", samples_train, "--out", out / "circle" / "p.png"],
                 ["preview", samples_train, "--out", samples_train / "p.png"],
                 ["inspect", out, "--out", out / "i.png"],
                 ["inspect", out, "--out", out / "circle" / "i.png"],
                 ["inspect", samples_train, "--out", tmp_path / "i.png"],
                 ["preview", samples_train, "--out", tmp_path / "p.jpg"]):
        done = _expand(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
        assert not Path(args[-1]).exists()


def test_captions_keep_whole_numbers_whole() -> None:
    from expand.augment.params import AugmentParams
    from expand.tools.preview import describe

    params = AugmentParams(theta=30.0, shear=-10.2, tx=2.0, channel_shift_intensity=100.0,
                           brightness=1.5).to_dict(())
    assert describe(params) == ["rot 30°", "shear -10°", "tx 2 ty 0", "chshift 100",
                                "bright 1.5"]


def test_captions_are_drawn_whole_however_long() -> None:
    """Captions wrap onto more lines instead of ending in … (issue 25, point 7)."""
    from expand.tools.sheet import CAPTION, PAD, Cell, Section, contact_sheet, line_height, wrap

    caption = ["a_very_long_source_file_name_0001.png", "rot 30°", "shear -10°",
               "tx 2 ty 0", "perspective 0.12 0.08 0.11 0.05", "erase 3 boxes 12%", "hflip"]
    short = ["b.png", "rot 1°"]
    cells = [Cell(Image.new("RGB", (24, 24)), caption), Cell(Image.new("RGB", (24, 24)), short)]
    sheet, drawn = contact_sheet(["title"], [Section("class", [cells])], 64)
    for cell in drawn:
        lines = cell.to_dict()["caption_lines"]
        assert lines == wrap(cell.caption, 64, CAPTION)
        assert all(CAPTION.getlength(line) <= 64 and "…" not in line for line in lines)
        assert "".join("".join(lines).split()) == "".join("".join(cell.caption).split())
    assert len(drawn[0].lines) > 5 > len(drawn[1].lines)  # longer than the old five-line cut
    # the sheet is tall enough for the longest caption: ink where its last line goes
    left, top = drawn[0].box[0] - 20, drawn[0].box[1] - 20  # the 24 px picture is centred
    last = top + 64 + PAD // 2 + (len(drawn[0].lines) - 1) * line_height(CAPTION)
    band = np.asarray(sheet.convert("L"))[last:last + line_height(CAPTION), left:left + 64]
    assert last + line_height(CAPTION) <= sheet.height and (band < 128).sum() > 10


def test_the_preview_layout_lists_each_captions_lines(samples_train: Path,
                                                       tmp_path: Path) -> None:
    done = _expand("preview", samples_train, "--out", tmp_path / "p.png", "--preset", "heavy",
                   "--per-class", "1", "--copies", "2", "--json")
    assert done.returncode == 0, done.stderr
    for cell in json.loads(done.stdout)["cells"]:
        assert "".join("".join(cell["caption_lines"]).split()) == \
            "".join("".join(cell["caption"]).split())
        assert not any("…" in line for line in cell["caption_lines"])
