"""How far an accuracy measured on a test folder can be trusted: the one home of the small-test
warning that `compare` and `evaluate` print.

Copies of one source image are not independent test items, so the margin counts sources.
"""

from __future__ import annotations

import math
from pathlib import Path

from scipy import stats

CONFIDENCE = 0.95
#: An accuracy whose margin is wider than this cannot tell two reasonable models apart.
QUOTABLE = 0.05


def margin(sources: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of an accuracy's interval on `sources` independent items (worst case, p = 0.5).

    Seeds only measure training noise; the test set is a sample too, and no number of seeds
    shrinks that.
    """
    return float(stats.norm.ppf((1 + confidence) / 2) * 0.5 / math.sqrt(sources))


def small_test_warning(folder: Path, images: int, sources: int, confidence: float = CONFIDENCE,
                       gap: float | None = None) -> str | None:
    """The warning for a test folder too small for the number read from it, or None.

    Args:
        folder: the test folder, named in the message.
        images: the images evaluated; each is worth 100/images accuracy points.
        sources: the independent source images among them (the margin rests on these).
        confidence: of the margin.
        gap: `compare`'s difference of the arms' means, which the margin must not swamp; None
            for one accuracy (`evaluate`), which must be good to QUOTABLE.
    """
    half = margin(sources, confidence)
    if gap is None:
        if half <= QUOTABLE:
            return None
        verdict = (f"more than the ±{100 * QUOTABLE:.0f} points needed to tell two models "
                   f"apart: this folder is too small to rank models by its accuracy")
    else:
        if abs(gap) >= half:
            return None
        verdict = (f"more than the difference of the means ({100 * abs(gap):.1f} points): this "
                   f"test folder is too small to separate the two arms")
    counted = f"{images} images" + (
        "" if sources == images else f" from {sources} independent sources")
    return (f"{folder}: {counted}, so each image is worth {100 / images:.2f} points and an "
            f"accuracy measured on them is uncertain by up to ±{100 * half:.1f} points, {verdict}")
