"""Line-art kernels: polarity, stroke width, and the stroke-preserving redraw (no randomness)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from expand.errors import NotLineArtError

# ITU-R BT.601 luma, as Pillow's convert("L"): levels compare with what viewers call grey.
_LUMA: dict[int, tuple[float, ...]] = {1: (1.0,), 3: (0.299, 0.587, 0.114)}

# Coverage (0 = paper, 1 = ink) below which a pixel is clean paper, and from which it is ink.
_CLEAN_PAPER = 0.2
_INK = 0.5
_TRACE = 0.05  # a stroke's cross-section ends at the first sample below this

# The line-art decision: each criterion scores value / (2 x threshold) (or its inverse), so
# 0.5 is the boundary and 1 a comfortable margin; confidence is the weakest score.
_MIN_CONTRAST = 40.0  # levels between paper and ink
_MIN_FLAT_PAPER = 0.25  # share of pixels that are clean paper with a clean 3x3 neighbourhood
_MIN_HALF_WIDTH_LIMIT = 4.0  # px; strokes thicker than the larger of this and 4 % of the
_HALF_WIDTH_FRACTION = 0.04  # shorter side are fills or photos, not strokes
# Share of mid-tone pixels (0.2-0.8 coverage) more than 2 px from clean paper: anti-aliased or
# slightly blurred strokes have ~0 (their mid-tones are edges), photos 0.4-0.9 (shading).
_MAX_DEEP_MIDTONES = 0.2

# Supersampling: centre lines are found at 4x (3x on crops over the budget), where the
# 0.5-coverage contour of anti-aliased strokes is within a fraction of a pixel of their edges.
# Strokes are rendered at 8x (4x over the budget) and area-averaged: their centre lines are
# placed to half a render pixel, so 8x keeps them within 1/16 px of where they belong.
_SUPERSAMPLE = 4
_SUPERSAMPLE_BUDGET = 1_000_000  # supersampled pixels
_RENDER_SCALE = 8
_RENDER_BUDGET = 4_000_000  # render pixels
_STAIRCASE_EXCESS = 0.2  # render pixels; see _render
_SMOOTHING_ITERATIONS = 4  # Laplacian passes over the centre lines: staircase → smooth curve

# Zhang-Suen neighbours P2..P9 (clockwise from north) as (row, column) offsets.
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


@dataclass(frozen=True)
class Polarity:
    """Which colour is paper and which is ink, per colour channel (alpha excluded), 0-255.

    `transparent_paper`: an image with alpha whose paper is its transparent part; `paper` is
    then the backdrop the ink was judged against, and redrawn paper stays transparent.
    `confidence`: the weakest margin of the line-art decision (0.5 = the boundary, 1 = clear).
    Build one by hand to be told the polarity instead of detecting it.
    """

    paper: tuple[float, ...]
    ink: tuple[float, ...]
    transparent_paper: bool = False
    confidence: float = 1.0

    @property
    def paper_level(self) -> float:
        return _luma(self.paper)

    @property
    def ink_level(self) -> float:
        return _luma(self.ink)

    @property
    def dark_on_light(self) -> bool:
        return self.ink_level < self.paper_level


@dataclass(frozen=True)
class Wobble:
    """A smooth 'hand wobble' displacement field over the output plane, in output pixels.

    dx = a/2 (sin(2πy/λ + φ0) + sin(2πx/λ + φ1)), dy = a/2 (sin(2πx/λ + φ2) + sin(2πy/λ + φ3)):
    a field, not a per-stroke noise, so strokes that meet keep meeting; |d| ≤ amplitude_px·√2.
    """

    amplitude_px: float
    wavelength_px: float
    phases: tuple[float, float, float, float]

    def displace(self, xy: np.ndarray) -> np.ndarray:
        """Points (N, 2) as (x, y) moved by the field."""
        k = 2.0 * math.pi / self.wavelength_px
        x, y = xy[:, 0], xy[:, 1]
        p0, p1, p2, p3 = self.phases
        half = self.amplitude_px / 2.0
        dx = half * (np.sin(k * y + p0) + np.sin(k * x + p1))
        dy = half * (np.sin(k * x + p2) + np.sin(k * y + p3))
        return xy + np.stack([dx, dy], axis=1)


def detect_polarity(pixels: np.ndarray) -> Polarity:
    """Find paper and ink, and refuse images that are not line art.

    Paper is the larger of the two Otsu classes of luma (ink is the minority); transparent
    pixels count as paper. Line art needs contrast, flat paper, and thin ink (strokes, not
    fills or photographic regions).

    Args:
        pixels: uint8 (H, W) or (H, W, C); C = 2 or 4 means the last channel is alpha.

    Raises:
        NotLineArtError: the image is blank or not line art; the message names the criterion.
    """
    colour, alpha = _split(pixels)
    transparent = False
    if alpha is not None:
        opaque = alpha >= 0.5
        if not opaque.any():
            raise NotLineArtError("blank: every pixel is transparent")
        transparent = bool(opaque.mean() < 0.5)
        if transparent:
            # Ink drawn on nothing: judge it against the backdrop it contrasts with.
            level = 255.0 if np.median(_luma_array(colour[opaque])) < 128 else 0.0
            backdrop = np.full(colour.shape[2], level, np.float32)
        else:
            backdrop = np.median(colour[opaque], axis=0)
        colour = _composite(colour, alpha, backdrop)
    luma = _luma_array(colour)
    threshold, _ = cv2.threshold(np.rint(luma).astype(np.uint8), 0, 255,
                                 cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    light = luma > threshold
    paper_is_light = bool(light.mean() >= 0.5)
    ink_mask = ~light if paper_is_light else light
    if not ink_mask.any():
        raise NotLineArtError("blank: a single level, no strokes")
    paper = np.median(colour[~ink_mask], axis=0)
    # The darkest tenth of the ink class (lightest, for light ink): anti-aliased edges and
    # hairlines never reach the full ink level, so a plain median would be too pale.
    ink_luma = luma[ink_mask]
    cut = np.percentile(ink_luma, 10 if paper_is_light else 90)
    core = ink_mask & ((luma <= cut) if paper_is_light else (luma >= cut))
    ink = np.median(colour[core], axis=0)
    cover = _project(colour, paper, ink)
    confidence = _line_art_confidence(cover, abs(_luma(paper) - _luma(ink)))
    return Polarity(tuple(float(v) for v in paper), tuple(float(v) for v in ink), transparent,
                    confidence)


def stroke_width(pixels: np.ndarray, polarity: Polarity) -> float:
    """The typical stroke width in pixels: the median ink cross-section of the centre lines.

    At each centre-line point (away from ends and junctions) the coverage is integrated along
    the normal, out to the paper on either side. For anti-aliased strokes that integral is the
    width whatever the sub-pixel offset; a distance transform of a thresholded mask would
    quantise it (to 0.5 px for axis-aligned strokes at 4x).

    Raises:
        NotLineArtError: no ink reaches half coverage.
    """
    centre = _centre_lines(coverage(pixels, polarity))
    if centre is None:
        raise NotLineArtError("no strokes to measure: no ink is half covered")
    return float(np.median(centre.sections))


def coverage(pixels: np.ndarray, polarity: Polarity) -> np.ndarray:
    """Ink coverage in [0, 1] (float32, H x W): colour projected on the paper → ink axis."""
    colour, alpha = _split(pixels)
    paper = np.asarray(polarity.paper, np.float32)
    if alpha is not None:
        colour = _composite(colour, alpha, paper)
    return _project(colour, paper, np.asarray(polarity.ink, np.float32))


def ink_bbox(pixels: np.ndarray, polarity: Polarity) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the half-covered ink pixels, right/bottom exclusive (as
    Pillow's getbbox); None on blank paper."""
    inked = coverage(pixels, polarity) >= _INK
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def redraw(pixels: np.ndarray, polarity: Polarity, matrix: np.ndarray, out_size: tuple[int, int],
           width_px: float, wobble: Wobble | None = None, ink: float | None = None,
           paper: float | None = None) -> np.ndarray:
    """Warp line art by moving its centre lines, then draw them again at `width_px`.

    Unlike resampling the pixels, the stroke width does not follow the zoom, and magnified
    strokes are joined segments, not blurred blocks. The background is the paper colour.

    Args:
        pixels: uint8 (H, W) or (H, W, C), as detect_polarity.
        polarity: paper and ink of `pixels`.
        matrix: 3x3 inverse map (output → input) in (x = column, y = row) pixel coordinates,
            as expand.augment.functional.affine_matrix returns.
        out_size: (width, height) of the output.
        width_px: stroke width to draw, in output pixels.
        wobble: a displacement of the centre lines in output pixels, or None.
        ink: ink luma level 0-255 to draw with (all colour channels shifted alike), or None.
        paper: paper luma level likewise; transparent paper stays transparent.

    Returns:
        uint8 array with the channels of `pixels`, out_size[1] x out_size[0].
    """
    centre = _centre_lines(coverage(pixels, polarity))
    if centre is None:
        width, height = out_size
        return _paint(np.zeros((height, width), np.float32), polarity, pixels, ink, paper)
    return _drawn(centre, polarity, pixels, matrix, out_size, width_px, wobble, ink, paper)


