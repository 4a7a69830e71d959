"""The stream, steering, frame and request checks judge a server with any model.

The suite requests ``freeform-1``, the reference server's model that behaves like a real one
(it reads no ``rws:`` directive), and is told only the profiles ``core`` and ``multiplex``.
The healthy server passes the stream, steering, frame and request checks; a rule the model
never reaches is SKIPPED with the reason, never FAILED and never forced. That each check
fails its faults with this model (a run's stream, the steering refusal, the answer to a bad
message sent in the middle of a session) is the proof matrix's job
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

# The checks made to run with any model here, and the requirements each must pass with
# freeform-1 against the healthy server.
PASSES: dict[str, tuple[str, ...]] = {
    "stream.text": ("RWS-DELTA-1", "RWS-DELTA-2", "RWS-ORDER-6", "RWS-ORDER-7", "RWS-EVENT-6"),
    "stream.incomplete": ("RWS-ORDER-11", "RWS-ORDER-3"),
    "stream.function-call": ("RWS-DELTA-4", "RWS-CACHE-2"),
    "steering.not-supported": ("RWS-STEER-1",),
    "frames.binary-message-error": ("RWS-CREATE-10", "RWS-ERR-3"),
    "frames.invalid-json-error": ("RWS-CREATE-9", "RWS-ERR-3"),
    "frames.unknown-event-type": ("RWS-CREATE-11", "RWS-ERR-3"),
    "frames.deeply-nested-message": ("RWS-LIMIT-6", "RWS-ERR-3"),
    "create.invalid-request": ("RWS-CREATE-5", "RWS-ERR-3"),
}

# Checks whose subject a model produces only when it chooses to: skipped with that reason.
NOT_REACHED = ("stream.refusal", "stream.multi-item", "stream.failed")


def _run(
    faults: list[str], check_ids: tuple[str, ...], *, server_args: tuple[str, ...] = ()
) -> RunResult:
    scenarios = [s for s in all_scenarios() if s.id in check_ids]
    return run_reference(
        faults,
        scenarios,
        model=ANY_MODEL,
        profiles=ANY_MODEL_PROFILES,
        server_args=server_args,
        jobs=8,
    )


@pytest.fixture(scope="module")
def healthy_run() -> RunResult:
    """The checks of this file against the healthy server with freeform-1."""
    return _run([], (*PASSES, *NOT_REACHED, "stream.reasoning"))


@pytest.mark.slow
def test_healthy_server_passes_the_stream_and_frame_checks_with_any_model(
    healthy_run: RunResult,
) -> None:
    failed = {c.id: c.message for c in healthy_run.checks if c.verdict is Verdict.FAILED}
    assert failed == {}
    own = {
        c.id: c.details["harness_findings"]
        for c in healthy_run.checks
        if "harness_findings" in c.details
    }
    assert own == {}
    for check_id, requirements in PASSES.items():
        check = check_of(healthy_run, check_id)
        assert check.verdict is not Verdict.SKIPPED, check.message
        for requirement in requirements:
            assert check.requirement_verdicts[requirement] is Verdict.PASSED, (
                check_id,
                requirement,
                check.message,
            )


@pytest.mark.slow
def test_parts_that_need_conformance_1_say_what_they_left_out(healthy_run: RunResult) -> None:
    text = check_of(healthy_run, "stream.text")
    assert text.requirement_verdicts["RWS-MODEL-2"] is Verdict.SKIPPED
    assert ANY_MODEL in text.details["not_applicable"]["RWS-MODEL-2"]
    # freeform-1 does not reason: the reasoning rules are not reached, the grammar is judged.
    reasoning = check_of(healthy_run, "stream.reasoning")
    assert reasoning.requirement_verdicts["RWS-DELTA-6"] is Verdict.SKIPPED
    assert "not reached with model" in reasoning.details["not_applicable"]["RWS-DELTA-6"]
    assert reasoning.requirement_verdicts["RWS-ORDER-4"] is Verdict.PASSED
    for check_id in NOT_REACHED:
        check = check_of(healthy_run, check_id)
        assert check.verdict is Verdict.SKIPPED
        assert "not reached with model" in check.message
        assert ANY_MODEL in check.message
    # The answer to the nested message is the server's choice (RWS-CREATE-21 is a MAY).
    nested = check_of(healthy_run, "frames.deeply-nested-message")
    assert nested.requirement_verdicts["RWS-CREATE-21"] is Verdict.INFORMATIONAL
    assert "deeply_nested_answer" in nested.details


@pytest.mark.slow
def test_steering_numbers_are_judged_when_the_target_still_runs() -> None:
    # freeform-1 answers at once unless the server charges time per output token: then the
    # steer is refused while its target runs, and RWS-SEQ-5 is judged...
    slow = _run([], ("steering.not-supported",), server_args=REAL_MODEL_PACE)
    check = check_of(slow, "steering.not-supported")
    assert check.requirement_verdicts == {
        "RWS-STEER-1": Verdict.PASSED,
        "RWS-SEQ-5": Verdict.PASSED,
    }, check.message
    # ...otherwise the target has ended first, and the check says that it was not reached.
    fast = _run([], ("steering.not-supported",))
    check = check_of(fast, "steering.not-supported")
    assert check.requirement_verdicts["RWS-SEQ-5"] is Verdict.SKIPPED
    assert "ended before the steer was answered" in check.details["not_applicable"]["RWS-SEQ-5"]
