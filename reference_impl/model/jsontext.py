"""JSON text written fast and exactly as the ``json`` module writes it.

:func:`compact` is ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, the
encoding of every server event; :func:`canonical` adds ``sort_keys=True``, the canonical JSON
of A.1 that token counts and digests are computed from. Both must stay byte for byte what the
``json`` module writes (what goes on the wire, and what the model counts, must not depend on
how it is encoded), and both are on every request's path: the ``response.created`` that echoes
the fixture's 8 tools took 95 us with the ``json`` module and 3 us with orjson.

orjson writes the same text for every value the server encodes - JSON the session parsed (NaN
and Infinity refused) and the server's own finite numbers - except two kinds, where the
``json`` module encodes instead: integers beyond 64 bits, which orjson refuses (any error of
orjson falls back, so that the ``json`` module's answer, or its exception, is the result), and
floats of decimal exponent -5 to -10, which it writes as ``0.00001`` or ``1e-9`` where Python
writes ``1e-05`` and ``1e-09`` (found by the tests that compare the two on every code point
and on floats of every exponent). Nothing else orjson writes holds ``0.0000`` or a one-digit
negative exponent; a text that holds either (in a string, say) only costs the slower path.
Keys sorted by orjson are in code point order, as Python sorts them: UTF-8 keeps that order.
A long text whose value is one object of strings, integers, booleans and nulls (a tool's output,
a large delta event) holds no float: it is not scanned for those look-alikes at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["canonical", "canonical_utf8", "compact"]

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

#: How many dashes the look-alike scan looks at one by one (each found by a fast single-byte
#: search) before it searches ``e-`` in the rest instead: bounded work for any text.
_DASH_WALK = 4
#: The byte ``e``: a dash that does not follow it starts no exponent.
_E = ord("e")
#: Texts at least this long are looked at as a value before they are scanned (_same_as_json):
#: below it the scan costs less than the look.
_LOOK_FROM = 512
#: The types of the values in an object that holds no float (exact types: a subclass may
#: encode otherwise).
_NOT_FLOATS = frozenset({str, int, bool, type(None)})


def _short_exponent(data: bytes) -> bool:
    """Whether ``data`` holds a number with a one-digit negative exponent, like ``1e-9``.

    Python writes ``1e-09``. Dashes are rare in an event's text, and a single-byte search is
    much faster than a search for ``e-``: the dashes are walked first, and a text with many of
    them gets the two-byte search for the rest.
    """
    at = data.find(b"-")
    walked = 0
    while at != -1:
        if walked == _DASH_WALK:
            at = data.find(b"e-", max(at - 1, 0))
            while at != -1:
                if _exponent_at(data, at):
                    return True
                at = data.find(b"e-", at + 2)
            return False
        # A one-byte look first: most dashes follow no ``e`` (code, rules, command lines).
        if at > 1 and data[at - 1] == _E and _exponent_at(data, at - 1):
            return True
        walked += 1
        at = data.find(b"-", at + 1)
    return False


def _exponent_at(data: bytes, at: int) -> bool:
    # ``data[at:at + 2]`` is ``e-``: a digit before, exactly one digit after.
    return (
        at > 0
        and data[at : at + 2] == b"e-"
        and data[at - 1 : at].isdigit()
        and data[at + 2 : at + 3].isdigit()
        and not data[at + 3 : at + 4].isdigit()
    )


def _differs(data: bytes) -> bool:
    """Whether orjson's text may differ from the ``json`` module's (see the module docstring)."""
    return b"0.0000" in data or _short_exponent(data)


def _same_as_json(value: Any, data: bytes) -> bool:
    """Whether ``data``, orjson's text of ``value``, is the ``json`` module's text.

    Only floats are written otherwise (integers orjson refuses never get here): an object
    whose values are strings, integers, booleans and nulls holds none, which costs a look at
    a few values instead of a scan of a long text.
    """
    if (
        len(data) >= _LOOK_FROM
        and type(value) is dict
        and all(type(item) in _NOT_FLOATS for item in value.values())
    ):
        return True
    return not _differs(data)


def compact(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, fast."""
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError:  # integers beyond 64 bits, nesting beyond 255 levels
        return _COMPACT.encode(value)
    if not _same_as_json(value, data):
        return _COMPACT.encode(value)
    return data.decode()


def canonical(value: Any, default: Callable[[Any], Any]) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    default=default)``, fast: the canonical JSON of A.1."""
    data = _orjson_canonical(value, default)
    if data is None:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default
        )
    return data.decode()


def canonical_utf8(value: Any, default: Callable[[Any], Any]) -> bytes:
    """:func:`canonical` as UTF-8 bytes (lone surrogates passed through, ``surrogatepass``)."""
    data = _orjson_canonical(value, default)
    if data is None:
        return canonical(value, default).encode("utf-8", errors="surrogatepass")
    return data


def _orjson_canonical(value: Any, default: Callable[[Any], Any]) -> bytes | None:
    # orjson's canonical text when it is the json module's, else None (see the docstring).
    try:
        data = orjson.dumps(
            value,
            default=default,
            option=orjson.OPT_SORT_KEYS
            # These go to ``default``, as the json module hands them over, rather than being
            # written by orjson's own rules.
            | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_DATETIME,
        )
    except orjson.JSONEncodeError:
        return None
    return data if _same_as_json(value, data) else None
