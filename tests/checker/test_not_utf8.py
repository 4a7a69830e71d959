"""Text messages whose bytes are not valid UTF-8: the record form and the checker's verdicts.

A ``text`` record with ``"utf8": false`` carries the bytes in ``b64`` and their U+FFFD
replacement in ``text`` (docs/transcripts.md). The checker reports such a message as the
sender's violation - RWS-TRANS-5 from the server, RWS-TRANS-6 from the client - and judges it
no further as an event; the server's answer to a client's is the close 1007
(``invalid_utf8`` in ``schemas/rules/requests.json``, judged under RWS-ERR-6).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from conformance.checker import Checker, CheckerConfig
from conformance.checker.judge import describe, judge_transcript
from conformance.requirements import load_requirements
from conformance.results import Verdict
from conformance.transcript import dumps_record, parse_line, parse_record
from tests.checker.synth import (
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

# Valid JSON once replaced: the bad byte sits inside a string (what the checker used to pass).
_BAD_DELTA = b'{"type":"response.output_text.delta","delta":"\xff"}'
_BAD_CREATE = b'{"type":"response.create","model":"conformance-1","input":"h\xc3"}'
SERVER = ("server",)
CLIENT = ("client",)


def _raw(data: bytes, direction: str, conn: str = "c1") -> dict[str, Any]:
    """The record of a text message that is not UTF-8, as a recorder writes it."""
    return {
        "conn": conn,
        "kind": "text",
        "dir": direction,
        "text": data.decode("utf-8", "replace"),
        "utf8": False,
        "b64": base64.b64encode(data).decode("ascii"),
    }


def _not_utf8(t: Transcript, data: bytes, direction: str) -> Transcript:
    """Append such a message to ``t``, read through the transcript parser."""
    record = parse_record({"ts": len(t.records) / 1000, **_raw(data, direction)}, len(t.records))
    assert record.kind == "text", record.problem
    t.records.append(record)
    return t


class TestRecordForm:
    """The reader keeps the bytes, and refuses a record that contradicts itself."""

    def test_record_keeps_its_bytes_and_round_trips(self) -> None:
        record = parse_record(_raw(_BAD_DELTA, "s2c"), 0)
        assert (record.kind, record.utf8, record.data) == ("text", False, _BAD_DELTA)
        assert record.text == _BAD_DELTA.decode("utf-8", "replace")
        again = parse_line(dumps_record(record), 0)
        assert again == record
        assert again.to_dict()["utf8"] is False

    @pytest.mark.parametrize("utf8", [True, None])
    def test_valid_text_has_no_bytes(self, utf8: bool | None) -> None:
        raw: dict[str, Any] = {"conn": "c1", "kind": "text", "dir": "s2c", "text": "{}"}
        if utf8 is not None:
            raw["utf8"] = utf8
        record = parse_record(raw, 0)
        assert (record.utf8, record.data) == (True, None)
        assert "utf8" not in record.to_dict()

    @pytest.mark.parametrize(
        ("change", "problem"),
        [
            ({"utf8": "no"}, "'utf8' is not true or false"),
            ({"utf8": 0}, "'utf8' is not true or false"),
            ({"b64": None}, "has no string 'b64'"),
            ({"b64": "***"}, "'b64' is not base64"),
            ({"b64": base64.b64encode(b"{}").decode()}, "whose 'b64' is valid UTF-8"),
        ],
    )
    def test_contradictory_record_is_malformed(self, change: dict[str, Any], problem: str) -> None:
        raw = {**_raw(_BAD_DELTA, "c2s"), **change}
        raw = {k: v for k, v in raw.items() if v is not None}
        record = parse_record(raw, 3)
        assert record.kind == "malformed"
        assert problem in (record.problem or "")


class TestServerMessage:
    """RWS-TRANS-5: a server message that is not UTF-8 is the server's violation."""

    def test_reported_as_trans_5_and_the_events_around_it_still_judged(self) -> None:
        events = run_events()
        t = Transcript().open().create().recv(*events[:3])
        _not_utf8(t, _BAD_DELTA, "s2c").recv(*events[3:])
        bad = 2 + 3
        offset = _BAD_DELTA.index(b"\xff")
        report = check(t)
        assert_only(report, "RWS-TRANS-5")
        [finding] = report.findings
        assert finding.records == (bad,)
        assert finding.message == (
            "expected one JSON object in UTF-8 per server message / actual a text message "
            f"that is not valid UTF-8 (bytes ff at offset {offset} of "
            f"{len(_BAD_DELTA)})"
        )
        # Every valid event was judged as an event; the bad one was not.
        assert report.exercised["RWS-EVENT-1"] == len(events)
        assert report.exercised["RWS-TRANS-5"] == len(events) + 1

    def test_a_valid_message_after_it_is_still_judged(self) -> None:
        t = _not_utf8(Transcript().open(), _BAD_DELTA, "s2c")
        t.recv({"type": "response.debug", "sequence_number": 1})
        report = check(t)
        assert {(f.requirement, f.records) for f in report.findings} == {
            ("RWS-TRANS-5", (1,)),
            ("RWS-EVENT-2", (2,)),
        }

    def test_it_is_the_servers_requirement(self) -> None:
        assert load_requirements()["RWS-TRANS-5"].role == "server"
        t = _not_utf8(Transcript().open(), _BAD_DELTA, "s2c")
        assert check(t, roles=CLIENT).findings == ()

    def test_a_record_dict_is_judged_the_same(self) -> None:
        """The checker's fast path for server record dicts leaves such a message alone."""
        checker = Checker(CheckerConfig.make())
        checker.feed({"conn": "c1", "kind": "open", "url": "ws://x/v1/responses", "status": 101})
        checker.feed(_raw(_BAD_DELTA, "s2c"))
        assert [f.requirement for f in checker.finish().findings] == ["RWS-TRANS-5"]


