"""The closing handshake: whose traffic may follow whose close frame (RFC 6455 section 5.5.1).

An endpoint sends nothing after its own close frame, but it may send until it has received
the other side's close: server messages recorded after the client's close frame are in-flight
traffic the checker judges like any other; only traffic after the sender's own close frame, or
after the closing handshake, is out of place.
"""

from __future__ import annotations

from conformance.checker import Report
from tests.checker.synth import (
    Transcript,
    assert_clean,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

SERVER = ("server",)
NOT_FOUND = error_event("previous_response_not_found", param="previous_response_id", stream_id=None)


def problems(report: Report) -> list[str]:
    """The transcript-level findings (no requirement)."""
    return [f.message for f in report.findings if f.requirement is None]


def test_server_events_after_the_clients_close_frame_are_checked() -> None:
    """The server may go on sending until it receives the client's close frame."""
    events = run_events()
    t = Transcript().open().create().recv(*events[:3]).close(direction="c2s")
    t.recv(*events[3:]).close(direction="s2c", code=1000)
    assert_clean(check(t, roles=SERVER), "RWS-ORDER-2", "RWS-DELTA-1")


def test_broken_server_event_after_the_clients_close_frame_is_a_finding() -> None:
    """In-flight server events are judged: a bad sequence number there is still wrong."""
    events = run_events()
    events[-1]["sequence_number"] = 1
    t = Transcript().open().create().recv(*events[:3]).close(direction="c2s")
    report = check(t.recv(*events[3:]), roles=SERVER)
    assert {f.requirement for f in report.findings} == {"RWS-SEQ-2"}


def test_run_that_completed_after_the_clients_close_frame_is_continuable() -> None:
    """A run whose terminal event went out before the server saw the close is complete."""
    events = run_events(rid="resp_done")
    t = Transcript().open().create(store=True).recv(*events[:3]).close(direction="c2s")
    t.recv(*events[3:]).close(direction="s2c", code=1000)
    t.open("c2").create("c2", previous_response_id="resp_done")
    assert_clean(check(t.recv(*run_events(), conn="c2"), roles=SERVER), "RWS-CACHE-3")


def test_run_cut_by_the_clients_close_is_not_an_order_2_finding() -> None:
    """The client abandoned the run: no terminal event is owed after the server's answer."""
    events = run_events()
    t = Transcript().open().create().recv(*events[:3]).close(direction="c2s")
    t.recv(events[3]).close(direction="s2c", code=1000)
    assert check(t, roles=SERVER).findings == ()


def test_server_message_after_its_own_close_frame_is_a_problem() -> None:
    """Nothing follows the server's close frame from the server."""
    t = Transcript().open().create().recv(*run_events()).close(direction="s2c", code=1000)
    report = check(t.recv(*run_events()), roles=SERVER)
    assert len(problems(report)) == 1
    assert "after the server's close frame" in problems(report)[0]


def test_client_message_after_the_servers_close_frame_is_not_a_problem() -> None:
    """The client may send until it has received the server's close frame."""
    t = Transcript().open().create().recv(*run_events()).close(direction="s2c", code=1001)
    t.create().close(direction="c2s", code=1001)
    assert problems(check(t, roles=SERVER)) == []


def test_traffic_after_the_closing_handshake_is_a_problem() -> None:
    """Once both close frames were recorded, the connection carries nothing more (one
    problem for all the late records of a connection)."""
    t = Transcript().open().create().recv(*run_events())
    t.close(direction="c2s").close(direction="s2c").recv(*run_events()[:2]).create()
    found = problems(check(t, roles=SERVER))
    assert len(found) == 1
    assert "after the closing handshake" in found[0]


def test_a_new_open_after_the_close_starts_a_new_connection() -> None:
    """A connection name may be reused after its close: a new connection, no problem."""
    t = Transcript().open().create().recv(*run_events()).close(direction="c2s")
    t.open().create().recv(*run_events())
    assert_clean(check(t, roles=SERVER), "RWS-CREATE-12")
