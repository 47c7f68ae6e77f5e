"""Targets follow the pixels: polygons, boxes and masks mapped by expand.augment.targets agree
with the masks it warps and with the images the pipeline itself makes (issue 26, acceptance 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from expand.annotations import ImageTargets, Target
from expand.augment import functional as F
from expand.augment.geometric import CropBox, RandomCrop, Rot90, Turn
from expand.augment.params import AugmentParams, sample_params
from expand.augment.pipeline import apply_params, geometry
from expand.augment.seeding import rng_for, source_key
from expand.augment.targets import copy_targets, forward_points, map_targets
from expand.config import AugmentConfig, FillMode

WIDTH, HEIGHT = 192, 144  # not square: a width taken for a height shows


def raster(rings: Sequence[np.ndarray | tuple[float, ...]], size: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre (j + 0.5, i + 0.5) lies inside (even-odd rule): the coordinate
    convention itself, with no library's rasteriser between it and the test."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    inside = np.zeros((height, width), dtype=bool)
    for flat in rings:
        ring = np.asarray(flat, dtype=float).reshape(-1, 2)
        for (x0, y0), (x1, y1) in zip(ring, np.roll(ring, -1, axis=0)):
            if y0 == y1:
                continue
            between = (ys >= min(y0, y1)) & (ys < max(y0, y1))
            crossing = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
            inside ^= between & (xs < crossing)
    return inside


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def centroid(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean(), rows.mean()])


def star(draw: Any, size: tuple[int, int]) -> np.ndarray:
    """A simple, fat (star-shaped) polygon of 5 to 9 points, its arms 30 to 48 px long, inside:
    a sliver's centroid moves with every pixel its rasterisation rounds."""
    width, height = size
    count = draw(st.integers(5, 9))
    radius = draw(st.floats(30, 48))
    cx = draw(st.floats(radius + 2, width - radius - 2))
    cy = draw(st.floats(radius + 2, height - radius - 2))
    turn = draw(st.floats(0, 2 * np.pi))
    jitter = np.array(draw(st.lists(st.floats(0, 0.6), min_size=count, max_size=count)))
    angles = turn + 2 * np.pi * (np.arange(count) + jitter) / count
    reach = np.array(draw(st.lists(st.floats(0.7, 1.0), min_size=count, max_size=count)))
    return np.stack([cx + radius * reach * np.cos(angles),
                     cy + radius * reach * np.sin(angles)], axis=1)


@st.composite
def polygons(draw: Any) -> np.ndarray:
    return star(draw, (WIDTH, HEIGHT))


#: Keras's geometry and the catalogue's maps: every one composed into the copy's matrix.
configs = st.fixed_dictionaries({
    "rotation_range": st.floats(0, 180),
    "width_shift_range": st.floats(0, 0.15),
    "height_shift_range": st.floats(0, 0.15),
    "shear_range": st.floats(0, 25),
    "zoom_range": st.floats(0, 0.3),
    "horizontal_flip": st.booleans(),
    "vertical_flip": st.booleans(),
    "transforms": st.tuples(
        st.sampled_from([None, {"name": "random_crop", "size_frac": 0.8},
                         {"name": "random_resized_crop", "scale": [0.5, 1.0]}]),
        st.sampled_from([None, {"name": "rot90"}]),
        st.one_of(st.none(), st.floats(0.05, 0.5).map(
            lambda d: {"name": "perspective", "distortion": d})),
    ).map(lambda chosen: [t for t in chosen if t is not None]),
})


def drawn(kwargs: dict[str, Any], seed: int, fill_mode: FillMode = "constant"
          ) -> tuple[AugmentConfig, AugmentParams]:
    config = AugmentConfig(**kwargs, fill_mode=fill_mode, cval=0)
    key = source_key("images/x.png")
    return config, sample_params(config, lambda name: rng_for(seed, key, 0, name),
                                 (WIDTH, HEIGHT))


@st.composite
def matrices(draw: Any) -> tuple[np.ndarray, tuple[bool, bool]]:
    """An output -> input map about the frame's centre: any rotation, scale, shear, shift, and
    (half of the time) a perspective row; flips."""
    angle = draw(st.floats(-np.pi, np.pi))
    scale = draw(st.tuples(st.floats(0.7, 1.4), st.floats(0.7, 1.4)))
    shear = draw(st.floats(-0.4, 0.4))
    shift = draw(st.tuples(st.floats(-8, 8), st.floats(-8, 8)))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(scale)
    centre = np.array([(WIDTH - 1) / 2, (HEIGHT - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre + shift - linear @ centre
    if draw(st.booleans()):
        tilt = draw(st.tuples(st.floats(-0.004, 0.004), st.floats(-0.004, 0.004)))
        about = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1.0]])
        perspective = np.linalg.inv(about) @ np.array(
            [[1, 0, 0], [0, 1, 0], [tilt[0], tilt[1], 1.0]]) @ about
        matrix = matrix @ perspective
    return matrix, (draw(st.booleans()), draw(st.booleans()))


