"""The whole-transcript client rules judge a request by its effective context, past warm-ups.

Codex CLI opens every connection with a ``generate: false`` warm-up (its system prompt as a
developer message) and continues from it with ``previous_response_id`` and the rest of its
context. The full-context obligations (RWS-CLIENT-2 after ``previous_response_not_found``,
RWS-CLIENT-5 on a new connection) are met by the first request that is not a warm-up when its
effective context (its input after the context and output of the same connection's previous
response) holds the whole history; RWS-CLIENT-1 compares effective contexts too. Dropping
history, or continuing a ``store: false`` chain by an id of another connection, still fails.
"""

from __future__ import annotations

from typing import Any

from conformance.checker import CheckerConfig
from conformance.checker.client import check_client_traffic, create_contexts, essence
from conformance.checker.findings import Report
from conformance.results import Verdict
from tests.checker.synth import Message, Transcript, error_event, run_events

__all__: list[str] = []

CLIENT = CheckerConfig.make(("core",), roles=("client",), busy_lane="reject")
SYSTEM = {"type": "message", "role": "developer", "content": "You are a coding agent."}
U1 = {"type": "message", "role": "user", "content": "first question"}
A1 = {"type": "message", "role": "assistant", "content": "one"}
U2 = {"type": "message", "role": "user", "content": "second question"}
NOT_FOUND = error_event("previous_response_not_found", param="previous_response_id")
LIMIT = error_event("websocket_connection_limit_reached")
NO_OUTPUT = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 10,
}


def _warm_up(t: Transcript, conn: str, rid: str) -> Transcript:
    """A generate: false warm-up with the system prompt, answered without output."""
    t.create(conn, input=[SYSTEM], store=False, generate=False)
    return t.recv(*run_events([], rid=rid, usage=NO_OUTPUT), conn=conn)


def _turn(
    t: Transcript, conn: str, prev: str | None, items: list[dict[str, Any]], rid: str, text: str
) -> Transcript:
    fields: dict[str, Any] = {"input": items, "store": False}
    if prev is not None:
        fields["previous_response_id"] = prev
    t.create(conn, **fields)
    return t.recv(*run_events([Message(text)], rid=rid), conn=conn)


def _first_turn_then_1001() -> Transcript:
    """c1: a warm-up, the first turn continuing it, then the server's 1001 close."""
    t = Transcript().open("c1")
    _warm_up(t, "c1", "resp_w1")
    _turn(t, "c1", "resp_w1", [U1], "resp_a", "one")
    return t.close("c1", direction="s2c", code=1001).open("c2")


def _verdicts(t: Transcript) -> tuple[Report, dict[str, Verdict]]:
    report = check_client_traffic(t.records, CLIENT)
    return report, report.verdicts()


def test_warm_up_then_continuation_with_the_whole_history_meets_client_5() -> None:
    t = _first_turn_then_1001()
    _warm_up(t, "c2", "resp_w2")
    _turn(t, "c2", "resp_w2", [U1, A1, U2], "resp_b", "two")
    report, verdicts = _verdicts(t)
    assert [f.message for f in report.findings] == []
    assert report.exercised["RWS-CLIENT-5"] == 1
    assert verdicts["RWS-CLIENT-5"] is Verdict.PASSED
    # Each turn continues its warm-up with only new items (RWS-CLIENT-1).
    assert verdicts["RWS-CLIENT-1"] is Verdict.PASSED


def test_warm_up_alone_is_not_taken_as_the_continuation() -> None:
    t = _first_turn_then_1001()
    _warm_up(t, "c2", "resp_w2")
    report, _ = _verdicts(t)
    assert report.findings == ()
    assert "RWS-CLIENT-5" not in report.exercised


def test_continuation_after_a_warm_up_that_drops_history_breaks_client_5() -> None:
    t = _first_turn_then_1001()
    _warm_up(t, "c2", "resp_w2")
    _turn(t, "c2", "resp_w2", [U2], "resp_b", "two")
    report, verdicts = _verdicts(t)
    assert verdicts["RWS-CLIENT-5"] is Verdict.FAILED
    (finding,) = [f for f in report.findings if f.requirement == "RWS-CLIENT-5"]
    assert "expected the full context (3 items, then the new input)" in finding.message
    assert "item 1 differs" in finding.message
    assert "resp_w2, of this connection" in finding.message


def test_continuation_after_a_warm_up_by_the_old_store_false_id_breaks_client_5() -> None:
    t = _first_turn_then_1001()
    _warm_up(t, "c2", "resp_w2")
    t.create("c2", previous_response_id="resp_a", input=[U2], store=False).recv(
        NOT_FOUND, conn="c2"
    )
    report, verdicts = _verdicts(t)
    assert verdicts["RWS-CLIENT-5"] is Verdict.FAILED
    (finding,) = [f for f in report.findings if f.requirement == "RWS-CLIENT-5"]
    assert "previous_response_id resp_a of connection c1" in finding.message
    assert "with close code 1001" in finding.message


