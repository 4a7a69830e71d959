"""Counting what came back, pacing the slow reader, and the requests the probes send."""

from __future__ import annotations

import json

import pytest

from conformance.stress.messages import (
    MALFORMED,
    bomb_parts,
    large_input_request,
    long_output_request,
    long_run_request,
    padded_request,
    small_request,
)
from conformance.stress.tally import Tally, read_allowance
from conformance.stress.wire import Received

__all__: list[str] = []


def test_the_tally_counts_outcomes_by_kind_and_keeps_no_body() -> None:
    tally = Tally()
    tally.add_all(
        [
            Received("text", 100, 1.0, event_type="response.created"),
            Received("text", 5000, 2.0, event_type="response.output_text.delta"),
            Received("text", 200, 3.0, event_type="response.completed"),
            Received("text", 80, 4.0, event_type="error", error_code="rate_limit_exceeded"),
            Received("text", 80, 4.5, event_type="error", error_code="server_error", in_run=True),
            Received("close", 2, 5.0, close_code=1008),
        ]
    )
    assert (tally.messages, tally.bytes, tally.largest) == (5, 5460, 5000)
    assert (tally.created, tally.terminal, tally.run_errors) == (1, 1, 1)
    assert tally.errors == {"rate_limit_exceeded": 1}
    assert tally.close is not None
    assert (tally.first_at, tally.last_at) == (1.0, 4.5)
    assert "the server closed with close 1008" in tally.describe()
    assert tally.describe_errors() == "1 rate_limit_exceeded"


def test_the_reader_may_read_what_the_rate_allows_and_waits_otherwise() -> None:
    # 2 MB/s for 1 s: 2,000,000 bytes allowed in all.
    assert read_allowance(2e6, 1.0, 0, 65536) == (65536, 0.0)
    allowed, wait = read_allowance(2e6, 1.0, 1_990_000, 65536)
    assert allowed == 0
    assert wait == pytest.approx(6384 / 2e6)
    assert read_allowance(2e6, 1.0, 1_980_000, 65536) == (20000, 0.0)
    # A reader ahead of its budget waits until it is behind again, by one small read.
    allowed, wait = read_allowance(2e6, 0.5, 1_100_000, 65536)
    assert allowed == 0
    assert wait == pytest.approx(116384 / 2e6)


def _event(data: bytes | bytearray) -> dict[str, object]:
    event = json.loads(bytes(data))
    assert isinstance(event, dict)
    return event


def test_conformance_requests_script_the_run_and_others_are_bounded() -> None:
    assert _event(small_request("conformance-1"))["input"] == "rws:text length=1"
    other = _event(small_request("gpt-x"))
    assert other["max_output_tokens"] == 16
    assert other["store"] is False
    assert _event(long_output_request("conformance-1", 1000, 10))["input"] == (
        "rws:text length=1000 chunks=10"
    )
    assert _event(long_run_request("conformance-1", 2.0))["input"] == (
        "rws:text length=21 chunks=21\nrws:delay ms=100"
    )


@pytest.mark.parametrize("model", ["conformance-1", "gpt-x"])
def test_sized_requests_have_about_their_size_and_are_valid(model: str) -> None:
    padded = padded_request(model, 100_000)
    assert 99_900 <= len(padded) <= 100_100
    content = _event(padded)["input"]
    assert isinstance(content, list)
    large = large_input_request(model, 200_000)
    assert 198_000 <= len(large) <= 200_000
    items = _event(large)["input"]
    assert isinstance(items, list)
    assert len(items) > 150
    assert items[-1]["role"] == "user"


def test_a_bomb_assembles_to_a_valid_request_of_its_size() -> None:
    head, unit, tail, total = bomb_parts("conformance-1", 10_000)
    body = total - len(head) - len(tail)
    whole = head + (unit * (body // len(unit) + 1))[:body] + tail
    assert len(whole) == 10_000
    assert _event(whole)["type"] == "response.create"


def test_the_malformed_messages_are_none_of_them_client_events() -> None:
    for message in MALFORMED:
        try:
            event = json.loads(message)
        except ValueError:
            continue
        assert not isinstance(event, dict) or event.get("type") not in (
            "response.create",
            "response.steer",
        )