def _luma(colour: tuple[float, ...] | np.ndarray) -> float:
    return float(np.dot(_LUMA[len(colour)], colour))


def _luma_array(colour: np.ndarray) -> np.ndarray:
    return np.asarray(colour @ np.asarray(_LUMA[colour.shape[-1]], np.float32), np.float32)


def _split(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour as float32 (H, W, 1 or 3) and alpha in [0, 1] (or None)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels not in (1, 2, 3, 4):
        raise ValueError(f"pixels must have 1 to 4 channels, got {channels}")
    values = pixels.astype(np.float32)
    if channels in (2, 4):
        return values[..., :-1], values[..., -1] / 255.0
    return values, None


def _composite(colour: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.asarray(colour * a + backdrop * (1.0 - a), np.float32)


def _project(colour: np.ndarray, paper: np.ndarray, ink: np.ndarray) -> np.ndarray:
    axis = (ink - paper).astype(np.float32)
    norm = float(axis @ axis)
    if norm == 0.0:
        return np.zeros(colour.shape[:2], np.float32)
    projected: np.ndarray = np.clip(((colour - paper) @ axis) / norm, 0.0, 1.0)
    return projected.astype(np.float32)


def _line_art_confidence(cover: np.ndarray, contrast: float) -> float:
    """The weakest criterion's score; raises NotLineArtError below 0.5."""
    clean = (cover < _CLEAN_PAPER).astype(np.uint8)
    flat = float(cv2.erode(clean, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                           borderValue=1).mean())
    near_paper = cv2.dilate(clean, np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT,
                            borderValue=1).astype(bool)
    midtones = (cover >= _CLEAN_PAPER) & (cover < 1.0 - _CLEAN_PAPER)
    deep = float((midtones & ~near_paper).sum() / max(int(midtones.sum()), 1))
    inked = np.pad(cover >= _INK, 1).astype(np.uint8)
    distance = cv2.distanceTransform(inked, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    half_width = float(np.percentile(distance[cover >= _INK], 95)) if inked.any() else 0.0
    limit = max(_MIN_HALF_WIDTH_LIMIT, _HALF_WIDTH_FRACTION * min(cover.shape))
    scores = {
        f"contrast between paper and ink is {contrast:.0f} levels, needs >= {_MIN_CONTRAST:.0f}":
            contrast / (2 * _MIN_CONTRAST),
        f"flat paper covers {flat:.0%} of the image, needs >= {_MIN_FLAT_PAPER:.0%}":
            flat / (2 * _MIN_FLAT_PAPER),
        f"{deep:.0%} of the mid-tones lie over 2 px from paper (shading, not stroke edges), "
        f"needs <= {_MAX_DEEP_MIDTONES:.0%}":
            _MAX_DEEP_MIDTONES / (2 * deep) if deep else 1.0,
        f"ink is {half_width:.1f} px deep (95th percentile), strokes are <= {limit:.1f}":
            limit / (2 * half_width) if half_width else 1.0,
    }
    reason, score = min(scores.items(), key=lambda item: item[1])
    if score < 0.5:
        raise NotLineArtError(f"not line art: {reason}")
    return min(1.0, score)


@dataclass(frozen=True)
class _CentreLines:
    """Points (N, 2) in input (x, y) pixel coordinates, links (E, 2) between them, and the ink
    cross-sections (px) measured across the simple-path points."""

    points: np.ndarray
    edges: np.ndarray
    sections: np.ndarray


def _centre_lines(cover: np.ndarray) -> _CentreLines | None:
    """Centre lines of the half-covered ink; None when no ink is half covered.

    Thinned at 4x (3x past the budget) from the bilinearly supersampled coverage, whose 0.5
    contour follows anti-aliased edges closely, smoothed along the lines, then moved onto the
    centroid of their cross-section: thinning an even-width stroke must pick one of its two
    middle pixels, always the same side.
    """
    padded = np.pad(cover, 1)  # paper beyond the border closes strokes cut by it
    inked = padded >= _INK
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = rows[0] - 1, rows[-1] + 2, cols[0] - 1, cols[-1] + 2
    crop = padded[top:bottom, left:right]
    scale = _SUPERSAMPLE if crop.size * _SUPERSAMPLE**2 <= _SUPERSAMPLE_BUDGET else 3
    big = cv2.resize(crop, (crop.shape[1] * scale, crop.shape[0] * scale),
                     interpolation=cv2.INTER_LINEAR)
    skeleton = zhang_suen(big >= _INK)
    if not skeleton.any():  # lone pixels barely half covered vanish when interpolated
        return None
    points, edges = _graph(skeleton)
    points = _smooth(points, edges, _SMOOTHING_ITERATIONS)
    points = (points[:, ::-1] + 0.5) / scale - 0.5 + np.array([left - 1, top - 1])
    reach = float(cv2.distanceTransform(inked.astype(np.uint8), cv2.DIST_L2,
                                        cv2.DIST_MASK_PRECISE).max()) + 2.0
    which, normal = _normals(points, edges)
    sections, offset = _cross_sections(cover, points[which], normal, reach)
    limit = 1.0 / scale  # the thinning's own error; more would pull corners off the line
    points[which] += np.clip(offset, -limit, limit)[:, None] * normal
    # Each point moved on its own: smooth again so that the line does not jitter.
    return _CentreLines(_smooth(points, edges, _SMOOTHING_ITERATIONS), edges, sections)


def _normals(points: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the simple-path points (two links) and their unit normals; all points with
    an arbitrary normal when there are none (dots, specks)."""
    pairs = edges[edges[:, 0] != edges[:, 1]]
    degree = np.bincount(pairs.ravel(), minlength=len(points))
    which = np.flatnonzero(degree == 2)
    if which.size == 0:
        return np.arange(len(points)), np.tile([0.0, 1.0], (len(points), 1))
    links = np.concatenate([pairs, pairs[:, ::-1]])
    links = links[np.argsort(links[:, 0], kind="stable")]
    first = np.searchsorted(links[:, 0], which)
    tangent = points[links[first + 1, 1]] - points[links[first, 1]]
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    return which, np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _cross_sections(cover: np.ndarray, points: np.ndarray, normal: np.ndarray,
                    reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Coverage integrated along each normal (px) and its centroid's offset from the point.

    Each profile keeps only its own stroke: it ends at paper, or at a valley between strokes.
    """
    step = 0.25
    half = math.ceil(reach / step)
    t = np.arange(-half, half + 1) * step
    xy = (points[:, None, :] + t[None, :, None] * normal[:, None, :]).astype(np.float32)
    # OpenCV's remap takes maps under 32767 rows: one profile per row, in chunks.
    profile = np.concatenate([
        cv2.remap(cover, chunk[..., 0], chunk[..., 1], cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        for chunk in np.array_split(xy, -(-len(xy) // 32_000))
    ])
    forward, backward = _own_stroke(profile[:, half:]), _own_stroke(profile[:, half::-1])
    keep = np.concatenate([backward[:, :0:-1], forward], axis=1)
    ink = profile * keep
    area = ink.sum(axis=1)
    return area * step, (ink * t).sum(axis=1) / np.maximum(area, 1e-9)


def _own_stroke(outward: np.ndarray) -> np.ndarray:
    """Which samples of profiles read outward from the centre belong to the centre's stroke."""
    rising = np.zeros(outward.shape, bool)
    rising[:, 1:] = (outward[:, 1:] > outward[:, :-1]) & (outward[:, :-1] < _INK)
    return np.cumprod((outward >= _TRACE) & ~rising, axis=1).astype(bool)


def _lut(step: int) -> np.ndarray:
    """The deletion rule of one sub-iteration for each 8-neighbour code (bit i = P(i+2))."""
    table = np.zeros(256, bool)
    for code in range(256):
        p = [(code >> i) & 1 for i in range(8)]
        transitions = sum(p[i] == 0 and p[(i + 1) % 8] == 1 for i in range(8))
        n, e, s, w = p[0], p[2], p[4], p[6]
        if step == 0:
            side = n * e * s == 0 and e * s * w == 0
        else:
            side = n * e * w == 0 and n * s * w == 0
        table[code] = 3 <= sum(p) <= 6 and transitions == 1 and side
    return table


_ZS_TABLES = (_lut(0), _lut(1))


def zhang_suen(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning (1984) with Lü and Wang's (1986) 3 <= B(P) <= 6, to centre lines.

    The original rule (2 <= B) erases 2-pixel-thick diagonal lines altogether; this one keeps
    them as 4-connected staircases, which `_graph` links as simple paths.

    Each sub-iteration judges every candidate at once (a table lookup of its 8-neighbour
    code), as the algorithm prescribes; only pixels next to a deletion are judged again, so the
    cost follows the ink's area, not area x iterations.
    """
    image = np.pad(mask, 1).astype(np.uint8)
    flat = image.ravel()
    stride = image.shape[1]
    offsets = [dr * stride + dc for dr, dc in _NEIGHBOURS]
    slot = np.zeros(flat.size, np.int64)  # de-duplicates candidates in O(n), without sorting
    candidates = np.flatnonzero(flat)
    idle_steps = 0
    step = 0
    while candidates.size and idle_steps < 2:
        codes = np.zeros(candidates.size, np.uint8)
        for bit, offset in enumerate(offsets):
            codes |= flat[candidates + offset] << bit
        delete = _ZS_TABLES[step][codes]
        if delete.any():
            gone = candidates[delete]
            flat[gone] = 0
            around = (gone[:, None] + np.array(offsets)).ravel()
            # Interior pixels (all 8 neighbours ink) can't go until a neighbour does.
            merged = np.concatenate([candidates[~delete & (codes != 255)],
                                     around[flat[around] == 1]])
            order = np.arange(merged.size)
            slot[merged] = order
            candidates = merged[slot[merged] == order]
            idle_steps = 0
        else:
            candidates = candidates[codes != 255]
            idle_steps += 1
        step = 1 - step
    return image[1:-1, 1:-1].astype(bool)


def _graph(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton pixels as points (N, 2) of (row, col) and their 8-neighbour links (E, 2).

    A diagonal link whose two pixels also meet through a shared 4-neighbour is left out, so a
    staircase is a simple path, not a chain of triangles; a pixel with no link links to itself
    so that dots are drawn too.
    """
    rows, cols = np.nonzero(skeleton)
    on = np.pad(skeleton, 1)
    index = np.full(on.shape, -1, np.int64)
    index[rows + 1, cols + 1] = np.arange(rows.size)
    r, c = rows + 1, cols + 1
    links = []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        other = index[r + dr, c + dc]
        found = other >= 0
        if dr and dc:
            found &= ~on[r, c + dc] & ~on[r + dr, c]
        links.append(np.stack([np.flatnonzero(found), other[found]], axis=1))
    edges = np.concatenate(links)
    degree = np.bincount(edges.ravel(), minlength=rows.size)
    lonely = np.flatnonzero(degree == 0)
    edges = np.concatenate([edges, np.stack([lonely, lonely], axis=1)])
    return np.stack([rows, cols], axis=1).astype(np.float64), edges


def _smooth(points: np.ndarray, edges: np.ndarray, iterations: int) -> np.ndarray:
    """Move each point of a simple path (2 links) halfway to its neighbours' mean; ends and
    junctions stay, so the drawing keeps its extent and its joins."""
    pairs = edges[edges[:, 0] != edges[:, 1]]
    degree = np.bincount(pairs.ravel(), minlength=len(points))
    inner = degree == 2
    for _ in range(iterations):
        total = np.zeros_like(points)
        np.add.at(total, pairs[:, 0], points[pairs[:, 1]])
        np.add.at(total, pairs[:, 1], points[pairs[:, 0]])
        points = np.where(inner[:, None], 0.5 * points + 0.25 * total, points)
    return points


def _render(xy: np.ndarray, edges: np.ndarray, out_size: tuple[int, int],
            width_px: float) -> np.ndarray:
    """Coverage of round-capped segments `width_px` wide, anti-aliased by area averaging.

    Only the part of the frame the strokes can reach is rendered (a zoomed-out drawing is a
    fraction of it).
    """
    width, height = out_size
    s = _RENDER_SCALE if width * height * _RENDER_SCALE**2 <= _RENDER_BUDGET else 4
    # A digital line's pixels stray up to half a pixel either side of the true line, which
    # widens the stroke by 0.2-0.4 render pixels a side on slanted lines (none when axis-aligned).
    reach = width_px * s / 2.0 + 0.5 - _STAIRCASE_EXCESS
    pad = math.ceil(reach) + 1
    canvas_xy = (xy + 0.5) * s - 0.5
    start, end = canvas_xy[edges[:, 0]], canvas_xy[edges[:, 1]]
    # Sample each segment every half render pixel: joined, not dotted, however far it was zoomed.
    counts = np.ceil(np.linalg.norm(end - start, axis=1) / 0.5).astype(np.int64) + 1
    which = np.repeat(np.arange(len(edges)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    t = (np.arange(which.size) - first) / np.maximum(counts[which] - 1, 1)
    samples = np.rint(start[which] + t[:, None] * (end - start)[which]).astype(np.int64)
    low = np.clip((samples.min(axis=0) - pad) // s, 0, (width, height))
    high = np.clip((samples.max(axis=0) + pad) // s + 1, 0, (width, height))
    cover = np.zeros((height, width), np.float32)
    if (high <= low).any():
        return cover
    samples -= low * s - pad
    shape = ((high[1] - low[1]) * s + 2 * pad, (high[0] - low[0]) * s + 2 * pad)
    inside = ((samples[:, 0] >= 0) & (samples[:, 0] < shape[1])
              & (samples[:, 1] >= 0) & (samples[:, 1] < shape[0]))
    canvas = np.ones(shape, np.uint8)
    canvas[samples[inside, 1], samples[inside, 0]] = 0
    distance = cv2.distanceTransform(canvas, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    fine = np.clip(reach - distance, 0.0, 1.0)[pad:-pad, pad:-pad]
    cover[low[1]:high[1], low[0]:high[0]] = cv2.resize(
        fine, (int(high[0] - low[0]), int(high[1] - low[1])), interpolation=cv2.INTER_AREA)
    return cover


def _paint(cover: np.ndarray, polarity: Polarity, like: np.ndarray, ink: float | None,
           paper: float | None) -> np.ndarray:
    """Coverage → pixels with the channels of `like`; levels shift every colour channel alike."""
    polarity = _levelled(polarity, ink, paper)
    ink_colour = np.asarray(polarity.ink, np.float32)
    paper_colour = np.asarray(polarity.paper, np.float32)
    a = cover[..., None]
    has_alpha = like.ndim == 3 and like.shape[2] in (2, 4)
    transparent = polarity.transparent_paper and has_alpha
    if transparent:
        colour = np.broadcast_to(ink_colour, (*cover.shape, ink_colour.size))
    else:
        colour = paper_colour + a * (ink_colour - paper_colour)
    if has_alpha:
        alpha = a * 255.0 if transparent else np.full_like(a, 255.0)
        colour = np.concatenate([colour, alpha], axis=2)
    out = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    return out if like.ndim == 3 else out[..., 0]


# ---- the pipeline's view: trace a source once, draw each copy from it ----


@dataclass(frozen=True)
class Traced:
    """A source traced once for all the copies of its task: its polarity, centre lines, typical
    stroke width (px) and the box of its half-covered ink (pixel edges, right/bottom
    exclusive)."""

    polarity: Polarity
    width: float
    bbox: tuple[int, int, int, int]
    centre: _CentreLines


def polarity_of(pixels: np.ndarray, told: str = "auto") -> Polarity:
    """detect_polarity, or the polarity the config gives ('dark-on-light', 'light-on-dark'):
    detection still finds the two colours and refuses what is not line art; being told only
    decides which of them is the ink (for drawings that cover most of their page)."""
    found = detect_polarity(pixels)
    if told == "auto" or found.dark_on_light == (told == "dark-on-light"):
        return found
    return Polarity(found.ink, found.paper, found.transparent_paper, found.confidence)


def trace(pixels: np.ndarray, told: str = "auto") -> Traced:
    """Everything a line-art copy needs from its source.

    Raises:
        NotLineArtError: not line art, or no stroke to trace.
    """
    polarity = polarity_of(pixels, told)
    centre = _centre_lines(coverage(pixels, polarity))
    bbox = ink_bbox(pixels, polarity)
    if centre is None or bbox is None:
        raise NotLineArtError("no strokes to trace: no ink is half covered")
    return Traced(polarity, float(np.median(centre.sections)) if centre.sections.size
                  else 1.0, bbox, centre)


def box_through(bbox: tuple[int, int, int, int], matrix: np.ndarray) -> tuple[float, ...]:
    """(x0, y0, x1, y1) in output pixels of the box around an ink box's corners (pixel edges)
    carried forward by the inverse map `matrix` (output → input, affine or projective)."""
    left, top, right, bottom = bbox
    corners = np.array([[left - 0.5, top - 0.5, 1], [right - 0.5, top - 0.5, 1],
                        [right - 0.5, bottom - 0.5, 1], [left - 0.5, bottom - 0.5, 1]])
    moved = corners @ np.linalg.inv(matrix).T
    moved = moved[:, :2] / moved[:, 2:]
    (x0, y0), (x1, y1) = moved.min(axis=0), moved.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def scale_of(matrix: np.ndarray, at: tuple[float, float]) -> float:
    """How much the inverse map `matrix` magnifies lengths near output point `at` (√|det|)."""
    forward = np.linalg.inv(matrix)
    x, y = at
    w = forward[2, 0] * x + forward[2, 1] * y + forward[2, 2]
    jacobian = (forward[:2, :2] * w - np.outer(forward[:2, :2] @ (x, y) + forward[:2, 2],
                                               forward[2, :2])) / (w * w)
    return math.sqrt(abs(float(np.linalg.det(jacobian))))


def draw(traced: Traced, like: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int],
         width_px: float, wobble: Wobble | None = None) -> np.ndarray:
    """`redraw` from a trace; `matrix` may be projective (3x3 output → input homography)."""
    return _drawn(traced.centre, traced.polarity, like, matrix, out_size, width_px, wobble,
                  None, None)


def _drawn(centre: _CentreLines, polarity: Polarity, like: np.ndarray, matrix: np.ndarray,
           out_size: tuple[int, int], width_px: float, wobble: Wobble | None,
           ink: float | None, paper: float | None) -> np.ndarray:
    """The centre lines carried forward by the inverse map `matrix` (projective allowed),
    displaced by `wobble`, rendered `width_px` wide and painted like `like`."""
    forward = np.linalg.inv(matrix)
    xy = centre.points @ forward[:2, :2].T + forward[:2, 2]
    w = centre.points @ forward[2, :2] + forward[2, 2]
    xy = xy / w[:, None]
    if wobble is not None:
        xy = wobble.displace(xy)
    return _paint(_render(xy, centre.edges, out_size, width_px), polarity, like, ink, paper)


def _levelled(polarity: Polarity, ink: float | None, paper: float | None) -> Polarity:
    """Ink and paper colours moved to these levels (None: kept), every channel alike, as the
    float32 the painting computes in."""
    def moved(colour: tuple[float, ...], shift: float) -> tuple[float, ...]:
        return tuple(float(v) for v in np.clip(np.asarray(colour, np.float32) + shift, 0, 255))
    if ink is not None:
        polarity = replace(polarity, ink=moved(polarity.ink, ink - polarity.ink_level))
    if paper is not None:
        polarity = replace(polarity, paper=moved(polarity.paper, paper - polarity.paper_level))
    return polarity


def repainted(polarity: Polarity, ink: float, paper: float) -> Polarity:
    """The polarity of a copy that `repaint` gave these fractions: its ink and paper colours,
    what the per-output checks measure its coverage against."""
    contrast = polarity.paper_level - polarity.ink_level
    return _levelled(polarity, polarity.ink_level + ink * contrast,
                     polarity.paper_level - paper * contrast)


def repaint(pixels: np.ndarray, polarity: Polarity, ink: float, paper: float) -> np.ndarray:
    """Ink and paper moved toward each other (or apart, negative) by fractions of their
    contrast: 0 leaves a level where it is, 1 would make it the other's. Strokes keep their
    anti-aliasing (the coverage is kept)."""
    return _paint(coverage(pixels, polarity), repainted(polarity, ink, paper), pixels, None,
                  None)
