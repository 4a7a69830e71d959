"""The upgrade checks both I/O drivers run before a WebSocket opens.

:mod:`reference_impl.server` (trio) and :mod:`reference_impl.server_asyncio` hand every
upgrade request to :func:`check_upgrade` from their ``process_request`` hook, and add the
limits header with :func:`add_limits_header` from their ``process_response`` hook. Both
libraries' connection classes offer the same ``respond``, so one function serves both, and
the drivers keep only what differs: their connection class, which records the accepted key.
"""

from __future__ import annotations

import http
from collections.abc import Collection
from typing import Protocol

from websockets.http11 import Request, Response

from reference_impl.faults import Faults
from reference_impl.limits import Limits

__all__ = ["LIMITS_HEADER", "PATH", "add_limits_header", "bearer_key", "check_upgrade"]

#: RWS-TRANS-1: the WebSocket endpoint.
PATH = "/v1/responses"
#: The upgrade response header that advertises the limits (RWS-TRANS-11).
LIMITS_HEADER = "responses-ws-limits"


class _Responder(Protocol):
    def respond(self, status: http.HTTPStatus, text: str) -> Response: ...


def bearer_key(request: Request) -> str | None:
    """Return the key of an ``Authorization: Bearer <key>`` header, or None."""
    value = request.headers.get("Authorization", "")
    scheme, _, key = value.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def check_upgrade(
    api_keys: Collection[str], faults: Faults, connection: _Responder, request: Request
) -> Response | str:
    """Return the refusal of an upgrade request, or the API key it is accepted with.

    The key is empty when the ``no-auth`` fault accepts a request without one.
    """
    if request.path.partition("?")[0] != PATH:
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
    # RWS-TRANS-4: a plain GET on the WebSocket path gets 426 Upgrade Required.
    if "websocket" not in request.headers.get("Upgrade", "").lower():
        if faults.active("plain-get-200"):
            return connection.respond(http.HTTPStatus.OK, "Responses over WebSocket\n")
        response = connection.respond(http.HTTPStatus.UPGRADE_REQUIRED, "Upgrade Required\n")
        response.headers["Upgrade"] = "websocket"
        return response
    key = bearer_key(request)
    # RWS-TRANS-2: no accepted credentials, no WebSocket: 401 before the upgrade.
    if (key is None or key not in api_keys) and not faults.active("no-auth"):
        if faults.active("auth-403"):
            # Fault: what ASGI stacks answer when the application refuses before accepting;
            # permitted by RWS-TRANS-2, against RWS-TRANS-20's recommendation of 401.
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Forbidden\n")
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="responses-ws"'
        return response
    refusal = _fault_refusal(faults, request)
    if refusal is not None:
        return connection.respond(http.HTTPStatus.BAD_REQUEST, f"{refusal}\n")
    # RWS-TRANS-3: nothing else is required; other headers are ignored.
    return key or ""


def _fault_refusal(faults: Faults, request: Request) -> str | None:
    """Why a fault switch refuses an upgrade that a correct server accepts (None: it does not).

    RWS-TRANS-3, RWS-TRANS-8, RWS-TRANS-13 and RWS-TRANS-15 ask a server to accept each.
    """
    if not faults:
        return None
    headers = request.headers
    if faults.active("require-beta-header") and "OpenAI-Beta" not in headers:
        return "OpenAI-Beta header required"
    unknown = [name for name in headers if name.lower().startswith("x-")]
    if faults.active("reject-unknown-header") and unknown:
        return f"unknown header {unknown[0]}"
    if faults.active("reject-unknown-query") and "?" in request.path:
        return "unknown query parameter"
    offers = headers.get("Sec-WebSocket-Extensions", "")
    if faults.active("refuse-deflate") and "permessage-deflate" in offers:
        return "permessage-deflate is not supported"
    return None


def add_limits_header(
    limits: Limits, connection: object, request: Request, response: Response
) -> None:
    """RWS-TRANS-11: advertise the limits on a successful upgrade.

    Shaped as a ``process_response`` hook of either websockets layer once ``limits`` is bound
    (``functools.partial(add_limits_header, limits)``).
    """
    if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
        response.headers[LIMITS_HEADER] = limits.header()
