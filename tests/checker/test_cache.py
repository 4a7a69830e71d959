"""The connection cache (cache.json): predictions for continuations, and what changes them."""

from __future__ import annotations

import pytest

from conformance.checker import Report
from conformance.results import Verdict
from tests.checker.synth import (
    Message,
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

NOT_FOUND = error_event("previous_response_not_found", param="previous_response_id")
SERVER = ("server",)


def requirements(report: Report) -> set[str | None]:
    return {f.requirement for f in report.findings}


def first_turn(store: bool = False, rid: str = "resp_a", conn: str = "c1") -> Transcript:
    t = Transcript().open(conn)
    return t.create(conn, store=store).recv(*run_events(rid=rid), conn=conn)


class TestSameConnection:
    """RWS-CACHE-1/2/5/7/9/10."""

    def test_continuation_of_lane_entry_served_passes(self) -> None:
        """The lane's latest response is served (store false)."""
        t = first_turn().create(previous_response_id="resp_a", store=False)
        assert_clean(check(t.recv(*run_events())), "RWS-CACHE-2", "RWS-CACHE-1")

    def test_continuation_of_lane_entry_not_found_breaks_cache_2(self) -> None:
        """previous_response_not_found for the lane's entry."""
        t = first_turn().create(previous_response_id="resp_a").recv(NOT_FOUND)
        assert requirements(check(t)) == {"RWS-CACHE-2", "RWS-CACHE-1"}

    def test_pipelined_continuation_served_passes(self) -> None:
        """A continuation sent before its previous response ended is judged when it starts."""
        events = run_events(rid="resp_a")
        t = Transcript().open().create(store=False).recv(*events[:3])
        t.create(previous_response_id="resp_a", store=False).recv(*events[3:], *run_events())
        assert_clean(check(t), "RWS-CACHE-2")

    def test_failed_continuation_evicts_the_entry(self) -> None:
        """After a same-lane continuation fails, the parent is gone (store false)."""
        t = first_turn().create(previous_response_id="resp_a", store=False)
        t.recv(*run_events(end="failed")).create(previous_response_id="resp_a", store=False)
        assert_clean(check(t.recv(NOT_FOUND)), "RWS-CACHE-5")

    def test_failed_continuation_parent_served_breaks_cache_5(self) -> None:
        """Serving the evicted parent again."""
        t = first_turn().create(previous_response_id="resp_a", store=False)
        t.recv(*run_events(end="failed")).create(previous_response_id="resp_a", store=False)
        assert requirements(check(t.recv(*run_events()))) == {"RWS-CACHE-5", "RWS-CACHE-4"}

    def test_rejected_continuation_parent_served_breaks_cache_5(self) -> None:
        """A request-scoped error the registry marks as evicting evicts too (D8)."""
        t = first_turn().create(previous_response_id="resp_a", store=False)
        t.recv(error_event("invalid_value", param="temperature"))
        t.create(previous_response_id="resp_a", store=False).recv(*run_events())
        assert requirements(check(t)) == {"RWS-CACHE-5", "RWS-CACHE-4"}

    def test_unregistered_error_evicts(self) -> None:
        """A code the registry does not list is a failed turn: it evicts (errors.json)."""
        t = first_turn().create(previous_response_id="resp_a", store=False)
        t.recv(error_event("context_length_exceeded", param="input"))
        t.create(previous_response_id="resp_a", store=False).recv(*run_events())
        assert requirements(check(t)) == {"RWS-CACHE-5", "RWS-CACHE-4"}

    @pytest.mark.parametrize(
        ("code", "status", "type_"),
        [
            ("rate_limit_exceeded", 429, "rate_limit_error"),
            ("response_already_in_flight", 409, "invalid_request_error"),
        ],
    )
    @pytest.mark.parametrize("kept", [True, False])
    def test_refusal_for_load_may_keep_or_evict(
        self, code: str, status: int, type_: str, kept: bool
    ) -> None:
        """RWS-CACHE-13: after a refusal for load, served and not found are both permitted."""
        t = first_turn().create(previous_response_id="resp_a", store=False)
        t.recv(error_event(code, status=status, type_=type_))
        t.create(previous_response_id="resp_a", store=False)
        report = check(t.recv(*run_events(rid="resp_b")) if kept else t.recv(NOT_FOUND))
        assert not report.failed, report.findings
        # What the server did is recorded as data under RWS-CACHE-13 (INFORMATIONAL).
        assert {(f.requirement, f.verdict) for f in report.findings} <= {
            ("RWS-CACHE-13", Verdict.INFORMATIONAL)
        }

    def test_failed_run_is_not_an_entry(self) -> None:
        """A failed run's id is not continuable with store false (RWS-CACHE-7)."""
        t = Transcript().open().create(store=False).recv(*run_events(rid="resp_f", end="failed"))
        t.create(previous_response_id="resp_f", store=False).recv(*run_events())
        assert requirements(check(t)) == {"RWS-CACHE-7", "RWS-CACHE-4"}

    def test_older_entry_served_is_informational(self) -> None:
        """A replaced store-false entry MAY still be served (RWS-CACHE-9): reported as data."""
        t = first_turn().create(store=False).recv(*run_events(rid="resp_b"))
        t.create(previous_response_id="resp_a", store=False).recv(*run_events())
        report = check(t)
        assert_only(report, "RWS-CACHE-9", Verdict.INFORMATIONAL)
        assert not report.failed

    def test_generate_false_entry_served_passes(self) -> None:
        """A generate: false response is continuable (RWS-CACHE-10, RWS-CREATE-6)."""
        t = Transcript().open().create(generate=False, store=False)
        t.recv(*run_events([], rid="resp_w", usage=_zero_usage()))
        t.create(previous_response_id="resp_w", store=False).recv(*run_events())
        assert_clean(check(t), "RWS-CACHE-10", "RWS-CREATE-6")

    def test_generate_false_entry_not_found_breaks_cache_10(self) -> None:
        """previous_response_not_found for a warm-up response."""
        t = Transcript().open().create(generate=False, store=False)
        t.recv(*run_events([], rid="resp_w", usage=_zero_usage()))
        t.create(previous_response_id="resp_w", store=False).recv(NOT_FOUND)
        assert "RWS-CACHE-10" in requirements(check(t))

    def test_generate_false_with_output_breaks_create_6(self) -> None:
        """generate: false produces no output items."""
        t = Transcript().open().create(generate=False).recv(*run_events([Message("Hi.")]))
        assert_only(check(t), "RWS-CREATE-6")

    def test_unknown_previous_response_gets_no_verdict(self) -> None:
        """A previous_response_id the transcript never showed: no prediction."""
        t = Transcript().open().create(previous_response_id="resp_elsewhere").recv(NOT_FOUND)
        report = check(t)
        assert_clean(report)
        assert "RWS-CACHE-4" not in report.exercised


class TestForks:
    """RWS-LANE-7, RWS-CACHE-6."""

    def test_fork_from_other_lane_served_passes(self) -> None:
        """A new lane continuing another lane's entry is served."""
        t = Transcript().open().create(stream_id="a", store=False)
        t.recv(*run_events(rid="resp_a", stream_id="a"))
        t.create(stream_id="b", previous_response_id="resp_a", store=False)
        assert_clean(check(t.recv(*run_events(stream_id="b"))), "RWS-LANE-7", "RWS-CACHE-2")

    def test_failed_fork_keeps_the_source_entry(self) -> None:
        """After a failed fork the source lane still continues its entry."""
        t = Transcript().open().create(stream_id="a", store=False)
        t.recv(*run_events(rid="resp_a", stream_id="a"))
        t.create(stream_id="b", previous_response_id="resp_a", store=False)
        t.recv(error_event("rate_limit_exceeded", status=429, type_="rate_limit_error",
                           stream_id="b"))  # fmt: skip
        t.create(stream_id="a", previous_response_id="resp_a", store=False)
        assert_clean(check(t.recv(*run_events(stream_id="a"))), "RWS-CACHE-6")

    def test_failed_fork_evicting_the_source_breaks_cache_6(self) -> None:
        """The source entry is gone after a failed fork."""
        t = Transcript().open().create(stream_id="a", store=False)
        t.recv(*run_events(rid="resp_a", stream_id="a"))
        t.create(stream_id="b", previous_response_id="resp_a", store=False)
        t.recv(error_event("rate_limit_exceeded", status=429, type_="rate_limit_error",
                           stream_id="b"))  # fmt: skip
        t.create(stream_id="a", previous_response_id="resp_a", store=False)
        t.recv(error_event("previous_response_not_found", param="previous_response_id",
                           stream_id="a"))  # fmt: skip
        assert "RWS-CACHE-6" in requirements(check(t))


class TestOtherConnections:
    """RWS-CACHE-3/4/8, RWS-LIMIT-5."""

    def test_store_false_after_reconnect_not_found_passes(self) -> None:
        """A store-false response is gone with its connection."""
        t = first_turn().close().open("c2").create("c2", previous_response_id="resp_a")
        assert_clean(check(t.recv(NOT_FOUND, conn="c2")), "RWS-CACHE-8", "RWS-CACHE-4")

    def test_store_false_after_reconnect_served_breaks_cache_8(self) -> None:
        """Serving a store-false response on another connection."""
        t = first_turn().close().open("c2").create("c2", previous_response_id="resp_a")
        report = check(t.recv(*run_events(), conn="c2"))
        assert requirements(report) == {"RWS-CACHE-8", "RWS-CACHE-4"}

    def test_stored_response_hydrated_on_new_connection_passes(self) -> None:
        """A stored response is served from storage on another connection."""
        t = first_turn(store=True).close().open("c2").create("c2", previous_response_id="resp_a")
        assert_clean(check(t.recv(*run_events(), conn="c2")), "RWS-CACHE-3")

    def test_stored_response_not_found_breaks_cache_3(self) -> None:
        """previous_response_not_found for a stored, completed response."""
        t = first_turn(store=True).close().open("c2").create("c2", previous_response_id="resp_a")
        assert_only(check(t.recv(NOT_FOUND, conn="c2")), "RWS-CACHE-3")

    def test_storage_none_stored_response_not_found_passes(self) -> None:
        """D24: a server that declares storage=none hydrates nothing."""
        t = first_turn(store=True).close().open("c2").create("c2", previous_response_id="resp_a")
        assert_clean(check(t.recv(NOT_FOUND, conn="c2"), storage="none"), "RWS-CACHE-4")

    def test_storage_none_stored_response_served_breaks_cache_4(self) -> None:
        """... and so serving it on another connection is a run without its history."""
        t = first_turn(store=True).close().open("c2").create("c2", previous_response_id="resp_a")
        report = check(t.recv(*run_events(rid="resp_b"), conn="c2"), storage="none")
        assert_only(report, "RWS-CACHE-4")

    def test_storage_none_older_entry_on_same_connection_is_open(self) -> None:
        """D24 with RWS-CACHE-9: an older entry of the connection may still be served."""
        t = first_turn(store=True).create(store=True).recv(*run_events(rid="resp_b"))
        t.create(previous_response_id="resp_a").recv(NOT_FOUND)
        assert not check(t, storage="none").failed

    def test_other_api_key_served_breaks_limit_5(self) -> None:
        """A response is never served to another API key."""
        t = first_turn(store=True).open("c2", principal="key-b")
        t.create("c2", previous_response_id="resp_a").recv(*run_events(), conn="c2")
        assert_only(check(t), "RWS-LIMIT-5")

    def test_other_api_key_not_found_passes(self) -> None:
        """Another API key gets previous_response_not_found."""
        t = first_turn(store=True).open("c2", principal="key-b")
        t.create("c2", previous_response_id="resp_a").recv(NOT_FOUND, conn="c2")
        assert_clean(check(t), "RWS-LIMIT-5")


def _zero_usage() -> dict[str, object]:
    return {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 3,
    }


class TestClosedConnections:
    """RWS-LIMIT-10, RWS-LIMIT-1: what a close and the connection limit leave behind."""

    def test_run_cut_by_client_close_not_continued_passes(self) -> None:
        """A run stopped by the client's close is not continuable, even when stored."""
        t = Transcript().open().create(store=True).recv(*run_events(rid="resp_cut")[:4])
        t.close().open("c2").create("c2", previous_response_id="resp_cut")
        assert_clean(check(t.recv(NOT_FOUND, conn="c2")), "RWS-LIMIT-10")

    def test_run_cut_by_client_close_continued_breaks_limit_10(self) -> None:
        """Serving a continuation of a run the client's close stopped."""
        t = Transcript().open().create(store=True).recv(*run_events(rid="resp_cut")[:4])
        t.close().open("c2").create("c2", previous_response_id="resp_cut")
        assert_only(check(t.recv(*run_events(), conn="c2")), "RWS-LIMIT-10")

    def test_connection_limit_error_answers_the_waiting_request(self) -> None:
        """websocket_connection_limit_reached is the outcome of the waiting create."""
        limit = error_event("websocket_connection_limit_reached")
        t = Transcript().open().create().recv(limit).close(direction="s2c", code=1001)
        assert_clean(check(t), "RWS-EVENT-5", "RWS-ERR-6")

    def test_connection_limit_error_with_stream_id_breaks_event_5(self) -> None:
        """A connection-scoped error carries no stream_id."""
        limit = error_event("websocket_connection_limit_reached", stream_id="a")
        t = Transcript().open().create(stream_id="a").recv(limit)
        assert_only(check(t), "RWS-EVENT-5")


def test_fork_answered_not_found_breaks_lane_7() -> None:
    """A fork from another lane's entry is served, not previous_response_not_found."""
    t = Transcript().open().create(stream_id="a", store=False)
    t.recv(*run_events(rid="resp_a", stream_id="a"))
    t.create(stream_id="b", previous_response_id="resp_a", store=False)
    t.recv(error_event("previous_response_not_found", param="previous_response_id",
                       stream_id="b"))  # fmt: skip
    assert requirements(check(t)) == {"RWS-LANE-7", "RWS-CACHE-2", "RWS-CACHE-1"}


def test_rejection_for_named_lane_without_stream_id_breaks_event_4() -> None:
    """A request-scoped error for a named lane carries the lane's stream_id."""
    t = Transcript().open().create(stream_id="a", previous_response_id="resp_x").recv(NOT_FOUND)
    assert_only(check(t), "RWS-EVENT-4")


def test_limit_error_then_close_1001_passes() -> None:
    """After websocket_connection_limit_reached the server closes with 1001."""
    limit = error_event("websocket_connection_limit_reached")
    t = Transcript().open().create().recv(limit).close(direction="s2c", code=1001)
    assert_clean(check(t), "RWS-LIMIT-2")


def test_limit_error_then_other_close_code_breaks_limit_2() -> None:
    """The close after the limit error uses the registry's close code."""
    limit = error_event("websocket_connection_limit_reached")
    t = Transcript().open().create().recv(limit).close(direction="s2c", code=1000)
    assert {f.requirement for f in check(t).findings} == {"RWS-LIMIT-1", "RWS-LIMIT-2"}


def test_run_after_limit_error_breaks_limit_1() -> None:
    """No run starts after websocket_connection_limit_reached."""
    limit = error_event("websocket_connection_limit_reached")
    t = Transcript().open().create().recv(limit).create().recv(*run_events())
    assert {f.requirement for f in check(t).findings} == {"RWS-LIMIT-1", "RWS-LIMIT-2"}
