"""The healthy half of the mutation proof: the reference server without a fault passes.

Every check's ability to fail is proven row by row in tests/suite/proof/ (the proof matrix,
docs/data/proof-matrix.json: one fault switch of the reference server per row, the check that
must fail and the finding it must report). Here the same suite finds nothing wrong with the
server when no fault switch is on, so that each of those failures comes from its fault alone.
"""

from __future__ import annotations

import pytest

from conformance.harness.runner import run_suite
from conformance.results import Verdict
from conformance.scenarios import all_scenarios
from tests.suite.reference_server import reference_config


@pytest.mark.slow
async def test_suite_reports_no_failure_against_the_healthy_reference_server() -> None:
    # A generous "must happen within": a healthy server ends every wait early, and a loaded
    # test machine must not turn slowness into a false failure.
    with reference_config(
        with_age_instance=True,
        with_idle_instance=True,
        with_plain_instance=True,
        profiles=frozenset({"core", "multiplex", "steering", "conformance-model", "http"}),
        timeout=10.0,
    ) as config:
        run = await run_suite(config, all_scenarios(), jobs=6)
    failed = {check.id: check.message for check in run.checks if check.verdict is Verdict.FAILED}
    assert failed == {}
    # The suite's own messages break no client rule except the ones a check breaks on purpose.
    own = {
        c.id: c.details["harness_findings"] for c in run.checks if "harness_findings" in c.details
    }
    assert own == {}
    ran = [check for check in run.checks if check.verdict is not Verdict.SKIPPED]
    assert len(ran) >= len(run.checks) - 2
