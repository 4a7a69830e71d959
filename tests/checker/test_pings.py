"""Pings and pongs (RWS-TRANS-9 for the server, RWS-CLIENT-9 for the client).

RFC 6455 section 5.5.2: a ping is answered by a pong with the same payload, as soon as
practical; an endpoint may answer only the latest of several pings, which answers the earlier
ones too. The answer is owed before the answering side closes; a transcript that ends without a
close owes nothing yet.
"""

from __future__ import annotations

from conformance.checker import Report
from tests.checker.synth import Transcript, assert_clean, assert_only, check, run_events

__all__: list[str] = []

SERVER = ("server",)
CLIENT = ("client",)


def records_of(report: Report, requirement: str) -> list[tuple[int, ...]]:
    return [f.records for f in report.findings_for(requirement)]


def test_ping_answered_with_the_same_payload_passes() -> None:
    """The server's pong carries the client ping's payload."""
    t = Transcript().open().ping(b"rws-1").pong(b"rws-1").close(direction="c2s")
    assert_clean(check(t, roles=SERVER), "RWS-TRANS-9")


def test_ping_unanswered_when_the_server_closes_breaks_trans_9() -> None:
    """The server closes without answering the ping."""
    t = Transcript().open().ping(b"rws-1").close(direction="s2c", code=1001)
    report = check(t, roles=SERVER)
    assert_only(report, "RWS-TRANS-9")
    assert records_of(report, "RWS-TRANS-9") == [(1, 2)]


def test_pong_with_another_payload_breaks_trans_9() -> None:
    """A pong whose payload is not the ping's answers nothing (it is unsolicited)."""
    t = Transcript().open().ping(b"rws-1").pong(b"other").close(direction="s2c", code=1000)
    assert_only(check(t, roles=SERVER), "RWS-TRANS-9")


def test_pong_for_the_latest_ping_answers_the_earlier_ones() -> None:
    """RFC 6455 lets an endpoint answer only the most recent of several pings."""
    t = Transcript().open().ping(b"a").ping(b"b").pong(b"b").close(direction="s2c")
    assert_clean(check(t, roles=SERVER), "RWS-TRANS-9")


def test_ping_unanswered_before_the_clients_close_breaks_trans_9() -> None:
    """The suite records its close after the handshake: no pong came before it."""
    t = Transcript().open().ping(b"rws-1").close(direction="c2s")
    assert_only(check(t, roles=SERVER), "RWS-TRANS-9")


def test_pong_in_flight_after_the_clients_close_frame_passes() -> None:
    """The server may answer a ping it received before the client's close frame."""
    t = Transcript().open().ping(b"rws-1").close(direction="c2s").pong(b"rws-1")
    assert_clean(check(t.close(direction="s2c"), roles=SERVER), "RWS-TRANS-9")


def test_transcript_ending_before_the_pong_owes_nothing() -> None:
    """Without a close the pong may still be on its way: no verdict."""
    t = Transcript().open().ping(b"rws-1").create().recv(*run_events())
    report = check(t, roles=SERVER)
    assert report.findings == ()
    assert "RWS-TRANS-9" not in report.exercised


def test_unsolicited_pong_is_not_a_finding() -> None:
    """A pong without a ping is allowed (a unidirectional heartbeat)."""
    t = Transcript().open().pong(b"beat").close(direction="s2c")
    assert check(t, roles=SERVER).findings == ()


def test_server_ping_unanswered_by_the_client_breaks_client_9() -> None:
    """The client answers the server's ping too."""
    t = Transcript().open().ping(b"srv", direction="s2c").close(direction="c2s")
    assert_only(check(t, roles=CLIENT), "RWS-CLIENT-9")


def test_server_ping_answered_by_the_client_passes() -> None:
    """The client's pong carries the server ping's payload."""
    t = Transcript().open().ping(b"srv", direction="s2c").pong(b"srv", direction="c2s")
    assert_clean(check(t.close(direction="c2s"), roles=CLIENT), "RWS-CLIENT-9")


def test_ping_after_the_servers_close_frame_is_owed_no_pong() -> None:
    """The server closed first; it sends nothing more, a pong included."""
    t = Transcript().open().close(direction="s2c", code=1001).ping(b"late")
    assert check(t.close(direction="c2s"), roles=SERVER).findings == ()