class TestClientMessage:
    """RWS-TRANS-6: the client's violation; the server owes the close 1007."""

    def _sent(self) -> Transcript:
        return _not_utf8(Transcript().open(), _BAD_CREATE, "c2s")

    def test_reported_as_trans_6_and_answered_by_close_1007(self) -> None:
        t = self._sent().close(direction="s2c", code=1007)
        report = check(t)
        assert_only(report, "RWS-TRANS-6")
        [finding] = report.findings
        assert finding.records == (1,)
        assert "expected one JSON object in UTF-8 per text message" in finding.message
        assert "not valid UTF-8 (bytes c3 at offset" in finding.message
        # The server's close is the answer it owes: no finding of the server.
        assert_clean(check(t, roles=SERVER), "RWS-ERR-6")

    def test_it_is_the_clients_requirement(self) -> None:
        assert load_requirements()["RWS-TRANS-6"].role == "client"
        assert check(self._sent(), roles=SERVER).findings == ()

    def test_not_taken_for_the_request_its_replaced_text_reads_as(self) -> None:
        """No response.create waits: the server's close leaves no request unanswered."""
        t = self._sent().close(direction="s2c", code=1007)
        report = judge_transcript(t.records, CheckerConfig.make(profiles=("core", "multiplex")))
        assert [f.requirement for f in report.findings] == ["RWS-TRANS-6"]

    def test_a_valid_message_after_it_is_still_judged(self) -> None:
        t = self._sent().create(stream_id=None)
        report = check(t, roles=CLIENT)
        assert {(f.requirement, f.records) for f in report.findings} == {
            ("RWS-TRANS-6", (1,)),
            ("RWS-CREATE-8", (2,)),
        }

    def test_answered_with_another_close_code_breaks_err_6(self) -> None:
        t = self._sent().close(direction="s2c", code=1002)
        report = check(t, roles=SERVER)
        assert_only(report, "RWS-ERR-6")
        [finding] = report.findings
        assert finding.message == (
            "expected close 1007 / actual the server closed the connection with code 1002"
        )
        assert finding.records == (1, 2)

    def test_answered_with_an_error_event_breaks_err_6(self) -> None:
        t = self._sent().recv(error_event("invalid_json"))
        report = check(t, roles=SERVER)
        assert_only(report, "RWS-ERR-6", Verdict.FAILED)
        assert report.findings[0].message == (
            "expected close 1007 for the message of record 1 / actual error invalid_json"
        )

    def test_described_by_its_bytes(self) -> None:
        [record] = self._sent().records[1:]
        assert describe(record).endswith(
            f"sent a text message that is not valid UTF-8 (bytes c3 at offset "
            f"{len(_BAD_CREATE) - 3} of {len(_BAD_CREATE)})"
        )
