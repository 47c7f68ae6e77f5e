"""train.uncertainty: the small-test warning shared by `compare` and `evaluate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.uncertainty import QUOTABLE, margin, small_test_warning


def test_margin_is_the_worst_case_normal_interval() -> None:
    assert margin(15) == pytest.approx(1.959964 * 0.5 / 15 ** 0.5)
    assert margin(385) <= QUOTABLE < margin(384)


def test_one_accuracy_is_warned_about_until_it_is_quotable() -> None:
    warning = small_test_warning(Path("test"), 180, 45)
    assert warning is not None
    assert warning.startswith("test: 180 images from 45 independent sources, so each image is "
                              "worth 0.56 points")
    assert "±14.6 points" in warning and "too small to rank models" in warning
    assert "independent" not in str(small_test_warning(Path("test"), 15, 15))
    assert small_test_warning(Path("test"), 1000, 385) is None


def test_compare_is_warned_when_the_gap_is_inside_the_margin() -> None:
    assert small_test_warning(Path("t"), 15, 15, gap=0.30) is None  # 30 points > ±25.3
    warning = small_test_warning(Path("t"), 15, 15, gap=-0.10)
    assert warning is not None and "difference of the means (10.0 points)" in warning
    assert "too small to separate the two arms" in warning
