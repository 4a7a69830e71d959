"""The helpers of the any-model paths (scenarios/_common.py, cache.py): no server needed."""

from __future__ import annotations

from typing import Any, cast

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.wire import Recorder
from conformance.requirements import load_requirements
from conformance.scenarios import by_id
from conformance.scenarios._common import (
    ANSWER_CAP_TOKENS,
    Usage,
    context_evidence,
    continuable,
    evicts,
    turn,
)
from conformance.scenarios.cache import _instructions_evidence

FREEFORM = SuiteConfig(server_url="ws://server:1", model="freeform-1")
SCRIPTED = SuiteConfig(server_url="ws://server:1")


def _context(config: SuiteConfig) -> ScenarioContext:
    # turn() and continuable() read only the configuration; no connection is opened (the
    # recorder reads trio's clock, so the tests that use this run in trio).
    return ScenarioContext(config, cast(Any, None), Recorder(), load_requirements())


def _run(
    response_id: str,
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cached: int | None = None,
    reasoning: int | None = None,
    status: str = "completed",
) -> Outcome:
    response: dict[str, Any] = {"id": response_id, "status": status}
    if input_tokens is not None:
        usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        if cached is not None:
            usage["input_tokens_details"] = {"cached_tokens": cached}
        if reasoning is not None:
            usage["output_tokens_details"] = {"reasoning_tokens": reasoning}
        response["usage"] = usage
    created = {"type": "response.created", "response": {"id": response_id}}
    terminal = {"type": f"response.{status}", "response": response}
    return Outcome(kind="run", events=(created, terminal), complete=True)


async def test_turn_sends_the_directive_to_conformance_1_and_a_capped_prompt_to_other_models() -> (
    None
):
    scripted = turn(_context(SCRIPTED), "rws:context", "Name three animals.", store=False)
    assert scripted == {
        "type": "response.create",
        "model": "conformance-1",
        "input": "rws:context",
        "store": False,
    }
    other = turn(_context(FREEFORM), "rws:context", "Name three animals.", store=False)
    assert other == {
        "type": "response.create",
        "model": "freeform-1",
        "input": "Name three animals.",
        "max_output_tokens": ANSWER_CAP_TOKENS,
        "store": False,
    }
    longer = turn(_context(FREEFORM), "rws:context", "Write a story.", max_output_tokens=4096)
    assert longer["max_output_tokens"] == 4096


async def test_only_other_models_may_end_a_response_the_suite_continues_incomplete() -> None:
    assert continuable(_context(SCRIPTED)) == ("completed",)
    assert continuable(_context(FREEFORM)) == ("completed", "incomplete")


def test_eviction_follows_the_error_registry_and_its_unregistered_row() -> None:
    assert evicts("invalid_type") is True
    assert evicts("invalid_value") is True
    assert evicts("previous_response_not_found") is False
    assert evicts("response_already_in_flight") == "may"
    # A code the registry does not list evicts (errors.json "unregistered", D8).
    assert evicts("some_vendor_error") is True


def test_usage_reads_the_counts_a_server_reports_and_none_for_the_rest() -> None:
    assert Usage.of(_run("r", input_tokens=10, output_tokens=5, cached=3, reasoning=1)) == Usage(
        10, 5, 3, 1
    )
    assert Usage.of(_run("r")) == Usage(None, None, None, None)


def test_context_evidence_reads_a_smaller_uncached_input_as_lost_context() -> None:
    previous = _run("r1", input_tokens=20, output_tokens=30, reasoning=10)
    consistent = context_evidence(previous, _run("r2", input_tokens=45, output_tokens=5))
    assert consistent["lost_context"] is False
    assert consistent["reading"].startswith("consistent: 45 input tokens, at least the 40")
    lost = context_evidence(previous, _run("r2", input_tokens=25, output_tokens=5, cached=0))
    assert lost["lost_context"] is True
    assert lost["reading"].startswith("evidence of lost context")
    assert "25 input tokens, none cached, fewer than the 40" in lost["reading"]


def test_context_evidence_judges_nothing_when_the_count_may_leave_cached_tokens_out() -> None:
    previous = _run("r1", input_tokens=20, output_tokens=30)
    cached = context_evidence(previous, _run("r2", input_tokens=12, output_tokens=5, cached=40))
    assert "lost_context" not in cached
    assert cached["reading"].startswith("not judged: 12 input tokens")
    silent = context_evidence(previous, _run("r2"))
    assert "lost_context" not in silent
    assert silent["reading"].startswith("not judged: the server does not report")


def test_instructions_evidence_tells_carried_from_not_carried_over() -> None:
    baseline = _run("r0", input_tokens=20, output_tokens=10)
    ruled = _run("r1", input_tokens=1020, output_tokens=12)
    carried = _instructions_evidence(baseline, ruled, _run("r2", input_tokens=1060))
    assert carried.startswith("the instructions appear carried over: the instructions count 1000")
    kept_out = _instructions_evidence(baseline, ruled, _run("r2", input_tokens=45, cached=0))
    assert kept_out.startswith("instructions not carried over")
    cached = _instructions_evidence(baseline, ruled, _run("r2", input_tokens=45, cached=30))
    assert cached.startswith("consistent with instructions not carried over")


def test_instructions_evidence_judges_nothing_when_instructions_are_not_counted() -> None:
    baseline = _run("r0", input_tokens=20, output_tokens=10)
    uncounted = _run("r1", input_tokens=22, output_tokens=10)
    reading = _instructions_evidence(baseline, uncounted, _run("r2", input_tokens=40))
    assert reading.startswith("not judged: the same input counts 20 input tokens without")
    assert _instructions_evidence(baseline, _run("r1"), _run("r2")).startswith("not judged")


def test_failed_run_check_is_skipped_for_other_models_with_the_reason() -> None:
    check = by_id("cache.failed-run-not-cached")
    assert check.skip_reason(SCRIPTED) is None
    reason = check.skip_reason(FREEFORM)
    assert reason is not None
    assert reason.startswith("not reached with model 'freeform-1'")


def test_converted_checks_run_with_any_model() -> None:
    for check_id in (
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
        "limits.client-close-stops-runs",
    ):
        assert by_id(check_id).skip_reason(FREEFORM) is None, check_id
