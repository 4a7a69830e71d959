"""Parsing and validation of client messages: text in, a checked event or a ProtocolError out.

Pure functions, no state. The order of the checks is fixed so that the same message always
gets the same answer:

1. :func:`parse_message`: JSON object or ``invalid_json`` (RWS-CREATE-9), then a supported
   ``type`` or ``unknown_event_type`` (RWS-CREATE-11).
2. :func:`check_stream_id`: the lane, or ``invalid_stream_id`` (RWS-LANE-3).
3. :func:`check_create`: nesting depth and Unicode, then the schema of ``response.create``
   (:mod:`reference_impl.schemas`), then what this server requires (no ``stream: false``, no
   ``background: true``, a ``model``), or one request-scoped error whose ``param`` names the
   offending field (RWS-CREATE-20, RWS-CREATE-5).

Unknown top-level fields are ignored (RWS-CREATE-4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from reference_impl.errors import ProtocolError, RequestError
from reference_impl.schemas import create_error

__all__ = [
    "CLIENT_EVENT_TYPES",
    "MAX_DEPTH",
    "MAX_ECHO",
    "MAX_ID_LENGTH",
    "CreateRequest",
    "DeepInputError",
    "check_create",
    "check_stream_id",
    "parse_message",
    "read_message",
    "shown",
]

#: The client events this server supports.
CLIENT_EVENT_TYPES = frozenset({"response.create", "response.steer"})

#: The deepest nesting of JSON values accepted inside one field. Real requests stay far
#: below it; the limit keeps the canonical-JSON encoding of contexts from recursing
#: without bound (RWS-LIMIT-6).
MAX_DEPTH = 100

# RWS-LANE-3: "1 to 256 ASCII letters, digits, `_`, `-` and `.`".
_STREAM_ID = re.compile(r"[A-Za-z0-9_.\-]{1,256}")

#: The longest ``previous_response_id`` the server looks up: ids are at most this long (its
#: own are 37 characters), and a longer one is refused before it is used or echoed.
MAX_ID_LENGTH = 256
#: The most characters of client input an error message or ``param`` repeats.
MAX_ECHO = 64


def shown(text: str) -> str:
    """``text`` as an error may repeat it: at most :data:`MAX_ECHO` characters."""
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "\u2026"


class DeepInputError(Exception):
    """A field nests deeper than :data:`MAX_DEPTH`; raised only when the caller asks."""

    def __init__(self, param: str) -> None:
        super().__init__(param)
        self.param = param


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A checked ``response.create``: the fields the server acts on, and the event itself."""

    model: str
    input: str | list[Any]
    previous_response_id: str | None
    store: bool
    generate: bool
    instructions: str | None
    max_output_tokens: int | None
    event: Mapping[str, Any]


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259), although Python's parser accepts them.
    raise ValueError(name)


#: Marks of a message's bytes: digits become ``0``, ``{`` and ``[`` become ``[``, every other
#: byte a space (see _loads).
_MARKS = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0x5B if byte in (0x5B, 0x7B) else 0x20 for byte in range(256)
)
#: 19 digits in a row: every integer of 64 bits or less has fewer, or is 19 digits long.
_LONG_DIGITS = b"0" * 19


def _loads(text: str) -> tuple[Any, bool]:
    """Parse JSON text as ``json.loads`` does (NaN and Infinity refused); say if it is bounded.

    orjson parses several times faster, and gives the ``json`` module's value for every text
    it accepts - except integers beyond 64 bits, which it turns into floats: a text with 19
    digits in a row goes to the ``json`` module, as does every text orjson refuses, so that
    the ``json`` module's answer (a value, or the error) is always the result.

    Bounded (the second value) means that every field of the message is known to nest at most
    :data:`MAX_DEPTH` deep and to hold valid Unicode only, so :func:`check_create` need not
    walk it: orjson refuses a lone surrogate (``"\\ud800"``), which the ``json`` module
    accepts, and a field cannot nest deeper than the message has ``{`` and ``[`` in all.
    """
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate in the text itself
        data = None
    if data is not None:
        marks = data.translate(_MARKS)
        if _LONG_DIGITS not in marks:
            try:
                return orjson.loads(data), marks.count(b"[") <= MAX_DEPTH
            except orjson.JSONDecodeError:
                pass
    return json.loads(text, parse_constant=_reject_constant), False


