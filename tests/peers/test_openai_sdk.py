"""The official ``openai`` SDK (``client.responses.connect()``) against the server.

Each test runs one script of ``tests/peers/scripts`` with the peers interpreter and checks its
report: what the SDK sent and received, the values the SDK derived, and - for the conformance
model - the exact context digests and token counts appendix A predicts. Most tests share one
reference server per module (``peer_server``); the connection-age tests use a second one whose
``max-connection-age`` is one second (``aging_server``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.peers._appendix import (
    context_line,
    normalise,
    pattern,
    piece_sizes,
    text_tokens,
    tokens,
)
from tests.peers._wire import closes, schema_problems, sent

__all__: list[str] = []

pytestmark = pytest.mark.peers

RunPeer = Callable[..., dict[str, Any]]


def _check_wire(report: dict[str, Any], creates: int) -> None:
    """What the SDK sent and received validates; its requests are flat ``response.create``s."""
    assert schema_problems(report["wire"]) == []
    requests = sent(report["wire"])
    assert len(requests) == creates
    for request in requests:
        # RWS-CREATE-1: the body is flattened next to "type", not wrapped in "response".
        assert request["type"] == "response.create"
        assert "response" not in request
        # RWS-CREATE-2: the openai SDK sends neither stream nor background.
        assert "stream" not in request
        assert "background" not in request


def _usage(turn: dict[str, Any]) -> dict[str, Any]:
    terminal = turn["terminal"]
    assert terminal is not None, turn["types"]
    assert terminal["type"] == "response.completed", terminal
    usage: dict[str, Any] = terminal["response"]["usage"]
    return usage


def _assert_context_turn(
    turn: dict[str, Any], context: Sequence[dict[str, Any]], restored: Sequence[dict[str, Any]]
) -> None:
    """The turn answered ``rws:context`` for ``context``; ``restored`` came from the cache."""
    line = context_line(context)
    assert turn["text"] == line
    usage = _usage(turn)
    # RWS-MODEL-2: input tokens are the tokens of the context (no instructions were sent).
    assert usage["input_tokens"] == tokens(list(context))
    # RWS-MODEL-3: cached tokens are the tokens of the part restored from the connection cache.
    assert usage["input_tokens_details"]["cached_tokens"] == (
        tokens(list(restored)) if restored else 0
    )
    assert usage["output_tokens"] == text_tokens(line)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_three_store_false_turns_continue_from_the_connection_cache(run_peer: RunPeer) -> None:
    report = run_peer("sdk_multi_turn")
    _check_wire(report, creates=3)
    turns = report["turns"]
    assert len(turns) == 3
    # The contexts below are computed from the inputs as the SDK actually sent them.
    assert [r["input"] for r in sent(report["wire"])] == [t["input"] for t in turns]
    context: list[dict[str, Any]] = []
    previous_id: str | None = None
    for index, turn in enumerate(turns):
        assert turn["previous_response_id"] == previous_id
        assert turn["types"][:2] == ["response.created", "response.in_progress"]
        assert turn["types"][-1] == "response.completed"
        # Default lane: no event carries a stream_id.
        assert turn["stream_ids"] == ["None"]
        restored = list(context)
        context = [*restored, *normalise(turn["input"])]
        # RWS-CACHE-2: the context is the previous context, its output, then the new input.
        _assert_context_turn(turn, context, restored)
        if index > 0:
            assert _usage(turn)["input_tokens_details"]["cached_tokens"] > 0
        # The SDK's own view agrees with the wire.
        assert turn["sdk_output_text"] == turn["text"]
        assert turn["sdk_cached_tokens"] == _usage(turn)["input_tokens_details"]["cached_tokens"]
        assert turn["terminal"]["response"]["id"] == turn["sdk_id"]
        context = [*context, *turn["items"]]
        previous_id = turn["sdk_id"]
    assert len({turn["sdk_id"] for turn in turns}) == 3


def test_store_true_response_is_hydrated_on_a_new_connection(run_peer: RunPeer) -> None:
    report = run_peer("sdk_store_reconnect", "stored")
    _check_wire(report, creates=2)
    stored = report["stored"]
    first, second = stored["first"], stored["second"]
    first_context = normalise(first["input"])
    _assert_context_turn(first, first_context, [])
    assert second["types"][0] == "response.created", second["types"]
    assert second["terminal"]["response"]["previous_response_id"] == first["sdk_id"]
    # RWS-CACHE-3: same context as a cache hit; RWS-MODEL-3: hydrated, so nothing counts as
    # cached.
    context = [*first_context, *first["items"], *normalise(second["input"])]
    _assert_context_turn(second, context, [])


def test_store_false_response_is_not_found_on_a_new_connection(run_peer: RunPeer) -> None:
    report = run_peer("sdk_store_reconnect", "unstored")
    _check_wire(report, creates=3)
    unstored = report["unstored"]
    first, second = unstored["first"], unstored["second"]
    _assert_context_turn(first, normalise(first["input"]), [])
    # RWS-CACHE-4 / RWS-CACHE-8 / RWS-CREATE-12: one error event and no run.
    assert second["types"] == ["error"]
    error = second["terminal"]
    assert error["status"] == 400
    assert error["error"]["code"] == "previous_response_not_found"
    assert error["error"]["param"] == "previous_response_id"
    assert error["error"]["type"] == "invalid_request_error"
    assert "stream_id" not in error
    # The SDK surfaces it as its typed WebSocket error event.
    assert second["sdk_class"] == "ResponseWsError"
    assert second["sdk_error_code"] == "previous_response_not_found"
    assert second["sdk_error_param"] == "previous_response_id"
    # RWS-CLIENT-2: resending the full context on the same connection works (it stayed open).
    retry = unstored["retry"]
    _assert_context_turn(retry, normalise(retry["input"]), [])
    assert len(retry["input"]) == 3


def test_generate_false_warmup_is_chainable(run_peer: RunPeer) -> None:
    report = run_peer("sdk_generate_false")
    _check_wire(report, creates=2)
    assert sent(report["wire"])[0]["generate"] is False
    warmup, chained = report["warmup"], report["chained"]
    # RWS-CREATE-6: a run with no output items that completes with output_tokens 0.
    assert warmup["types"][0] == "response.created"
    assert warmup["types"][-1] == "response.completed"
    assert not [t for t in warmup["types"] if t.startswith("response.output_item")]
    warm_context = normalise(warmup["input"])
    terminal = warmup["events"][-1]["response"]
    assert terminal["output"] == []
    assert terminal["usage"]["output_tokens"] == 0
    assert terminal["usage"]["input_tokens"] == tokens(warm_context)
    # The lane helper's final response agrees.
    assert warmup["sdk"]["status"] == "completed"
    assert warmup["sdk"]["output"] == []
    assert warmup["sdk"]["usage"]["output_tokens"] == 0
    # RWS-CACHE-10: the warm-up is a cached entry whose context is its input.
    assert chained["terminal"]["response"]["previous_response_id"] == warmup["sdk"]["id"]
    context = [*warm_context, *normalise(chained["input"])]
    _assert_context_turn(chained, context, warm_context)
    assert chained["sdk"]["output_text"] == chained["text"]


def _lane_of(event: dict[str, Any]) -> str | None:
    stream_id = event.get("stream_id")
    return stream_id if isinstance(stream_id, str) else None


def test_two_lanes_interleave_and_the_lane_helper_routes_them(run_peer: RunPeer) -> None:
    report = run_peer("sdk_lanes")
    _check_wire(report, creates=4)
    # The helper put each lane's stream_id into its response.create.
    assert sorted(r["stream_id"] for r in sent(report["wire"])) == [
        "alpha",
        "alpha",
        "beta",
        "beta",
    ]
    lanes = {"alpha": (90, 30), "beta": (60, 20)}
    arrivals: list[dict[str, Any]] = report["arrivals"]
    first_round = arrivals[: report["first_round_arrivals"]]
    # RWS-LANE-1/RWS-EVENT: every event of a named lane's run carries that lane's stream_id.
    assert {_lane_of(event) for event in arrivals} == set(lanes)

    for name, (length, chunks) in lanes.items():
        lane_first = report["first"][name]
        received = lane_first["events"]
        # RWS-CLIENT-6: the helper gave this lane exactly its own events, in wire order.
        assert all(event.get("stream_id") == name for event in received)
        wire = [event for event in first_round if _lane_of(event) == name]
        assert [e["type"] for e in received] == [e["type"] for e in wire]
        assert [e.get("sequence_number") for e in received] == [
            e.get("sequence_number") for e in wire
        ]
        deltas = [e["delta"] for e in received if e["type"] == "response.output_text.delta"]
        assert [len(d) for d in deltas] == piece_sizes(length, chunks)
        assert "".join(deltas) == pattern(length)
        assert lane_first["final_output_text"] == pattern(length)

    # RWS-LANE-4: the two runs were in flight at once, so their events interleave on the wire.
    spans = {}
    for name in lanes:
        positions = [i for i, event in enumerate(first_round) if _lane_of(event) == name]
        spans[name] = (positions[0], positions[-1])
    (a_start, a_end), (b_start, b_end) = spans["alpha"], spans["beta"]
    assert a_start < b_end, spans
    assert b_start < a_end, spans

    # Second round: each lane continues from its own cached entry (RWS-CACHE-1/2).
    for name in lanes:
        first_items = [
            event["item"]
            for event in first_round
            if _lane_of(event) == name and event["type"] == "response.output_item.done"
        ]
        restored = [*normalise(report["first_inputs"][name]), *first_items]
        context = [*restored, *normalise(report["second_inputs"][name])]
        second = report["second"][name]
        assert all(event.get("stream_id") == name for event in second["events"])
        terminal = second["events"][-1]
        assert terminal["type"] == "response.completed"
        assert terminal["response"]["previous_response_id"] == report["first"][name]["final_id"]
        assert second["final_output_text"] == context_line(context)
        usage = second["final_usage"]
        assert usage["input_tokens"] == tokens(context)
        assert usage["input_tokens_details"]["cached_tokens"] == tokens(restored)


def test_tool_loop_runs_three_calls_then_reports_done(run_peer: RunPeer) -> None:
    report = run_peer("sdk_tool_loop")
    _check_wire(report, creates=4)
    turns, calls = report["turns"], report["calls"]
    assert len(turns) == 4
    assert len(calls) == 3
    assert [c["name"] for c in calls] == ["lookup"] * 3
    # A.3 rws:call: the arguments are the JSON text exactly as written in the directive.
    assert [c["arguments"] for c in calls] == ['{"q":"x"}'] * 3
    assert len({c["call_id"] for c in calls}) == 3
    for index, (turn, call) in enumerate(zip(turns, calls, strict=False)):
        assert [item["type"] for item in turn["items"]] == ["function_call"]
        assert turn["items"][0]["call_id"] == call["call_id"]
        assert "response.function_call_arguments.done" in turn["types"]
        assert _usage(turn)["output_tokens"] == text_tokens('{"q":"x"}')
        follow_up = turns[index + 1]
        assert follow_up["previous_response_id"] == turn["terminal"]["response"]["id"]
        assert follow_up["input"] == [
            {"type": "function_call_output", "call_id": call["call_id"], "output": call["output"]}
        ]
    final = turns[-1]
    assert final["text"] == "loop done after 3 calls"
    assert final["sdk_output_text"] == "loop done after 3 calls"
    assert [item["type"] for item in final["items"]] == ["message"]


def test_connection_age_limit_lets_the_run_finish_then_closes_and_the_chain_is_resent(
    run_aging_peer: RunPeer,
) -> None:
    report = run_aging_peer("sdk_connection_age")
    assert schema_problems(report["wire"]) == []
    aged = report["aged"]
    # RWS-LIMIT-2: the run that had started reaches its terminal event...
    assert aged["types"][0] == "response.created"
    # ...before the limit error that answers the late request (RWS-LIMIT-11).
    assert aged["types"][-2:] == ["response.completed", "error"]
    assert aged["types"].count("response.created") == 1
    # RWS-LIMIT-1: ...and the late request gets the connection-scoped error, not a run.
    errors = [r["event"] for r in report["wire"] if r["conn"] == 0 and "event" in r]
    limit_errors = [e for e in errors if e["type"] == "error"]
    assert len(limit_errors) == 1
    assert limit_errors[0]["status"] == 400
    assert limit_errors[0]["error"]["code"] == "websocket_connection_limit_reached"
    assert "stream_id" not in limit_errors[0]
    assert aged["sdk_error_code"] == "websocket_connection_limit_reached"
    # Then the server closes with 1001 (the SDK's iterator ended quietly on it).
    assert [c["close"]["code"] for c in closes(report["wire"]) if c["conn"] == 0] == [1001]
    # RWS-CACHE-8: the store=false response did not survive its connection...
    lost = report["lost"]
    assert lost["types"] == ["error"]
    assert lost["terminal"]["error"]["code"] == "previous_response_not_found"
    # ...and RWS-CLIENT-5: resending the full context continues the conversation.
    resent = report["resent"]
    _assert_context_turn(resent, normalise(resent["input"]), [])


@pytest.fixture(scope="module")
def age_lanes_report(run_aging_peer: RunPeer) -> dict[str, Any]:
    return run_aging_peer("sdk_connection_age_lanes")


def test_age_limit_error_reaches_no_named_lane_while_the_default_run_completes(
    age_lanes_report: dict[str, Any],
) -> None:
    report = age_lanes_report
    assert schema_problems(report["wire"]) == []
    # The server: the run on the default lane completed, the late request on lane "late" got the
    # connection-scoped error without stream_id (RWS-LIMIT-1/2) after that run's terminal event
    # (RWS-LIMIT-11), then the 1001 close.
    assert report["terminal_types"] == ["response.completed", "error"]
    # The lane helper files the error under the default lane, now after its run.
    assert report["default_after"] == ["error", "<EOFError>"]
    assert [c["close"]["code"] for c in closes(report["wire"])] == [1001]
    # The lane helper: lane "late" gets no outcome of its own (the error has no stream_id to be
    # routed by), only the end of the session. A spec-level consequence of "stream_id: never".
    assert report["late"] == ["<EOFError>"]


def test_lane_helper_returns_the_default_lane_run_that_completed_past_the_age_limit(
    age_lanes_report: dict[str, Any],
) -> None:
    # The server side of this scenario is checked by the test above; this is the SDK's view.
    # openai SDK 3.54's lane helper routes an error without stream_id to the default lane, and
    # its accumulator ends the lane's current response on any error: a limit error sent while
    # the default-lane run streams would make get_final_response() raise although the run
    # completes. RWS-LIMIT-11: the server holds that error until the runs in flight have ended.
    assert age_lanes_report["default_final"] == {
        "status": "completed",
        "output_text": pattern(20),
    }


@pytest.fixture(scope="module")
def handshake_report(run_peer: RunPeer) -> dict[str, Any]:
    return run_peer("sdk_handshake")


def test_upgrade_with_a_wrong_key_is_refused_with_401(handshake_report: dict[str, Any]) -> None:
    # RWS-TRANS-2: no WebSocket; the SDK surfaces the refused upgrade with its HTTP status.
    assert handshake_report["bad_key"] == {
        "raised": "InvalidStatus",
        "module": "websockets.exceptions",
        "status": 401,
    }


def test_sdk_extra_headers_and_query_parameters_are_ignored(
    handshake_report: dict[str, Any],
) -> None:
    # RWS-TRANS-13 / RWS-TRANS-15: an OpenAI-Beta header, an unknown query parameter and the
    # SDK's own X-Stainless-* headers do not stop the connection from working.
    assert schema_problems(handshake_report["wire"]) == []
    extras = handshake_report["extras"]
    assert extras["types"][-1] == "response.completed"
    assert extras["text"] == "ok"


def test_megabyte_messages_pass_both_ways(handshake_report: dict[str, Any]) -> None:
    big_input = handshake_report["big_input"]
    # RWS-TRANS-7: a 2 MiB client message is accepted (the server declares 16 MiB).
    assert big_input["types"][-1] == "response.completed"
    assert big_input["input_tokens"] == tokens(normalise("x" * big_input["length"]))
    # RWS-TRANS-10: the SDK takes a 1,000,000-character delta and the ~1 MB messages around it.
    big_output = handshake_report["big_output"]
    assert big_output["types"][-1] == "response.completed"
    assert big_output["delta_lengths"] == [big_output["length"]]
    expected = hashlib.sha256(pattern(big_output["length"]).encode("utf-8")).hexdigest()
    assert big_output["text_sha256"] == expected


def test_back_to_back_creates_on_one_lane_run_one_after_the_other(run_peer: RunPeer) -> None:
    report = run_peer("sdk_pipelined")
    _check_wire(report, creates=2)
    # The raw wire, not the SDK's re-serialised events, decides the order.
    events = [r["event"] for r in report["wire"] if r["dir"] == "s2c" and "event" in r]
    terminals = [i for i, e in enumerate(events) if e["type"] == "response.completed"]
    created = [i for i, e in enumerate(events) if e["type"] == "response.created"]
    assert len(terminals) == 2
    assert len(created) == 2
    # RWS-LANE-1/RWS-LANE-2 (busy-lane=queue): the second run starts after the first ends.
    assert created[1] == terminals[0] + 1
    first, second = events[: terminals[0] + 1], events[terminals[0] + 1 :]
    # RWS-SEQ-2/RWS-SEQ-3: each run numbers its own events from 0.
    for run in (first, second):
        assert [e["sequence_number"] for e in run] == list(range(len(run)))
    assert {e["response"]["id"] for e in first if "response" in e} != {
        e["response"]["id"] for e in second if "response" in e
    }
    deltas = [e["delta"] for e in first if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == pattern(30)
    # RWS-LANE-8: no previous_response_id, so the second run's context is its own input only.
    second_items = [e["item"] for e in second if e["type"] == "response.output_item.done"]
    second_input = report["inputs"][1]
    assert second_items[0]["content"][0]["text"] == context_line(normalise(second_input))
    # What the SDK's iterator yielded is the same stream.
    assert [e["type"] for e in report["events"]] == [e["type"] for e in events]
