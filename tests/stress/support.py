"""What the stress tests share: a probe context without instruments, and figure lookup."""

from __future__ import annotations

from conformance.stress.config import StressParams
from conformance.stress.context import ProbeContext, Target
from conformance.stress.figures import Figure, ProbeReport

__all__ = ["context", "figure"]


def context(
    params: StressParams | None = None, limits: dict[str, tuple[str, str]] | None = None
) -> ProbeContext:
    """A context whose target is never contacted: for the probes' pure ``judge``s."""
    return ProbeContext(
        Target("ws://127.0.0.1:9/v1/responses", None, "conformance-1", limits or {}),
        params or StressParams(),
        sampler=None,
        monitor=None,
        memory_note="no server pid",
        latency_note="no monitor",
        log=lambda line: None,
    )


def figure(report: ProbeReport, key: str) -> Figure:
    """The report's figure with this key."""
    (found,) = (f for f in report.figures if f.key == key)
    return found
