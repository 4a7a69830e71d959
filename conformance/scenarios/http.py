"""Scenarios of the HTTP transport (profile ``http``, spec section 13).

Each makes its own HTTP exchanges (:func:`conformance.transport_http.exchange`), recorded as the
transport records them, so the checker judges the framing (RWS-HTTP-3 to RWS-HTTP-8) and the
events; here is what only the suite knows: which URL it used, what status and body came back,
whether the body ended, and what a continuation across the two transports must give.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from conformance.harness.context import ScenarioContext
from conformance.harness.registry import scenario
from conformance.scenarios._common import turn
from conformance.transport_http import Answer, HttpClient, exchange, http_url

__all__: list[str] = []

_DEFAULT: Any = object()
_CONTINUABLE = ("completed", "incomplete")


@contextlib.asynccontextmanager
async def _client(ctx: ScenarioContext) -> AsyncIterator[HttpClient]:
    client = HttpClient(http_url(ctx.config.url))
    try:
        yield client
    finally:
        await client.aclose()


def _body(ctx: ScenarioContext, **fields: Any) -> dict[str, Any]:
    """A request body: a ``response.create`` for the configured model, without ``type``."""
    event = turn(ctx, "rws:text length=20 chunks=2", "Say hello in five words.", **fields)
    return {name: value for name, value in event.items() if name != "type"}


async def _call(
    ctx: ScenarioContext,
    client: HttpClient,
    method: str,
    *,
    suffix: str = "",
    body: Mapping[str, Any] | None = None,
    api_key: Any = _DEFAULT,
) -> Answer:
    url = http_url(ctx.config.url)
    key = ctx.config.api_key if api_key is _DEFAULT else api_key
    event = {"type": "response.create", **body} if body is not None else None
    return await exchange(
        ctx.recorder,
        client,
        url + suffix,
        method,
        (urlsplit(url).path or "/") + suffix,
        api_key=key,
        body=body,
        event=event,
        timeout=ctx.config.timeout,
    )


def _got(answer: Answer) -> str:
    if answer.error is not None:
        return f"no answer ({answer.error})"
    kind = answer.headers.get("content-type", "no content type")
    if isinstance(answer.body, Mapping):
        error = answer.body.get("error")
        if isinstance(error, Mapping):
            return f"{answer.status} {kind} with error code {error.get('code')!r}"
        return f"{answer.status} {kind}, a response with status {answer.body.get('status')!r}"
    if answer.events:
        return f"{answer.status} {kind} with {len(answer.events)} events"
    return f"{answer.status} {kind}"


def _terminal(answer: Answer) -> Mapping[str, Any] | None:
    for event in reversed(answer.events):
        response = event.get("response")
        if str(event.get("type")) in ("response.completed", "response.incomplete"):
            return response if isinstance(response, Mapping) else None
    return None


def _response_status(answer: Answer) -> Any:
    return answer.body.get("status") if isinstance(answer.body, Mapping) else None


# RWS-HTTP-1: the HTTP endpoint is on the base URL of the WebSocket endpoint.
@scenario(
    "http.same-port",
    "POST /v1/responses is served on the host, port and path of the WebSocket endpoint",
    requirements=("RWS-HTTP-1",),
    profile="http",
    drives="POST /v1/responses (no stream) on the WebSocket URL with http for ws",
    needs_model=False,
)
async def same_port(ctx: ScenarioContext) -> None:
    async with _client(ctx) as client:
        answer = await _call(ctx, client, "POST", body=_body(ctx))
    served = answer.status == 200 and isinstance(answer.body, Mapping)
    ctx.expect(
        "RWS-HTTP-1",
        served and answer.body.get("object") == "response",
        f"POST {http_url(ctx.config.url)}: expected 200 with a response object, got {_got(answer)}",
    )


# RWS-HTTP-3/4/5/7: a streamed answer; the checker judges each server-sent event.
@scenario(
    "http.stream",
    "a streamed answer is 200 text/event-stream, one named event per event, ended after the "
    "terminal event",
    requirements=("RWS-HTTP-3", "RWS-HTTP-4", "RWS-HTTP-5", "RWS-HTTP-7"),
    profile="http",
    drives="POST /v1/responses with stream true",
    needs_model=False,
)
async def stream(ctx: ScenarioContext) -> None:
    async with _client(ctx) as client:
        answer = await _call(ctx, client, "POST", body=_body(ctx, stream=True))
    ctx.expect(
        "RWS-HTTP-3",
        answer.status == 200 and bool(answer.events),
        f"expected 200 and the run's events, got {_got(answer)}",
    )
    if _terminal(answer) is None and not any(
        e.get("type") == "response.failed" for e in answer.events
    ):
        return  # no terminal event: the checker reports the run (RWS-ORDER-2)
    actual = (
        f"the connection ended before the body did ({answer.error})"
        if answer.error
        else f"the body was still open {ctx.config.timeout:g} s later"
    )
    ctx.expect(
        "RWS-HTTP-7",
        answer.ended,
        f"expected the body to end after the terminal event / actual {actual}",
    )


# RWS-HTTP-8: a request error is an HTTP error, even when a stream was asked for.
@scenario(
    "http.error-answer",
    "a request error is answered with its status and a JSON body wrapping the error object",
    requirements=("RWS-HTTP-8",),
    profile="http",
    drives="POST /v1/responses with stream true and temperature 'hot' (invalid_type)",
    needs_model=False,
)
async def error_answer(ctx: ScenarioContext) -> None:
    async with _client(ctx) as client:
        answer = await _call(ctx, client, "POST", body=_body(ctx, stream=True, temperature="hot"))
    body = answer.body
    ctx.expect(
        "RWS-HTTP-8",
        answer.status == 400
        and answer.headers.get("content-type", "").startswith("application/json")
        and isinstance(body, Mapping)
        and isinstance(body.get("error"), Mapping),
        f'expected 400 application/json {{"error": {{...}}}}, got {_got(answer)}',
    )


# RWS-HTTP-9: without streaming, the terminal event's response object.
@scenario(
    "http.without-streaming",
    "an answer without streaming is 200 with the response object of the terminal event",
    requirements=("RWS-HTTP-9",),
    profile="http",
    drives="POST /v1/responses without stream",
    needs_model=False,
)
async def without_streaming(ctx: ScenarioContext) -> None:
    async with _client(ctx) as client:
        answer = await _call(ctx, client, "POST", body=_body(ctx))
    ctx.expect(
        "RWS-HTTP-9",
        answer.status == 200 and _response_status(answer) in (*_CONTINUABLE, "failed"),
        f"expected 200 and a response that ended, got {_got(answer)}",
    )


# RWS-HTTP-2 (through RWS-CACHE-3 and RWS-CACHE-4): over HTTP a continuation comes from storage
# only. A stored WebSocket response is continued over HTTP; a store:false one is not found,
# although the WebSocket that made it still holds it in its cache, and neither is a store:false
# response made over HTTP.
@scenario(
    "http.continuation",
    "over HTTP a stored response is continued from storage and a store:false one is not found",
    requirements=("RWS-HTTP-2",),
    profile="http",
    drives="over WebSocket runs store true and store false; over HTTP continue each, then a "
    "store:false run made over HTTP",
    needs_model=False,
)
async def continuation(ctx: ScenarioContext) -> None:
    conn = await ctx.connect(websocket=True)
    stored = await ctx.completed(
        conn, turn(ctx, "rws:text length=10", "Say hi."), incomplete_ok=True
    )
    unstored = await ctx.completed(
        conn, turn(ctx, "rws:text length=10", "Say hi.", store=False), incomplete_ok=True
    )
    async with _client(ctx) as client:
        if ctx.config.parameter("storage") == "durable":
            follow = await _call(
                ctx, client, "POST", body=_body(ctx, previous_response_id=stored.response_id)
            )
            ctx.expect(
                "RWS-HTTP-2",
                follow.status == 200 and _response_status(follow) in _CONTINUABLE,
                f"continuing over HTTP the stored WebSocket response {stored.response_id}: "
                f"expected a response, got {_got(follow)}",
            )
        else:
            ctx.not_applicable("RWS-HTTP-2", "the server declares storage=none")
        for source, response_id in (("WebSocket", unstored.response_id),):
            answer = await _call(
                ctx, client, "POST", body=_body(ctx, previous_response_id=response_id)
            )
            ctx.expect(
                "RWS-HTTP-2",
                _not_found(answer),
                f"continuing over HTTP the store:false {source} response {response_id}: "
                f"expected 400 previous_response_not_found, got {_got(answer)}",
            )
        made = await _call(ctx, client, "POST", body=_body(ctx, store=False))
        made_id = made.body.get("id") if isinstance(made.body, Mapping) else None
        if not isinstance(made_id, str):
            ctx.expect("RWS-HTTP-2", False, f"a store:false run over HTTP: got {_got(made)}")
            return
        again = await _call(ctx, client, "POST", body=_body(ctx, previous_response_id=made_id))
        ctx.expect(
            "RWS-HTTP-2",
            _not_found(again),
            f"continuing over HTTP the store:false HTTP response {made_id}: expected 400 "
            f"previous_response_not_found, got {_got(again)}",
        )


def _not_found(answer: Answer) -> bool:
    body = answer.body
    error = body.get("error") if isinstance(body, Mapping) else None
    return (
        answer.status == 400
        and isinstance(error, Mapping)
        and error.get("code") == "previous_response_not_found"
    )


# RWS-HTTP-10: a stored response is retrieved by its credential, and only by it.
@scenario(
    "http.retrieve",
    "GET /v1/responses/{id} returns a stored response to its credential and 404 otherwise",
    requirements=("RWS-HTTP-10",),
    profile="http",
    drives="POST (store true), then GET it with the key, with a second key, and an unknown id",
    needs_model=False,
)
async def retrieve(ctx: ScenarioContext) -> None:
    async with _client(ctx) as client:
        created = await _call(ctx, client, "POST", body=_body(ctx))
        response_id = created.body.get("id") if isinstance(created.body, Mapping) else None
        if not isinstance(response_id, str):
            ctx.expect("RWS-HTTP-10", False, f"the run to retrieve: got {_got(created)}")
            return
        if ctx.config.parameter("storage") == "durable":
            found = await _call(ctx, client, "GET", suffix=f"/{response_id}")
            same = isinstance(found.body, Mapping) and found.body.get("id") == response_id
            ctx.expect(
                "RWS-HTTP-10",
                found.status == 200 and same and _response_status(found) == created.body["status"],
                f"GET of stored {response_id}: expected 200 with that response, got {_got(found)}",
            )
        missing = await _call(ctx, client, "GET", suffix="/resp_rws_never_issued_http")
        ctx.expect(
            "RWS-HTTP-10",
            missing.status == 404 and isinstance(missing.body, Mapping),
            f"GET of an unknown id: expected 404 with a JSON error, got {_got(missing)}",
        )
        if ctx.config.api_key2 is None:
            ctx.not_applicable("RWS-HTTP-10", "no second API key to retrieve with (--api-key2)")
            return
        other = await _call(
            ctx, client, "GET", suffix=f"/{response_id}", api_key=ctx.config.api_key2
        )
        ctx.expect(
            "RWS-HTTP-10",
            other.status == 404,
            f"GET of {response_id} with another API key: expected 404, got {_got(other)}",
        )


# RWS-HTTP-11: no run without accepted credentials.
@scenario(
    "http.credentials",
    "an HTTP request without accepted credentials is answered 401 with a JSON error",
    requirements=("RWS-HTTP-11",),
    profile="http",
    drives="POST /v1/responses without Authorization, and with an unknown key",
    needs_model=False,
)
async def credentials(ctx: ScenarioContext) -> None:
    async with _client(ctx) as client:
        for key, what in ((None, "without credentials"), ("rws-not-a-key", "with an unknown key")):
            answer = await _call(ctx, client, "POST", body=_body(ctx), api_key=key)
            ctx.expect(
                "RWS-HTTP-11",
                answer.status == 401 and isinstance(answer.body, Mapping),
                f"POST {what}: expected 401 with a JSON error, got {_got(answer)}",
            )
