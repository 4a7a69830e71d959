"""The client conformance suite: scripted adversarial servers that judge client programs.

``scenarios`` (what each scenario does and requires), ``events`` and ``script`` (the
sans-I/O scripted server), ``server`` (its ``websockets.trio`` glue), ``judge`` (verdicts
from the checker over the captured traffic plus the client's output) and ``runner`` (runs a
client command per scenario). The adapter contract is docs/client-adapters.md.
"""

from __future__ import annotations

from conformance.clientsuite.runner import ClientUnderTest, run_client_suite, run_scenario
from conformance.clientsuite.scenarios import SCENARIOS, ClientScenario

__all__ = ["SCENARIOS", "ClientScenario", "ClientUnderTest", "run_client_suite", "run_scenario"]
