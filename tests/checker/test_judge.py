"""The shared judgement of a transcript, and findings explained in words."""

from __future__ import annotations

from conformance.checker import Checker, CheckerConfig
from conformance.checker.judge import describe, explain, judge_transcript
from conformance.results import Verdict
from conformance.transcript import Record
from tests.checker.synth import Message, Transcript, run_events

CLIENT = CheckerConfig.make(("core",), roles=("client",))


def _full_resend() -> Transcript:
    """A second turn on the same connection that resends everything without the id."""
    t = Transcript().open().create(input="first", store=False)
    t.recv(*run_events([Message("one")], rid="resp_a"))
    return t.create(
        input=[
            {"type": "message", "role": "user", "content": "first"},
            {"type": "message", "role": "assistant", "content": "one"},
            {"type": "message", "role": "user", "content": "second"},
        ],
        store=False,
    )


def test_client_role_adds_the_whole_transcript_rules_to_the_checker() -> None:
    records = _full_resend().records
    alone = Checker(CLIENT).feed_all(records).verdicts()
    judged = judge_transcript(records, CLIENT).verdicts()
    assert "RWS-CLIENT-1" not in alone
    assert judged["RWS-CLIENT-1"] is Verdict.WARNING
    # Everything the checker alone concluded stands.
    assert {rid: judged[rid] for rid in alone} == alone


def test_server_role_runs_no_client_rule() -> None:
    records = _full_resend().records
    server = CheckerConfig.make(("core",), roles=("server",))
    assert "RWS-CLIENT-1" not in judge_transcript(records, server).verdicts()


def test_a_request_without_an_answer_is_said_so() -> None:
    records = _full_resend().records
    finding = judge_transcript(records, CLIENT).findings_for("RWS-CLIENT-1")[0]
    lines = explain(finding, records)
    assert lines[0].startswith(
        "the client sent response.create with no previous_response_id, store false, 3 input "
        'items (user message "first", assistant message "one", user message "second")'
    )
    assert lines[-1] == "no answer to it is recorded"


def test_records_in_words() -> None:
    t = Transcript().open().send("not json").binary(b"\x00\x01")
    t.send({"type": "response.steer", "previous_response_id": "resp_a", "input": "x"})
    t.close(direction="s2c", code=1001)
    t.records.append(Record(index=len(t.records), kind="close", conn="c1"))
    words = [describe(r) for r in t.records]
    assert words == [
        "connection c1 opened",
        "the client sent a text message that is not a JSON object (8 characters)",
        "the client sent a binary message of 2 bytes",
        "the client sent response.steer",
        "the server closed connection c1 with code 1001",
        "closed connection c1 without a code",
    ]
