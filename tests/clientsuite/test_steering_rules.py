"""The client's steering rules on small transcripts: RWS-STEER-7 (accepted input is never sent
again) and RWS-STEER-9 (no ``stream_id`` in ``response.steer``).

What counts as resending accepted input is the reading of
:mod:`conformance.checker.client_steering`: sending the input again into the conversation
while the server holds it (accepted, pending or committed) fails; the same words once the input
was refused or given back, after its connection closed, or in another conversation do not.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.checker import CheckerConfig
from conformance.checker.client import check_client_traffic
from conformance.checker.judge import judge_transcript
from conformance.results import Verdict

CLIENT = CheckerConfig.make(("core", "steering"), roles=("client",), busy_lane="reject")
WORDS = "steer: be brief"


class Wire:
    """A transcript under construction: one record per call, timestamps in order."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.conn = "c1"
        self.open()

    def _add(self, kind: str, **fields: Any) -> None:
        ts = len(self.records) * 0.01
        self.records.append({"kind": kind, "conn": self.conn, "ts": ts, **fields})

    def open(self, conn: str = "c1") -> None:
        self.conn = conn
        self._add("open", url="ws://x", status=101)

    def close(self, code: int, direction: str = "s2c") -> None:
        self._add("close", dir=direction, code=code)

    def client(self, **body: Any) -> None:
        self._add("text", dir="c2s", text=json.dumps(body))

    def server(self, **event: Any) -> None:
        self._add("text", dir="s2c", text=json.dumps(event))

    def create(self, items: list[dict[str, Any]], previous: str | None = None) -> None:
        body: dict[str, Any] = {"type": "response.create", "model": "m", "input": items}
        if previous is not None:
            body["previous_response_id"] = previous
        self.client(**body)

    def steer(self, target: str, words: str = WORDS, **extra: Any) -> None:
        self.client(type="response.steer", previous_response_id=target, input=words, **extra)

    def run(
        self,
        rid: str,
        output: list[dict[str, Any]],
        previous: str | None = None,
        end: str = "response.completed",
    ) -> None:
        self.started(rid, previous)
        self.ended(rid, output, end)

    def started(self, rid: str, previous: str | None = None) -> None:
        response = {"id": rid, "status": "in_progress", "output": []}
        self.server(
            type="response.created",
            sequence_number=0,
            response={**response, "previous_response_id": previous},
        )

    def ended(
        self, rid: str, output: list[dict[str, Any]], end: str = "response.completed"
    ) -> None:
        status = end.removeprefix("response.")
        response: dict[str, Any] = {"id": rid, "status": status, "output": output}
        if status == "incomplete":
            response["incomplete_details"] = {"reason": "steered"}
        self.server(type=end, sequence_number=9, response=response)

    def accepted(self, target: str, sid: str = "steer_1") -> None:
        steer = {"id": sid, "previous_response_id": target}
        self.server(type="response.steer.accepted", sequence_number=3, steer=steer)

    def failed(self, target: str, sid: str | None = None, words: str = WORDS) -> None:
        steer: dict[str, Any] = {"previous_response_id": target, "input": words}
        if sid is not None:
            steer["id"] = sid
        error = {"type": "invalid_request_error", "code": "x", "message": "x"}
        self.server(type="response.steer.failed", sequence_number=0, steer=steer, error=error)

    def pending(self, target: str, sid: str = "steer_1") -> None:
        self.server(
            type="response.steer.pending",
            sequence_number=0,
            steer={"id": sid, "previous_response_id": target},
            reason="waiting_for_required_input",
            required_input=[{"type": "function_call_output", "call_id": "c1", "name": "f"}],
        )

    def verdicts(self) -> dict[str, Verdict]:
        return check_client_traffic(self.records, CLIENT).verdicts()

    def messages(self, requirement: str) -> list[str]:
        report = check_client_traffic(self.records, CLIENT)
        return [f.message for f in report.findings if f.requirement == requirement]


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def said(text: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": []}
    return {"type": "message", "role": "assistant", "status": "completed", "content": [part]}


CALL = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
TOOL_OUTPUT = {"type": "function_call_output", "call_id": "c1", "output": "r"}


def steered_successor(wire: Wire) -> None:
    """Prompt, steer accepted, target ends steered, successor answers: resp_2 continues
    resp_1 with the steering input."""
    wire.create([user("first")])
    wire.started("resp_1")
    wire.steer("resp_1")
    wire.accepted("resp_1")
    wire.ended("resp_1", [said("par")], "response.incomplete")
    wire.run("resp_2", [said("brief answer")], previous="resp_1")


def test_the_same_steer_sent_again_after_acceptance_fails_steer_7() -> None:
    wire = Wire()
    wire.create([user("first")])
    wire.started("resp_1")
    wire.steer("resp_1")
    wire.accepted("resp_1")
    wire.steer("resp_1")
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.FAILED
    (message,) = wire.messages("RWS-STEER-7")
    assert "accepted as steer_1" in message
    assert "actual response.steer to resp_1 with the same input" in message


def test_the_same_steer_to_the_successor_fails_steer_7() -> None:
    wire = Wire()
    steered_successor(wire)
    wire.create([user("second")], previous="resp_2")
    wire.started("resp_3", previous="resp_2")
    wire.steer("resp_3")
    # resp_3 continues resp_2, the successor that committed the input.
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.FAILED


def test_steering_input_refused_may_be_steered_again() -> None:
    wire = Wire()
    wire.create([user("first")])
    wire.started("resp_1")
    wire.steer("resp_1")
    wire.failed("resp_1")  # refused: no id, the client still owns the input
    wire.steer("resp_1")
    assert "RWS-STEER-7" not in wire.verdicts()  # never accepted: nothing to judge
    assert wire.messages("RWS-STEER-7") == []


def test_input_given_back_after_acceptance_may_be_sent_again() -> None:
    wire = Wire()
    wire.create([user("first")])
    wire.started("resp_1")
    wire.steer("resp_1")
    wire.accepted("resp_1")
    wire.ended("resp_1", [said("answer")])
    wire.failed("resp_1", "steer_1")  # RWS-STEER-8: the client owns it again
    wire.create([user(WORDS)], previous="resp_1")
    # Judged (a message into the conversation of accepted input), and no resend.
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.PASSED


def test_committed_input_sent_again_with_the_next_prompt_fails_steer_7() -> None:
    wire = Wire()
    steered_successor(wire)
    wire.create([user(WORDS), user("second")], previous="resp_2")
    verdicts = wire.verdicts()
    assert verdicts["RWS-STEER-7"] is Verdict.FAILED
    (message,) = wire.messages("RWS-STEER-7")
    assert "(committed) / actual response.create continuing resp_2" in message
    # The successor's context holds the steering input: RWS-CLIENT-1 sees it resent too.
    assert verdicts["RWS-CLIENT-1"] is Verdict.WARNING


def test_continuing_the_successor_with_only_the_new_prompt_passes() -> None:
    wire = Wire()
    steered_successor(wire)
    wire.create([user("second")], previous="resp_2")
    verdicts = wire.verdicts()
    assert verdicts["RWS-STEER-7"] is Verdict.PASSED
    assert verdicts["RWS-CLIENT-1"] is Verdict.PASSED


def test_steering_input_sent_to_the_steered_target_after_its_successor_fails() -> None:
    # A client that does not follow successors sends the input as a turn of its own.
    wire = Wire()
    steered_successor(wire)
    wire.create([user(WORDS)], previous="resp_1")
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.FAILED


def _pending(wire: Wire) -> None:
    wire.create([user("look it up")])
    wire.started("resp_1")
    wire.steer("resp_1")
    wire.accepted("resp_1")
    wire.ended("resp_1", [CALL])
    wire.pending("resp_1")


def test_pending_input_repeated_in_the_continuation_fails_steer_7() -> None:
    wire = Wire()
    _pending(wire)
    wire.create([TOOL_OUTPUT, user(WORDS)], previous="resp_1")
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.FAILED
    (message,) = wire.messages("RWS-STEER-7")
    assert "(pending)" in message


def test_continuation_with_the_tool_output_alone_passes_and_commits_the_input() -> None:
    wire = Wire()
    _pending(wire)
    wire.create([TOOL_OUTPUT], previous="resp_1")
    wire.run("resp_2", [said("done")], previous="resp_1")
    # The committed input is in resp_2's context, before the tool output: sending the
    # conversation's next prompt with it again is a resend.
    wire.create([user(WORDS)], previous="resp_2")
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.FAILED
    (message,) = wire.messages("RWS-STEER-7")
    assert "(committed)" in message


def _full_context(times: int) -> list[dict[str, Any]]:
    return [user("first"), said("par"), *[user(WORDS)] * times, said("brief answer")]


def test_full_context_on_a_new_connection_carries_committed_input_once() -> None:
    wire = Wire()
    steered_successor(wire)
    wire.close(1001)
    wire.open("c2")
    wire.create([*_full_context(1), user("second")])
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.PASSED


def test_full_context_holding_committed_input_twice_fails_steer_7() -> None:
    wire = Wire()
    steered_successor(wire)
    wire.close(1001)
    wire.open("c2")
    wire.create([*_full_context(2), user("second")])
    assert wire.verdicts()["RWS-STEER-7"] is Verdict.FAILED
    (message,) = wire.messages("RWS-STEER-7")
    assert "holds it 2 time(s), the conversation 1" in message


def test_input_whose_connection_closed_before_its_commit_is_not_judged() -> None:
    # Spec 9.4: accepted, uncommitted input dies with its connection; whether it was applied
    # is unknown, so sending it again on a new connection is the client's call.
    wire = Wire()
    wire.create([user("first")])
    wire.started("resp_1")
    wire.steer("resp_1")
    wire.accepted("resp_1")
    wire.close(1006, "c2s")
    wire.open("c2")
    wire.create([user("first"), user(WORDS)])
    assert wire.messages("RWS-STEER-7") == []


def test_the_same_words_in_another_conversation_are_no_resend() -> None:
    wire = Wire()
    steered_successor(wire)
    wire.create([user(WORDS)])  # a new conversation, not a rebuild of the steered one
    assert wire.messages("RWS-STEER-7") == []


def test_stream_id_in_response_steer_fails_steer_9() -> None:
    wire = Wire()
    wire.create([user("first")])
    wire.started("resp_1")
    wire.steer("resp_1", stream_id=None)
    report = judge_transcript(wire.records, CLIENT)
    assert report.verdicts()["RWS-STEER-9"] is Verdict.FAILED
    assert any(
        "expected no stream_id in response.steer" in f.message
        for f in report.findings_for("RWS-STEER-9")
    )
