"""The client suite as a source of checks for the pytest plugin (``--rws-client-cmd``).

:class:`ClientSuiteSource` fits the plugin's ``SuiteSource`` protocol: one check per client
scenario, each run in its own trio run against a fresh scripted server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.clientsuite.judge import check_id
from conformance.clientsuite.runner import DEFAULT_MODEL, ClientUnderTest, run_scenario
from conformance.clientsuite.scenarios import SCENARIOS, ClientScenario
from conformance.clientsuite.script import BUSY_LANE
from conformance.results import CheckResult

__all__ = ["ClientCheck", "ClientSuiteSource"]


@dataclass(frozen=True)
class ClientCheck:
    """A scenario as one check of one client (what the plugin collects)."""

    id: str
    title: str
    requirements: tuple[str, ...]
    scenario: ClientScenario


class ClientSuiteSource:
    """Every client scenario against one client command."""

    def __init__(self, client: ClientUnderTest, model: str = DEFAULT_MODEL) -> None:
        self.client = client
        self.model = model
        self._checks = {
            check_id(client.name, s): ClientCheck(
                check_id(client.name, s), s.title, s.requirements, s
            )
            for s in SCENARIOS
        }

    def checks(self) -> Sequence[ClientCheck]:
        """One check per scenario, in the suite's order."""
        return list(self._checks.values())

    def run_check(self, check_id: str) -> CheckResult:
        """Run one scenario in its own trio run."""
        import trio

        scenario = self._checks[check_id].scenario
        return trio.run(lambda: run_scenario(self.client, scenario, model=self.model))

    def target(self) -> Mapping[str, Any]:
        """The client under test (no credentials: the suite's key is a test key)."""
        return {
            "suite": "client",
            "runner": "pytest",
            "model": self.model,
            "parameters": {"busy-lane": BUSY_LANE},
            "clients": [
                {
                    "name": self.client.name,
                    "command": self.client.command,
                    "profiles": sorted(self.client.profiles),
                }
            ],
        }
