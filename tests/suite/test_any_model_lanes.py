"""The lane and limit checks with ``freeform-1``: the healthy server passes them, tested.

The suite requests ``freeform-1`` (the reference server's model that behaves like a real one:
it reads no ``rws:`` directive) and is told only the profiles ``core`` and ``multiplex``. The
server runs it at a real model's pace (``--decode-us-per-token``), as ``responses-ws check
--spawn-reference`` does for such a model: a busy lane, runs spanning the age limit and runs
longer than the idle-timeout then happen as they would with a real model asked for long
answers. The healthy server must pass those checks with every lane and limit requirement
tested; that each check fails its faults with this model is the proof matrix's job
(``docs/data/proof-matrix.json``, rows of model freeform-1, run by ``tests/suite/proof``).
"""

from __future__ import annotations

import pytest

from conformance.results import RunResult, Verdict
from conformance.scenarios import all_scenarios
from tests.suite.reference_server import (
    ANY_MODEL,
    ANY_MODEL_PROFILES,
    REAL_MODEL_PACE,
    check_of,
    run_reference,
)

# The lane and limit checks that used to need conformance-1, and what each must now test
# with freeform-1 against the healthy server.
CONVERTED: dict[str, tuple[str, ...]] = {
    "lanes.busy-default-lane": ("RWS-LANE-1", "RWS-LANE-2", "RWS-LANE-9"),
    "lanes.busy-named-lane": ("RWS-LANE-1", "RWS-LANE-2"),
    "lanes.two-lanes-concurrent": ("RWS-LANE-4", "RWS-EVENT-4"),
    "lanes.fork": ("RWS-LANE-7", "RWS-CACHE-12", "RWS-CACHE-6"),
    "lanes.error-isolated": ("RWS-LANE-6", "RWS-EVENT-4"),
    "lanes.stream-id-is-not-history": ("RWS-LANE-8",),
    "lanes.named-lane-limit-default-busy": ("RWS-LANE-5",),
    "limits.connection-age": ("RWS-LIMIT-1", "RWS-LIMIT-2", "RWS-LIMIT-12", "RWS-ERR-6"),
    "limits.connection-age-named-lane": ("RWS-EVENT-5", "RWS-LIMIT-1"),
    "limits.idle-timeout-run-in-flight": ("RWS-LIMIT-4",),
    "limits.client-close-stops-runs": ("RWS-LIMIT-7", "RWS-LIMIT-10"),
}


def _run(faults: list[str], check_ids: tuple[str, ...]) -> RunResult:
    scenarios = [scn for scn in all_scenarios() if scn.id in check_ids]
    return run_reference(
        faults,
        scenarios,
        model=ANY_MODEL,
        profiles=ANY_MODEL_PROFILES,
        server_args=REAL_MODEL_PACE,
        timeout=4.0,
    )


@pytest.mark.slow
def test_healthy_server_passes_the_lane_and_limit_checks_with_a_model_that_is_not_scripted() -> (
    None
):
    run = _run([], tuple(CONVERTED))
    failed = {check.id: check.message for check in run.checks if check.verdict is Verdict.FAILED}
    assert failed == {}
    own = {
        c.id: c.details["harness_findings"] for c in run.checks if "harness_findings" in c.details
    }
    assert own == {}
    untested = {
        check_id: {
            r: check_of(run, check_id).requirement_verdicts.get(r)
            for r in requirements
            if check_of(run, check_id).requirement_verdicts.get(r) is not Verdict.PASSED
        }
        for check_id, requirements in CONVERTED.items()
    }
    assert {k: v for k, v in untested.items() if v} == {}
    # The parts that need conformance-1 say which requirement they left out, and why.
    fork = check_of(run, "lanes.fork")
    assert ANY_MODEL in fork.details["not_applicable"]["RWS-LANE-7"]
    two = check_of(run, "lanes.two-lanes-concurrent")
    assert two.requirement_verdicts["RWS-MODEL-1"] is Verdict.SKIPPED