def _connection_age(resent: list[dict[str, Any]]) -> Transcript:
    """Codex's connection-age-limit: a process per turn, a connection and a warm-up each; the
    second turn meets the limit and is sent again on a third connection."""
    t = Transcript().open("c1")
    _warm_up(t, "c1", "resp_w1")
    _turn(t, "c1", "resp_w1", [U1], "resp_a", "one")
    t.close("c1", direction="c2s", code=1006).open("c2")
    _warm_up(t, "c2", "resp_w2")
    t.create("c2", previous_response_id="resp_w2", input=[U1, A1, U2], store=False)
    t.recv(LIMIT, conn="c2").close("c2", direction="s2c", code=1001).open("c3")
    _warm_up(t, "c3", "resp_w3")
    return _turn(t, "c3", "resp_w3", resent, "resp_b", "two")


def test_turn_resent_after_the_limit_error_past_a_warm_up_meets_client_5() -> None:
    report, verdicts = _verdicts(_connection_age([U1, A1, U2]))
    assert [f.message for f in report.findings] == []
    assert report.exercised["RWS-CLIENT-5"] == 1
    assert verdicts["RWS-CLIENT-5"] is Verdict.PASSED


def test_turn_resent_after_the_limit_error_without_history_breaks_client_5() -> None:
    _, verdicts = _verdicts(_connection_age([U2]))
    assert verdicts["RWS-CLIENT-5"] is Verdict.FAILED


def test_whole_context_resent_after_a_warm_up_id_on_the_same_connection_breaks_client_1() -> None:
    # The second turn continues the warm-up, not the first turn, and resends the first turn.
    t = Transcript().open("c1")
    _warm_up(t, "c1", "resp_w1")
    _turn(t, "c1", "resp_w1", [U1], "resp_a", "one")
    _turn(t, "c1", "resp_w1", [U1, A1, U2], "resp_b", "two")
    report, verdicts = _verdicts(t)
    assert verdicts["RWS-CLIENT-1"] is Verdict.WARNING
    (finding,) = report.findings
    assert "expected previous_response_id resp_a and only the new items" in finding.message
    assert "resent after previous_response_id resp_w1" in finding.message


def _not_found_then(retry: list[dict[str, Any]]) -> Transcript:
    t = Transcript().open("c1")
    _warm_up(t, "c1", "resp_w1")
    _turn(t, "c1", "resp_w1", [U1], "resp_a", "one")
    t.create("c1", previous_response_id="resp_a", input=[U2], store=False)
    t.recv(NOT_FOUND, conn="c1")
    _warm_up(t, "c1", "resp_w2")
    return _turn(t, "c1", "resp_w2", retry, "resp_b", "two")


def test_retry_after_not_found_past_a_warm_up_with_the_full_context_meets_client_2() -> None:
    report, verdicts = _verdicts(_not_found_then([U1, A1, U2]))
    assert [f.message for f in report.findings] == []
    assert verdicts["RWS-CLIENT-2"] is Verdict.PASSED


def test_retry_after_not_found_past_a_warm_up_without_history_breaks_client_2() -> None:
    _, verdicts = _verdicts(_not_found_then([U2]))
    assert verdicts["RWS-CLIENT-2"] is Verdict.FAILED


def test_create_contexts_gives_each_request_its_effective_context() -> None:
    t = _first_turn_then_1001()
    _warm_up(t, "c2", "resp_w2")
    _turn(t, "c2", "resp_w2", [U1, A1, U2], "resp_b", "two")
    _turn(t, "c2", "resp_b", [U1], "resp_c", "three")
    contexts = create_contexts(t.records)
    assert [(c.conn, c.warm_up) for c in contexts] == [
        ("c1", True),
        ("c1", False),
        ("c2", True),
        ("c2", False),
        ("c2", False),
    ]
    first, turn, _, resent, last = contexts
    assert first.context == (essence(SYSTEM),)
    assert turn.context == (essence(SYSTEM), essence(U1))
    assert resent.context == tuple(essence(i) for i in (SYSTEM, U1, A1, U2))
    # The context and output of resp_b (answered "two"), then the new input.
    assert last.context is not None
    assert last.context[-2:] == (essence({"role": "assistant", "content": "two"}), essence(U1))


def test_create_contexts_leaves_a_previous_response_of_another_connection_unknown() -> None:
    t = _first_turn_then_1001()
    t.create("c2", previous_response_id="resp_a", input=[U2], store=False)
    assert create_contexts(t.records)[-1].context is None
