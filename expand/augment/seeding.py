"""Random streams: one per (run seed, source, copy, transform), independent of workers and order.

Stream version 1: `SeedSequence(seed, spawn_key=(*sha256(source_rel_path) as 8 uint32 words,
copy, transform_id))`, where transform_id is the first 4 bytes of SHA-256 of the transform's name.
Keying by name (not position) means a transform added later leaves every other stream unchanged,
and keying by the source's path (not its index) means a file added to SRC changes no other output.

A copy drawn again after failing a per-output check (attempt k >= 1) draws each transform from a
child of that stream keyed ('attempt', k): spawn_key=(..., copy, transform_id,
transform_id("attempt"), k). Attempt 0 is the stream itself, so the version stays 1.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import numpy.random  # noqa: F401  (else NumPy imports it on first use, in every worker)
import numpy.typing as npt

RANDOM_STREAMS_VERSION = 1


def source_key(rel_path: str) -> tuple[int, ...]:
    digest = hashlib.sha256(rel_path.encode("utf-8", "surrogateescape")).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 32, 4))


@cache
def transform_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def rng_for(seed: int, key: tuple[int, ...], copy: int, transform: str) -> np.random.Generator:
    sequence = np.random.SeedSequence(seed, spawn_key=(*key, copy, transform_id(transform)))
    return np.random.Generator(np.random.PCG64(sequence))


def attempt_streams(seed: int, key: tuple[int, ...], copy: int,
                    attempt: int) -> Callable[[str], np.random.Generator]:
    """`stream(name)` for attempt `attempt` >= 1 of a copy: children of its streams (rare, so
    built plainly by NumPy)."""
    def stream(transform: str) -> np.random.Generator:
        sequence = np.random.SeedSequence(seed, spawn_key=(
            *key, copy, transform_id(transform), transform_id("attempt"), attempt))
        return np.random.Generator(np.random.PCG64(sequence))
    return stream


# --- the same streams, cheaper ------------------------------------------------------------------
# SeedSequence mixes its entropy words one after the other, so the mixing of (seed, source key),
# the same for every copy and transform of a source, can be done once. Below is NumPy's
# SeedSequence (pool size 4) and PCG64 seeding, word for word; tests compare it with rng_for.

_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG64_MULT = (2549297995355413924 << 64) + 4865540595714422341
_POOL = 4


def _words(value: int) -> list[int]:
    """A non-negative int as SeedSequence's little-endian uint32 words (0 is one word)."""
    words = [value & _M32]
    value >>= 32
    while value:
        words.append(value & _M32)
        value >>= 32
    return words


def _hash(word: int, xor: int, mult: int) -> int:
    """One hashing step of SeedSequence (the constants from _hash_steps)."""
    value = ((word ^ xor) * mult) & _M32
    return value ^ (value >> 16)


def _mixed(entry: int, value: int) -> int:
    """A pool entry with a hashed value mixed in."""
    mixed = (_MIX_L * entry - _MIX_R * value) & _M32
    return mixed ^ (mixed >> 16)


def _hash_steps(first: int, mult: int, count: int) -> list[tuple[int, int]]:
    """The (xor, multiply) constants of `count` hashing steps from `first`: a hash step XORs a
    word with the constant, advances it, and multiplies by the new one."""
    steps, const = [], first
    for _ in range(count):
        advanced = (const * mult) & _M32
        steps.append((const, advanced))
        const = advanced
    return steps


#: generate_state's 8 hashing steps: they depend on nothing but their position.
_STATE_STEPS = _hash_steps(_INIT_B, _MULT_B, 8)
#: What a word's _POOL hashing steps advance the constant by.
_MULT_A_POOL = pow(_MULT_A, _POOL, 1 << 32)


def _hash_word(word: int, hash_const: int) -> tuple[int, ...]:
    """What SeedSequence mixes into each of the pool's entries for one more word: a function of
    the word and the hash constant only (the constant depends only on how many words came
    before)."""
    return tuple(_hash(word, xor, mult) for xor, mult in _hash_steps(hash_const, _MULT_A, _POOL))


#: A transform's share, once per process: transform ids are few (source keys are not).
_hashed_transform = cache(_hash_word)


def _absorb(pool: list[int], hash_const: int, words: list[int]) -> tuple[list[int], int]:
    """Mix more entropy words into a pool already holding _POOL of them."""
    for word in words:
        pool = _mixed_in(pool, _hash_word(word, hash_const))
        hash_const = (hash_const * _MULT_A_POOL) & _M32
    return list(pool), hash_const


