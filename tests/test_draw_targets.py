"""Targets drawn on sheet tiles (expand.tools.sheet.draw_targets): where the pixels are."""

from __future__ import annotations

import numpy as np

from expand.annotations import ImageTargets, Target
from expand.tools.sheet import MASK_OPACITY, category_colour, draw_targets


def _coloured(tile: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.asarray((tile == colour).all(axis=2))


def test_a_box_is_a_rectangle_of_its_categorys_colour_at_the_tiles_scale() -> None:
    tile = np.zeros((60, 80, 3), dtype=np.uint8)  # a 40 x 30 image drawn twice as large
    targets = ImageTargets((Target(2, (5.0, 4.0, 15.0, 10.0)),))
    drawn = draw_targets(tile, targets, 2.0)
    assert drawn.shape == tile.shape and drawn.dtype == np.uint8 and not tile.any()
    expected = np.zeros((60, 80), dtype=bool)
    expected[8:20, 10:30] = True  # [10, 30) x [8, 20) in tile pixels
    expected[9:19, 11:29] = False  # its outline only
    assert np.array_equal(_coloured(drawn, category_colour(2)), expected)
    assert not drawn[~expected].any()


def test_a_polygon_is_an_outline_inside_its_box_and_masks_are_translucent() -> None:
    tile = np.full((30, 40, 3), 100, dtype=np.uint8)
    mask = np.zeros((30, 40), dtype=bool)
    mask[20:25, 30:38] = True
    label = np.zeros((30, 40), dtype=np.uint16)
    label[0:3, 0:4] = 7
    targets = ImageTargets((Target(1, (4.0, 4.0, 12.0, 10.0), ((4, 4, 12, 4, 12, 10),)),
                            Target(3, (30.0, 20.0, 38.0, 25.0), (), mask)), label)
    drawn = draw_targets(tile, targets, 1.0)
    outline = _coloured(drawn, category_colour(1))
    rows, cols = np.nonzero(outline)
    assert outline.sum() >= 8 + 6  # the two straight sides at least
    assert rows.min() >= 4 and rows.max() <= 10 and cols.min() >= 4 and cols.max() <= 12
    assert outline[4, 4:12].all() and outline[4:10, 12].all()
    tinted = np.rint(100 * (1 - MASK_OPACITY) + np.array(category_colour(3)) * MASK_OPACITY)
    inside = (drawn == tinted).all(axis=2)
    assert inside[21:24, 31:37].all()  # the mask's inside; its box is drawn on its edge
    labelled = (drawn == np.rint(100 * (1 - MASK_OPACITY)
                                 + np.array(category_colour(7)) * MASK_OPACITY)).all(axis=2)
    assert np.array_equal(labelled, label == 7)
    untouched = ~(mask | (label > 0)) & ~outline & ~_coloured(drawn, category_colour(3))
    assert (drawn[untouched] == 100).all()
