"""MinHash signatures: the one similarity measure of units (analyze), pairs (synthesize) and examples (dataset)."""

from __future__ import annotations

import functools
import zlib

import numpy as np
from datasketch import MinHash


@functools.lru_cache(maxsize=None)
def _scheme(num_perm: int) -> tuple[str, np.ndarray, np.dtype]:
    # Permutations are drawn once per size: drawing them for every MinHash cost more than hashing the text.
    template = MinHash(num_perm=num_perm, seed=1)
    return template.scheme, template.permutations, template.hashvalues.dtype


def _hashed(value: int) -> int:
    return value  # the shingles arrive hashed already


def minhash(text: str, num_perm: int = 64) -> MinHash:
    """MinHash of a text's word 3-shingles (one vectorised update for all shingles).

    Shingles are hashed with CRC-32 (C, one call each) instead of datasketch's default SHA-1 (four Python
    calls each): hashing was most of the cost, and datasketch mixes every input hash before permuting it."""
    tokens = text.split()
    shingles = {zlib.crc32(" ".join(tokens[i:i + 3]).encode()) for i in range(max(len(tokens) - 2, 1))}
    scheme, permutations, _ = _scheme(num_perm)
    m = MinHash(num_perm=num_perm, seed=1, scheme=scheme, permutations=permutations, hashfunc=_hashed)
    m.update_batch(shingles)
    return m


def signature(text: str, num_perm: int = 64) -> bytes:
    """A text's MinHash as bytes, to travel (Arrow, Ray) and become a MinHash again with `from_signature`."""
    return minhash(text, num_perm).hashvalues.tobytes()


def from_signature(data: bytes, num_perm: int = 64) -> MinHash:
    scheme, permutations, dtype = _scheme(num_perm)
    return MinHash(num_perm=num_perm, seed=1, scheme=scheme, permutations=permutations,
                   hashvalues=np.frombuffer(data, dtype=dtype).copy())
