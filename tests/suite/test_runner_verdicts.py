"""How the runner turns expectations and checker findings into verdicts."""

from __future__ import annotations

from conformance.harness.checking import CheckerFinding
from conformance.harness.registry import Scenario
from conformance.harness.runner import merge_verdicts, worst
from conformance.requirements import load_requirements
from conformance.results import Verdict


async def _nothing(ctx: object) -> None:
    raise AssertionError("never run")


def _scenario(*requirements: str) -> Scenario:
    return Scenario(
        id="test.scenario",
        title="t",
        requirements=requirements,
        profile="core",
        needs_model=False,
        drives="nothing",
        func=_nothing,
    )


REQS = load_requirements()


def test_worst_verdict_orders_failed_before_warning_before_passed() -> None:
    assert worst([Verdict.PASSED, Verdict.WARNING, Verdict.INFORMATIONAL]) is Verdict.WARNING
    assert worst([Verdict.WARNING, Verdict.FAILED]) is Verdict.FAILED
    assert worst([]) is Verdict.PASSED


def test_broken_must_fails_and_broken_should_warns() -> None:
    verdicts, messages = merge_verdicts(
        _scenario("RWS-CACHE-4", "RWS-TRANS-4"),
        REQS,
        [("RWS-CACHE-4", False, "got a run"), ("RWS-TRANS-4", False, "got 400")],
        {},
        None,
    )
    assert verdicts == {"RWS-CACHE-4": Verdict.FAILED, "RWS-TRANS-4": Verdict.WARNING}
    assert messages == ["RWS-CACHE-4 (FAILED): got a run", "RWS-TRANS-4 (WARNING): got 400"]


def test_may_level_expectations_are_informational() -> None:
    verdicts, _ = merge_verdicts(
        _scenario("RWS-CACHE-9"), REQS, [("RWS-CACHE-9", True, "")], {}, None
    )
    assert verdicts == {"RWS-CACHE-9": Verdict.INFORMATIONAL}


def test_a_declared_requirement_nothing_exercised_fails() -> None:
    verdicts, messages = merge_verdicts(_scenario("RWS-ORDER-1"), REQS, [], {}, None)
    assert verdicts == {"RWS-ORDER-1": Verdict.FAILED}
    assert "not exercised" in messages[0]


def test_checker_findings_count_and_foreign_failures_are_reported() -> None:
    findings = {
        "RWS-ORDER-1": CheckerFinding(Verdict.PASSED, ""),
        "RWS-SEQ-2": CheckerFinding(Verdict.FAILED, "repeated 3"),
        "RWS-ORDER-5": CheckerFinding(Verdict.PASSED, ""),
    }
    verdicts, messages = merge_verdicts(_scenario("RWS-ORDER-1"), REQS, [], findings, None)
    # PASSED findings of requirements the check does not declare are left out.
    assert verdicts == {"RWS-ORDER-1": Verdict.PASSED, "RWS-SEQ-2": Verdict.FAILED}
    assert messages == ["RWS-SEQ-2 (FAILED): repeated 3"]


def test_a_failed_prerequisite_fails_every_requirement_not_yet_passed() -> None:
    verdicts, messages = merge_verdicts(
        _scenario("RWS-CACHE-2", "RWS-CACHE-1"),
        REQS,
        [("RWS-CACHE-1", True, "")],
        {},
        "could not open a WebSocket",
    )
    assert verdicts == {"RWS-CACHE-1": Verdict.PASSED, "RWS-CACHE-2": Verdict.FAILED}
    assert messages[0] == "prerequisite not met: could not open a WebSocket"


def test_a_requirement_that_does_not_apply_is_skipped_not_failed() -> None:
    verdicts, messages = merge_verdicts(
        _scenario("RWS-LANE-2", "RWS-LANE-9"),
        REQS,
        [("RWS-LANE-2", True, "")],
        {},
        None,
        {"RWS-LANE-9": "busy-lane=reject"},
    )
    assert verdicts == {"RWS-LANE-2": Verdict.PASSED, "RWS-LANE-9": Verdict.SKIPPED}
    assert worst(verdicts.values()) is Verdict.PASSED
    assert messages == []
