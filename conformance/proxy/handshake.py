"""The opening handshake of one proxied connection, with each side (sans-I/O).

The client's upgrade request is read first (:meth:`Handshake.from_client`). A request that is
no WebSocket upgrade is refused by the proxy itself, the way ``websockets`` refuses one
(:meth:`Handshake.refusal`); any other becomes the upstream's request
(:meth:`Handshake.upstream_request`): the same target (or the upstream URL's path, with the
client's query) and every header that is not one side's own (:mod:`.headers`), with the
client's subprotocols, origin and ``permessage-deflate`` offers (:mod:`.compression`). The
upstream's answer (:meth:`Handshake.from_upstream`) decides the client's
(:meth:`Handshake.answer`): a ``101`` becomes the proxy's own ``101`` with the upstream's
headers, subprotocol and compression parameters; any other status goes back as it came,
headers and body. An upstream that cannot be reached, or that answers with a broken handshake,
makes the client's answer ``502 Bad Gateway`` with the reason in its body
(:meth:`Handshake.bad_gateway`).

Only the HTTP heads go through ``websockets``: what follows a head in the same read (frames a
side sent right behind its handshake) is kept as bytes (:attr:`Handshake.early`), to be
forwarded as they are.
"""

from __future__ import annotations

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from conformance.proxy.addresses import Upstream
from conformance.proxy.compression import AcceptUpstream, MirrorUpstream, offer, parameters
from conformance.proxy.headers import forwarded_request_headers, forwarded_response_headers

__all__ = ["MAX_HEAD", "Handshake", "HandshakeError"]

#: The largest HTTP head (request or response line and headers) the proxy reads.
MAX_HEAD = 64 * 1024
_END = b"\r\n\r\n"


class HandshakeError(ValueError):
    """A side sent what cannot be a handshake (too large, or not HTTP)."""


