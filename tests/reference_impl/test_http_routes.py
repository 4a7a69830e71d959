"""The sans-I/O HTTP front: routes, the equivalence with WebSocket mode (RWS-HTTP-2), framing.

Every request goes through :class:`~tests.reference_impl.http_driver.HttpDriver`, and every
answer is read back by an h11 client. Where an answer is a run, it is compared with what the
WebSocket session sends for the same request on a new connection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from reference_impl.limits import Limits
from reference_impl.store import ResponseStore
from tests.reference_impl.driver import Driver, create
from tests.reference_impl.http_driver import HttpDriver, post, request_bytes

TEXT = "rws:text length=40 chunks=4"


def _ws_events(body: dict[str, Any], store: ResponseStore | None = None) -> list[dict[str, Any]]:
    """The events the same request gets as the only request of a new WebSocket connection."""
    driver = Driver(store=store, multiplex=False, steering=False)
    return driver.turn({"type": "response.create", **body})


def _body(input: Any = TEXT, **fields: Any) -> dict[str, Any]:
    event = create(input, **fields)
    del event["type"]
    return event


def test_a_streamed_answer_is_the_websocket_run_as_server_sent_events() -> None:
    http = HttpDriver()
    answer = http.exchange(post(_body(stream=True)))
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/event-stream"
    # RWS-HTTP-2: the same events, order and sequence numbers as over WebSocket.
    assert answer.events == _ws_events(_body())
    # RWS-HTTP-4, RWS-HTTP-5: every event names its type; nothing follows the terminal event.
    assert [name for name, _ in answer.sse] == [e["type"] for e in answer.events]
    assert answer.events[-1]["type"] == "response.completed"


def test_an_answer_without_streaming_is_the_terminal_response() -> None:
    http = HttpDriver()
    answer = http.exchange(post(_body()))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    # RWS-HTTP-9: the response object of the terminal event.
    assert answer.json == _ws_events(_body())[-1]["response"]
    assert answer.json["status"] == "completed"


@pytest.mark.parametrize("stream", [True, False])
def test_a_request_error_is_an_http_error_with_the_error_object(stream: bool) -> None:
    http = HttpDriver()
    body = _body(stream=stream, temperature="hot")
    answer = http.exchange(post(body))
    (ws_error,) = _ws_events(_body(temperature="hot"))
    # RWS-HTTP-8: the status of the error event, its error object as {"error": ...}.
    assert answer.status == ws_error["status"] == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json == {"error": ws_error["error"]}


def test_a_stream_id_is_refused_as_a_server_without_lanes_refuses_it() -> None:
    answer = HttpDriver().exchange(post(_body(stream=True, stream_id="a")))
    # RWS-HTTP-2 through RWS-LANE-12.
    assert answer.status == 400
    assert answer.json["error"]["code"] == "unsupported_parameter"
    assert answer.json["error"]["param"] == "stream_id"


def test_a_body_that_is_not_a_json_object_is_invalid_json() -> None:
    http = HttpDriver()
    for body in (b"[1]", b"{", b'"}"', b"\xff{}"):
        answer = http.exchange(request_bytes("POST", "/v1/responses", body))
        assert answer.status == 400, body
        assert answer.json["error"]["code"] == "invalid_json"


def test_stream_must_be_a_boolean() -> None:
    answer = HttpDriver().exchange(post({**_body(), "stream": "yes"}))
    assert answer.status == 400
    assert answer.json["error"]["param"] == "stream"


def test_a_body_type_does_not_turn_the_request_into_another_event() -> None:
    answer = HttpDriver().exchange(post({**_body(), "type": "response.steer"}))
    assert answer.status == 200
    assert answer.json["status"] == "completed"


def test_a_stored_response_is_continued_from_storage_and_an_unstored_one_is_not_found() -> None:
    store = ResponseStore(None)
    http = HttpDriver(store=store)
    first = http.exchange(post(_body()))
    second = http.exchange(post(_body("again", previous_response_id=first.json["id"])))
    # RWS-HTTP-2 through RWS-CACHE-3: hydrated, so nothing is a cached token.
    assert second.status == 200
    assert second.json["usage"]["input_tokens_details"]["cached_tokens"] == 0
    assert second.json["previous_response_id"] == first.json["id"]
    unstored = http.exchange(post(_body(store=False)))
    third = http.exchange(post(_body("again", previous_response_id=unstored.json["id"])))
    # RWS-CACHE-4: a store:false response is never continuable over HTTP.
    assert third.status == 400
    assert third.json["error"]["code"] == "previous_response_not_found"


def test_a_websocket_response_is_continued_over_http() -> None:
    store = ResponseStore(None)
    ws = Driver(store=store, api_key="key-a")
    completed = ws.turn(create(TEXT))[-1]["response"]
    answer = HttpDriver(store=store).exchange(
        post(_body("next", stream=True, previous_response_id=completed["id"]))
    )
    assert answer.status == 200
    assert answer.events[-1]["response"]["previous_response_id"] == completed["id"]


def test_get_returns_a_stored_response_of_the_same_key_only() -> None:
    http = HttpDriver()
    created = http.exchange(post(_body()))
    path = f"/v1/responses/{created.json['id']}"
    found = http.exchange(request_bytes("GET", path))
    # RWS-HTTP-10: the terminal event's response object.
    assert found.status == 200
    assert found.json == created.json
    other = http.exchange(request_bytes("GET", path, api_key="key-b"))
    assert other.status == 404
    assert "error" in other.json
    assert http.exchange(request_bytes("GET", "/v1/responses/resp_nope")).status == 404
    unstored = http.exchange(post(_body(store=False)))
    assert http.exchange(request_bytes("GET", f"/v1/responses/{unstored.json['id']}")).status == 404
    long_id = "r" * 300
    assert http.exchange(request_bytes("GET", f"/v1/responses/{long_id}")).status == 404


@pytest.mark.parametrize("key", [None, "wrong"])
def test_no_run_without_accepted_credentials(key: str | None) -> None:
    http = HttpDriver()
    answer = http.exchange(post(_body(), api_key=key))
    # RWS-HTTP-11
    assert answer.status == 401
    assert answer.json["error"]["code"] == "invalid_api_key"
    assert len(http.store) == 0
    assert http.exchange(request_bytes("GET", "/v1/responses/x", api_key=key)).status == 401


def test_other_routes_and_methods() -> None:
    http = HttpDriver()
    assert http.exchange(request_bytes("POST", "/v1/other", b"{}")).status == 404
    assert http.exchange(request_bytes("PUT", "/v1/responses", b"{}")).status == 405
    assert http.exchange(request_bytes("POST", "/v1/responses/abc", b"{}")).status == 405


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/v1/responses", {"upgrade": "websocket", "connection": "Upgrade"}),
        ("/v1/responses", {}),  # a plain GET: the WebSocket server answers 426 (RWS-TRANS-4)
        ("/elsewhere", {}),
    ],
)
def test_the_websocket_server_gets_every_other_get_with_its_bytes(
    target: str, headers: dict[str, str]
) -> None:
    http = HttpDriver()
    data = request_bytes("GET", target, headers=headers)
    # Split in two: the hand-off carries every byte read, not the last chunk only.
    http.feed(data[:7])
    assert http.handed_off is None
    http.feed(data[7:])
    assert http.handed_off == data
    assert http.sent == b""


def test_keep_alive_and_pipelined_requests_are_answered_in_order() -> None:
    http = HttpDriver()
    upgrade = {"upgrade": "websocket", "connection": "Upgrade"}
    http.feed(
        post(_body("one"))
        + post(_body("two", stream=True))
        + request_bytes("GET", "/x")
        + request_bytes("GET", "/v1/responses", headers=upgrade)
    )
    first, second, third, fourth = http.answers()
    assert first.json["status"] == "completed"
    assert second.events[-1]["type"] == "response.completed"
    # Only a connection's first request goes to the WebSocket server: a WebSocket starts a
    # connection of its own, so a GET after others is the front's (no such route here).
    assert third.status == 404
    assert (fourth.status, fourth.headers["upgrade"]) == (426, "websocket")
    assert http.handed_off is None
    assert not http.closed


def test_a_body_larger_than_the_message_limit_is_refused_and_the_connection_closed() -> None:
    http = HttpDriver(limits=Limits(max_message_size=1000))
    body = json.dumps(_body("x" * 2000)).encode()
    answer = http.exchange(request_bytes("POST", "/v1/responses", body))
    assert answer.status == 413
    assert http.closed


def test_bytes_that_are_not_http_are_refused() -> None:
    http = HttpDriver()
    http.feed(b"NOT HTTP AT ALL\r\n\r\n")
    (answer,) = http.answers()
    assert answer.status == 400
    assert http.closed


def test_runs_are_paced_by_the_cost_model_over_http_too() -> None:
    from reference_impl.limits import CostModel

    http = HttpDriver(cost=CostModel(prefill_us_per_token=1000.0))
    http.exchange(post(_body(stream=True)))
    # The prefill of every input token (none is cached over HTTP) before the second event.
    assert max(http.waits) > 0
