"""The suite with any model: the healthy server passes, unreachable rules say why.

The suite requests ``freeform-1``, the reference server's model that behaves like a real one
(it reads no ``rws:`` directive), and is told only the profiles ``core`` and ``multiplex``:
what a server with a real model declares. The faults caught with that model are rows of the
proof matrix (tests/suite/proof/); here the healthy server must pass every check that runs,
and each check that cannot reach its rule with such a model must say so.
"""

from __future__ import annotations

import pytest

from conformance.harness.runner import run_suite, select_scenarios
from conformance.results import RunResult, Verdict
from conformance.scenarios import all_scenarios
from tests.suite.proof.matrix import matrix
from tests.suite.reference_server import (
    ANY_MODEL,
    ANY_MODEL_PROFILES,
    REAL_MODEL_PACE,
    check_of,
    reference_config,
    run_reference,
)

# The checks made to run with any model (they used to be skipped for needing conformance-1),
# and the new ones; each must run against the healthy server with freeform-1.
CONVERTED = (
    "cache.continue-store-false",
    "cache.continue-store-true",
    "cache.store-false-miss-on-other-connection",
    "cache.store-true-hydrated-after-reconnect",
    "cache.store-absent-hydrated-after-reconnect",
    "cache.evict-after-failed-continuation",
    "cache.generate-false-chainable",
    "cache.other-api-key-not-found",
    "cache.older-entry-continuation",
    "cache.instructions-not-carried-over",
    "errors.connection-usable-after-error",
    "limits.deeply-nested-input",
)


def _run(
    faults: list[str], requirements: list[str], *, server_args: tuple[str, ...] = ()
) -> RunResult:
    scenarios = select_scenarios(all_scenarios(), requirements=requirements)
    return run_reference(
        faults, scenarios, model=ANY_MODEL, profiles=ANY_MODEL_PROFILES, server_args=server_args
    )


# Faults whose rule a model other than conformance-1 cannot reach (a failed run cannot be
# forced with a real model): the proof matrix lists them, and the check must say so.
NOT_REACHED = matrix().not_reached_with_any_model


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(NOT_REACHED))
def test_check_says_why_a_rule_is_not_reached_with_a_model_other_than_conformance_1(
    fault: str,
) -> None:
    requirement = NOT_REACHED[fault]["requirement"]
    check = check_of(_run([fault], [requirement]), NOT_REACHED[fault]["check"])
    assert check.requirement_verdicts[requirement] is Verdict.SKIPPED
    said = str(check.details.get("not_applicable", {}).get(requirement, check.message))
    assert NOT_REACHED[fault]["says"] in said
    assert ANY_MODEL in said


@pytest.mark.slow
async def test_healthy_server_passes_every_check_with_a_model_other_than_conformance_1() -> None:
    with reference_config(timeout=10.0, profiles=ANY_MODEL_PROFILES, model=ANY_MODEL) as config:
        run = await run_suite(config, all_scenarios(), jobs=6)
    failed = {check.id: check.message for check in run.checks if check.verdict is Verdict.FAILED}
    assert failed == {}
    own = {
        c.id: c.details["harness_findings"] for c in run.checks if "harness_findings" in c.details
    }
    assert own == {}
    skipped = {
        c.id: c.message for c in run.checks if c.id in CONVERTED and c.verdict is Verdict.SKIPPED
    }
    assert skipped == {}
    # The parts that need conformance-1 say which requirement they left out, and why.
    store_false = check_of(run, "cache.continue-store-false")
    assert store_false.requirement_verdicts == {
        "RWS-CACHE-1": Verdict.PASSED,
        "RWS-CACHE-2": Verdict.PASSED,
        "RWS-MODEL-3": Verdict.SKIPPED,
    }
    assert ANY_MODEL in store_false.details["not_applicable"]["RWS-MODEL-3"]
    evict = check_of(run, "cache.evict-after-failed-continuation")
    assert evict.requirement_verdicts == {"RWS-CACHE-5": Verdict.PASSED}
    assert "not reached" in evict.details["failed_run_eviction"]
    # The older entry is data: whatever the server does, it is reported, never judged.
    older = check_of(run, "cache.older-entry-continuation")
    assert older.verdict is Verdict.INFORMATIONAL
    assert "older_entry_continuation" in older.details


@pytest.mark.slow
def test_client_close_check_judges_a_run_in_flight_with_a_model_other_than_conformance_1() -> None:
    # freeform-1 answers at once unless the server charges time per output token; with the cost
    # model the run is still streaming when the client closes, and the check judges it.
    run = _run([], ["RWS-LIMIT-7"], server_args=REAL_MODEL_PACE)
    check = check_of(run, "limits.client-close-stops-runs")
    assert check.requirement_verdicts == {
        "RWS-LIMIT-7": Verdict.PASSED,
        "RWS-LIMIT-10": Verdict.PASSED,
    }, check.message


@pytest.mark.slow
def test_client_close_check_says_when_the_run_ended_before_the_close() -> None:
    # Without the cost model the whole answer arrives with response.created: no run is in
    # flight to stop, and the check says so instead of judging.
    run = _run([], ["RWS-LIMIT-7"])
    check = check_of(run, "limits.client-close-stops-runs")
    assert check.requirement_verdicts == {
        "RWS-LIMIT-7": Verdict.SKIPPED,
        "RWS-LIMIT-10": Verdict.SKIPPED,
    }
    reason = check.details["not_applicable"]["RWS-LIMIT-7"]
    assert "not reached with model" in reason
    assert "before the client could close" in reason


HYDRATION = (
    "cache.store-true-hydrated-after-reconnect",
    "cache.store-absent-hydrated-after-reconnect",
)


async def _storage_run(server_storage: str, declared: str) -> RunResult:
    scenarios = [s for s in all_scenarios() if s.id in HYDRATION]
    with reference_config(
        server_args=["--storage", server_storage],
        parameters={"storage": declared},
        profiles=ANY_MODEL_PROFILES,
        model=ANY_MODEL,
    ) as config:
        return await run_suite(config, scenarios, jobs=2)


@pytest.mark.slow
async def test_hydration_follows_the_declared_storage_with_a_model_other_than_conformance_1() -> (
    None
):
    # D24: a server without storage that declares none answers previous_response_not_found...
    honest = await _storage_run("none", "none")
    for check in honest.checks:
        assert check.requirement_verdicts["RWS-CACHE-4"] is Verdict.PASSED, check.message
        assert check.requirement_verdicts["RWS-CACHE-3"] is Verdict.SKIPPED
    # ...and one that declares durable fails the hydration it promised.
    broken = await _storage_run("none", "durable")
    for check in broken.checks:
        assert check.requirement_verdicts["RWS-CACHE-3"] is Verdict.FAILED, check.id
        assert check.requirement_verdicts["RWS-CACHE-11"] is Verdict.FAILED, check.id
