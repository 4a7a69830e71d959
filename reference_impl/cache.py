"""The connection-scoped cache: each lane's latest continuable response.

An entry keeps what a continuation needs (RWS-CACHE-2): the previous response's context and
output, plus who may use it (the API key, RWS-LIMIT-5) and where it lives (the lane). The
next context is ``build_context(entry.context, entry.output, new_items)``.

One :class:`ResponseCache` belongs to one connection and disappears with it (RWS-CACHE-8).
Entries are filed under an *owner* (the connection) and a lane so that the ``shared-cache``
fault can hand one instance to every connection and still keep each connection's lanes apart.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheEntry", "ResponseCache"]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One continuable response."""

    response_id: str
    context: Sequence[Mapping[str, Any]]
    output: Sequence[Mapping[str, Any]]
    store: bool
    api_key: str
    lane: str | None
    # The request's own instructions: never part of a continuation (RWS-CACHE-14); kept only
    # for the instructions-carried-over fault, which serves them again.
    instructions: str | None = None


_Slot = tuple[Hashable, str | None]  # (owner, lane)


class ResponseCache:
    """Each lane's latest entry, found by response id."""

    __slots__ = ("_by_id", "_slots")

    def __init__(self) -> None:
        self._slots: dict[_Slot, CacheEntry] = {}
        self._by_id: dict[str, _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def put(self, owner: Hashable, entry: CacheEntry) -> None:
        """Make ``entry`` the entry of its lane, replacing the lane's previous one (RWS-CACHE-1)."""
        slot = (owner, entry.lane)
        old = self._slots.get(slot)
        if old is not None:
            del self._by_id[old.response_id]
        self._slots[slot] = entry
        self._by_id[entry.response_id] = slot

    def find(self, response_id: str) -> tuple[Hashable, CacheEntry] | None:
        """Return ``(owner, entry)`` for ``response_id``, or None when it is not cached."""
        slot = self._by_id.get(response_id)
        if slot is None:
            return None
        return slot[0], self._slots[slot]

    def entry_of(self, owner: Hashable, lane: str | None) -> CacheEntry | None:
        """Return the entry of one lane."""
        return self._slots.get((owner, lane))

    def evict(self, owner: Hashable, lane: str | None, response_id: str) -> bool:
        """Remove the lane's entry if it is still ``response_id``; return whether it was."""
        slot = (owner, lane)
        entry = self._slots.get(slot)
        if entry is None or entry.response_id != response_id:
            return False
        del self._slots[slot]
        del self._by_id[response_id]
        return True

    def drop_owner(self, owner: Hashable) -> None:
        """Forget every entry of ``owner`` (its connection closed)."""
        for slot in [slot for slot in self._slots if slot[0] == owner]:
            del self._by_id[self._slots.pop(slot).response_id]
