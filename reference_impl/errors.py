"""The one place where failures become ``error`` events.

Every failure the server reports is a :class:`ProtocolError` naming a code of the error
registry (``schemas/rules/errors.json``). :func:`error_event` turns it into the wrapped
WebSocket ``error`` event with the registry's status, type and param, so no other module
ever writes an error event by hand.

Hierarchy::

    ProtocolError          a code of the registry, a safe message and an optional param
    └── RequestError       the outcome of one response.create (scope "request")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from reference_impl._paths import schemas_dir
from reference_impl.faults import NO_FAULTS, Faults

__all__ = [
    "CodeInfo",
    "ProtocolError",
    "RequestError",
    "close_codes",
    "code_info",
    "error_event",
]

Scope = Literal["request", "frame", "connection"]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What the error registry says about one code."""

    code: str
    status: int
    type: str
    param: str | None  # None, a fixed name, or "<the parameter>" (given by the failure)
    scope: Scope
    stream_id: Literal["lane", "rejected", "never"]
    closes: bool
    close_code: int | None


@cache
def _registry() -> dict[str, Any]:
    with (schemas_dir() / "rules" / "errors.json").open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def code_info(code: str) -> CodeInfo:
    """Return the registry entry of ``code``; ``KeyError`` for a code it does not define."""
    row = _registry()["codes"][code]
    return CodeInfo(
        code=code,
        status=row["status"],
        type=row["type"],
        param=row["param"],
        scope=row["scope"],
        stream_id=row["stream_id"],
        closes=row["closes"],
        close_code=row.get("close_code"),
    )


def close_codes() -> frozenset[int]:
    """Return the close codes the registry allows (RWS-ERR-6)."""
    return frozenset(int(code) for code in _registry()["close_codes"])


class ProtocolError(Exception):
    """A failure the server reports with an ``error`` event.

    ``message`` goes on the wire as is, so it never holds exception text, stack traces or
    credentials (RWS-ERR-5).
    """

    def __init__(self, code: str, message: str, *, param: str | None = None) -> None:
        info = code_info(code)  # fail early on a code the registry does not know
        super().__init__(code, message, param)
        self.code = code
        self.message = message
        # A fixed param comes from the registry; "<the parameter>" must be given.
        self.param = param if info.param == "<the parameter>" else info.param

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RequestError(ProtocolError):
    """The outcome of one ``response.create`` that does not start a run."""


def error_event(
    error: ProtocolError,
    *,
    stream_id: str | None = None,
    sequence_number: int | None = None,
    faults: Faults = NO_FAULTS,
) -> dict[str, Any]:
    """Return the ``error`` event for ``error``.

    ``stream_id`` is added only when the caller passes one; the caller decides by the code's
    ``stream_id`` column. ``sequence_number`` only for an error that a run emits (RWS-SEQ-4).
    """
    info = code_info(error.code)
    if faults.active("flat-error"):
        # Fault: the flat shape of HTTP streaming, which RWS-ERR-1 forbids on WebSocket.
        flat: dict[str, Any] = {
            "type": "error",
            "code": error.code,
            "message": error.message,
            "param": error.param,
        }
        if stream_id is not None:
            flat["stream_id"] = stream_id
        return flat
    # RWS-ERR-1, RWS-ERR-2: the wrapped shape, with status, type and param from the registry.
    event: dict[str, Any] = {"type": "error"}
    if not faults.active("error-no-status"):
        event["status"] = info.status
    event["error"] = {
        "type": info.type,
        "code": error.code,
        "message": error.message,
        "param": error.param,
    }
    if faults.active("error-no-type"):
        # Fault: as vLLM sends them; permitted by RWS-ERR-2, against RWS-ERR-10.
        del event["error"]["type"]
    if faults.active("error-leaks-trace"):
        # Fault: RWS-ERR-5 forbids internal exception text in error.message.
        event["error"]["message"] += ' Traceback (most recent call last): File "session.py"'
    if sequence_number is None and faults.active("request-error-numbered"):
        sequence_number = 0  # Fault: RWS-SEQ-4, an error outside any run carries no number.
    if sequence_number is not None:
        event["sequence_number"] = sequence_number
    if stream_id is not None:
        event["stream_id"] = stream_id
    return event