def _mixed_in(pool: list[int], hashed: tuple[int, ...]) -> list[int]:
    return [_mixed(entry, value) for entry, value in zip(pool, hashed)]


def _mix(entropy: list[int]) -> tuple[list[int], int]:
    steps = _hash_steps(_INIT_A, _MULT_A, _POOL * _POOL)
    pool = [_hash(entropy[i] if i < len(entropy) else 0, *steps[i]) for i in range(_POOL)]
    step = _POOL
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mixed(pool[dst], _hash(pool[src], *steps[step]))
                step += 1
    return _absorb(pool, steps[-1][1], entropy[_POOL:])


def _pcg64_seed(pool: list[int]) -> tuple[int, int]:
    """PCG64(SeedSequence)'s (state, inc): generate_state(4, uint64), then pcg64_set_seed."""
    out = [_hash(pool[i & 3], xor, mult) for i, (xor, mult) in enumerate(_STATE_STEPS)]
    return _pcg64_state(((out[0] | out[1] << 32) << 64) | out[2] | out[3] << 32,
                        ((out[4] | out[5] << 32) << 64) | out[6] | out[7] << 32)


def _pcg64_state(seed: int, sequence: int) -> tuple[int, int]:
    """pcg64_set_seed: the (state, inc) of PCG64 from its 128-bit seed and sequence."""
    inc = ((sequence << 1) | 1) & _M128
    return (((inc + seed) & _M128) * _PCG64_MULT + inc) & _M128, inc


_STATE_XOR = np.array([xor for xor, _ in _STATE_STEPS], dtype=np.uint64)
_STATE_MULT = np.array([mult for _, mult in _STATE_STEPS], dtype=np.uint64)
_STATE_ENTRY = [i & 3 for i in range(len(_STATE_STEPS))]


_U64 = npt.NDArray[np.uint64]


def _hash_np(words: _U64, xor: _U64, mult: _U64) -> _U64:
    """_hash over uint64 arrays of 32-bit words (products stay below 2**64)."""
    value: _U64 = ((words ^ xor) * mult) & np.uint64(_M32)
    return value ^ (value >> np.uint64(16))


def _mixed_in_np(pool: _U64, hashed: _U64) -> _U64:
    """_mixed_in over arrays: uint64 arithmetic wraps modulo 2**64, a multiple of 2**32."""
    entry: _U64 = (np.uint64(_MIX_L) * pool - np.uint64(_MIX_R) * hashed) & np.uint64(_M32)
    return entry ^ (entry >> np.uint64(16))


def _seed_table(pool: list[int], hash_const: int, copies: list[int],
                names: list[str]) -> list[list[list[int]]]:
    """The 128-bit (seed, sequence) halves of every (copy, name) stream, as NumPy computes them
    one at a time, all at once: [copy][name] = [seed >> 64, seed & M64, sequence >> 64,
    sequence & M64]. `copies` are below 2**32 (one entropy word each)."""
    steps = _hash_steps(hash_const, _MULT_A, _POOL)
    words = np.array(copies, dtype=np.uint64)[:, None]
    xor = np.array([x for x, _ in steps], dtype=np.uint64)
    mult = np.array([m for _, m in steps], dtype=np.uint64)
    per_copy = _mixed_in_np(np.array(pool, dtype=np.uint64), _hash_np(words, xor, mult))
    after_copy = (hash_const * _MULT_A_POOL) & _M32
    shares = np.array([_hashed_transform(transform_id(name), after_copy) for name in names],
                      dtype=np.uint64)
    pools = _mixed_in_np(per_copy[:, None, :], shares[None, :, :])
    out = _hash_np(pools[..., _STATE_ENTRY], _STATE_XOR, _STATE_MULT)
    halves = out[..., 0::2] | (out[..., 1::2] << np.uint64(32))
    table: list[list[list[int]]] = halves.tolist()
    return table


_M64 = (1 << 64) - 1
_TO_DOUBLE = 1.0 / 9007199254740992.0


