"""Contact sheets and small charts drawn with Pillow alone (its default font), no plotting."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from expand.annotations import ImageTargets
from expand.errors import ConfigError, OutputWriteError
from expand.io import storage
from expand.run.layout import MANIFEST, RUN_FILE

BACKGROUND = (255, 255, 255)
BAND = (226, 233, 242)
INK = (25, 25, 25)
MUTED = (90, 90, 90)
FRAME = (190, 190, 190)
CELL_BACKGROUND = (214, 214, 214)  # behind transparent pixels and around non-square images
BAR = (78, 121, 167)
MARK = (225, 87, 89)
PAD = 8


def font(size: int = 12) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled default font (Aileron; ASCII, a few Latin-1 signs such as °)."""
    return ImageFont.load_default(size=size)


CAPTION = font(12)
HEADER = font(15)
TITLE = font(17)


def line_height(face: Any) -> int:
    return int(face.getbbox("Hgy")[3]) + 3


def display(pixels: np.ndarray, has_alpha: bool) -> Image.Image:
    """An RGB picture of a pipeline array: grey as grey, alpha over the cell background."""
    channels = pixels.shape[2]
    colour = pixels[..., :-1] if has_alpha else pixels
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    if not has_alpha:
        return Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    alpha = pixels[..., channels - 1:].astype(np.float32) / 255.0
    back = np.array(CELL_BACKGROUND, dtype=np.float32)
    mixed = rgb.astype(np.float32) * alpha + back * (1.0 - alpha)
    return Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8), "RGB")


#: A colour per category (category modulo its length), distinct on photographs and on grey.
CATEGORY_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128))
#: How much of a mask's colour covers the picture under it.
MASK_OPACITY = 0.45


def category_colour(category: int) -> tuple[int, int, int]:
    return CATEGORY_COLOURS[category % len(CATEGORY_COLOURS)]


