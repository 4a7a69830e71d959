"""Every client check can fail: each broken client is caught by the scenario that targets it.

Each row names a broken behaviour (tests/clientsuite/broken_clients/broken.py), the scenario
that must catch it and the requirement whose verdict must then be FAILED (MUST, MUST NOT) or
WARNING (SHOULD, SHOULD NOT). The same scenarios pass with the raw adapter
(test_shipped_adapters.py), so the verdict comes from the broken behaviour alone.

The context rules judge a request by its effective context, skipping ``generate: false``
warm-ups: the context-breaking clients are caught just the same when they open every
connection with a warm-up as Codex CLI does, and the same client without a broken mode
passes every scenario.
"""

from __future__ import annotations

import json

import pytest
import trio

from conformance.clientsuite.runner import API_KEY, run_client_suite, run_scenario
from conformance.clientsuite.scenarios import SCENARIOS, scenario_by_id
from conformance.results import CheckResult, Verdict
from tests.clientsuite.broken_clients.broken import MODES
from tests.clientsuite.conftest import RunBroken, broken_client
from tests.suite.proof.matrix import matrix, miss

F, W = Verdict.FAILED, Verdict.WARNING

# The client rows of the proof matrix (docs/data/proof-matrix.json): the broken client, the
# scenario that must catch it, the requirement and the verdict, and the finding it reports.
ROWS = [row for row in matrix().rows if row.suite == "client"]
CASES: list[tuple[str, str, str, Verdict]] = [
    (row.breaker, row.check, row.requirement, Verdict(row.verdict)) for row in ROWS
]


def test_every_broken_mode_is_exercised() -> None:
    assert {mode for mode, *_ in CASES} == set(MODES)


@pytest.mark.parametrize(
    ("mode", "scenario", "requirement", "verdict"),
    CASES,
    ids=[f"{m}-{s}" for m, s, *_ in CASES],
)
def test_broken_client_fails_the_targeted_requirement(
    run_broken: RunBroken, mode: str, scenario: str, requirement: str, verdict: Verdict
) -> None:
    result = run_broken(mode, scenario)
    assert "harness_errors" not in result.details["observations"], result.message
    assert result.requirement_verdicts.get(requirement) is verdict, (
        f"{requirement}: {result.requirement_verdicts.get(requirement)} / {result.message}"
    )
    assert requirement in result.message
    wanted = (mode, scenario, requirement)
    row = next(r for r in ROWS if (r.breaker, r.check, r.requirement) == wanted)
    assert miss(row, result) is None, miss(row, result)
    # The check as a whole is at least as bad as the requirement it caught.
    assert result.verdict in ((F,) if verdict is F else (F, W))


def _shown(result: CheckResult) -> str:
    """Everything of a check a report shows about the client's side (not its own stderr)."""
    return json.dumps(
        [result.message, result.details["observations"], list(result.wire_log)], default=str
    )


@pytest.mark.parametrize(
    ("mode", "sent"),
    [
        ("token-scheme", "the upgrade carried `Authorization: Token …`"),
        (
            "key-in-query",
            "the upgrade carried no Authorization header; the key was in the "
            "query parameter `api_key`",
        ),
    ],
)
def test_refused_upgrade_fails_trans_19_in_words_without_the_key(
    run_broken: RunBroken, mode: str, sent: str
) -> None:
    result = run_broken(mode, "incremental-input")
    assert result.requirement_verdicts["RWS-TRANS-19"] is F
    assert sent in result.message
    assert "the server refused the upgrade (HTTP 401)" in result.message
    # The verdict is the credential's, not the task's: nothing else was judged.
    assert "task not completed" not in result.message
    assert "RWS-CLIENT-1" not in result.requirement_verdicts
    assert "RWS-CLIENT-1" in result.details["not_exercised"]
    assert API_KEY not in _shown(result)
    assert result.verdict is F


def test_tool_output_sent_before_the_terminal_event_is_a_second_create_on_a_busy_lane(
    run_broken: RunBroken,
) -> None:
    result = run_broken("early-tool-output", "tool-loop")
    assert result.requirement_verdicts["RWS-CLIENT-3"] is F
    # The report says what the client sent and what came back.
    assert "the client sent response.create with previous_response_id" in result.message
    assert "function_call_output" in result.message
    assert "the answer: the server sent error response_already_in_flight" in result.message


def _warm_ups(result: CheckResult) -> int:
    """How many generate: false requests the client sent."""
    return sum(
        1
        for r in result.wire_log
        if r.get("kind") == "text"
        and r.get("dir") == "c2s"
        and json.loads(r["text"]).get("generate") is False
    )


# The context-breaking modes, with a warm-up on every connection (Codex CLI's shape).
WARM_UP_CASES: list[tuple[str, str, str, Verdict]] = [
    ("stale-id-new-connection", "reconnect-store-false", "RWS-CLIENT-5", F),
    ("stale-id-new-connection", "connection-age-limit", "RWS-CLIENT-5", F),
    ("drop-history", "reconnect-store-false", "RWS-CLIENT-5", F),
    ("drop-history", "connection-age-limit", "RWS-CLIENT-5", F),
    ("drop-history", "resume-not-found", "RWS-CLIENT-2", F),
    ("stale-previous-id", "resume-not-found", "RWS-CLIENT-2", F),
    ("full-resend", "incremental-input", "RWS-CLIENT-1", W),
    ("prev-and-full", "incremental-input", "RWS-CLIENT-1", W),
]


@pytest.mark.parametrize(
    ("mode", "scenario", "requirement", "verdict"),
    WARM_UP_CASES,
    ids=[f"{m}-{s}" for m, s, *_ in WARM_UP_CASES],
)
def test_broken_client_with_warm_ups_fails_the_targeted_requirement(
    mode: str, scenario: str, requirement: str, verdict: Verdict
) -> None:
    result = trio.run(run_scenario, broken_client(mode, warm_up=True), scenario_by_id(scenario))
    assert result.details["observations"]["upgrades"], result.message
    assert _warm_ups(result)
    assert result.requirement_verdicts.get(requirement) is verdict, (
        f"{requirement}: {result.requirement_verdicts.get(requirement)} / {result.message}"
    )
    assert requirement in result.message


def test_client_with_warm_ups_and_full_context_passes_every_scenario() -> None:
    # What Codex CLI does on every connection, done by an otherwise conforming client: the
    # warm-up is no turn for the scripted server (the faults still hit the turns they name)
    # and no request for the context rules (the continuation is judged by its context).
    client = broken_client("", warm_up=True)
    run = trio.run(lambda: run_client_suite([client], SCENARIOS, jobs=6))
    assert {c.verdict for c in run.checks} == {Verdict.PASSED}, [
        (c.id, c.message) for c in run.checks if c.verdict is not Verdict.PASSED
    ]
    by_scenario = {c.details["scenario"]: c for c in run.checks}
    for scenario_id in ("reconnect-store-false", "connection-age-limit"):
        check = by_scenario[scenario_id]
        assert check.requirement_verdicts["RWS-CLIENT-5"] is Verdict.PASSED
        # One per connection: the continuation on the new one came after its warm-up.
        assert _warm_ups(check) == check.details["connections"] >= 2
