"""The pen model (issue 23): strokes in output pixels, capped by the placed drawing's size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from expand.augment import line_art_transforms as LA
from expand.config import AugmentConfig
from expand.errors import ConfigError
from expand.augment.params import sample_params
from expand.augment.pipeline import apply_params
from expand.augment.seeding import rng_for, source_key
from expand.augment.transforms import transform_from_dict

SIZE = 24


def triangle(stroke_px: float = 3.0) -> np.ndarray:
    """A tutorial-like 24x24 triangle outline, dark on white, drawn 8x larger and reduced."""
    big = Image.new("L", (SIZE * 8, SIZE * 8), 255)
    corners = [(12 * 8, 3 * 8), (21 * 8, 20 * 8), (3 * 8, 20 * 8)]
    ImageDraw.Draw(big).line(corners + corners[:2], fill=0, width=round(stroke_px * 8),
                             joint="curve")
    return np.asarray(big.resize((SIZE, SIZE), Image.Resampling.BOX))[..., None]


def holes(pixels: np.ndarray) -> int:
    """Enclosed paper regions: paper components (4-connected) that do not touch the border."""
    paper = pixels[..., 0] >= 128
    labels, count = ndimage.label(paper)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0],
                                           labels[:, -1]])))
    return sum(1 for i in range(1, count + 1) if i not in border)


def _copies(config: AugmentConfig, count: int) -> list[np.ndarray]:
    image, key = triangle(), source_key("triangle/t.png")
    return [apply_params(image, sample_params(config, lambda n, c=c: rng_for(0, key, c, n),
                                              (SIZE, SIZE)), config, False)
            for c in range(count)]


def _small(*extra: dict[str, object]) -> AugmentConfig:
    """Any turn, the drawing placed at 35 % of the frame."""
    return AugmentConfig(rotation_range=180, transforms=(
        {"name": "stroke_preserve"}, {"name": "placement", "size": [0.35, 0.35]}, *extra))


def test_the_source_has_one_hole() -> None:
    assert holes(triangle()) == 1


def test_a_triangle_placed_at_35_percent_keeps_its_hole_under_the_pen() -> None:
    config = _small({"name": "pen", "width_px": [3.0, 3.0]})
    assert [holes(copy) for copy in _copies(config, 20)] == [1] * 20


def test_without_the_pen_the_same_copies_close_their_hole() -> None:
    """The fault the pen mends: the source's 3 px strokes at 35 % fill the triangle in."""
    found = [holes(copy) for copy in _copies(_small(), 20)]
    assert found.count(0) >= 10


def test_the_pen_width_is_in_output_pixels_whatever_the_zoom() -> None:
    """A drawing placed large is drawn with the pen's width, not the source's times the zoom:
    the ink's area follows the width (same outline, same length)."""
    inks = []
    for width in (1.5, 3.0):
        config = AugmentConfig(transforms=({"name": "placement", "size": [0.9, 0.9]},
                                           {"name": "pen", "width_px": [width, width]}))
        (copy,) = _copies(config, 1)
        inks.append(float((255 - copy[..., 0].astype(float)).sum() / 255))
    assert inks[1] / inks[0] == pytest.approx(2.0, rel=0.2)


def test_the_cap_is_recorded_and_the_width_drawn_from_the_range() -> None:
    pen = LA.Pen(width_px=(1.5, 3.0), max_width_frac=0.1)
    drawn = [pen.sample(rng_for(0, source_key("a/b.png"), c, "pen"), SIZE, SIZE)
             for c in range(200)]
    widths = [d.width_px for d in drawn]
    assert 1.5 <= min(widths) < 1.6 and 2.9 < max(widths) <= 3.0
    assert {d.max_width_frac for d in drawn} == {0.1}


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "pen", "width_px": [0, 2]}, "pen.width_px"),
    ({"name": "pen", "max_width_frac": 1.5}, "pen.max_width_frac"),
])
def test_bad_pen_settings_are_refused_with_the_field(entry: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        transform_from_dict(entry, "transforms[0]")