def _overlay(pixels: np.ndarray, where: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Blend `colour` over the pixels where a (source-sized) mask is set, the mask scaled to
    the tile by nearest neighbour."""
    height, width = pixels.shape[:2]
    scaled = cv2.resize(where.astype(np.uint8), (width, height),
                        interpolation=cv2.INTER_NEAREST).astype(bool)
    blended = pixels[scaled] * (1.0 - MASK_OPACITY) + np.array(colour) * MASK_OPACITY
    pixels[scaled] = np.rint(blended).astype(np.uint8)


def draw_targets(tile: np.ndarray, targets: ImageTargets, scale: float) -> np.ndarray:
    """A sheet tile (h, w, 3) uint8 with its image's targets drawn on it, their coordinates
    times `scale` (the tile's size over the image's): masks and the label image as a
    translucent colour, polygons as outlines, a box-only or mask-only object's box as a
    rectangle; a colour per category (per value for the label image, 0 left clear)."""
    pixels = np.array(tile, dtype=np.uint8)
    if targets.label_image is not None:
        for value in np.unique(targets.label_image).tolist():
            if value:
                _overlay(pixels, targets.label_image == value, category_colour(int(value)))
    for target in targets.objects:
        if target.mask is not None:
            _overlay(pixels, target.mask, category_colour(target.category))
    picture = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(picture)
    width = 2 if min(pixels.shape[:2]) >= 128 else 1
    for target in targets.objects:
        colour = category_colour(target.category)
        for ring in target.polygons:
            points = [(x * scale, y * scale) for x, y in zip(ring[::2], ring[1::2])]
            draw.line(points + points[:1], fill=colour, width=width)
        if not target.polygons:
            # continuous edges [x0, x1) -> the tile pixels they cover, inclusive
            x0, y0, x1, y1 = (round(v * scale) for v in target.box)
            draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=colour,
                           width=width)
    return np.asarray(picture).copy()


def fit(image: Image.Image, box: int) -> Image.Image:
    """Scale into a box x box square, keeping the aspect: small images grow by a whole factor
    with nearest neighbour (pixels stay sharp and countable), large ones shrink by area average."""
    width, height = image.size
    factor = box // max(width, height)
    if factor >= 1:
        return image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    scale = box / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def wrap(parts: list[str], width: int, face: Any) -> list[str]:
    """Greedy line filling with the given phrases, whole where they fit; nothing is cut: a phrase
    wider than a line breaks at its spaces, and a word wider than a line inside it."""
    lines: list[str] = []
    for part in parts:
        if lines and face.getlength(f"{lines[-1]}  {part}") <= width:
            lines[-1] = f"{lines[-1]}  {part}"
        else:
            lines += _broken(part, width, face)
    return lines


def _broken(text: str, width: int, face: Any) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while len(word) > 1 and face.getlength(word) > width:
            cut = next((k for k in range(len(word) - 1, 1, -1)
                        if face.getlength(word[:k]) <= width), 1)
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return lines


@dataclass
class Cell:
    """One picture of a sheet and its caption; `box` is where its pixels are, once drawn."""

    picture: Image.Image
    caption: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    #: the caption as drawn, one entry a line (filled in with `box`)
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.meta, "box": list(self.box), "caption": self.caption,
                "caption_lines": self.lines}


@dataclass
class Section:
    """A titled band of rows of cells (a class, say)."""

    title: str
    rows: list[list[Cell]]


def contact_sheet(title: list[str], sections: list[Section], cell: int,
                  ) -> tuple[Image.Image, list[Cell]]:
    """Lay the sections out one under another, each row of cells left to right, under each cell
    its whole caption (the rows are as tall as the longest needs).

    Returns the picture and the cells with their boxes and drawn lines filled in (box: left, top,
    right, bottom).
    """
    columns = max((len(row) for s in sections for row in s.rows), default=1)
    step = cell + PAD * 2
    for item in (item for s in sections for row in s.rows for item in row):
        item.lines = wrap(item.caption, cell, CAPTION)
    most = max((len(item.lines) for s in sections for row in s.rows for item in row), default=1)
    caption_h = line_height(CAPTION) * max(most, 1)
    row_h = cell + PAD + caption_h + PAD * 2
    band_h = line_height(HEADER) + PAD
    title_h = line_height(TITLE) * len(title) + PAD * 2
    width = max([PAD * 2 + step * columns, 480] +
                [int(TITLE.getlength(line)) + PAD * 2 for line in title])
    height = title_h + sum(band_h + PAD + row_h * len(s.rows) for s in sections) + PAD
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = PAD
    for line in title:
        draw.text((PAD, y), line, font=TITLE, fill=INK)
        y += line_height(TITLE)
    y += PAD
    cells: list[Cell] = []
    for section in sections:
        draw.rectangle((0, y, width, y + band_h), fill=BAND)
        draw.text((PAD, y + PAD // 2), section.title, font=HEADER, fill=INK)
        y += band_h + PAD
        for row in section.rows:
            for column, item in enumerate(row):
                left = PAD + column * step + PAD
                draw.rectangle((left - 1, y - 1, left + cell, y + cell), outline=FRAME,
                               fill=CELL_BACKGROUND)
                picture = item.picture
                x0 = left + (cell - picture.width) // 2
                y0 = y + (cell - picture.height) // 2
                sheet.paste(picture, (x0, y0))
                item.box = (x0, y0, x0 + picture.width, y0 + picture.height)
                text_y = y + cell + PAD // 2
                named = len(wrap(item.caption[:1], cell, CAPTION))  # the name, in ink
                for i, line in enumerate(item.lines):
                    draw.text((left, text_y), line, font=CAPTION, fill=INK if i < named else MUTED)
                    text_y += line_height(CAPTION)
                cells.append(item)
            y += row_h
    return sheet, cells


def bars(title: str, items: list[tuple[str, float, float | None, str]], width: int) -> Image.Image:
    """Horizontal bars in [0, 1]: (label, value, marker or None, text after the bar)."""
    row = line_height(CAPTION) + 6
    label_w = max([int(CAPTION.getlength(label)) for label, *_ in items] + [40]) + PAD
    text_w = max([int(CAPTION.getlength(text)) for *_, text in items] + [40]) + PAD
    bar_w = max(120, width - label_w - text_w - PAD * 4)
    image = Image.new("RGB", (width, line_height(HEADER) + PAD * 2 + row * len(items) + PAD),
                      BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), title, font=HEADER, fill=INK)
    y = line_height(HEADER) + PAD * 2
    for label, value, marker, text in items:
        x = PAD + label_w
        draw.text((PAD, y), label, font=CAPTION, fill=INK)
        draw.rectangle((x, y + 2, x + bar_w, y + row - 6), fill=BAND)
        draw.rectangle((x, y + 2, x + round(bar_w * min(max(value, 0.0), 1.0)), y + row - 6),
                       fill=BAR)
        if marker is not None:
            mx = x + round(bar_w * min(max(marker, 0.0), 1.0))
            draw.rectangle((mx - 1, y - 1, mx + 1, y + row - 3), fill=MARK)
        draw.text((x + bar_w + PAD, y), text, font=CAPTION, fill=MUTED)
        y += row
    return image


def heading(text: str, width: int) -> Image.Image:
    image = Image.new("RGB", (width, line_height(HEADER) + PAD * 2), BACKGROUND)
    ImageDraw.Draw(image).text((PAD, PAD), text, font=HEADER, fill=INK)
    return image


def histogram(title: str, counts: list[int], low: float, high: float,
              size: tuple[int, int] = (230, 110)) -> Image.Image:
    """One parameter's distribution: bars over [low, high], the range written under them."""
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((PAD // 2, 2), title, font=CAPTION, fill=INK)
    top, bottom = line_height(CAPTION) + 4, height - line_height(CAPTION) - 4
    left, right = PAD // 2, width - PAD // 2
    draw.line((left, bottom, right, bottom), fill=FRAME)
    peak = max(counts) if counts and max(counts) > 0 else 1
    step = (right - left) / max(1, len(counts))
    for i, count in enumerate(counts):
        if count:
            x0, x1 = left + round(i * step), left + round((i + 1) * step) - 1
            draw.rectangle((x0, bottom - round((bottom - top) * count / peak), max(x0, x1),
                            bottom), fill=BAR)
    draw.text((left, bottom + 2), f"{low:.3g}", font=CAPTION, fill=MUTED)
    high_text = f"{high:.3g}"
    draw.text((right - CAPTION.getlength(high_text), bottom + 2), high_text, font=CAPTION,
              fill=MUTED)
    return image


def tile(panels: list[Image.Image], width: int) -> Image.Image:
    """Panels left to right, wrapping to new rows at `width`."""
    rows: list[list[Image.Image]] = [[]]
    used = PAD
    for panel in panels:
        if rows[-1] and used + panel.width + PAD > width:
            rows.append([])
            used = PAD
        rows[-1].append(panel)
        used += panel.width + PAD
    height = sum(max((p.height for p in row), default=0) + PAD for row in rows) + PAD
    image = Image.new("RGB", (width, height), BACKGROUND)
    y = PAD
    for row in rows:
        x = PAD
        for panel in row:
            image.paste(panel, (x, y))
            x += panel.width + PAD
        y += max((p.height for p in row), default=0) + PAD
    return image


def stack(parts: list[Image.Image]) -> Image.Image:
    """One under another, left-aligned: the first part keeps its coordinates."""
    width = max(p.width for p in parts)
    image = Image.new("RGB", (width, sum(p.height for p in parts)), BACKGROUND)
    y = 0
    for part in parts:
        image.paste(part, (0, y))
        y += part.height
    return image


def check_destination(png: Path, *, forbidden: list[Path]) -> None:
    """A sheet goes where the user says, never into a dataset: not inside an output folder of
    this tool (one holding run.json or metadata.jsonl), nor inside the folders given.

    Raises:
        ConfigError: the path, and why it is refused.
    """
    target = png.resolve()
    for folder in forbidden:
        root = folder.resolve()
        if root == target or root in target.parents:
            raise ConfigError(f"--out {png}: inside {folder}; write the picture outside it")
    for parent in target.parents:
        if (parent / RUN_FILE).is_file() or (parent / MANIFEST).is_file():
            raise ConfigError(f"--out {png}: inside the output folder {parent} (it holds "
                              f"{RUN_FILE} or {MANIFEST}); write the picture outside it")
    if png.suffix.lower() != ".png":
        raise ConfigError(f"--out {png}: expected a .png file name")
    if png.is_dir():
        raise ConfigError(f"--out {png}: is a folder; expected a .png file name")


def save_png(image: Image.Image, png: Path) -> None:
    """Atomically, so a viewer never shows half a sheet.

    Raises:
        OutputWriteError: the file cannot be written.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        storage.write_atomic(png, buffer.getvalue())
    except OSError as exc:
        raise OutputWriteError(f"{png}: cannot write ({exc.strerror or exc})") from None
