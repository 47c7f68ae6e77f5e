"""Targets follow a copy's geometry: boxes, polygons and masks go where the pipeline puts the
pixels (pure functions, no I/O).

The pipeline resamples by `matrix`, an output -> input map between pixel centres, then flips the
result. Targets are in continuous coordinates (pixel (i, j) covers [j, j+1) x [i, i+1)), so a
source point p goes to flip(inv(matrix) (p - 0.5)) + 0.5; that is composed here into one forward
map, exact wherever the matrix is (flips, quarter turns).
"""

from __future__ import annotations

import cv2
import numpy as np

from expand.annotations import ImageTargets, Target, TargetCounts
from expand.augment.functional import is_identity, warp_labels
from expand.augment.params import AugmentParams
from expand.augment.pipeline import geometry
from expand.config import AugmentConfig

#: A mapped point this close to the frame (in pixels) counts as inside: the round-off of a map
#: is not a cut.
_EDGE = 1e-6
#: Homogeneous weights are normalised to 1 where the output's centre samples; a segment is
#: clipped where its weight falls to this, in front of the horizon (the image of a line
#: through the horizon is no segment).
_HORIZON = 1e-6


def _inverse(matrix: np.ndarray) -> np.ndarray:
    """The input -> output map. An affine one is inverted in closed form, so a matrix of small
    integers and halves (flips, quarter turns) inverts exactly."""
    m = np.asarray(matrix, dtype=float)
    if m[2, 0] != 0.0 or m[2, 1] != 0.0 or m[2, 2] != 1.0:
        inverse: np.ndarray = np.linalg.inv(m)
        return inverse
    a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
    det = a * d - b * c
    if det == 0.0:
        raise np.linalg.LinAlgError("singular geometry")
    linear = np.array([[d, -b], [-c, a]]) / det
    out = np.eye(3)
    out[:2, :2] = linear
    out[:2, 2] = -(linear @ m[:2, 2])
    return out


def _forward(matrix: np.ndarray, flips: tuple[bool, bool], size: tuple[int, int]) -> np.ndarray:
    """The 3x3 source -> output map in continuous coordinates; a projective one scaled so that
    its weight is 1 at the source point the output's centre samples."""
    width, height = size
    to_centres = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    # flip(q) + 0.5 in one step: x -> W - 1 - q + 0.5 = W - (q + 0.5)
    back = np.array([[-1.0 if flips[0] else 1.0, 0.0, width - 0.5 if flips[0] else 0.5],
                     [0.0, -1.0 if flips[1] else 1.0, height - 0.5 if flips[1] else 0.5],
                     [0.0, 0.0, 1.0]])
    forward: np.ndarray = back @ _inverse(matrix) @ to_centres
    if forward[2, 0] != 0.0 or forward[2, 1] != 0.0:
        centre = np.asarray(matrix, dtype=float) @ ((width - 1) / 2, (height - 1) / 2, 1.0)
        seen = np.array([centre[0] / centre[2] + 0.5, centre[1] / centre[2] + 0.5, 1.0])
        forward = forward / float(forward[2] @ seen)
    return forward


