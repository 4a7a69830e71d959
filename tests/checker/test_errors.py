"""Errors (shape, registry agreement, frame errors), transport and event-type rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.results import Verdict
from tests.checker.synth import (
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

SERVER = ("server",)
NOT_FOUND: dict[str, Any] = {
    "code": "previous_response_not_found",
    "param": "previous_response_id",
}


def continuation() -> Transcript:
    return Transcript().open().create(previous_response_id="resp_unknown")


class TestErrorShape:
    """RWS-ERR-1/2: the wrapped shape, with the registry's status, type and param."""

    def test_registry_error_passes(self) -> None:
        """previous_response_not_found with status 400 and its param."""
        t = continuation().recv(error_event(**NOT_FOUND))
        assert_clean(check(t), "RWS-ERR-1", "RWS-ERR-2")

    def test_flat_error_shape_breaks_err_1(self) -> None:
        """The flat HTTP-streaming shape is not the WebSocket error event."""
        flat = {"type": "error", "code": "previous_response_not_found", "message": "no",
                "param": "previous_response_id"}  # fmt: skip
        assert_only(check(continuation().recv(flat), permissive=True), "RWS-ERR-1")

    def test_status_differing_from_registry_breaks_err_2(self) -> None:
        """The status is the registry's for the code."""
        t = continuation().recv(error_event(**NOT_FOUND, status=404))
        assert_only(check(t), "RWS-ERR-2")

    def test_param_differing_from_registry_breaks_err_2(self) -> None:
        """The param is the registry's for the code."""
        t = continuation().recv(error_event("previous_response_not_found", param="input"))
        assert_only(check(t), "RWS-ERR-2")

    def test_missing_status_breaks_err_2(self) -> None:
        """Every error event carries status."""
        event = error_event(**NOT_FOUND)
        del event["status"]
        report = check(continuation().recv(event), permissive=True)
        assert_only(report, "RWS-ERR-2")
        assert "without `status`" in report.findings[0].message

    @pytest.mark.parametrize("field", ["code", "message"])
    def test_missing_code_or_message_breaks_err_2(self, field: str) -> None:
        event = error_event(**NOT_FOUND)
        del event["error"][field]
        report = check(continuation().recv(event), permissive=True)
        assert "RWS-ERR-2" in {f.requirement for f in report.findings}
        assert any(f"without `error.{field}`" in f.message for f in report.findings)

    def test_missing_type_is_a_warning_on_err_10(self) -> None:
        """RWS-ERR-10 (SHOULD): error.type is recommended; vLLM and the guides omit it."""
        event = error_event(**NOT_FOUND)
        del event["error"]["type"]
        report = check(continuation().recv(event))
        assert_only(report, "RWS-ERR-10", Verdict.WARNING)
        assert "without `error.type`" in report.findings[0].message

    def test_type_differing_from_registry_breaks_err_2(self) -> None:
        t = continuation().recv(error_event(**NOT_FOUND, type_="server_error"))
        assert_only(check(t), "RWS-ERR-2")


