"""Random streams: one per (run seed, source, copy, transform), independent of workers and order.

Stream version 1: `SeedSequence(seed, spawn_key=(*sha256(source_rel_path) as 8 uint32 words,
copy, transform_id))`, where transform_id is the first 4 bytes of SHA-256 of the transform's name.
Keying by name (not position) means a transform added later leaves every other stream unchanged,
and keying by the source's path (not its index) means a file added to SRC changes no other output.
"""

from __future__ import annotations

import hashlib

import numpy as np

RANDOM_STREAMS_VERSION = 1


def source_key(rel_path: str) -> tuple[int, ...]:
    digest = hashlib.sha256(rel_path.encode("utf-8", "surrogateescape")).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 32, 4))


def transform_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def rng_for(seed: int, key: tuple[int, ...], copy: int, transform: str) -> np.random.Generator:
    sequence = np.random.SeedSequence(seed, spawn_key=(*key, copy, transform_id(transform)))
    return np.random.Generator(np.random.PCG64(sequence))
