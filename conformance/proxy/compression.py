"""Compression across the proxy: negotiated with each side, to the same parameters (sans-I/O).

The proxy makes its own opening handshake with each side, compression included: the client's
``permessage-deflate`` offers (RFC 7692) become the proxy's offer to the upstream, and the
parameters the upstream accepts are the ones the proxy accepts from the client. Both sides
then compress with the same parameters, so that every frame can cross the proxy byte for byte
(a client's compressed frame is what the upstream can read, and the other way round), and the
proxy reads its copies with decoders of its own (:func:`decoders`). An extension other than
``permessage-deflate`` is not offered upstream: the proxy could not read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from websockets.exceptions import InvalidHandshake, NegotiationError
from websockets.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ServerExtensionFactory,
)
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.headers import build_extension, parse_extension
from websockets.typing import ExtensionName, ExtensionParameter

__all__ = ["NAME", "AcceptUpstream", "MirrorUpstream", "decoders", "offer", "parameters"]

NAME = ExtensionName("permessage-deflate")
_DEFAULT_BITS = 15


def offer(values: Iterable[str]) -> str | None:
    """The client's ``permessage-deflate`` offers from its ``Sec-WebSocket-Extensions``
    header values, as one header value for the upstream (None: none offered, or unreadable)."""
    offers: list[tuple[ExtensionName, Sequence[ExtensionParameter]]] = []
    try:
        for value in values:
            offers.extend((name, params) for name, params in parse_extension(value) if name == NAME)
    except InvalidHandshake:  # a malformed header is no offer
        return None
    return build_extension(offers) if offers else None


def parameters(values: Iterable[str]) -> list[ExtensionParameter] | None:
    """The ``permessage-deflate`` parameters an upstream's answer accepted (None: none)."""
    for value in values:
        for name, params in parse_extension(value):
            if name == NAME:
                return list(params)
    return None


def _settings(params: Sequence[ExtensionParameter]) -> tuple[bool, bool, int, int]:
    """(server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
    client_max_window_bits) of accepted parameters (RFC 7692 section 7.1)."""
    flags = dict(params)
    server_bits = flags.get("server_max_window_bits")
    client_bits = flags.get("client_max_window_bits")
    return (
        "server_no_context_takeover" in flags,
        "client_no_context_takeover" in flags,
        int(server_bits) if server_bits else _DEFAULT_BITS,
        int(client_bits) if client_bits else _DEFAULT_BITS,
    )


def _extension(params: Sequence[ExtensionParameter], *, reads: str) -> PerMessageDeflate:
    """The extension of one side of the accepted parameters: ``reads`` is ``server`` for the
    side that reads what the server compressed (the client's), ``client`` for the other."""
    server_nct, client_nct, server_bits, client_bits = _settings(params)
    if reads == "server":
        remote = (server_nct, server_bits)
        local = (client_nct, client_bits)
    else:
        remote = (client_nct, client_bits)
        local = (server_nct, server_bits)
    # zlib cannot compress with an 8-bit window; the proxy only decompresses with these.
    return PerMessageDeflate(remote[0], local[0], remote[1], max(9, local[1]))


def decoders(
    params: Sequence[ExtensionParameter] | None,
) -> tuple[list[Extension], list[Extension]]:
    """The extensions to read each direction's frames with: (client to server, server to
    client). Empty when nothing was negotiated."""
    if params is None:
        return [], []
    return [_extension(params, reads="client")], [_extension(params, reads="server")]


class AcceptUpstream(ClientExtensionFactory):
    """The proxy's client side: the offer is the client's (the proxy adds it to the request
    itself), and whatever ``permessage-deflate`` parameters the upstream accepts are taken as
    they come; judging them is the client's business, which gets the same answer."""

    name = NAME

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        return []

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        if any(e.name == NAME for e in accepted_extensions):
            raise NegotiationError("permessage-deflate accepted twice")
        try:
            return _extension(params, reads="server")
        except (AssertionError, ValueError) as exc:
            raise NegotiationError(f"unusable permessage-deflate parameters: {exc}") from None


class MirrorUpstream(ServerExtensionFactory):
    """The proxy's server side: it accepts from the client exactly what the upstream accepted
    from the proxy (or nothing, when the upstream accepted nothing)."""

    name = NAME

    def __init__(self) -> None:
        self.accepted: list[ExtensionParameter] | None = None

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        if self.accepted is None or any(e.name == NAME for e in accepted_extensions):
            raise NegotiationError("the upstream accepted no permessage-deflate")
        return list(self.accepted), _extension(self.accepted, reads="client")
