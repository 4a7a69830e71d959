"""A WebSocket client whose reading the test controls: websockets' sans-I/O protocol, no task.

A library client reads its socket in a task of its own, so a test cannot make it stop
reading at the socket. :class:`RawClient` holds the client side of the protocol only: the
test writes the bytes it produces to a socket and feeds back the bytes it chose to read, so
that a client that stops reading really leaves them in the kernel, as a stalled client does.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

__all__ = ["RawClient"]


class RawClient:
    """The client side of one connection, without I/O (see the module docstring)."""

    def __init__(self, url: str, api_key: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {api_key}"
        self.protocol.send_request(request)
        self.upgraded = False
        self.messages: list[dict[str, Any]] = []  # every text message received, parsed

    def outgoing(self) -> bytes:
        """The bytes to write to the socket now."""
        return b"".join(self.protocol.data_to_send())

    def send(self, event: dict[str, Any]) -> bytes:
        """Frame one client event; returns the bytes to write."""
        self.protocol.send_text(json.dumps(event).encode())
        return self.outgoing()

    def receive(self, data: bytes) -> None:
        """Feed bytes read from the socket (b"" at its end)."""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                assert event.status_code == 101, event.status_code
                self.upgraded = True
            elif not isinstance(event, Frame):
                raise AssertionError(f"a client receives no {event!r}")
            elif event.opcode is Opcode.TEXT:
                assert event.fin, "the server sends each event in one frame"
                self.messages.append(json.loads(bytes(event.data)))
