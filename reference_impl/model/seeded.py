"""A deterministic pseudo-random stream for ``freeform-1``, the same on every platform.

The stream is SHA-256 in counter mode over a key: block ``n`` is ``SHA-256(key || n)`` (``n`` as
8 bytes, big-endian), read as four 64-bit big-endian numbers. It does not use :mod:`random`,
whose methods other than ``random()`` may change between Python versions: a run of
``freeform-1`` must replay on any interpreter, so that a failure seen once is seen again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["SeededStream"]

_T = TypeVar("_T")
_SPAN = 1 << 64


class SeededStream:
    """Numbers drawn from a key; the same key gives the same numbers, in the same order."""

    __slots__ = ("_block", "_buffer", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._block = 0
        self._buffer: list[int] = []

    def fork(self, label: str) -> SeededStream:
        """Return an independent stream for one purpose (``label``), keyed from this one's key.

        Each purpose (the text, its chunking, a tool call...) draws from its own stream, so
        that what one draws never shifts what another gets.
        """
        return SeededStream(hashlib.sha256(self._key + b"/" + label.encode()).digest())

    def _next64(self) -> int:
        if not self._buffer:
            block = hashlib.sha256(self._key + self._block.to_bytes(8, "big")).digest()
            self._block += 1
            self._buffer = [int.from_bytes(block[i : i + 8], "big") for i in (24, 16, 8, 0)]
        return self._buffer.pop()

    def below(self, n: int) -> int:
        """Return a number in ``[0, n)``, uniformly (rejection sampling); 0 when ``n`` <= 1."""
        if n <= 1:
            return 0
        limit = _SPAN - _SPAN % n
        while True:
            value = self._next64()
            if value < limit:
                return value % n

    def between(self, low: int, high: int) -> int:
        """Return a number in ``[low, high]`` (both included); ``low`` when ``high`` < ``low``."""
        return low + self.below(high - low + 1)

    def chance(self, numerator: int, denominator: int) -> bool:
        """Return True with probability ``numerator / denominator``."""
        return self.below(denominator) < numerator

    def choice(self, items: Sequence[_T]) -> _T:
        """Return one of ``items`` (which must not be empty)."""
        return items[self.below(len(items))]

    def sample(self, population: int, count: int) -> list[int]:
        """Return ``count`` distinct numbers of ``range(population)``, sorted (Floyd's method).

        Costs ``count`` draws, however large the population.
        """
        count = max(0, min(count, population))
        chosen: set[int] = set()
        for top in range(population - count, population):
            pick = self.below(top + 1)
            chosen.add(top if pick in chosen else pick)
        return sorted(chosen)
