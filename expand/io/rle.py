"""COCO's run-length encoding of a mask, ours (pycocotools is the reference in the tests, not a
dependency): runs over the pixels in column-major order, starting with a run of 0s (0 long when
the first pixel is set), written either as a list of ints or as COCO's compressed string (each
run, from the third on as the difference with the run two before, in 5-bit groups with a
continuation bit, plus 48 to land on printable ASCII)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# The characters a compressed count may hold: 48 + a 6-bit group.
_FIRST, _LAST = 48, 48 + 63


def mask_runs(mask: np.ndarray) -> list[int]:
    """The run lengths of `mask` (H, W), column-major, starting with a run of 0s."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = [int(run) for run in np.diff(bounds)]
    return [0, *runs] if flat[0] else runs


def runs_string(runs: Sequence[int]) -> str:
    """COCO's compressed string of `runs` (maskApi.c's rleToString)."""
    out: list[str] = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: a negative difference ends on -1, a positive on 0
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(c + (0x20 if more else 0) + _FIRST))
    return "".join(out)


def string_runs(counts: str) -> list[int]:
    """The run lengths in COCO's compressed string (maskApi.c's rleFrString).

    Raises:
        ValueError: a character outside the encoding's range, or a string cut inside a run.
    """
    runs: list[int] = []
    x = shift = 0
    for char in counts:
        code = ord(char)
        if not _FIRST <= code <= _LAST:
            raise ValueError(f"RLE counts hold {char!r}, not a compressed count character")
        c = code - _FIRST
        x |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            x |= -1 << shift
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
        x = shift = 0
    if shift:
        raise ValueError("RLE counts end inside a run")
    return runs


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """`mask` (H, W) as a COCO RLE object with compressed counts: {"size": [H, W], "counts"}."""
    height, width = mask.shape
    return {"size": [int(height), int(width)], "counts": runs_string(mask_runs(mask))}


def rle_decode(rle: object) -> np.ndarray:
    """A COCO RLE object ({"size": [H, W], "counts": a compressed string or a list of ints}) as
    an (H, W) bool mask.

    Raises:
        ValueError: not an RLE object, or runs that are negative or do not cover H x W pixels.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("an RLE mask is an object with 'size' and 'counts'")
    size, counts = rle["size"], rle["counts"]
    if (not isinstance(size, list) or len(size) != 2
            or not all(type(side) is int and side >= 0 for side in size)):
        raise ValueError(f"RLE size {size!r} is not [height, width]")
    height, width = size
    if isinstance(counts, str):
        runs = string_runs(counts)
    elif isinstance(counts, list) and all(type(run) is int for run in counts):
        runs = counts
    else:
        raise ValueError("RLE counts are neither a compressed string nor a list of integers")
    if any(run < 0 for run in runs):
        raise ValueError("RLE counts hold a negative run")
    if sum(runs) != height * width:
        raise ValueError(f"RLE runs cover {sum(runs)} pixels, not {height} x {width}")
    values = np.arange(len(runs)) % 2 == 1
    flat = np.repeat(values, runs)
    return flat.reshape((height, width), order="F")
