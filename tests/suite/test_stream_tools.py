"""The tool-call and annotation checks (conformance/scenarios/stream_tools.py) against the
reference server: with conformance-1 each judges RWS-DELTA-5 or RWS-DELTA-7 and the model's
output, and passes; with a model other than conformance-1 each says why it cannot reach its
rule. That each fails its fault is the proof matrix's job (tests/suite/proof/).
"""

from __future__ import annotations

import pytest

from conformance.results import RunResult, Verdict
from conformance.scenarios import all_scenarios
from tests.suite.reference_server import ANY_MODEL, ANY_MODEL_PROFILES, check_of, run_reference

# Each check and the requirement it exists for.
CHECKS = {
    "stream.custom-tool-call": "RWS-DELTA-5",
    "stream.mcp-call": "RWS-DELTA-5",
    "stream.code-interpreter-call": "RWS-DELTA-5",
    "stream.annotations": "RWS-DELTA-7",
}


def _run(any_model: bool = False) -> RunResult:
    scenarios = [s for s in all_scenarios() if s.id in CHECKS]
    if any_model:
        return run_reference([], scenarios, model=ANY_MODEL, profiles=ANY_MODEL_PROFILES)
    return run_reference([], scenarios)


@pytest.mark.slow
def test_healthy_server_passes_every_tool_and_annotation_check_with_conformance_1() -> None:
    run = _run()
    for check_id, requirement in CHECKS.items():
        check = check_of(run, check_id)
        assert check.verdict is Verdict.PASSED, check.message
        # Every declared requirement was judged, the delta rule and the model's output
        # among them (nothing set aside).
        assert set(check.requirement_verdicts) == set(check.requirements)
        assert check.requirement_verdicts[requirement] is Verdict.PASSED
        assert check.requirement_verdicts["RWS-MODEL-2"] is Verdict.PASSED
        assert check.details["exercised"][requirement] > 0
        assert "harness_findings" not in check.details


@pytest.mark.slow
def test_checks_say_why_their_rule_is_not_reached_with_another_model() -> None:
    run = _run(any_model=True)
    # The custom tool is forced with standard parameters; freeform-1 answers with text, so the
    # grammar is judged and the input rule is not reached.
    custom = check_of(run, "stream.custom-tool-call")
    assert custom.verdict is Verdict.PASSED, custom.message
    assert custom.requirement_verdicts["RWS-ORDER-4"] is Verdict.PASSED
    assert custom.requirement_verdicts["RWS-DELTA-5"] is Verdict.SKIPPED
    assert "not reached with model" in custom.details["not_applicable"]["RWS-DELTA-5"]
    # The others cannot be asked of a model that reads no directive: skipped, with why.
    for check_id in ("stream.mcp-call", "stream.code-interpreter-call", "stream.annotations"):
        check = check_of(run, check_id)
        assert check.verdict is Verdict.SKIPPED
        assert f"not reached with model {ANY_MODEL!r}" in check.message