def _apply(forward: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points through a forward map (a projective one divides by the weight)."""
    mapped: np.ndarray = points @ forward[:2, :2].T + forward[:2, 2]
    if forward[2, 0] != 0.0 or forward[2, 1] != 0.0 or forward[2, 2] != 1.0:
        mapped = mapped / (points @ forward[2, :2] + forward[2, 2])[:, None]
    return mapped


def forward_points(points: np.ndarray, matrix: np.ndarray, flips: tuple[bool, bool],
                   size: tuple[int, int]) -> np.ndarray:
    """Where source points (N, 2) (continuous x, y) land in the copy made by the output -> input
    `matrix` (3x3, pixel centres, as `geometry` gives it) and then `flips` (horizontal,
    vertical) of a frame of `size` (width, height)."""
    return _apply(_forward(matrix, flips, size), np.asarray(points, dtype=float).reshape(-1, 2))


def _clip(ring: np.ndarray, plane: tuple[float, float, float]) -> np.ndarray:
    """One Sutherland-Hodgman step: the part of a closed ring (N, 2) where
    a x + b y + c >= 0, its points in order."""
    a, b, c = plane
    side = ring @ (a, b) + c
    inside = side >= 0
    if inside.all():
        return ring
    if not inside.any():
        return ring[:0]
    previous, side_before, inside_before = (np.roll(ring, 1, axis=0), np.roll(side, 1),
                                            np.roll(inside, 1))
    crosses = inside != inside_before
    # where an edge does not cross, its t is not used: any finite value will do
    t = side_before / np.where(crosses, side_before - side, 1.0)
    cut = previous + t[:, None] * (ring - previous)
    # per point, in order: the crossing on the edge that reaches it, then the point if inside
    both = np.stack([cut, ring], axis=1).reshape(-1, 2)
    keep = np.stack([crosses, inside], axis=1).reshape(-1)
    kept: np.ndarray = both[keep]
    return kept


def _frame_planes(size: tuple[int, int]) -> tuple[tuple[float, float, float], ...]:
    width, height = size
    return ((1.0, 0.0, 0.0), (-1.0, 0.0, float(width)), (0.0, 1.0, 0.0),
            (0.0, -1.0, float(height)))


def _area(ring: np.ndarray) -> float:
    """The shoelace area of a closed ring, whatever its orientation."""
    if len(ring) < 3:
        return 0.0
    x, y = ring[:, 0], ring[:, 1]
    return abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1))) / 2.0


def _map_rings(rings: list[np.ndarray], forward: np.ndarray, size: tuple[int, int]
               ) -> list[tuple[np.ndarray | None, float, float]]:
    """Each source ring -> (the mapped ring clipped to the frame, or None if nothing is left; its
    area inside; its whole mapped area). Every point goes through the map in one pass: only
    rings that leave the frame (or cross a perspective's horizon) are clipped one by one."""
    width, height = size
    if forward[2, 0] != 0.0 or forward[2, 1] != 0.0:
        plane = (float(forward[2, 0]), float(forward[2, 1]), float(forward[2, 2]) - _HORIZON)
        rings = [_clip(ring, plane) for ring in rings]
    counts = np.array([len(ring) if len(ring) >= 3 else 0 for ring in rings])
    out: list[tuple[np.ndarray | None, float, float]] = [(None, 0.0, 0.0)] * len(rings)
    used = np.flatnonzero(counts)
    if len(used) == 0:
        return out
    points = np.concatenate([rings[i] for i in used])
    starts = np.concatenate([[0], np.cumsum(counts[used])[:-1]])
    mapped = _apply(forward, points)
    following = np.arange(1, len(points) + 1)
    following[starts[1:] - 1] = starts[:-1]
    following[-1] = starts[-1]
    x, y = mapped[:, 0], mapped[:, 1]
    areas = np.abs(np.add.reduceat(x * y[following] - y * x[following], starts)) / 2.0
    inside = np.logical_and.reduceat((x >= -_EDGE) & (x <= width + _EDGE) & (y >= -_EDGE)
                                     & (y <= height + _EDGE), starts)
    # a point a rounding error outside (a map's, or a crossing computed on the edge) is put on it
    held = np.clip(mapped, 0.0, (width, height))
    ends = np.append(starts[1:], len(points))
    for index, first, last, area, whole in zip(used.tolist(), starts.tolist(), ends.tolist(),
                                               areas.tolist(), inside.tolist()):
        if whole:
            out[index] = (held[first:last], area, area)
            continue
        cut = mapped[first:last]
        for frame_plane in _frame_planes(size):
            cut = _clip(cut, frame_plane)
        cut_area = _area(cut)
        out[index] = (np.clip(cut, 0.0, (width, height)) if cut_area > 0.0 else None,
                      cut_area, area)
    return out


def _warp_mask(mask: np.ndarray, matrix: np.ndarray, flips: tuple[bool, bool],
               fill_mode: str) -> np.ndarray:
    """The image's warp (same map, border rule, output size) with nearest neighbour, then its
    flips; a constant fill is 0 (background). Keeps the dtype (bool, uint8, uint16)."""
    height, width = mask.shape
    work = mask.view(np.uint8) if mask.dtype == np.bool_ else mask
    if not is_identity(matrix, atol=1e-9):  # as the pipeline, which skips the identity
        work = warp_labels(work, matrix, fill_mode)
    if flips[0] or flips[1]:
        code = -1 if flips[0] and flips[1] else 1 if flips[0] else 0
        work = cv2.flip(np.ascontiguousarray(work), code)
    if work is mask:
        return mask
    out: np.ndarray = work.view(np.bool_) if mask.dtype == np.bool_ else work
    return out.reshape(height, width)


def _mask_visibility(mask: np.ndarray, forward: np.ndarray, size: tuple[int, int]) -> float:
    """The share of an instance mask's area that lands in the frame: its pixel centres mapped,
    each weighted by the map's local change of area (|det| / w^3 for a homography)."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return 0.0
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    mapped = _apply(forward, centres)
    width, height = size
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] <= width) & (mapped[:, 1] >= 0) \
        & (mapped[:, 1] <= height)
    if forward[2, 0] == 0.0 and forward[2, 1] == 0.0:
        return float(inside.mean())
    weight = centres @ forward[2, :2] + forward[2, 2]
    inside &= weight > _HORIZON
    # beyond the horizon: infinitely magnified, so the object counts as (almost) wholly outside
    scale = np.maximum(weight, _HORIZON) ** -3.0
    return float(scale[inside].sum() / scale.sum())


def _mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def _box_ring(box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _bounds(rings: list[np.ndarray]) -> tuple[float, float, float, float]:
    points = np.concatenate(rings)
    low, high = points.min(axis=0), points.max(axis=0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def map_targets(targets: ImageTargets, matrix: np.ndarray, flips: tuple[bool, bool],
                size: tuple[int, int], fill_mode: str, min_visibility: float
                ) -> tuple[ImageTargets, TargetCounts]:
    """An image's targets in the copy the pipeline makes with `matrix` (output -> input, pixel
    centres) and `flips`, in a frame of `size` (width, height).

    - polygons: their points mapped, clipped to the frame; the box bounds what is left.
    - a box-only object: its four corners mapped and clipped; the box bounds them, so it
      contains the mapped object.
    - an instance mask and the label image: warped like the image, with nearest neighbour and
      `fill_mode` (constant fills 0), then flipped; a mask-only object's box bounds its mask.
    Visibility is the share of the mapped area inside the frame: an object below
    `min_visibility`, or with nothing inside, is dropped; one cut and kept is clipped. Kept
    objects keep their source order.
    """
    forward = _forward(matrix, flips, size)
    label = None if targets.label_image is None \
        else _warp_mask(targets.label_image, matrix, flips, fill_mode)
    # every object's rings (its polygons, or its box's corners), mapped together
    rings: list[np.ndarray] = []
    first: list[int] = []
    for target in targets.objects:
        first.append(len(rings))
        if target.polygons:
            rings += [np.asarray(p, dtype=float).reshape(-1, 2) for p in target.polygons]
        elif target.mask is None:
            rings.append(_box_ring(target.box))
    first.append(len(rings))
    mapped = _map_rings(rings, forward, size)
    objects: list[Target] = []
    kept = clipped = dropped = 0
    for index, target in enumerate(targets.objects):
        mask = None if target.mask is None else _warp_mask(target.mask, matrix, flips, fill_mode)
        polygons: tuple[tuple[float, ...], ...] = ()
        box: tuple[float, float, float, float] | None
        if first[index] < first[index + 1]:
            own = mapped[first[index]:first[index + 1]]
            cut = [ring for ring, _, _ in own if ring is not None]
            whole = sum(area for _, _, area in own)
            visibility = sum(area for _, area, _ in own) / whole if whole > 0.0 else 0.0
            box = _bounds(cut) if cut else None
            if target.polygons:
                polygons = tuple(tuple(ring.ravel().tolist()) for ring in cut)
        else:
            assert target.mask is not None and mask is not None
            visibility = _mask_visibility(target.mask, forward, size)
            box = _mask_box(mask)
        if box is None or visibility <= 0.0 or visibility < min_visibility:
            dropped += 1
            continue
        if visibility < 1.0 - _EDGE:
            clipped += 1
        else:
            kept += 1
        objects.append(Target(target.category, box, polygons, mask, target.iscrowd))
    return ImageTargets(tuple(objects), label), TargetCounts(kept, clipped, dropped)


def copy_targets(targets: ImageTargets, params: AugmentParams, config: AugmentConfig,
                 size: tuple[int, int], min_visibility: float
                 ) -> tuple[ImageTargets, TargetCounts]:
    """map_targets through the copy's own geometry, flips and fill mode (apply_params's)."""
    width, height = size
    matrix, _ = geometry(params, width, height)
    return map_targets(targets, matrix, (params.flip_horizontal, params.flip_vertical), size,
                       config.fill_mode, min_visibility)