def _only(targets: ImageTargets) -> Target:
    assert len(targets.objects) == 1
    return targets.objects[0]


def _agree(found: np.ndarray, target: Target, what: str) -> None:
    """`found` (a warped mask or the thresholded image) against the rasterised mapped polygon:
    IoU >= 0.95 (the issue's bound), and the same centroid within 0.75 px: nearest neighbour
    at an exact half-pixel tie moves a whole mask by half a pixel, a flip's slip moves it by
    one."""
    expected = raster(target.polygons, (WIDTH, HEIGHT))
    # larger than a few pixels: two rasterisations (the source's, then the nearest sample of
    # it) each move a boundary by up to half a pixel, a share of the area that falls with size
    assume(expected.sum() >= 2500)
    assert iou(found, expected) >= 0.95, what
    assert np.abs(centroid(found) - centroid(expected)).max() < 0.75, what


def image_of(mask: np.ndarray | None) -> np.ndarray:
    """A white shape on black, RGB."""
    assert mask is not None
    return np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2)


def _polygon_target(points: np.ndarray) -> Target:
    mask = raster([points], (WIDTH, HEIGHT))
    low, high = points.min(axis=0), points.max(axis=0)
    return Target(3, (low[0], low[1], high[0], high[1]), (tuple(points.ravel().tolist()),),
                  mask)


@settings(max_examples=150, deadline=None)
@given(kwargs=configs, seed=st.integers(0, 2**32), points=polygons())
def test_a_mapped_polygon_agrees_with_its_warped_mask_and_with_the_pipelines_image(
        kwargs: dict[str, Any], seed: int, points: np.ndarray) -> None:
    config, params = drawn(kwargs, seed)
    source = _polygon_target(points)
    mapped, counts = copy_targets(ImageTargets((source,)), params, config, (WIDTH, HEIGHT), 0.0)
    assume(counts.dropped == 0)
    target = _only(mapped)
    assert target.mask is not None and target.mask.dtype == np.bool_
    _agree(target.mask, target, "warped mask")
    image = image_of(source.mask)
    out = apply_params(image, params, config, has_alpha=False)
    _agree(out[..., 0] >= 128, target, "the pipeline's image")


@settings(max_examples=150, deadline=None)
@given(drawn_map=matrices(), points=polygons())
def test_a_mapped_polygon_agrees_with_the_warp_of_any_matrix(
        drawn_map: tuple[np.ndarray, tuple[bool, bool]], points: np.ndarray) -> None:
    matrix, flips = drawn_map
    source = _polygon_target(points)
    mapped, counts = map_targets(ImageTargets((source,)), matrix, flips, (WIDTH, HEIGHT),
                                 "constant", 0.0)
    assume(counts.dropped == 0)
    target = _only(mapped)
    assert target.mask is not None
    _agree(target.mask, target, "warped mask")
    image = image_of(source.mask)
    warp = F.warp_affine if np.array_equal(matrix[2], (0, 0, 1)) else F.warp_perspective
    out = F.flip(warp(image, matrix, "constant", 0.0, False), *flips)
    _agree(out[..., 0] >= 128, target, "the warped image")


@settings(max_examples=150, deadline=None)
@given(kwargs=configs, seed=st.integers(0, 2**32), points=polygons())
def test_a_box_only_objects_box_contains_its_mapped_polygons_box(
        kwargs: dict[str, Any], seed: int, points: np.ndarray) -> None:
    config, params = drawn(kwargs, seed)
    polygon = _polygon_target(points)
    box_only = Target(polygon.category, polygon.box)
    mapped, counts = copy_targets(ImageTargets((polygon, box_only)), params, config,
                                  (WIDTH, HEIGHT), 0.0)
    if counts.dropped:  # nothing of the polygon inside; its box's quad may still be
        assert len(mapped.objects) <= 1 and not (mapped.objects and mapped.objects[0].polygons)
        return
    true_box, box = (np.array(t.box) for t in mapped.objects)
    assert (box[:2] <= true_box[:2] + 1e-9).all() and (box[2:] >= true_box[2:] - 1e-9).all()
    assert (box >= 0).all() and box[2] <= WIDTH and box[3] <= HEIGHT
    assert mapped.objects[1].polygons == ()


