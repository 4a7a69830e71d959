"""The upgrade's HTTP headers across the proxy, and keeping credentials out of every record.

The proxy makes a WebSocket handshake with each side, so the headers that belong to one
handshake (the key, the version, the negotiated extensions and subprotocol, the connection
management) are each side's own; every other header of the client's upgrade request goes to
the upstream as it is - ``Authorization`` included - and every other header of the upstream's
answer comes back to the client. What the proxy writes down (transcripts, reports, the
console) never holds a credential: :func:`recorded_headers` and :func:`recorded_target` blank
them, and :class:`Principals` names a credential by a keyed digest that means nothing outside
the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote

__all__ = [
    "REDACTED",
    "Principals",
    "forwarded_request_headers",
    "forwarded_response_headers",
    "is_secret",
    "recorded_headers",
    "recorded_target",
]

REDACTED = "<redacted>"

# Request headers each side's handshake sets for itself (RFC 6455 section 4.1, RFC 9110
# section 7.6.1), plus the proxy's own credentials, which are not the upstream's business.
_OWN_REQUEST = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "origin",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "te",
        "trailer",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
    }
)
# Response headers the proxy's own answer to the client sets (websockets writes them).
_OWN_RESPONSE = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "date",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "trailer",
        "proxy-connection",
    }
)
# A header (or query parameter) whose name says it carries a credential.
_SECRET_NAME = re.compile(r"auth|cookie|token|secret|passw|api[-_]?key|^key$", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """Whether a header or query parameter of this name may carry a credential."""
    return _SECRET_NAME.search(name) is not None


def forwarded_request_headers(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's request headers that go upstream, in order, repeated ones included."""
    return [(name, value) for name, value in items if name.lower() not in _OWN_REQUEST]


def forwarded_response_headers(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream's response headers that go back to the client."""
    return [(name, value) for name, value in items if name.lower() not in _OWN_RESPONSE]


def recorded_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a transcript records them: lower-case names, credentials blanked, repeated
    headers joined with ", " (RFC 9110 section 5.3)."""
    out: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        shown = REDACTED if is_secret(key) else value
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


def recorded_target(target: str) -> str:
    """A request target as a transcript records it: the value of a query parameter whose name
    says it carries a credential is blanked."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    pairs = parse_qsl(query, keep_blank_values=True)
    shown = [(k, REDACTED if is_secret(k) else v) for k, v in pairs]
    return path + "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='<>')}" for k, v in shown)


class Principals:
    """Names a connection's credential (its ``Authorization`` values) for the checker, which
    compares credentials (RWS-LIMIT-5) but must never see one: a digest keyed with a secret of
    this session, so that the name is stable within the session and useless outside it."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def of(self, authorization: Iterable[str]) -> str | None:
        """The principal of these ``Authorization`` values (None: no credential)."""
        values = [v.strip() for v in authorization if v.strip()]
        if not values:
            return None
        digest = hmac.new(self._key, "\n".join(values).encode("utf-8"), hashlib.sha256)
        return "principal-" + digest.hexdigest()[:16]
