"""The opening handshake across the proxy: headers, refusals, bad gateways (sans-I/O)."""

from __future__ import annotations

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from conformance.proxy.addresses import parse_upstream
from conformance.proxy.handshake import Handshake
from tests.proxy.wire import KEY, upgrade


def _client() -> ClientProtocol:
    return ClientProtocol(parse_uri("ws://proxy.test/v1/responses?trace=1"))


def _answer(handshake: Handshake, response: Response) -> Response:
    """The client's view of the proxy's answer, once the upstream answered ``response``."""
    handshake.from_upstream(response.serialize())
    assert handshake.upstream_problem is None
    reader = ClientProtocol(parse_uri("ws://proxy.test/"))
    reader.receive_data(handshake.answer())
    [seen] = reader.events_received()
    assert isinstance(seen, Response)
    return seen


def test_upstream_gets_the_clients_headers_with_its_credential_and_its_own_handshake() -> None:
    client = _client()
    handshake, forwarded = upgrade(
        client, [("OpenAI-Beta", "responses_websockets=1"), ("X-Trace", "t")]
    )
    server = ServerProtocol()
    server.receive_data(forwarded)
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert request.path == "/v1/responses?trace=1"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["OpenAI-Beta"] == "responses_websockets=1"
    assert request.headers["X-Trace"] == "t"
    assert request.headers["Host"] == "upstream.test"
    # The proxy's own key, not the client's: each side has its own handshake.
    assert handshake.request is not None
    assert request.headers["Sec-WebSocket-Key"] != handshake.request.headers["Sec-WebSocket-Key"]


def test_upstream_path_replaces_the_clients_and_keeps_its_query() -> None:
    upstream = parse_upstream("wss://api.example.test/v1/responses")
    assert upstream.target("/anything?a=1") == "/v1/responses?a=1"
    assert parse_upstream("ws://127.0.0.1:9").target("/v1/responses") == "/v1/responses"


def test_refused_upgrade_reaches_the_client_with_status_headers_and_body() -> None:
    handshake, _ = upgrade(_client())
    body = b'{"error":{"code":"invalid_api_key"}}'
    headers = Headers(
        [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer"),
         ("Content-Length", str(len(body)))]
    )  # fmt: skip
    seen = _answer(handshake, Response(401, "Unauthorized", headers, body))
    assert seen.status_code == 401
    assert seen.body == body
    assert seen.headers["WWW-Authenticate"] == "Bearer"
    assert not handshake.open


def test_subprotocol_and_response_headers_of_the_upstream_reach_the_client() -> None:
    offered = [Subprotocol("chat.v1"), Subprotocol("chat.v2")]
    client = ClientProtocol(parse_uri("ws://proxy.test/"), subprotocols=offered)
    handshake, forwarded = upgrade(client)
    server = ServerProtocol(subprotocols=[Subprotocol("chat.v2")])
    server.receive_data(forwarded)
    [request] = server.events_received()
    assert isinstance(request, Request)
    response = server.accept(request)
    response.headers["responses-ws-limits"] = "max-connection-age=3600"
    seen = _answer(handshake, response)
    assert seen.status_code == 101
    assert seen.headers["Sec-WebSocket-Protocol"] == "chat.v2"
    assert seen.headers["responses-ws-limits"] == "max-connection-age=3600"
    assert handshake.open


def test_request_that_is_no_upgrade_is_refused_by_the_proxy_without_the_upstream() -> None:
    handshake = Handshake(parse_upstream("ws://upstream.test"), compression=True)
    handshake.from_client(b"GET /v1/responses HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
    answer = handshake.refusal()
    assert answer is not None
    assert answer.startswith(b"HTTP/1.1 426")
    assert handshake.up is None


def test_broken_101_from_the_upstream_is_a_bad_gateway() -> None:
    handshake, _ = upgrade(_client())
    headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade"),
                       ("Sec-WebSocket-Accept", "not-the-right-key")])  # fmt: skip
    handshake.from_upstream(Response(101, "Switching Protocols", headers).serialize())
    problem = handshake.upstream_problem
    assert problem is not None
    assert "not a valid WebSocket handshake" in problem
    assert handshake.bad_gateway(problem).startswith(b"HTTP/1.1 502")


def test_upstream_that_closes_before_answering_is_a_bad_gateway() -> None:
    handshake, _ = upgrade(_client())
    handshake.upstream_eof()
    assert handshake.upstream_problem == (
        "the upstream closed the connection before answering the upgrade"
    )


def test_frames_right_behind_the_upstreams_101_are_kept_as_bytes() -> None:
    handshake, forwarded = upgrade(_client())
    server = ServerProtocol()
    server.receive_data(forwarded)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    server.send_text(b'{"type":"session.hello"}')  # a frame in the same write as the 101
    handshake.from_upstream(b"".join(server.data_to_send()))
    assert handshake.response is not None
    assert handshake.response.status_code == 101
    assert handshake.early["s2c"] == b"\x81\x18" + b'{"type":"session.hello"}'
