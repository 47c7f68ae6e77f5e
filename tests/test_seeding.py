"""The fast streams (SourceStreams, and Stream's draws in Python) are rng_for's streams, draw for
draw."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expand.augment.seeding import (
    SEED_BLOCK,
    SourceStreams,
    Stream,
    rng_for,
    source_key,
    transform_id,
)

NAMES = ("rotation", "width_shift", "height_shift", "shear", "zoom", "horizontal_flip",
         "vertical_flip", "channel_shift", "brightness")


@settings(max_examples=300, deadline=None)
@given(seed=st.one_of(st.integers(0, 3), st.integers(0, 2**63 - 1)),
       path=st.text(min_size=1, max_size=40),
       copies=st.lists(st.one_of(st.integers(0, 50), st.integers(0, 2**40)), min_size=1,
                       max_size=4),
       names=st.lists(st.one_of(st.sampled_from(NAMES), st.text(max_size=12)), min_size=1,
                      max_size=5),
       hinted=st.integers(0, 3))
def test_source_streams_equal_rng_for(seed: int, path: str, copies: list[int],
                                      names: list[str], hinted: int) -> None:
    """Also when the copies and names are given beforehand (made together, in NumPy), some of
    them or all, and when the copies asked for are not among them or too large for the batch."""
    key = source_key(path)
    streams = SourceStreams(seed, key, tuple(copies[hinted % 2:]), tuple(names[:hinted]))
    for copy in copies:
        stream = streams.for_copy(copy)
        for name in names:
            reference = rng_for(seed, key, copy, name)
            fast = stream(name)
            assert fast.bit_generator.state == reference.bit_generator.state
            assert fast.uniform(-1, 1, 3).tolist() == reference.uniform(-1, 1, 3).tolist()
            assert fast.integers(2**40) == reference.integers(2**40)


def test_streams_made_together_are_numpys_for_a_full_source() -> None:
    """The worker's case: every copy of a source, every stream of the config, all at once."""
    key = source_key("circle/circle001.png")
    streams = SourceStreams(2**64 - 1, key, tuple(range(25)), NAMES)
    for copy in range(25):
        stream = streams.for_copy(copy)
        for name in NAMES:
            state = stream(name).bit_generator.state
            assert state == rng_for(2**64 - 1, key, copy, name).bit_generator.state


def test_asking_again_restarts_the_stream() -> None:
    stream = SourceStreams(0, source_key("a/b.png")).for_copy(3)
    first = stream("zoom").random(4).tolist()
    assert stream("zoom").random(4).tolist() == first
    assert rng_for(0, source_key("a/b.png"), 3, "zoom").random(4).tolist() == first


def test_transform_ids_are_the_first_four_bytes_of_sha256() -> None:
    assert transform_id("rotation") == int.from_bytes(hashlib.sha256(b"rotation").digest()[:4],
                                                      "big")


DRAW = st.one_of(
    st.tuples(st.just("random"), st.none()),
    st.tuples(st.just("uniform"), st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6),
                                            st.one_of(st.none(), st.integers(0, 5))).map(
        lambda a: (min(a[0], a[1]), max(a[0], a[1]), a[2]))),
    st.tuples(st.just("integers"), st.integers(1, 2**40)),
    st.tuples(st.just("normal"), st.none()),
)


def _draw(rng: Stream | np.random.Generator, draw: tuple[str, Any]) -> Any:
    kind, args = draw
    if kind == "random":
        return rng.random()
    if kind == "uniform":
        got = rng.uniform(*args)
        return got.tolist() if isinstance(got, np.ndarray) else got
    if kind == "integers":
        return int(rng.integers(args))
    return float(rng.standard_normal())


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), path=st.text(min_size=1, max_size=20),
       copy=st.integers(0, 100), draws=st.lists(DRAW, min_size=1, max_size=12))
def test_a_streams_python_draws_are_numpys(seed: int, path: str, copy: int,
                                          draws: list[tuple[str, Any]]) -> None:
    """random and uniform are drawn in Python until any other draw hands over to NumPy."""
    key = source_key(path)
    fast = SourceStreams(seed, key).for_copy(copy)("rotation")
    reference = rng_for(seed, key, copy, "rotation")
    for draw in draws:
        got, want = _draw(fast, draw), _draw(reference, draw)
        assert type(got) is type(want) and got == want, draw


def test_many_copies_are_seeded_a_block_at_a_time() -> None:
    """A source asked for far more copies than a block (a balanced class of one image) holds one
    block of seeds at a time, and every stream is still NumPy's, asked in any order."""
    key = source_key("solo/only.png")
    count = 3 * SEED_BLOCK + 17
    streams = SourceStreams(5, key, tuple(range(count)), NAMES[:3])
    for copy in [0, count - 1, SEED_BLOCK, 1, 2 * SEED_BLOCK - 1, count - 2]:
        for name in NAMES[:3]:
            state = streams.for_copy(copy)(name).bit_generator.state
            assert state == rng_for(5, key, copy, name).bit_generator.state
        assert copy in streams._table and len(streams._table) <= SEED_BLOCK
