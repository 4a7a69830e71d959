"""The mutation proof of the server suite: every fault switch of the reference server makes
the check of the rule it breaks fail, and the healthy server passes every check.

Each fault run starts the reference server with ``--fault NAME`` (a subprocess: the suite and
the server never import each other) and runs, in-process, only the scenarios that check the
fault's requirement, to keep the whole proof fast. The healthy run runs every scenario once.
A fault written for a check (FAULT_CHECKS) must be caught by that very check.
"""

from __future__ import annotations

import concurrent.futures
import functools

import pytest
import trio

from conformance.harness.runner import run_suite, select_scenarios
from conformance.requirements import load_requirements
from conformance.results import CheckResult, RunResult, Verdict
from conformance.scenarios import all_scenarios
from tests.suite.reference_server import fault_table, reference_config

# What the proof expects of each fault: the requirement whose check must fail. Kept here (not
# only read from the server) so that a fault added to the server without a proof fails
# test_every_fault_of_the_server_is_tested.
FAULT_REQUIREMENTS: dict[str, str] = {
    "drop-terminal": "RWS-ORDER-2",
    "duplicate-terminal": "RWS-ORDER-2",
    "created-not-first": "RWS-ORDER-1",
    "no-item-added": "RWS-ORDER-5",
    "wrong-item-id": "RWS-ORDER-8",
    "empty-terminal-output": "RWS-ORDER-9",
    "wrong-response-id": "RWS-EVENT-6",
    "sequence-repeat": "RWS-SEQ-2",
    "sequence-start-1": "RWS-SEQ-3",
    "delta-mismatch": "RWS-DELTA-1",
    "shared-cache": "RWS-CACHE-8",
    "no-cache": "RWS-CACHE-2",
    "context-drop-output": "RWS-CACHE-2",
    "no-persist": "RWS-CACHE-3",
    "persist-on-close": "RWS-CACHE-11",
    "no-evict": "RWS-CACHE-5",
    "cache-failed": "RWS-CACHE-7",
    "wrong-cached-tokens": "RWS-MODEL-3",
    "flat-error": "RWS-ERR-1",
    "error-no-status": "RWS-ERR-2",
    "error-no-type": "RWS-ERR-10",
    "close-on-error": "RWS-ERR-3",
    "no-stream-id": "RWS-EVENT-4",
    "stream-id-on-default": "RWS-EVENT-5",
    "lane-overlap": "RWS-LANE-1",
    "named-lane-overlap": "RWS-LANE-1",
    "lane-limit-off": "RWS-LANE-5",
    "lane-limit-counts-default": "RWS-LANE-5",
    "accept-bad-stream-id": "RWS-LANE-3",
    "no-auth": "RWS-TRANS-2",
    "auth-403": "RWS-TRANS-20",
    "split-large-event": "RWS-TRANS-5",
    "shrunk-message-limit": "RWS-TRANS-7",
    "binary-crash": "RWS-CREATE-10",
    "binary-close-1003": "RWS-CREATE-22",
    "refuse-stream-false-invalid-value": "RWS-CREATE-18",
    "ignore-age-limit": "RWS-LIMIT-1",
    "start-queued-at-age-limit": "RWS-LIMIT-12",
    "age-error-stream-id": "RWS-EVENT-5",
    "idle-during-run": "RWS-LIMIT-4",
    "steer-ignored": "RWS-STEER-1",
    "cross-key": "RWS-LIMIT-5",
    "crash-on-deep-input": "RWS-LIMIT-6",
}

# Faults that the checks existing before them let pass (issue 13, section 2): the check named
# here is the one written for the fault, and it must be among those that catch it.
FAULT_CHECKS: dict[str, str] = {
    "split-large-event": "stream.large-event",
    "persist-on-close": "cache.store-true-hydrated-while-open",
    "named-lane-overlap": "lanes.busy-named-lane",
    "lane-limit-counts-default": "lanes.named-lane-limit-default-busy",
    "age-error-stream-id": "limits.connection-age-named-lane",
    "idle-during-run": "limits.idle-timeout-run-in-flight",
    "shrunk-message-limit": "frames.message-at-declared-size",
    # The grounded-rules decisions (spec/decisions.md D1, D4, D9, D10, D18).
    "auth-403": "handshake.bad-credentials-401",
    "binary-close-1003": "frames.binary-message-error",
    "refuse-stream-false-invalid-value": "create.stream-and-background",
    "error-no-type": "errors.shape-and-registry",
    "start-queued-at-age-limit": "limits.connection-age",
}


