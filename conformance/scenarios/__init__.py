"""The server suite's scenarios, one module per area; importing this package registers them.

Each module registers its scenarios with :func:`conformance.harness.registry.scenario`;
:func:`all_scenarios` returns them in a stable order (area by area, as listed here).
"""

from __future__ import annotations

from conformance.harness.registry import REGISTRY, Scenario
from conformance.scenarios import (  # noqa: F401 - imported to register their scenarios
    cache,
    create,
    errors,
    frames,
    handshake,
    http,
    lanes,
    lanes_busy,
    limits,
    limits_inflight,
    steering,
    steering_profile,
    stream,
    stream_items,
    stream_tools,
)

__all__ = ["all_scenarios", "by_id"]


def all_scenarios() -> list[Scenario]:
    """Every registered scenario, in registration order."""
    return list(REGISTRY.values())


def by_id(scenario_id: str) -> Scenario:
    """The scenario with this id (KeyError when there is none)."""
    return REGISTRY[scenario_id]