class Stream:
    """The NumPy Generator(PCG64(SeedSequence(...))) of one stream, drawn in Python for what
    sample_params draws most (`random`, `uniform`): NumPy's very numbers (PCG64's XSL-RR output,
    53-bit doubles, low + (high - low) * u; tested draw for draw) without building a Generator
    and setting its state for every stream. Any other draw, or attribute, hands the state
    to a NumPy Generator, which then makes every later draw."""

    __slots__ = ("_inc", "_numpy", "_state")

    def __init__(self, state: int, inc: int) -> None:
        self._state, self._inc = state, inc
        self._numpy: np.random.Generator | None = None

    def _next_double(self) -> float:
        state = (self._state * _PCG64_MULT + self._inc) & _M128
        self._state = state
        value = ((state >> 64) ^ state) & _M64
        rotation = state >> 122
        value = ((value >> rotation) | (value << (64 - rotation))) & _M64
        return (value >> 11) * _TO_DOUBLE

    def random(self, size: int | None = None) -> Any:
        if self._numpy is not None or size is not None:
            return self._generator().random(size)
        return self._next_double()

    def uniform(self, low: float = 0.0, high: float = 1.0,
                size: int | tuple[int, ...] | None = None) -> Any:
        if self._numpy is not None or not isinstance(size, (int, type(None))) \
                or (size is not None and size < 0) \
                or not (isinstance(low, (int, float)) and isinstance(high, (int, float))
                        and low <= high and math.isfinite(float(high) - float(low))):
            return self._generator().uniform(low, high, size)  # NumPy's own checks and errors
        low, high = float(low), float(high)  # as NumPy: doubles, also for ints above 2**53
        span = high - low
        if size is None:
            return low + span * self._next_double()
        return np.array([low + span * self._next_double() for _ in range(size)])

    def _generator(self) -> np.random.Generator:
        if self._numpy is None:
            self._numpy = np.random.Generator(np.random.PCG64())
            self._numpy.bit_generator.state = {
                "bit_generator": "PCG64", "state": {"state": self._state, "inc": self._inc},
                "has_uint32": 0, "uinteger": 0}
        return self._numpy

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not set yet (a copy being made): not the Generator's either
            raise AttributeError(name)
        return getattr(self._generator(), name)


#: What sample_params draws from: rng_for's Generator, or SourceStreams' Stream.
Rng = np.random.Generator | Stream


#: Copies whose seeds SourceStreams makes together and holds: a source asked for 100,000 copies
#: (a balanced class of one image) holds a block of seeds, not all of them. The runner's tasks
#: carry at most this many copies.
SEED_BLOCK = 256


class SourceStreams:
    """rng_for(seed, key, copy, name) for one source, without re-mixing what all its streams share.

    `for_copy(copy)` gives the `stream(name)` function that sample_params takes; each call of it
    starts that stream afresh. `copies` and `names`, when given, are the streams about to be
    drawn: their seeds are made together (_seed_table), SEED_BLOCK copies at a time, as array
    operations instead of one at a time; any other copy or name is made on its own, the same
    stream either way.
    """

    def __init__(self, seed: int, key: tuple[int, ...], copies: tuple[int, ...] = (),
                 names: tuple[str, ...] = ()) -> None:
        run = _words(seed)
        entropy = run + [0] * (_POOL - len(run)) + [w for k in key for w in _words(k)]
        self._pool, self._hash = _mix(entropy)
        self._names = {name: i for i, name in enumerate(dict.fromkeys(names))}
        self._batch = sorted({c for c in copies if 0 <= c <= _M32}) if self._names else []
        self._table: dict[int, list[list[int]]] = {}

    def _row(self, copy: int) -> list[list[int]] | None:
        """The copy's seeds from the block holding it, made when first asked for."""
        row = self._table.get(copy)
        if row is None:
            at = bisect.bisect_left(self._batch, copy)
            if at == len(self._batch) or self._batch[at] != copy:
                return None
            block = self._batch[at - at % SEED_BLOCK:][:SEED_BLOCK]
            self._table = dict(zip(block, _seed_table(self._pool, self._hash, block,
                                                      list(self._names))))
            row = self._table[copy]
        return row

    def for_copy(self, copy: int) -> Callable[[str], Stream]:
        row = self._row(copy)
        absorbed = _absorb(self._pool, self._hash, _words(copy)) if row is None else None

        def stream(transform: str) -> Stream:
            index = self._names.get(transform)
            if row is not None and index is not None:
                seed_hi, seed_lo, sequence_hi, sequence_lo = row[index]
                return Stream(*_pcg64_state(seed_hi << 64 | seed_lo,
                                            sequence_hi << 64 | sequence_lo))
            pool, hash_const = absorbed or _absorb(self._pool, self._hash, _words(copy))
            hashed = _hashed_transform(transform_id(transform), hash_const)
            return Stream(*_pcg64_seed(_mixed_in(pool, hashed)))

        return stream