class Handshake:
    """Both opening handshakes of one connection."""

    def __init__(self, upstream: Upstream, *, compression: bool) -> None:
        self.upstream = upstream
        self.compression = compression
        self._chosen: Subprotocol | None = None
        self._mirror = MirrorUpstream()
        self.down = ServerProtocol(
            extensions=[self._mirror] if compression else None,
            select_subprotocol=lambda _protocol, _offered: self._chosen,
        )
        self.up: ClientProtocol | None = None
        self.request: Request | None = None
        self.response: Response | None = None
        # Bytes a side sent right behind its handshake head (frames), to forward as they are.
        self.early: dict[str, bytes] = {"c2s": b"", "s2c": b""}
        self._client_head = bytearray()
        self._upstream_head = bytearray()
        self._upstream_body = False

    # --- the client's request ------------------------------------------------------------------

    def from_client(self, data: bytes) -> Request | None:
        """Bytes from the client; its request once its head is complete."""
        head = _head(self._client_head, data)
        if head is not None:
            self.early["c2s"] = bytes(self._client_head)
            self._client_head.clear()
            self.down.receive_data(head)
            for event in self.down.events_received():
                if isinstance(event, Request):
                    self.request = event
        return self.request

    def client_eof(self) -> None:
        """The client ended its stream during the handshake."""
        self.down.receive_eof()

    @property
    def client_unreadable(self) -> bool:
        """Whether the client's bytes are no HTTP request at all (nothing to answer)."""
        return self.request is None and self.down.handshake_exc is not None

    def refusal(self) -> bytes | None:
        """The proxy's answer when the client's request is no WebSocket upgrade (None when it
        is one): what ``websockets`` answers such a request, 400, 426 and the like."""
        assert self.request is not None
        # websockets' own checks, on a protocol of its own (compression is not negotiated
        # before the upstream answers, and an offer alone never makes a request invalid).
        probe = ServerProtocol()
        try:
            probe.process_request(self.request)
        except InvalidHandshake:
            response = self.down.accept(self.request)
            self.down.send_response(response)
            self.response = response
            return self.client_bytes()
        return None

    # --- the upstream --------------------------------------------------------------------------

    def upstream_request(self) -> bytes:
        """The upgrade request for the upstream, as bytes to send."""
        assert self.request is not None
        request = self.request
        offered: list[Subprotocol] = []
        for value in request.headers.get_all("Sec-WebSocket-Protocol"):
            offered.extend(parse_subprotocol(value))
        origin = request.headers.get("Origin")
        self.up = ClientProtocol(
            parse_uri(self.upstream.url(self.upstream.target(request.path))),
            origin=None if origin is None else Origin(origin),
            subprotocols=offered or None,
        )
        upgrade = self.up.connect()
        deflate = offer(request.headers.get_all("Sec-WebSocket-Extensions"))
        if self.compression and deflate is not None:
            # The client's offer, verbatim: the upstream's answer is then one the client
            # accepts too. Set after connect(), which would build an offer of its own.
            upgrade.headers["Sec-WebSocket-Extensions"] = deflate
            self.up.available_extensions = [AcceptUpstream()]
        for name, value in forwarded_request_headers(request.headers.raw_items()):
            upgrade.headers[name] = value
        self.up.send_request(upgrade)
        return self.upstream_bytes()

    def from_upstream(self, data: bytes) -> Response | None:
        """Bytes from the upstream; its response once it is complete (a refusal's body
        included)."""
        assert self.up is not None
        if self._upstream_body:
            self.up.receive_data(data)
        else:
            head = _head(self._upstream_head, data)
            if head is None:
                return None
            rest = bytes(self._upstream_head)
            self._upstream_head.clear()
            if head.startswith((b"HTTP/1.1 101 ", b"HTTP/1.0 101 ")):
                self.early["s2c"] = rest
                self.up.receive_data(head)
            else:
                self._upstream_body = True
                self.up.receive_data(head + rest)
        for event in self.up.events_received():
            if isinstance(event, Response):
                self.response = event
        return self.response

    def upstream_eof(self) -> None:
        """The upstream ended its stream during the handshake."""
        if self.up is not None:
            self.up.receive_eof()
            for event in self.up.events_received():
                if isinstance(event, Response):
                    self.response = event

    @property
    def upstream_problem(self) -> str | None:
        """Why the upstream's answer is no usable handshake (None: it is one, or a refusal)."""
        up = self.up
        if up is None or self.response is None:
            return "the upstream closed the connection before answering the upgrade"
        if up.state is State.OPEN or self.response.status_code != 101:
            return None
        return f"the upstream's 101 answer is not a valid WebSocket handshake: {up.handshake_exc}"

    @property
    def negotiated(self) -> str | None:
        """The ``Sec-WebSocket-Extensions`` both sides agreed on (None: no compression)."""
        if self.response is None or not self.compression:
            return None
        return self.response.headers.get("Sec-WebSocket-Extensions")

    # --- the client's answer -------------------------------------------------------------------

    def answer(self) -> bytes:
        """The client's answer to its upgrade, from the upstream's (``upstream_problem`` must be
        None); the connection is open when :attr:`open` says so."""
        assert self.request is not None
        assert self.response is not None
        assert self.up is not None
        upstream = self.response
        if self.up.state is State.OPEN:
            self._chosen = self.up.subprotocol
            self._mirror.accepted = parameters(upstream.headers.get_all("Sec-WebSocket-Extensions"))
            reply = self.down.accept(self.request)
            for name, value in forwarded_response_headers(upstream.headers.raw_items()):
                reply.headers[name] = value
        else:
            headers = Headers(forwarded_response_headers(upstream.headers.raw_items()))
            headers["Content-Length"] = str(len(upstream.body))
            headers["Connection"] = "close"
            reply = Response(upstream.status_code, upstream.reason_phrase, headers, upstream.body)
        self.down.send_response(reply)
        return self.client_bytes()

    def bad_gateway(self, why: str) -> bytes:
        """``502 Bad Gateway`` for the client, ``why`` in its body."""
        self.down.send_response(self.down.reject(502, f"responses-ws proxy: {why}\n"))
        return self.client_bytes()

    @property
    def open(self) -> bool:
        """Whether both sides' connections are open (frames may cross)."""
        return self.up is not None and self.up.state is State.OPEN and self.down.state is State.OPEN

    def client_bytes(self) -> bytes:
        """What to write to the client now."""
        return b"".join(self.down.data_to_send())

    def upstream_bytes(self) -> bytes:
        """What to write to the upstream now."""
        return b"".join(self.up.data_to_send()) if self.up is not None else b""


def _head(buffered: bytearray, data: bytes) -> bytes | None:
    """Append ``data``; once a whole HTTP head is buffered, return it (what follows stays in
    ``buffered``). Raises :class:`HandshakeError` past :data:`MAX_HEAD`."""
    start = max(0, len(buffered) - 3)
    buffered += data
    end = buffered.find(_END, start)
    if end < 0:
        if len(buffered) > MAX_HEAD:
            raise HandshakeError(f"no end of the HTTP head within {MAX_HEAD} bytes")
        return None
    head = bytes(buffered[: end + len(_END)])
    del buffered[: end + len(_END)]
    return head