class TestFrameErrors:
    """RWS-CREATE-9/10/11: messages that are not client events."""

    def test_binary_message_answered_with_unsupported_frame_type_passes(self) -> None:
        """A binary message gets unsupported_frame_type."""
        t = Transcript().open().binary(b"\x00\x01").recv(error_event("unsupported_frame_type"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-10")

    def test_binary_message_answered_with_close_1003_is_a_warning_on_create_22(self) -> None:
        """RWS-CREATE-10 permits the RFC 6455 close 1003; RWS-CREATE-22 prefers the error."""
        t = Transcript().open().binary(b"x").close(direction="s2c", code=1003)
        assert_only(check(t, roles=SERVER), "RWS-CREATE-22", Verdict.WARNING)

    def test_binary_message_answered_with_close_1011_breaks_create_10(self) -> None:
        t = Transcript().open().binary(b"x").close(direction="s2c", code=1011)
        assert_only(check(t, roles=SERVER), "RWS-CREATE-10")

    def test_binary_message_answered_with_other_code_breaks_create_10(self) -> None:
        """The code for a binary message is unsupported_frame_type."""
        t = Transcript().open().binary(b"\x00").recv(error_event("invalid_json"))
        assert_only(check(t, roles=SERVER), "RWS-CREATE-10")

    def test_invalid_json_answered_with_invalid_json_passes(self) -> None:
        """Text that is not JSON gets invalid_json."""
        t = Transcript().open().send("{not json").recv(error_event("invalid_json"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-9")

    def test_json_array_answered_with_other_code_breaks_create_9(self) -> None:
        """JSON that is not an object gets invalid_json."""
        t = Transcript().open().send("[1, 2]")
        t.recv(error_event("unknown_event_type", param="type"))
        assert_only(check(t, roles=SERVER), "RWS-CREATE-9")

    def test_unknown_type_answered_with_unknown_event_type_passes(self) -> None:
        """An unknown client event type gets unknown_event_type."""
        t = Transcript().open().send({"type": "response.cancel"})
        t.recv(error_event("unknown_event_type", param="type"))
        assert_clean(check(t), "RWS-CREATE-11")

    def test_unknown_type_answered_with_invalid_json_breaks_create_11(self) -> None:
        """The code for an unknown type is unknown_event_type."""
        t = Transcript().open().send({"type": "response.cancel"}).recv(error_event("invalid_json"))
        assert_only(check(t), "RWS-CREATE-11")

    def test_unanswered_bad_frame_at_server_close_breaks_create_11(self) -> None:
        """A bad message is answered before the server closes."""
        t = Transcript().open().send({"no": "type"}).close(direction="s2c", code=1000)
        assert_only(check(t), "RWS-CREATE-11")

    def test_frame_error_with_stream_id_breaks_event_5(self) -> None:
        """Frame-scoped errors carry no stream_id."""
        t = Transcript().open().send("{").recv(error_event("invalid_json", stream_id="a"))
        assert_only(check(t, roles=SERVER, permissive=True), "RWS-EVENT-5")


class TestTransportAndTypes:
    """RWS-TRANS-5, RWS-EVENT-1/2, RWS-ERR-6."""

    def test_server_binary_message_breaks_trans_5(self) -> None:
        """The server sends no binary messages."""
        t = Transcript().open().binary(b"{}", direction="s2c")
        assert_only(check(t), "RWS-TRANS-5")

    def test_server_text_not_json_breaks_trans_5(self) -> None:
        """Every server message is one JSON object."""
        assert_only(check(Transcript().open().recv("not json")), "RWS-TRANS-5")

    def test_undefined_event_type_breaks_event_2(self) -> None:
        """An event type the specification does not define, without vendor prefix."""
        t = Transcript().open().recv({"type": "response.debug", "sequence_number": 1})
        assert_only(check(t), "RWS-EVENT-2")

    def test_vendor_event_type_passes(self) -> None:
        """A vendor-prefixed event type is allowed."""
        t = Transcript().open().recv({"type": "x-acme.trace", "span": 1})
        assert_clean(check(t), "RWS-EVENT-2")

    def test_event_failing_its_schema_breaks_event_1(self) -> None:
        """Every server event validates against its schema."""
        events = run_events()
        events[0]["response"]["created_at"] = "yesterday"  # a number in the schema
        report = check(Transcript().open().create().recv(*events))
        assert_only(report, "RWS-EVENT-1")
        assert "created_at" in report.findings[0].message

    @pytest.mark.parametrize("code", [1006, 1014, 3000, 5000])
    def test_close_code_outside_registry_breaks_err_6(self, code: int) -> None:
        """The server closes only with registered codes (or private-use ones)."""
        t = Transcript().open().close(direction="s2c", code=code)
        assert_only(check(t), "RWS-ERR-6")

    @pytest.mark.parametrize("code", [4000, 4402, 4999])
    def test_private_close_code_passes(self, code: int) -> None:
        """RWS-ERR-6: 4000-4999 are for private use (a gateway closes with 4402)."""
        t = Transcript().open().close(direction="s2c", code=code)
        assert_clean(check(t), "RWS-ERR-6")

    def test_registered_close_code_passes(self) -> None:
        """1001 is a registered close code."""
        assert_clean(check(Transcript().open().close(direction="s2c", code=1001)), "RWS-ERR-6")

    def test_injected_validator_decides_schema_validity(self) -> None:
        """The checker asks the validator it was given (the schemas module's interface)."""
        event = json.loads(json.dumps(run_events()[0]))
        del event["response"]
        report = check(Transcript().open().create().recv(event), permissive=True)
        assert report.findings_for("RWS-EVENT-1") == []
