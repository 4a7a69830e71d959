"""Rule checks of the HTTP transport's fault switches (see fault_registry.py).

Each drives the sans-I/O HTTP front (:class:`~tests.reference_impl.http_driver.HttpDriver`)
through one request and returns whether the rule of RWS-HTTP its fault breaks held.
"""

from __future__ import annotations

import json

from reference_impl.faults import Faults
from tests.reference_impl.fault_registry import check
from tests.reference_impl.http_driver import HttpDriver, post, request_bytes

__all__: list[str] = []

_BODY = {"model": "conformance-1", "input": "rws:text length=12 chunks=3"}


@check("http-off")
def post_is_served(faults: Faults) -> bool:
    # RWS-HTTP-1: POST /v1/responses is answered by the front, not handed to the WebSocket.
    http = HttpDriver(faults=faults)
    http.feed(post(_BODY))
    return http.handed_off is None and [a.status for a in http.answers()] == [200]


@check("http-keeps-cache")
def unstored_is_not_continued(faults: Faults) -> bool:
    # RWS-HTTP-2 (through RWS-CACHE-4): over HTTP a store:false response is not found.
    http = HttpDriver(faults=faults)
    first = http.exchange(post({**_BODY, "store": False}))
    second = http.exchange(post({**_BODY, "previous_response_id": first.json["id"]}))
    return second.status == 400 and second.json["error"]["code"] == "previous_response_not_found"


@check("sse-content-type-json")
def stream_is_an_event_stream(faults: Faults) -> bool:
    # RWS-HTTP-3: a streamed answer is text/event-stream.
    answer = HttpDriver(faults=faults).exchange(post({**_BODY, "stream": True}))
    return answer.status == 200 and answer.headers["content-type"] == "text/event-stream"


@check("sse-no-event-field")
def events_are_named(faults: Faults) -> bool:
    # RWS-HTTP-4: every server-sent event has an event field.
    answer = HttpDriver(faults=faults).exchange(post({**_BODY, "stream": True}))
    return all(name is not None for name, _ in answer.sse)


@check("sse-event-mismatch")
def event_names_are_types(faults: Faults) -> bool:
    # RWS-HTTP-5: the event field equals the type of the data.
    answer = HttpDriver(faults=faults).exchange(post({**_BODY, "stream": True}))
    return all(name in (None, json.loads(data)["type"]) for name, data in answer.sse)


@check("sse-open-after-terminal")
def stream_ends(faults: Faults) -> bool:
    # RWS-HTTP-7: once the terminal event is sent, the body ends.
    http = HttpDriver(faults=faults)
    http.feed(post({**_BODY, "stream": True}))
    return len(http.answers()) == 1


@check("http-error-in-stream")
def errors_are_http_errors(faults: Faults) -> bool:
    # RWS-HTTP-8: a request error is an HTTP error with a JSON body, even when streaming.
    answer = HttpDriver(faults=faults).exchange(post({**_BODY, "stream": True, "top_p": 7}))
    return answer.status == 400 and answer.json["error"]["param"] == "top_p"


@check("http-nonstream-created")
def body_is_the_terminal_response(faults: Faults) -> bool:
    # RWS-HTTP-9: without streaming, the body is the terminal event's response.
    answer = HttpDriver(faults=faults).exchange(post(_BODY))
    return answer.status == 200 and answer.json["status"] == "completed"


@check("http-get-any-key")
def retrieve_is_scoped_by_key(faults: Faults) -> bool:
    # RWS-HTTP-10: a response stored by another key is not found.
    http = HttpDriver(faults=faults)
    created = http.exchange(post(_BODY))
    other = http.exchange(
        request_bytes("GET", f"/v1/responses/{created.json['id']}", api_key="key-b")
    )
    return other.status == 404


@check("http-no-auth")
def credentials_are_required(faults: Faults) -> bool:
    # RWS-HTTP-11: no run without accepted credentials.
    http = HttpDriver(faults=faults)
    answer = http.exchange(post(_BODY, api_key=None))
    return answer.status == 401 and len(http.store) == 0
