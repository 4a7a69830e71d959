"""The context of a run and the token measure of the ``conformance-1`` model (appendix A.1, A.2).

Pure functions over JSON values: normalising a request's ``input``, assembling a run's context
from the previous response's context and output plus the new input, the canonical JSON and
digest of a context, the ``tokens`` measure, and the lookups the directives need (the latest
user message and the number ``P`` of tool outputs after it).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "build_context",
    "canonical_json",
    "context_digest",
    "latest_user_index",
    "latest_user_text",
    "normalize_input",
    "tokens",
    "tool_outputs_after_latest_user",
]


def canonical_json(value: object) -> str:
    """Return the canonical JSON text of ``value`` (A.1: sorted keys, no spaces, no escaping)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _utf8(text: str) -> bytes:
    # JSON text may carry lone surrogates ("\ud800"), which strict UTF-8 cannot encode; passing
    # them through keeps the model total (it never raises on what a client sent) and deterministic.
    return text.encode("utf-8", errors="surrogatepass")


def context_digest(context: Sequence[Mapping[str, Any]]) -> str:
    """Return the lower-case hex SHA-256 of the context's canonical JSON (A.1)."""
    return hashlib.sha256(_utf8(canonical_json(list(context)))).hexdigest()


def tokens(value: str | object) -> int:
    """Return ``ceil(len(utf8(s)) / 4)`` of a string, or of the canonical JSON of any other value.

    RWS-MODEL-2: the token measure every ``usage`` field of the model is computed with (A.2).
    """
    text = value if isinstance(value, str) else canonical_json(_plain(value))
    return -(-len(_utf8(text)) // 4)


def _plain(value: object) -> object:
    # Mappings and sequences other than dict/list/tuple (e.g. a MappingProxyType) are not
    # JSON-serialisable as such; turn them into plain JSON values first.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _normalize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    # A.1 step 2: "an item that has a role but no type gets type message; nothing else is changed".
    plain = copy.deepcopy(dict(item))
    if "role" in plain and "type" not in plain:
        return {"type": "message", **plain}
    return plain


def normalize_input(input: str | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Normalise a request's ``input`` into context items (A.1 step 2).

    A string becomes one user message with that string as its ``content``; an array is taken
    item by item, adding ``"type": "message"`` to items that have a ``role`` but no ``type``;
    ``None`` (no input) gives no items. The result is a deep copy: callers may keep it.
    """
    if input is None:
        return []
    if isinstance(input, str):
        return [{"type": "message", "role": "user", "content": input}]
    return [_normalize_item(item) for item in input]


def build_context(
    previous_context: Sequence[Mapping[str, Any]],
    previous_output: Sequence[Mapping[str, Any]],
    new_input: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Assemble the context of a run (A.1).

    ``previous_context`` and ``previous_output`` are the context and the output items (as sent in
    their ``response.output_item.done`` events) of the response named by
    ``previous_response_id``, both empty without one; ``new_input`` is the request's input,
    normalised here again (normalising is idempotent) so that a raw item list is safe too.
    The result is a fresh list of deep copies.
    """
    carried = [copy.deepcopy(dict(item)) for item in (*previous_context, *previous_output)]
    return carried + [_normalize_item(item) for item in new_input]


def latest_user_index(context: Sequence[Mapping[str, Any]]) -> int | None:
    """Return the index of the last user ``message`` item, or None when there is none."""
    for index in range(len(context) - 1, -1, -1):
        item = context[index]
        if item.get("type") == "message" and item.get("role") == "user":
            return index
    return None


def _message_text(item: Mapping[str, Any]) -> str:
    # A.3: "its content when that is a string, or the concatenation of the text of its
    # input_text parts in order".
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, Sequence):
        return ""
    return "".join(
        part["text"]
        for part in content
        if isinstance(part, Mapping)
        and part.get("type") == "input_text"
        and isinstance(part.get("text"), str)
    )


def latest_user_text(context: Sequence[Mapping[str, Any]]) -> str:
    """Return the text of the latest user message of the context (A.3), "" when there is none."""
    index = latest_user_index(context)
    return "" if index is None else _message_text(context[index])


def tool_outputs_after_latest_user(context: Sequence[Mapping[str, Any]]) -> int:
    """Return ``P``: the number of ``function_call_output`` items after the latest user message.

    Without any user message every ``function_call_output`` of the context counts.
    """
    index = latest_user_index(context)
    start = 0 if index is None else index + 1
    return sum(1 for item in context[start:] if item.get("type") == "function_call_output")