def _rectilinear(draw: Any, size: int) -> np.ndarray:
    """An L-shaped ring with whole-pixel corners: no pixel centre lies on its edges."""
    x0, y0 = draw(st.integers(0, size - 6)), draw(st.integers(0, size - 6))
    x2, y2 = draw(st.integers(x0 + 4, size)), draw(st.integers(y0 + 4, size))
    x1, y1 = draw(st.integers(x0 + 1, x2 - 1)), draw(st.integers(y0 + 1, y2 - 1))
    return np.array([[x0, y0], [x2, y0], [x2, y1], [x1, y1], [x1, y2], [x0, y2]], dtype=float)


@st.composite
def turns(draw: Any) -> tuple[int, bool, bool, np.ndarray]:
    return (draw(st.integers(0, 3)), draw(st.booleans()), draw(st.booleans()),
            _rectilinear(draw, 24))


def _exactly(points: np.ndarray, k: int, flips: tuple[bool, bool], size: int) -> np.ndarray:
    """np.rot90's turn (counter-clockwise, (x, y) -> (y, N - x)) k times, then the flips."""
    out = points.copy()
    for _ in range(k):
        out = np.stack([out[:, 1], size - out[:, 0]], axis=1)
    if flips[0]:
        out[:, 0] = size - out[:, 0]
    if flips[1]:
        out[:, 1] = size - out[:, 1]
    return out


@settings(max_examples=100, deadline=None)
@given(turn=turns())
def test_flips_and_quarter_turns_map_exactly(turn: tuple[int, bool, bool, np.ndarray]) -> None:
    k, horizontal, vertical, points = turn
    size = 24
    mask = raster([points], (size, size))
    source = Target(1, (float(points[:, 0].min()), float(points[:, 1].min()),
                        float(points[:, 0].max()), float(points[:, 1].max())),
                    (tuple(points.ravel().tolist()),), mask)
    box_only = Target(2, (2.0, 3.0, 9.0, 21.0))
    config = AugmentConfig(transforms=(Rot90(),), fill_mode="constant")
    params = AugmentParams(flip_horizontal=horizontal, flip_vertical=vertical,
                           extra=(("rot90", Turn(k) if k else None),))
    mapped, counts = copy_targets(ImageTargets((source, box_only)), params, config, (size, size),
                                  0.5)
    assert (counts.kept, counts.clipped, counts.dropped) == (2, 0, 0)
    polygon, box = mapped.objects
    turned = np.rot90(mask, k)
    turned = turned[:, ::-1] if horizontal else turned
    turned = turned[::-1] if vertical else turned
    expected = _exactly(points, k, (horizontal, vertical), size)
    assert np.array_equal(np.array(polygon.polygons[0]).reshape(-1, 2), expected)
    assert polygon.box == (*expected.min(axis=0), *expected.max(axis=0))
    corners = _exactly(np.array([[2.0, 3.0], [9.0, 21.0]]), k, (horizontal, vertical), size)
    assert box.box == (*corners.min(axis=0), *corners.max(axis=0))
    assert polygon.mask is not None and np.array_equal(polygon.mask, turned)
    assert np.array_equal(raster(polygon.polygons, (size, size)), turned)
    image = np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2)
    assert np.array_equal(apply_params(image, params, config, False)[..., 0] == 255, turned)
    ring = points.copy()
    assert np.array_equal(forward_points(ring, geometry(params, size, size)[0],
                                         (horizontal, vertical), (size, size)), expected)


def test_a_half_turn_and_flips_of_a_frame_that_is_not_square_are_exact() -> None:
    points = np.array([[1.25, 2.5], [70.0, 0.0], [33.75, 55.5]])
    config = AugmentConfig(transforms=(Rot90(),))
    params = AugmentParams(flip_horizontal=True, extra=(("rot90", Turn(2)),))
    matrix, _ = geometry(params, WIDTH, HEIGHT)
    out = forward_points(points, matrix, (True, False), (WIDTH, HEIGHT))
    # the half turn, then the mirror: upside down
    assert np.array_equal(out, np.stack([points[:, 0], HEIGHT - points[:, 1]], axis=1))
    mask = raster([points], (WIDTH, HEIGHT))
    source = Target(0, (1.25, 0.0, 70.0, 55.5), (tuple(points.ravel().tolist()),), mask)
    mapped, _ = copy_targets(ImageTargets((source,)), params, config, (WIDTH, HEIGHT), 0.25)
    flipped = _only(mapped).mask
    assert flipped is not None and np.array_equal(flipped, mask[::-1])


