"""Client-role observations (judged on client-to-server traffic) and steering replies."""

from __future__ import annotations

from tests.checker.synth import (
    ALL_PROFILES,
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

CLIENT = ("client",)
NOT_FOUND = error_event("previous_response_not_found", param="previous_response_id")


class TestClientMessages:
    """RWS-CREATE-1/2/8, RWS-CLIENT-2/3, RWS-TRANS-6, RWS-STEER-9."""

    def test_well_behaved_client_passes(self) -> None:
        """Sequential creates with previous_response_id and no forbidden fields."""
        t = Transcript().open().create().recv(*run_events(rid="resp_a"))
        t.create(previous_response_id="resp_a").recv(*run_events())
        assert_clean(
            check(t, roles=CLIENT), "RWS-CREATE-1", "RWS-CREATE-2", "RWS-CREATE-8", "RWS-TRANS-6"
        )

    def test_null_stream_id_breaks_create_8(self) -> None:
        """A client omits stream_id for the default lane."""
        t = Transcript().open().create(stream_id=None).recv(*run_events())
        assert_only(check(t, roles=CLIENT), "RWS-CREATE-8")

    def test_background_true_breaks_create_2(self) -> None:
        """A client never sends background: true."""
        t = Transcript().open().create(background=True)
        t.recv(error_event("unsupported_parameter", param="background"))
        assert_only(check(t, roles=CLIENT), "RWS-CREATE-2")

    def test_wrapped_request_body_breaks_create_1(self) -> None:
        """The body is flattened, not wrapped in a response object."""
        t = Transcript().open().send({"type": "response.create", "response": {"input": "hi"}})
        assert_only(check(t, roles=CLIENT), "RWS-CREATE-1")

    def test_second_create_on_busy_lane_breaks_client_3_under_reject(self) -> None:
        """Without busy-lane=queue, one create per lane at a time."""
        t = Transcript().open().create().create()
        assert_only(check(t, roles=CLIENT, busy_lane="reject"), "RWS-CLIENT-3")

    def test_second_create_on_busy_lane_allowed_under_queue(self) -> None:
        """busy-lane=queue allows pipelining."""
        t = Transcript().open().create().create().recv(*run_events(), *run_events())
        assert_clean(check(t, roles=CLIENT))

    def test_resending_previous_id_after_not_found_breaks_client_2(self) -> None:
        """After previous_response_not_found the same previous_response_id is not resent."""
        t = Transcript().open().create(previous_response_id="resp_x").recv(NOT_FOUND)
        t.create(previous_response_id="resp_x")
        assert_only(check(t, roles=CLIENT), "RWS-CLIENT-2")

    def test_full_context_after_not_found_passes(self) -> None:
        """Resending the full input without previous_response_id is the recovery."""
        t = Transcript().open().create(previous_response_id="resp_x").recv(NOT_FOUND)
        t.create(input=[{"role": "user", "content": "hi"}]).recv(*run_events())
        assert_clean(check(t, roles=CLIENT), "RWS-CLIENT-2")

    def test_binary_message_breaks_trans_6(self) -> None:
        """A client sends only text messages."""
        t = Transcript().open().binary(b"\x01")
        assert_only(check(t, roles=CLIENT), "RWS-TRANS-6")

    def test_steer_with_stream_id_breaks_steer_9(self) -> None:
        """A client never puts stream_id in response.steer (RWS-STEER-9)."""
        steer = {"type": "response.steer", "previous_response_id": "resp_a", "input": [],
                 "stream_id": "a"}  # fmt: skip
        t = Transcript().open().send(steer)
        assert_only(check(t, roles=CLIENT, profiles=ALL_PROFILES), "RWS-STEER-9")


STEER = {"type": "response.steer", "previous_response_id": "resp_a", "input": []}


def steer_failed(code: str) -> dict[str, object]:
    return {
        "type": "response.steer.failed",
        "sequence_number": 0,
        "steer": {"previous_response_id": "resp_a", "input": []},
        "error": {"type": "invalid_request_error", "code": code, "message": code},
    }


class TestSteeringReplies:
    """RWS-STEER-1/2."""

    def test_steer_without_profile_answered_not_supported_passes(self) -> None:
        """Without the steering profile: steer.failed steering_not_supported."""
        t = Transcript().open().send(STEER).recv(steer_failed("steering_not_supported"))
        assert_clean(check(t, permissive=True), "RWS-STEER-1")

    def test_steer_without_profile_answered_other_code_breaks_steer_1(self) -> None:
        """Any other answer breaks RWS-STEER-1."""
        t = Transcript().open().send(STEER).recv(steer_failed("response_not_found"))
        assert_only(check(t, permissive=True), "RWS-STEER-1")

    def test_unanswered_steer_at_server_close_breaks_steer_2(self) -> None:
        """With steering: every response.steer gets a reply."""
        t = Transcript().open().send(STEER).close(direction="s2c", code=1000)
        assert_only(check(t, profiles=ALL_PROFILES), "RWS-STEER-2")

    def test_reply_without_steer_breaks_steer_2(self) -> None:
        """A steering reply answers a response.steer."""
        t = Transcript().open().recv(steer_failed("response_not_found"))
        assert_only(check(t, profiles=ALL_PROFILES, permissive=True), "RWS-STEER-2")


def test_steer_pending_before_target_completed_breaks_steer_6() -> None:
    """response.steer.pending comes only after the target's response.completed."""
    events = run_events(rid="resp_a")
    pending = {
        "type": "response.steer.pending",
        "sequence_number": 3,
        "steer": {"id": "steer_1", "previous_response_id": "resp_a"},
        "reason": "waiting_for_required_input",
        "required_input": [],
    }
    t = Transcript().open().create().recv(*events[:3], pending)
    assert_only(check(t, profiles=ALL_PROFILES, permissive=True), "RWS-STEER-6")


def test_steer_pending_after_target_completed_passes() -> None:
    """After response.completed, response.steer.pending is in order."""
    pending = {
        "type": "response.steer.pending",
        "sequence_number": 0,
        "steer": {"id": "steer_1", "previous_response_id": "resp_a"},
        "reason": "waiting_for_required_input",
        "required_input": [],
    }
    t = Transcript().open().create().recv(*run_events(rid="resp_a"), pending)
    assert_clean(check(t, profiles=ALL_PROFILES, permissive=True), "RWS-STEER-6")
