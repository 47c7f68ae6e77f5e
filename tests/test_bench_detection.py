"""bench/detection.py's anchor clips polygons to the frame and judges visibility as `expand`
does: an anchor that kept more or fewer objects would not be doing the same job."""

from __future__ import annotations

import numpy as np
import pytest

from bench.detection import _area, _clip, _polygons


def test_clip_cuts_a_polygon_at_every_side_of_the_frame() -> None:
    # a 20 x 20 square centred on the frame's top-left corner: a quarter stays inside
    square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    inside = _clip(square, 30, 20)
    assert _area(inside) == pytest.approx(100.0)
    assert inside.min() >= 0.0
    # a triangle over the right and bottom sides
    triangle = np.array([[20.0, 10.0], [40.0, 10.0], [20.0, 30.0]])
    cut = _clip(triangle, 30, 20)
    assert cut[:, 0].max() == pytest.approx(30.0) and cut[:, 1].max() == pytest.approx(20.0)
    assert _area(cut) == pytest.approx(100.0)  # x + y <= 20 holds over the whole 10 x 10 cut
    assert _area(_clip(square + 100, 30, 20)) == 0.0  # wholly outside


def test_objects_below_the_visibility_are_dropped_in_source_order() -> None:
    seen = np.array([[2.0, 2.0], [8.0, 2.0], [8.0, 8.0], [2.0, 8.0]])  # inside
    mostly_out = np.array([[-9.0, 0.0], [1.0, 0.0], [1.0, 10.0], [-9.0, 10.0]])  # 10% inside
    half_out = np.array([[25.0, 0.0], [35.0, 0.0], [35.0, 10.0], [25.0, 10.0]])  # 50% inside
    kept = _polygons([0, 1, 2], [0, 1, 2], np.concatenate([seen, mostly_out, half_out]),
                     [4, 4, 4], 30, 20)
    assert [category for category, _ in kept] == [0, 2]
    assert _area(kept[1][1][0]) == pytest.approx(50.0)
