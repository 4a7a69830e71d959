"""The HTTP transport in the checker: the SSE decoder and the framing rules (spec section 13).

An HTTP exchange is written as one transcript connection (conformance.checker.sse); its events
go through the same rules as a WebSocket's, so a broken run over HTTP is caught by the rule it
breaks, and only the framing of server-sent events is judged by RWS-HTTP-3 to RWS-HTTP-8.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from conformance.checker.sse import SseDecoder, SseEvent
from conformance.results import Verdict
from conformance.transcript import Record
from tests.checker.synth import (
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

PROFILES = ("core", "http")


class HttpTranscript(Transcript):
    """A transcript with HTTP exchanges, each one transcript connection."""

    def exchange(
        self,
        answers: Sequence[tuple[str | None, Mapping[str, Any] | str]],
        *,
        conn: str = "h1",
        status: int = 200,
        content_type: str = "text/event-stream",
        ended: bool = True,
        **fields: Any,
    ) -> HttpTranscript:
        """A streamed POST: its request, one record per server-sent event, the end."""
        self._open(conn, status, content_type)
        self.create(conn=conn, stream=True, **fields)
        for name, data in answers:
            text = data if isinstance(data, str) else json.dumps(data)
            self._add(kind="text", conn=conn, dir="s2c", text=text, extra={"http": {"sse": name}})
        if ended:
            self._add(kind="close", conn=conn, dir="s2c", reason="end of the HTTP answer")
        return self

    def _open(self, conn: str, status: int, content_type: str) -> None:
        self._add(
            kind="open",
            conn=conn,
            url="http://127.0.0.1/v1/responses",
            status=status,
            headers={"content-type": content_type},
            principal="key-a",
            extra={"http": {"method": "POST", "target": "/v1/responses"}},
        )

    def error_answer(
        self, status: int, body: Any, *, conn: str = "h1", content_type: str = "application/json"
    ) -> HttpTranscript:
        """A POST answered with an HTTP error, written as the error event it stands for."""
        self._open(conn, status, content_type)
        self.create(conn=conn, stream=True, temperature="hot")
        error = body.get("error") if isinstance(body, dict) else None
        event = {"type": "error", "status": status, "error": error}
        self._add(
            kind="text",
            conn=conn,
            dir="s2c",
            text=json.dumps(event),
            extra={"http": {"status": status, "body": body}},
        )
        self._add(kind="close", conn=conn, dir="s2c", reason="end of the HTTP answer")
        return self


Answers = list[tuple[str | None, Mapping[str, Any] | str]]


def named(events: Sequence[Mapping[str, Any]]) -> Answers:
    """Each event as a server-sent event named by its type."""
    return [(e["type"], e) for e in events]


# --- the decoder ---------------------------------------------------------------------------


def test_the_decoder_reads_every_line_ending_split_anywhere() -> None:
    body = (
        b': a comment\r\nevent: response.created\r\ndata: {"a":1}\r\n\r\n'
        b"event:x\rdata: one\rdata:two\r\r"
        b"id: 7\ndata: \xff\n\n"
        b"\n\n"  # blank lines without a field dispatch nothing
        b"data: unfinished"
    )
    for size in (1, 2, 3, 7, len(body)):
        decoder = SseDecoder()
        events: list[SseEvent] = []
        for start in range(0, len(body), size):
            events += decoder.feed(body[start : start + size])
        events += decoder.finish()
        assert events == [
            SseEvent("response.created", '{"a":1}'),
            SseEvent("x", "one\ntwo"),
            SseEvent(None, "\ufffd", "7"),
        ], size


def test_the_decoder_is_bounded() -> None:
    decoder = SseDecoder()
    with pytest.raises(ValueError, match="bound"):
        decoder.feed(b"data: " + b"x" * (64 * 1024 * 1024 + 1))


# --- framing ------------------------------------------------------------------------------


def test_a_correct_stream_is_clean_and_exercises_the_framing() -> None:
    report = check(HttpTranscript().exchange(named(run_events())), profiles=PROFILES)
    assert_clean(report, "RWS-HTTP-3", "RWS-HTTP-4", "RWS-HTTP-5", "RWS-ORDER-1", "RWS-SEQ-2")


def test_a_done_event_after_the_terminal_event_is_permitted() -> None:
    answers: Answers = [*named(run_events()), (None, "[DONE]")]
    report = check(HttpTranscript().exchange(answers), profiles=PROFILES)
    assert_clean(report, "RWS-HTTP-6")


def test_a_done_event_before_the_terminal_event_is_not_an_event() -> None:
    events = named(run_events())
    answers: Answers = [*events[:2], (None, "[DONE]"), *events[2:]]
    report = check(HttpTranscript().exchange(answers), profiles=PROFILES)
    failed = {f.requirement for f in report.findings}
    assert "RWS-HTTP-3" in failed
    # And nothing may follow it (RWS-HTTP-7).
    assert "RWS-HTTP-7" in failed


def test_an_event_field_that_is_not_the_type_fails() -> None:
    answers = [("message", e) for e in run_events()]
    report = check(HttpTranscript().exchange(answers), profiles=PROFILES)
    assert_only(report, "RWS-HTTP-5")


def test_a_missing_event_field_is_a_warning() -> None:
    answers = [(None, e) for e in run_events()]
    report = check(HttpTranscript().exchange(answers), profiles=PROFILES)
    assert_only(report, "RWS-HTTP-4", Verdict.WARNING)


def test_data_that_is_not_one_json_object_fails() -> None:
    events = named(run_events())
    answers: Answers = [*events[:3], ("response.output_text.delta", '{"type": "resp'), *events[3:]]
    report = check(HttpTranscript().exchange(answers), profiles=PROFILES)
    assert "RWS-HTTP-3" in {f.requirement for f in report.findings}


@pytest.mark.parametrize(
    ("status", "content_type"), [(200, "application/json"), (201, "text/event-stream")]
)
def test_a_stream_is_answered_200_text_event_stream(status: int, content_type: str) -> None:
    transcript = HttpTranscript().exchange(
        named(run_events()), status=status, content_type=content_type
    )
    assert_only(check(transcript, profiles=PROFILES), "RWS-HTTP-3")


def test_the_same_rules_judge_a_run_over_http() -> None:
    # A run broken over HTTP is caught by the rule it breaks, as over WebSocket.
    events = run_events()
    events[3]["sequence_number"] = events[2]["sequence_number"]
    report = check(HttpTranscript().exchange(named(events)), profiles=PROFILES)
    assert "RWS-SEQ-2" in {f.requirement for f in report.findings}


def test_a_body_that_ends_before_the_terminal_event_fails_like_a_close() -> None:
    report = check(HttpTranscript().exchange(named(run_events()[:-1])), profiles=PROFILES)
    assert_only(report, "RWS-ORDER-2")


def test_a_request_error_in_a_stream_fails() -> None:
    answers = [("error", error_event("invalid_type", param="temperature"))]
    report = check(HttpTranscript().exchange(answers, temperature="hot"), profiles=PROFILES)
    assert_only(report, "RWS-HTTP-8")


def test_an_error_answer_is_judged_as_the_error_event_it_stands_for() -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_type",
            "message": "Invalid type for 'temperature'.",
            "param": "temperature",
        }
    }
    report = check(HttpTranscript().error_answer(400, body), profiles=PROFILES)
    assert_clean(report, "RWS-HTTP-8", "RWS-ERR-2")
    # The status of the error is the registry's (RWS-ERR-2), as over WebSocket.
    report = check(HttpTranscript().error_answer(500, body), profiles=PROFILES)
    assert_only(report, "RWS-ERR-2")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [({"message": "no error member"}, "application/json"), ({"error": {}}, "text/plain")],
)
def test_an_error_answer_is_a_json_body_wrapping_the_error(
    body: dict[str, Any], content_type: str
) -> None:
    report = check(
        HttpTranscript().error_answer(400, body, content_type=content_type), profiles=PROFILES
    )
    assert "RWS-HTTP-8" in {f.requirement for f in report.findings}


def test_a_flat_error_event_in_a_stream_is_read_as_the_wrapped_one() -> None:
    events = run_events(end="failed")
    flat = {
        "type": "error",
        "code": "server_error",
        "message": "The model failed.",
        "param": None,
        "sequence_number": len(events) - 1,
    }
    events[-1]["sequence_number"] = len(events)
    answers = [*named(events[:-1]), ("error", flat), *named(events[-1:])]
    report = check(HttpTranscript().exchange(answers), profiles=PROFILES)
    assert not [f for f in report.findings if f.requirement in ("RWS-ERR-1", "RWS-EVENT-1")]


def test_framing_rules_are_not_judged_without_the_http_profile() -> None:
    answers = [("message", e) for e in run_events()]
    report = check(HttpTranscript().exchange(answers), profiles=("core",))
    assert_clean(report)


def test_records_without_http_are_untouched() -> None:
    transcript = Transcript().open().create().recv(*run_events())
    assert_clean(check(transcript, profiles=PROFILES))
    assert all(isinstance(r, Record) for r in transcript.records)


def test_record_dicts_from_a_harness_take_the_same_path() -> None:
    from conformance.checker import Checker, CheckerConfig

    transcript = HttpTranscript().exchange([("message", e) for e in run_events()])
    checker = Checker(CheckerConfig.make(profiles=PROFILES))
    for record in transcript.records:
        checker.feed(record.to_dict())
    assert_only(checker.finish(), "RWS-HTTP-5")
