"""The parameters of a stress run: how hard each probe pushes, and the limits it judges by.

Every parameter has a dotted name (``slow-reader.seconds``) the user can override with
``responses-ws check --stress --stress-param NAME=VALUE``. The defaults are the figures of
issue 18: a slow reader at 2 MB/s for 40 s, 100 queued requests of 1 MB, a 15 MB input and
three compressed copies of it, and the limits its "done when" states (peak RSS 200 MB,
growth 40 MB, another connection's ``response.created`` within 0.5 s).

The limits a *server* declares (``max-message-size``, ``max-queued-requests``,
``max-queued-bytes``) are not here: they come from the server's ``responses-ws-limits``
header or ``--server-param`` (:func:`declared_limits`), because a figure that breaks a
declared limit is judged against what the server said, not against a suite default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROBE_NAMES",
    "StressParams",
    "declared_limits",
    "param_help",
    "parse_limits_header",
]

#: The probes, in the order a run executes them.
PROBE_NAMES: tuple[str, ...] = (
    "slow-reader",
    "stalled-reader",
    "queue-flood",
    "large-input",
    "bad-frame-flood",
)


def _p(name: str, default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"name": name, "help": help_text})


@dataclass(frozen=True)
class StressParams:
    """Every knob of a stress run (see the module docstring); durations in seconds."""

    # --- limits the figures are judged by (issue 18's "done when") -----------------------
    latency_limit_s: float = _p(
        "limits.latency-s",
        0.5,
        "another connection's response.created must arrive within this while a probe runs",
    )
    rss_limit_mib: float = _p(
        "limits.rss-mib", 200.0, "server peak RSS (MiB) under the slow and the stalled reader"
    )
    growth_limit_mib: float = _p(
        "limits.growth-mib", 40.0, "server RSS growth (MiB) while the queue flood is held"
    )
    retained_limit_mib: float = _p(
        "limits.retained-mib",
        40.0,
        "server RSS (MiB) still held, over its level before the probe, once the probe's "
        "connections have left",
    )
    # --- common ------------------------------------------------------------------------
    baseline_s: float = _p(
        "baseline-seconds", 1.0, "idle time before each probe (baseline latency and RSS)"
    )
    settle_s: float = _p(
        "settle-seconds", 3.0, "wait after a probe's connections leave before 'RSS after'"
    )
    monitor_interval_s: float = _p(
        "monitor.interval-s", 0.1, "pause between two requests of the latency monitor"
    )
    monitor_timeout_s: float = _p(
        "monitor.timeout-s", 10.0, "a monitor request without response.created by then is lost"
    )
    monitor_handshake_every: int = _p(
        "monitor.handshake-every", 5, "every Nth monitor sample also times a fresh handshake"
    )
    # --- slow reader -------------------------------------------------------------------
    slow_seconds: float = _p("slow-reader.seconds", 40.0, "how long the slow reader reads")
    slow_read_mb_per_s: float = _p(
        "slow-reader.read-mb-per-s", 2.0, "the slow reader's reading rate (MB = 10^6 bytes)"
    )
    slow_requests: int = _p(
        "slow-reader.requests", 100, "response.create kept outstanding on the slow connection"
    )
    run_chars: int = _p(
        "slow-reader.run-chars",
        1_000_000,
        "text characters each conformance-1 run streams (1,000,000 is the model's cap)",
    )
    run_chunks: int = _p("slow-reader.run-chunks", 1000, "deltas each conformance-1 run sends")
    # --- stalled reader ----------------------------------------------------------------
    stall_seconds: float = _p(
        "stalled-reader.seconds", 45.0, "how long the stalled reader reads nothing"
    )
    stall_requests: int = _p(
        "stalled-reader.requests", 100, "response.create sent before the reader stalls"
    )
    drain_seconds: float = _p(
        "stalled-reader.drain-seconds",
        15.0,
        "after the stall, read at full speed this long to find how the stream ended",
    )
    # --- queue flood -------------------------------------------------------------------
    queue_requests: int = _p(
        "queue-flood.requests", 100, "response.create queued behind the long run"
    )
    queue_request_mb: float = _p("queue-flood.request-mb", 1.0, "size of each queued request")
    queue_hold_s: float = _p(
        "queue-flood.hold-seconds", 10.0, "length of the long run the requests queue behind"
    )
    queue_answer_s: float = _p(
        "queue-flood.answer-seconds",
        10.0,
        "after the long run ends, wait this long for the queued requests' outcomes",
    )
    # --- large input -------------------------------------------------------------------
    input_mb: float = _p(
        "large-input.input-mb",
        15.0,
        "size of the large input array (capped just below the declared max-message-size)",
    )
    compressed_connections: int = _p(
        "large-input.compressed-connections",
        3,
        "connections sending the same array permessage-deflate compressed, at once",
    )
    bomb_connections: int = _p(
        "large-input.bomb-connections",
        3,
        "connections sending a compressed message that inflates beyond max-message-size",
    )
    bomb_factor: float = _p(
        "large-input.bomb-factor", 4.0, "a bomb inflates to this many times max-message-size"
    )
    input_timeout_s: float = _p(
        "large-input.timeout-seconds", 60.0, "bound on each phase's wait for its outcomes"
    )
    # --- bad-frame flood ---------------------------------------------------------------
    flood_messages: int = _p("bad-frame-flood.messages", 10_000, "malformed messages sent")
    flood_seconds: float = _p("bad-frame-flood.seconds", 10.0, "bound on the sending")
    flood_answer_s: float = _p(
        "bad-frame-flood.answer-seconds", 10.0, "wait for the answers after the last message"
    )

    @classmethod
    def names(cls) -> dict[str, dataclasses.Field[Any]]:
        """Parameter name -> dataclass field."""
        return {f.metadata["name"]: f for f in dataclasses.fields(cls)}

    def with_overrides(self, pairs: Iterable[str]) -> StressParams:
        """A copy with ``NAME=VALUE`` overrides applied (raises ValueError naming the pair)."""
        known = self.names()
        changes: dict[str, Any] = {}
        for pair in pairs:
            name, sep, raw = pair.partition("=")
            name = name.strip()
            if not sep or name not in known:
                choices = ", ".join(sorted(known))
                raise ValueError(f"unknown stress parameter {pair!r} (known: {choices})")
            spec = known[name]
            kind = int if spec.type in (int, "int") else float
            try:
                value: int | float = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{name} expects a number, got {raw.strip()!r}") from None
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {raw.strip()!r}")
            changes[spec.name] = value
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, int | float]:
        """Parameter name -> value, for the report."""
        return {f.metadata["name"]: getattr(self, f.name) for f in dataclasses.fields(self)}

    def subset(self, *prefixes: str) -> dict[str, int | float]:
        """The parameters whose names start with one of ``prefixes`` (a probe's, for its
        report)."""
        return {name: value for name, value in self.as_dict().items() if name.startswith(prefixes)}


def param_help() -> str:
    """One line per parameter: name, default and meaning (for ``--help`` epilogs and docs)."""
    defaults = StressParams()

    def shown(value: float) -> str:
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"

    return "\n".join(
        f"  {name} (default {shown(getattr(defaults, spec.name))}): {spec.metadata['help']}"
        for name, spec in StressParams.names().items()
    )


def parse_limits_header(value: str) -> dict[str, str]:
    """The ``name=value`` pairs of a ``responses-ws-limits`` header (RWS-TRANS-11)."""
    out: dict[str, str] = {}
    for pair in value.split(","):
        name, _, raw = pair.strip().partition("=")
        if name.strip():
            out[name.strip()] = raw.strip()
    return out


def declared_limits(
    defaults: Mapping[str, str], advertised: Mapping[str, str], declared: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """Each server parameter with where its value comes from: ``--server-param`` (what the
    user declares) over the upgrade header (what the server advertises) over the
    specification's default."""
    out: dict[str, tuple[str, str]] = {k: (v, "default") for k, v in defaults.items()}
    out.update({k: (v, "advertised") for k, v in advertised.items()})
    out.update({k: (v, "declared") for k, v in declared.items()})
    return out