def parse_message(text: str) -> dict[str, Any]:
    """Parse one text message into a client event of a supported type."""
    return read_message(text)[0]


def read_message(text: str) -> tuple[dict[str, Any], bool]:
    """:func:`parse_message`, and whether the event is bounded (see _loads): then
    :func:`check_create` may be told so."""
    try:
        value, bounded = _loads(text)
    except RecursionError:
        raise ProtocolError("invalid_json", "The message nests too deeply.") from None
    except ValueError:
        raise ProtocolError("invalid_json", "The message is not valid JSON.") from None
    # RWS-CREATE-9: JSON that is not an object is answered like invalid JSON.
    if not isinstance(value, dict):
        raise ProtocolError("invalid_json", "The message is not a JSON object.")
    # RWS-CREATE-11: a missing or unsupported type.
    event_type = value.get("type")
    if not isinstance(event_type, str) or event_type not in CLIENT_EVENT_TYPES:
        raise ProtocolError(
            "unknown_event_type",
            "The event type is missing or not supported.",
            param="type",
        )
    return value, bounded


def check_stream_id(event: Mapping[str, Any], *, lenient: bool = False) -> str | None:
    """Return the lane of ``event``: its ``stream_id``, or None for the default lane.

    ``lenient`` (the ``accept-bad-stream-id`` fault) accepts any string.
    """
    stream_id = event.get("stream_id")
    # RWS-CREATE-7: "stream_id": null is the default lane, exactly like an absent field.
    if stream_id is None:
        return None
    if isinstance(stream_id, str) and (lenient or _STREAM_ID.fullmatch(stream_id)):
        return stream_id
    # RWS-LANE-3: anything else is invalid_stream_id, which carries no stream_id.
    raise RequestError(
        "invalid_stream_id",
        "Invalid stream_id: use 1 to 256 ASCII letters, digits, '_', '-' or '.'.",
        param="stream_id",
    )


def _type_error(param: str, expected: str) -> RequestError:
    # A field name is client input: repeated at most MAX_ECHO characters long.
    param = shown(param)
    return RequestError(
        "invalid_type", f"Invalid type for '{param}': expected {expected}.", param=param
    )


def _value_error(param: str, message: str) -> RequestError:
    param = shown(param)
    return RequestError("invalid_value", f"Invalid value for '{param}': {message}.", param=param)


