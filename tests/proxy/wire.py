"""Test helper: a client and a server (``websockets`` sans-I/O) with the proxy between them.

:func:`connected` runs both opening handshakes through a :class:`Handshake` in memory and
returns a :class:`Wire`: the real client, the real server, and the proxy's reader of the
connection. :meth:`Wire.from_client` carries what the client wrote to the server as the proxy
does (the bytes unchanged) and returns what the reader saw in its copy; :meth:`Wire.from_server`
the same the other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.extensions.base import ClientExtensionFactory, ServerExtensionFactory
from websockets.frames import Frame
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from conformance.proxy.addresses import parse_upstream
from conformance.proxy.compression import decoders, parameters
from conformance.proxy.handshake import Handshake
from conformance.proxy.reader import CLIENT, UPSTREAM, Reader, Seen

__all__ = ["KEY", "Wire", "connected", "upgrade"]

KEY = "sk-test-credential-0123456789"


def upgrade(
    client: ClientProtocol,
    headers: Sequence[tuple[str, str]] = (),
    *,
    compression: bool = True,
) -> tuple[Handshake, bytes]:
    """The client's upgrade request, read by a fresh handshake; and the request it sends on."""
    request = client.connect()
    request.headers["Authorization"] = f"Bearer {KEY}"
    for name, value in headers:
        request.headers[name] = value
    client.send_request(request)
    handshake = Handshake(parse_upstream("ws://upstream.test"), compression=compression)
    handshake.from_client(b"".join(client.data_to_send()))
    assert handshake.refusal() is None
    return handshake, handshake.upstream_request()


@dataclass
class Wire:
    """Client, server and the proxy's reader of one connection."""

    client: ClientProtocol
    server: ServerProtocol
    reader: Reader
    handshake: Handshake
    request: Request  # what the server received
    seen: list[Seen] = field(default_factory=list)

    def from_client(self) -> tuple[list[Seen], list[Frame]]:
        """What the client wrote, as the reader saw it and as the server received it."""
        data = b"".join(self.client.data_to_send())
        found = self.reader.data(CLIENT, data)
        self.seen.extend(found)
        self.server.receive_data(data)
        return found, [e for e in self.server.events_received() if isinstance(e, Frame)]

    def from_server(self) -> tuple[list[Seen], list[Frame]]:
        """What the server wrote, as the reader saw it and as the client received it."""
        data = b"".join(self.server.data_to_send())
        found = self.reader.data(UPSTREAM, data)
        self.seen.extend(found)
        self.client.receive_data(data)
        return found, [e for e in self.client.events_received() if isinstance(e, Frame)]


def connected(
    *,
    client_extensions: Sequence[ClientExtensionFactory] | None = None,
    server_extensions: Sequence[ServerExtensionFactory] | None = None,
    compression: bool = True,
) -> Wire:
    """A client and a server connected through the proxy (both handshakes done)."""
    client = ClientProtocol(parse_uri("ws://proxy.test/v1/responses"), extensions=client_extensions)
    handshake, forwarded = upgrade(client, compression=compression)
    server = ServerProtocol(extensions=server_extensions)
    server.receive_data(forwarded)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    response = handshake.from_upstream(b"".join(server.data_to_send()))
    assert isinstance(response, Response)
    assert handshake.upstream_problem is None
    client.receive_data(handshake.answer())
    client.events_received()
    assert handshake.open
    negotiated = handshake.negotiated
    c2s, s2c = decoders(parameters([negotiated]) if negotiated else None)
    return Wire(client, server, Reader(c2s, s2c), handshake, request)
