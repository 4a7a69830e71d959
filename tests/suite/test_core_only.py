"""A server without the multiplex profile (reference server ``--no-multiplex``).

RWS-LANE-12 is checked only when a server does not declare ``multiplex``; the reference
server started without lanes gives that check a server to run against, and the whole suite
must pass it. Declared core-only while it does serve lanes, the same server fails the check.
"""

from __future__ import annotations

import pytest

from conformance.harness.runner import run_suite, select_scenarios
from conformance.results import Verdict
from conformance.scenarios import all_scenarios
from tests.suite.reference_server import reference_config

__all__: list[str] = []

CORE_ONLY = frozenset({"core", "conformance-model"})


@pytest.mark.slow
async def test_suite_passes_the_reference_server_without_lanes() -> None:
    with reference_config(server_args=["--no-multiplex"], profiles=CORE_ONLY) as config:
        run = await run_suite(config, all_scenarios(), jobs=6)
    assert {c.id: c.message for c in run.checks if c.verdict is Verdict.FAILED} == {}
    verdicts = {c.id: c.verdict for c in run.checks}
    assert verdicts["lanes.stream-id-without-multiplex"] is Verdict.PASSED


@pytest.mark.slow
async def test_a_server_with_lanes_declared_core_only_fails_lane_12() -> None:
    """It runs the stream_id request on lane 'a' instead of refusing it."""
    with reference_config(profiles=CORE_ONLY) as config:
        scenarios = select_scenarios(all_scenarios(), requirements=["RWS-LANE-12"])
        run = await run_suite(config, scenarios, jobs=2)
    (check,) = [c for c in run.checks if c.id == "lanes.stream-id-without-multiplex"]
    assert check.requirement_verdicts["RWS-LANE-12"] is Verdict.WARNING
