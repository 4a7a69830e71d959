"""Reproductions of what the fuzzer found in the reference server and the checker.

Each test replays one minimal example the fuzzer shrank to and asserts the behaviour the
specification requires. Findings not fixed yet are strict xfails (listed in ``known.py``):
when the owner fixes one, its test XPASSes, fails the run, and the mark and the entry in
``KNOWN_FINDINGS`` are removed.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checker import Checker, CheckerConfig
from conformance.fuzz.client import Frame, Target
from conformance.fuzz.mutations import Expected, Mutation, codes_for
from conformance.fuzz.stateless import check_example
from tests.fuzz.known import KNOWN_FINDINGS

__all__: list[str] = []

pytestmark = pytest.mark.slow


def _mutation(event: dict[str, Any], expected: Expected) -> Mutation:
    return Mutation("reproduction", (Frame.json(event),), expected, event)


def _create_20() -> Expected:
    """What the reference server answers stream: false / background: true (it refuses)."""
    return Expected("outcome_error", ("RWS-CREATE-20",), codes_for("RWS-CREATE-20"))


def test_background_true_without_model_is_answered_with_unsupported_parameter(
    reference_target: Target,
) -> None:
    """Finding 1a (fixed): the reference server asked for the model before refusing
    ``background: true``; kept as a regression test."""
    check_example(
        reference_target, _mutation({"type": "response.create", "background": True}, _create_20())
    )


def test_stream_false_with_another_schema_error_is_answered_like_the_checker_predicts(
    reference_target: Target,
) -> None:
    """Finding 1b (fixed by RWS-CREATE-17): with stream false and a wrongly typed field, the
    reference server reports the type error, which the checker accepts since either defect
    may be reported."""
    event = {"type": "response.create", "model": "conformance-1", "stream": False, "top_p": "x"}
    check_example(
        reference_target,
        _mutation(
            event,
            Expected(
                "outcome_error",
                ("RWS-CREATE-20", "RWS-CREATE-5"),
                codes_for("RWS-CREATE-20", "RWS-CREATE-5"),
            ),
        ),
    )


def test_checker_judges_a_client_event_whose_type_is_an_array() -> None:
    """Finding 2 (fixed): ``"type": []`` made the checker raise internally (reported as a
    transcript problem) instead of expecting unknown_event_type."""
    checker = Checker(CheckerConfig.make(roles=("server",)))
    report = checker.feed_all(
        [
            {"conn": "c1", "kind": "open", "url": "ws://x/v1/responses", "status": 101},
            {"conn": "c1", "kind": "text", "dir": "c2s", "text": '{"type":[]}'},
            {
                "conn": "c1",
                "kind": "text",
                "dir": "s2c",
                "text": '{"type":"error","status":400,"error":{"type":"invalid_request_error",'
                '"code":"unknown_event_type","message":"m","param":"type"}}',
            },
        ]
    )
    assert [f.message for f in report.findings if f.requirement is None] == []
    assert not report.failed


def test_incomplete_item_then_fail_directive_ends_the_run_incomplete(
    reference_target: Target,
) -> None:
    """Finding 3 (fixed by appendix A.5): ``rws:incomplete`` then ``rws:fail after=N`` ended
    the run ``response.failed`` after an incomplete item (RWS-ORDER-11)."""
    event = {
        "type": "response.create",
        "model": "conformance-1",
        "input": "rws:context\nrws:incomplete\nrws:fail after=8",
        "store": False,
    }
    check_example(reference_target, _mutation(event, Expected("outcome", ("RWS-ORDER-11",))))


def test_every_known_finding_has_a_reproduction() -> None:
    # Every finding so far is fixed; a new one gets an entry here and a strict xfail above.
    assert set(KNOWN_FINDINGS) == set()
