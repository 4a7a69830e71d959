"""The limits a server declares and the benchmark cost model: plain, frozen data.

The parameters and their defaults are those of docs/development.md ("Server parameters a
server declares"); :meth:`Limits.header` renders them for the ``responses-ws-limits``
upgrade header (RWS-TRANS-11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_LIMITS", "NO_COST", "THREAD_CHARACTERS", "CostModel", "Limits", "MiB"]

MiB = 1024 * 1024

#: A client message at least this long (in characters) is handed to the session in a worker
#: thread, not on the event loop: parsing, validating and normalising it costs time in
#: proportion to its size (about 40 ms a MiB), which would hold every other connection up.
THREAD_CHARACTERS = 256 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The server parameters a server declares (docs/development.md)."""

    max_connection_age: float = 3600.0  # RWS-LIMIT-1/2, seconds
    idle_timeout: float | None = None  # RWS-LIMIT-4, seconds
    max_message_size: int = 16 * MiB  # RWS-TRANS-7, bytes
    max_active_responses: int = 16  # RWS-LANE-4
    max_named_lanes: int = 32  # RWS-LANE-5
    busy_lane: Literal["queue", "reject"] = "queue"  # RWS-LANE-2
    # RWS-LANE-11: requests waiting on one connection (not started); the next one is refused
    # with rate_limit_exceeded. Each holds its whole message, so the count alone does not
    # bound memory: max_queued_bytes bounds the total size of their messages as well, and a
    # request that would wait beyond either bound is refused. As large as max_message_size, so
    # that any request may wait when nothing else does.
    max_queued_requests: int = 64
    max_queued_bytes: int = 16 * MiB  # RWS-LANE-11, bytes
    # RWS-LIMIT-13: a connection whose client takes nothing of what the server sends for this
    # long (its outbound buffer stays full) is closed with 1011; None: never, seconds.
    write_timeout: float | None = 30.0
    # RWS-CACHE-3/11, D24: "none" keeps nothing beyond the connection (no hydration)
    storage: Literal["durable", "none"] = "durable"

    def header(self) -> str:
        """Return the ``responses-ws-limits`` upgrade header value (RWS-TRANS-11)."""
        pairs = {
            "max-connection-age": _number(self.max_connection_age),
            "idle-timeout": "none" if self.idle_timeout is None else _number(self.idle_timeout),
            "max-message-size": str(self.max_message_size),
            "max-active-responses": str(self.max_active_responses),
            "max-named-lanes": str(self.max_named_lanes),
            "busy-lane": self.busy_lane,
            "max-queued-requests": str(self.max_queued_requests),
            "max-queued-bytes": str(self.max_queued_bytes),
            "write-timeout": "none" if self.write_timeout is None else _number(self.write_timeout),
            "storage": self.storage,
        }
        return ",".join(f"{name}={value}" for name, value in pairs.items())


DEFAULT_LIMITS = Limits()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Simulated compute time for benchmarks; off (all zero) by default.

    Prefill costs per input token that was not restored from the cache - cached tokens cost
    nothing - before the run's first event after ``response.created``; decode costs per
    generated token, before the delta that carries it.
    """

    prefill_us_per_token: float = 0.0
    decode_us_per_token: float = 0.0


#: The cost model off: nothing costs time.
NO_COST = CostModel()