def _verdicts_for(run: RunResult, requirement: str) -> list[tuple[str, Verdict]]:
    return [
        (check.id, check.requirement_verdicts[requirement])
        for check in run.checks
        if requirement in check.requirement_verdicts
    ]


def _failures(run: RunResult) -> list[CheckResult]:
    return [check for check in run.checks if check.verdict is Verdict.FAILED]


def test_every_fault_of_the_server_is_tested() -> None:
    assert fault_table() == FAULT_REQUIREMENTS


@pytest.mark.slow
async def test_suite_reports_no_failure_against_the_healthy_reference_server() -> None:
    # A generous "must happen within": a healthy server ends every wait early, and a loaded
    # test machine must not turn slowness into a false failure.
    with reference_config(with_age_instance=True, with_idle_instance=True, timeout=10.0) as config:
        run = await run_suite(config, all_scenarios(), jobs=6)
    failed = {check.id: check.message for check in _failures(run)}
    assert failed == {}
    # The suite's own messages break no client rule except the ones a check breaks on purpose.
    own = {
        c.id: c.details["harness_findings"] for c in run.checks if "harness_findings" in c.details
    }
    assert own == {}
    ran = [check for check in run.checks if check.verdict is not Verdict.SKIPPED]
    assert len(ran) >= len(run.checks) - 2


def _run_fault(fault: str) -> RunResult:
    requirement = FAULT_REQUIREMENTS[fault]
    scenarios = select_scenarios(all_scenarios(), requirements=[requirement])
    # The short-lived instances only for the checks that wait for their limits.
    checked = {r for scn in scenarios for r in scn.requirements}
    # A broken server often shows itself by staying silent, so the "must happen within" wait
    # is kept short here: the reference answers within milliseconds when it is healthy.
    with reference_config(
        [fault],
        with_age_instance="RWS-LIMIT-1" in checked,
        with_idle_instance="RWS-LIMIT-4" in checked,
        timeout=1.5,
    ) as config:
        return trio.run(functools.partial(run_suite, config, scenarios, jobs=12))


@pytest.fixture(scope="module")
def fault_runs() -> dict[str, RunResult]:
    """Every fault's run, four at a time (each in its own thread, server and trio loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {fault: pool.submit(_run_fault, fault) for fault in FAULT_REQUIREMENTS}
        return {fault: future.result() for fault, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULT_REQUIREMENTS))
def test_suite_fails_the_requirement_a_fault_breaks(
    fault: str, fault_runs: dict[str, RunResult]
) -> None:
    requirement = FAULT_REQUIREMENTS[fault]
    level = load_requirements()[requirement].level
    wanted = Verdict.WARNING if level.startswith("SHOULD") else Verdict.FAILED
    run = fault_runs[fault]
    assert run.checks, f"no scenario checks {requirement}"
    verdicts = _verdicts_for(run, requirement)
    caught = [check_id for check_id, verdict in verdicts if verdict is wanted]
    assert caught, f"{fault}: no check concluded {wanted.value} for {requirement}: {verdicts}"
    if fault in FAULT_CHECKS:
        assert FAULT_CHECKS[fault] in caught, f"{fault}: caught only by {caught}"


def test_every_check_written_for_a_fault_exists_and_checks_its_requirement() -> None:
    scenarios = {scn.id: scn for scn in all_scenarios()}
    wrong = {
        fault: check_id
        for fault, check_id in FAULT_CHECKS.items()
        if check_id not in scenarios
        or FAULT_REQUIREMENTS[fault] not in scenarios[check_id].requirements
    }
    assert wrong == {}
