"""How deep a client message nests, and a shallow reading of one that nests too deep.

RWS-CREATE-21 lets a server answer a message nested more than ``deep.max_depth`` levels
(``schemas/rules/requests.json``) either as invalid JSON or as a request, depending on its
parser. The checker must then know the message's top-level members (its ``type``, lane and
fields) without a recursive parse, which a deep enough message defeats: :func:`nesting_depth`
measures the depth with one pass over the text, and :func:`shallow_loads` parses the message
with every value deeper than the limit replaced by :data:`TOO_DEEP`.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["TOO_DEEP", "nesting_depth", "shallow_loads"]

#: What :func:`shallow_loads` puts where a value nested too deep stood: a string, so that a
#: schema that wanted an array or object there finds the request invalid, as the server would.
TOO_DEEP = "<nested too deep>"

_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")


def nesting_depth(text: str, stop_at: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings excluded).

    Counts only: the text need not be valid JSON. Stops early once ``stop_at`` is exceeded.
    """
    # Cheap exit for the usual message: fewer brackets than the limit cannot nest past it.
    if stop_at is not None and text.count("[") + text.count("{") <= stop_at:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_at is not None and deepest > stop_at:
                    return deepest
        elif char in _CLOSE:
            depth -= 1
    return deepest


def shallow_loads(text: str, max_depth: int) -> Any:
    """Parse ``text`` with each value nested deeper than ``max_depth`` replaced by TOO_DEEP.

    Raises ValueError when the text is not JSON (judged on the shallow part and the bracket
    balance of the deep part; the deep part's own tokens are not parsed).
    """
    out: list[str] = []
    depth = 0
    skip_from = -1  # the depth at which the value being skipped opened (-1: not skipping)
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            if skip_from < 0:
                out.append(char)
            continue
        if char == '"':
            in_string = True
        elif char in _OPEN:
            depth += 1
            if depth > max_depth and skip_from < 0:
                skip_from = depth
                out.append(json.dumps(TOO_DEEP))
                continue
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced brackets")
            if skip_from >= 0:
                if depth == skip_from - 1:
                    skip_from = -1
                continue
        if skip_from < 0:
            out.append(char)
    if depth != 0 or in_string:
        raise ValueError("unbalanced brackets or an unterminated string")
    return json.loads("".join(out))