def _optional(event: Mapping[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = event.get(name)
    if value is None:
        return None
    # bool is an int in Python; a JSON boolean is never a number here.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _type_error(name, what)
    if not isinstance(value, kind):
        raise _type_error(name, what)
    return value


def _number(event: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = _optional(event, name, (int, float), "a number")
    if value is not None and not low <= value <= high:
        raise _value_error(name, f"expected a number from {low:g} to {high:g}")


def _depth_and_text(value: Any) -> tuple[int, bool]:
    """Return the nesting depth of ``value`` and whether all its strings are valid Unicode.

    Level by level, so that it never recurses however deep the value is; every request
    passes through here, so the walk builds no tuple per node and encodes all strings at once.
    """
    depth = 0
    strings: list[str] = []
    level: list[Any] = [value]
    while level:
        depth += 1
        below: list[Any] = []
        for item in level:
            # Exact types: json.loads makes no subclasses, and type() is cheaper here.
            kind = type(item)
            if kind is dict:
                strings.extend(item)
                below.extend(item.values())
            elif kind is list:
                below.extend(item)
            elif kind is str:
                strings.append(item)
        level = below
    # Python never pairs surrogates across strings: the joined text holds a lone surrogate
    # exactly when one of the strings does.
    return depth, _is_unicode("".join(strings))


def _is_unicode(text: str) -> bool:
    # A JSON escape can encode a lone surrogate, which no UTF-8 text can hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_create(
    event: Mapping[str, Any],
    *,
    crash_on_deep_input: bool = False,
    refusal_code: str = "unsupported_parameter",
    bounded: bool = False,
) -> CreateRequest:
    """Check the fields of a ``response.create`` and return the request.

    Raises :class:`RequestError` with the first failure, in a fixed order. With
    ``crash_on_deep_input`` (a fault switch) an over-deep field raises
    :class:`DeepInputError` instead, which the server does not handle. ``refusal_code`` is the
    code that refuses ``stream: false`` and ``background: true`` (another one only for a fault
    switch). ``bounded`` (from :func:`read_message`) says that no field nests too deeply or
    holds invalid Unicode, so the fields are not walked again to find out.
    """
    # RWS-LIMIT-6: input the server cannot process is refused, never crashes the handler.
    for name, value in () if bounded else event.items():
        depth, sound = _depth_and_text(value)
        if depth > MAX_DEPTH:
            if crash_on_deep_input:
                raise DeepInputError(name)
            raise _value_error(name, f"nested deeper than {MAX_DEPTH} levels")
        if not sound:
            raise _value_error(name, "the text is not valid Unicode")

    # RWS-CREATE-5: the event validates against its schema (the lane was checked before).
    checked = event
    if "stream_id" in event:
        checked = {name: value for name, value in event.items() if name != "stream_id"}
    error = create_error(checked)
    if error is not None:
        raise error

    # RWS-CREATE-20: the reference server refuses stream false and background true (it may
    # also serve them as ordinary streamed runs, D4); checked before the model, so that such
    # a request is refused for what it asks.
    if event.get("stream") is False:
        raise RequestError(
            refusal_code,
            "stream: false is not supported over WebSocket.",
            param="stream",
        )
    if event.get("background") is True:
        raise RequestError(
            refusal_code,
            "background: true is not supported over WebSocket.",
            param="background",
        )

    # RWS-CREATE-5: the model is required by this server.
    if "model" not in event or event["model"] is None:
        raise RequestError(
            "missing_required_parameter", "Missing required parameter: 'model'.", param="model"
        )
    model = event["model"]
    if not isinstance(model, str):
        raise _type_error("model", "a string")

    raw_input = event.get("input")
    if raw_input is None:
        raw_input = []
    if isinstance(raw_input, list):
        for index, item in enumerate(raw_input):
            if not isinstance(item, dict):
                raise _type_error(f"input[{index}]", "an object")
            content = item.get("content")
            if "content" in item and not isinstance(content, (str, list)):
                raise _type_error(f"input[{index}].content", "a string or an array")
            if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
                raise _type_error(f"input[{index}].content", "an array of objects")
    elif not isinstance(raw_input, str):
        raise _type_error("input", "a string or an array")

    previous = _optional(event, "previous_response_id", str, "a string")
    if previous == "":
        raise _value_error("previous_response_id", "expected a response id")
    if previous is not None and len(previous) > MAX_ID_LENGTH:
        # Issue 18: an id no server issues is not looked up, and not echoed back.
        raise _value_error("previous_response_id", f"longer than {MAX_ID_LENGTH} characters")
    store = _optional(event, "store", bool, "a boolean")
    generate = _optional(event, "generate", bool, "a boolean")
    instructions = _optional(event, "instructions", str, "a string")
    max_output_tokens = _optional(event, "max_output_tokens", int, "an integer")
    if max_output_tokens is not None and max_output_tokens < 0:
        raise _value_error("max_output_tokens", "expected a non-negative integer")
    _number(event, "temperature", 0.0, 2.0)
    _number(event, "top_p", 0.0, 1.0)
    for name in ("parallel_tool_calls",):
        _optional(event, name, bool, "a boolean")
    for name in ("tools", "include"):
        _optional(event, name, list, "an array")
    for name in ("stream_options", "reasoning", "text"):
        _optional(event, name, dict, "an object")
    metadata = _optional(event, "metadata", dict, "an object")
    if metadata is not None and not all(isinstance(v, str) for v in metadata.values()):
        raise _type_error("metadata", "an object of strings")

    return CreateRequest(
        model=model,
        input=raw_input,
        previous_response_id=previous,
        # RWS-CACHE-3: store is true unless it is false.
        store=store is not False,
        # RWS-CREATE-6: generate is true when it is absent.
        generate=generate is not False,
        instructions=instructions,
        max_output_tokens=max_output_tokens,
        event=event,
    )