@settings(max_examples=50, deadline=None)
@given(points=polygons(), corner=st.tuples(st.integers(0, 9), st.integers(0, 7)),
       horizontal=st.booleans())
def test_a_crop_that_doubles_maps_exactly_on_pixel_centres(
        points: np.ndarray, corner: tuple[int, int], horizontal: bool) -> None:
    """The window [x, x + W/2] x [y, y + H/2] fills the frame: p -> 2 (p - (x, y)), and output
    pixels 2k, 2k+1 sample source pixel x + k (its centre convention, proven exactly)."""
    x, y = corner
    config = AugmentConfig(transforms=(RandomCrop(size_frac=0.5),), fill_mode="constant")
    params = AugmentParams(flip_horizontal=horizontal,
                           extra=(("random_crop", CropBox(x, y, WIDTH / 2, HEIGHT / 2)),))
    source = _polygon_target(points)
    assert source.mask is not None
    label = source.mask.astype(np.uint8) * 7
    mapped, counts = copy_targets(ImageTargets((source,), label), params, config,
                                  (WIDTH, HEIGHT), 0.0)
    expected = 2 * (points - (x, y))
    if horizontal:
        expected[:, 0] = WIDTH - expected[:, 0]
    if counts.kept:
        target = _only(mapped)
        assert np.array_equal(np.array(target.polygons[0]).reshape(-1, 2), expected)
        assert target.box == (*expected.min(axis=0), *expected.max(axis=0))
    window = source.mask[y:y + HEIGHT // 2, x:x + WIDTH // 2]
    doubled = np.repeat(np.repeat(window, 2, axis=0), 2, axis=1)
    doubled = doubled[:, ::-1] if horizontal else doubled
    assert mapped.label_image is not None and np.array_equal(mapped.label_image == 7, doubled)
    image = image_of(source.mask)
    assert np.array_equal(apply_params(image, params, config, False)[..., 0] >= 128, doubled)


def _shifted(tx: float) -> AugmentParams:
    """Keras's shift: tx > 0 moves the content left by tx pixels."""
    return AugmentParams(tx=tx)


def test_an_object_cut_by_the_frame_is_clipped_one_outside_is_dropped_in_source_order() -> None:
    size = (40, 30)
    inside = Target(0, (22.0, 2.0, 38.0, 8.0), ((22, 2, 38, 2, 38, 8, 22, 8),))
    half = Target(1, (10.0, 10.0, 30.0, 20.0))  # box-only: [10, 30] -> [-10, 10]
    polygon = Target(2, (15.0, 21.0, 25.0, 29.0), ((15, 21, 25, 21, 25, 29, 15, 29),))
    gone = Target(3, (0.0, 0.0, 15.0, 5.0), ((0, 0, 15, 0, 15, 5),))
    mapped, counts = copy_targets(ImageTargets((inside, half, polygon, gone)), _shifted(20.0),
                                  AugmentConfig(fill_mode="constant"), size, 0.25)
    assert (counts.kept, counts.clipped, counts.dropped) == (1, 2, 1)
    assert [t.category for t in mapped.objects] == [0, 1, 2]
    assert mapped.objects[0].box == (2.0, 2.0, 18.0, 8.0)
    assert mapped.objects[1].box == (0.0, 10.0, 10.0, 20.0)
    assert mapped.objects[1].polygons == ()
    assert mapped.objects[2].box == (0.0, 21.0, 5.0, 29.0)
    assert mapped.objects[2].polygons == ((0.0, 21.0, 5.0, 21.0, 5.0, 29.0, 0.0, 29.0),)


def test_min_visibility_keeps_or_drops_what_is_partly_inside() -> None:
    size = (40, 30)
    square = Target(0, (0.0, 0.0, 20.0, 10.0), ((0, 0, 20, 0, 20, 10, 0, 10),))
    box_only = Target(1, (0.0, 12.0, 20.0, 22.0))
    targets = ImageTargets((square, box_only))
    matrix = np.array([[1.0, 0.0, 14.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # 6 of 20 px stay
    kept, counts = map_targets(targets, matrix, (False, False), size, "constant", 0.25)
    assert (counts.kept, counts.clipped, counts.dropped) == (0, 2, 0)
    assert kept.objects[0].polygons == ((0.0, 0.0, 6.0, 0.0, 6.0, 10.0, 0.0, 10.0),)
    assert [t.box for t in kept.objects] == [(0.0, 0.0, 6.0, 10.0), (0.0, 12.0, 6.0, 22.0)]
    _, counts = map_targets(targets, matrix, (False, False), size, "constant", 0.35)
    assert (counts.kept, counts.clipped, counts.dropped) == (0, 0, 2)
    outside = np.array([[1.0, 0.0, 25.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    none, counts = map_targets(targets, outside, (False, False), size, "constant", 0.0)
    assert none.objects == () and (counts.kept, counts.clipped, counts.dropped) == (0, 0, 2)


def test_a_mask_only_object_is_clipped_and_dropped_by_its_mask() -> None:
    size = (40, 30)
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:15, 0:20] = True
    target = Target(4, (0.0, 5.0, 20.0, 15.0), (), mask, iscrowd=True)
    shift = np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    mapped, counts = map_targets(ImageTargets((target,)), shift, (False, False), size,
                                 "constant", 0.25)
    assert (counts.kept, counts.clipped, counts.dropped) == (0, 1, 0)
    kept = _only(mapped)
    assert kept.box == (0.0, 5.0, 10.0, 15.0) and kept.iscrowd and kept.polygons == ()
    assert kept.mask is not None and kept.mask.sum() == 100
    _, counts = map_targets(ImageTargets((target,)), shift, (False, False), size, "constant",
                            0.6)
    assert counts.dropped == 1
    turned, counts = map_targets(ImageTargets((target,)), np.eye(3), (True, False), size,
                                 "constant", 0.25)
    assert counts.kept == 1 and _only(turned).box == (20.0, 5.0, 40.0, 15.0)


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
@settings(max_examples=40, deadline=None)
@given(kwargs=configs, seed=st.integers(0, 2**32), points=polygons())
def test_a_label_image_is_warped_with_the_images_fill_mode(
        fill_mode: FillMode, kwargs: dict[str, Any], seed: int, points: np.ndarray) -> None:
    config, params = drawn({**kwargs, "zoom_range": [1.0, 1.4]}, seed, fill_mode)
    shape = raster([points], (WIDTH, HEIGHT))
    shape[:, :32] = True  # a band along the left edge: what the fill modes bring in shows
    label = (shape * 300).astype(np.uint16)
    mapped, counts = copy_targets(ImageTargets(label_image=label), params, config,
                                  (WIDTH, HEIGHT), 0.25)
    assert mapped.objects == () and counts.kept == counts.clipped == counts.dropped == 0
    warped = mapped.label_image
    assert warped is not None and warped.dtype == np.uint16 and warped.shape == label.shape
    assert set(np.unique(warped)) <= {0, 300}
    image = np.repeat(shape[..., None].astype(np.uint8) * 255, 3, axis=2)
    out = apply_params(image, params, config, has_alpha=False)[..., 0] >= 128
    assume(out.sum() >= 2500)
    assert iou(warped == 300, out) >= 0.95


def test_an_object_across_the_horizon_of_a_perspective_is_cut_before_it() -> None:
    """Forward map x -> x / (1 - x/50): the source's x = 50 goes to infinity. Of an object over
    [20, 60], what the frame shows ([20, 33.3] -> [33.3, 100]) is kept, finite; its mapped
    whole is unbounded, so any visibility threshold drops it."""
    size = (100, 60)
    forward = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.02, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    matrix = np.linalg.inv(shift) @ np.linalg.inv(forward) @ shift  # between pixel centres
    ring = (20.0, 10.0, 60.0, 10.0, 60.0, 40.0, 20.0, 40.0)
    mask = raster([ring], size)
    targets = ImageTargets((Target(0, (20.0, 10.0, 60.0, 40.0), (ring,), mask),))
    kept, counts = map_targets(targets, matrix, (False, False), size, "constant", 0.0)
    assert counts.clipped == 1
    target = _only(kept)
    points = np.array(target.polygons[0]).reshape(-1, 2)
    assert np.isfinite(points).all() and points[:, 0].min() == pytest.approx(100 / 3)
    assert target.mask is not None
    assert iou(target.mask, raster(target.polygons, size)) >= 0.95
    image = image_of(mask)
    seen = F.warp_perspective(image, matrix, "constant", 0.0, False)[..., 0] >= 128
    assert iou(seen, raster(target.polygons, size)) >= 0.95
    _, counts = map_targets(targets, matrix, (False, False), size, "constant", 0.01)
    assert counts.dropped == 1
