"""Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018;
arXiv:1608.01350), the scheme behind HAProxy's `hash-balance-factor`.

Each replica owns many points on a hash ring. A key goes to the first replica clockwise from
its hash whose load is below the bound ceil(c * (total_load + 1) / replicas): the same key
keeps going to the same replica (its prefix cache stays warm) until that replica holds more
than c times the mean load, and then spills to the next replica on the ring — the same next
one for every key in that stretch of the ring, so spilled keys share a cache too. Removing a
replica moves only its own keys. No maintained Python package does the bounded-load part
(hashring, uhashring and the ketama ports are plain rings), hence these few lines.
"""
from __future__ import annotations

import bisect
import hashlib
import math
from typing import Collection, Mapping, Optional, Sequence


def stable_hash(text: str) -> int:
    """The same 64-bit value in every process (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class BoundedLoadRing:
    def __init__(self, names: Sequence[str], load_factor: float = 1.25, points_per_name: int = 160):
        if load_factor < 1.0:
            raise ValueError("load_factor must be at least 1.0")
        self.load_factor = load_factor
        ring = sorted((stable_hash(f"{name}#{i}"), name) for name in names for i in range(points_per_name))
        self._hashes = [h for h, _ in ring]
        self._names = [n for _, n in ring]

    def bound(self, loads: Mapping[str, int], allowed: Collection[str]) -> int:
        total = sum(loads.get(name, 0) for name in allowed)
        return math.ceil(self.load_factor * (total + 1) / len(allowed))

    def pick(self, key: str, loads: Mapping[str, int], allowed: Collection[str]) -> Optional[str]:
        """The replica for `key` among `allowed`, given each replica's current load."""
        if not allowed or not self._hashes:
            return None
        bound = self.bound(loads, allowed)
        start = bisect.bisect(self._hashes, stable_hash(key))
        seen: set[str] = set()
        for step in range(len(self._names)):
            name = self._names[(start + step) % len(self._names)]
            if name in seen or name not in allowed:
                continue
            if loads.get(name, 0) < bound:
                return name
            seen.add(name)
            if len(seen) == len(allowed):
                break
        return None  # unreachable while load_factor >= 1: some replica is below the bound
