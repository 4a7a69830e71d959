"""The context of a run and the token measure of the ``conformance-1`` model (appendix A.1, A.2).

Pure functions over JSON values: normalising a request's ``input``, assembling a run's context
from the previous response's context and output plus the new input, the canonical JSON and
digest of a context, the ``tokens`` measure, and the lookups the directives need (the latest
user message and the number ``P`` of tool outputs after it).

A context is a :class:`Context`: an immutable sequence of items that a continuation *shares*
with the context it continues (no copy), and that carries the byte length of its canonical
JSON and a SHA-256 state of it, extended item by item. A continuation therefore costs what
its new items cost, not what the whole history costs, and neither ``tokens`` nor the digest
of a long context re-serialises it. The items themselves are never changed after they enter
a context: every producer hands over fresh dicts (``normalize_input`` copies the request's
items, the model copies its output items), and nothing downstream writes into them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

from . import jsontext

__all__ = [
    "TOOL_OUTPUT_TYPES",
    "Context",
    "build_context",
    "canonical_json",
    "context_digest",
    "context_tokens",
    "latest_user_index",
    "latest_user_text",
    "normalize_input",
    "seed_digest",
    "tokens",
    "tool_outputs_after_latest_user",
]


def canonical_json(value: object) -> str:
    """Return the canonical JSON text of ``value`` (A.1: sorted keys, no spaces, no escaping)."""
    return jsontext.canonical(value, _as_json)


def _as_json(value: object) -> object:
    # A Context is a JSON array of its items.
    if isinstance(value, Context):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _utf8(text: str) -> bytes:
    # JSON text may carry lone surrogates ("\ud800"), which strict UTF-8 cannot encode; passing
    # them through keeps the model total (it never raises on what a client sent) and deterministic.
    return text.encode("utf-8", errors="surrogatepass")


def context_digest(context: Sequence[Mapping[str, Any]]) -> str:
    """Return the lower-case hex SHA-256 of the context's canonical JSON (A.1)."""
    if isinstance(context, Context):
        return context.digest()
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


def _item_json(item: Mapping[str, Any]) -> bytes:
    try:
        return jsontext.canonical_utf8(item, _as_json)
    except TypeError:
        return _utf8(canonical_json(_plain(item)))


class Context(Sequence[dict[str, Any]]):
    """The items of a run's context (A.1), shared and never changed once built.

    Besides the items, a context keeps ``ends[i]``, the byte count of the canonical JSON of
    its first ``i + 1`` items without the brackets and separators, and a SHA-256 state of
    ``"[" + ",".join(canonical JSON of each item)`` (the canonical JSON of the whole context
    without its closing bracket). The canonical JSON of a JSON array is exactly that join
    between ``[`` and ``]``, so :meth:`canonical_bytes` and :meth:`digest` give what
    ``canonical_json`` and ``context_digest`` of a plain list give, without serialising again.
    """

    __slots__ = ("_derived", "_ends", "_items", "_seed", "_sha", "_user")

    def __init__(self, items: Iterable[Mapping[str, Any]] = ()) -> None:
        self._items: tuple[dict[str, Any], ...] = ()
        self._ends: tuple[int, ...] = ()
        self._sha = hashlib.sha256(b"[")
        # The state of seed_digest() over the first n items, filled in on first use (a memo:
        # it depends on the items only, so computing it changes nothing a reader can see).
        self._seed: tuple[Any, int] | None = None
        # Memos of the same kind, handed on to the contexts that extend this one: the index
        # of the latest user message among the first n items (n, index), and a value derived
        # from one item ((the item itself, what the value is), the value).
        self._user: tuple[int, int | None] = (0, None)
        self._derived: tuple[tuple[Mapping[str, Any], str], Any] | None = None
        self._append(items)

    def _append(self, items: Iterable[Mapping[str, Any]]) -> None:
        # Only ever called on a context nobody else has seen yet (construction, extended()).
        new = tuple(item if type(item) is dict else dict(item) for item in items)
        total = self._ends[-1] if self._ends else 0
        ends = list(self._ends)
        for item in new:
            text = _item_json(item)
            if ends:
                self._sha.update(b",")
            self._sha.update(text)
            total += len(text)
            ends.append(total)
        self._items += new
        self._ends = tuple(ends)

    def extended(self, items: Iterable[Mapping[str, Any]]) -> Context:
        """Return a new context of these items followed by ``items``; this one is unchanged."""
        new = Context.__new__(Context)
        new._items = self._items
        new._ends = self._ends
        new._sha = self._sha.copy()
        new._seed = None if self._seed is None else (self._seed[0].copy(), self._seed[1])
        new._user = self._user
        new._derived = self._derived
        new._append(items)
        return new

    def latest_user(self) -> int | None:
        """Return :func:`latest_user_index` of this context, looking at new items only."""
        known, index = self._user
        for offset in range(len(self._items) - 1, known - 1, -1):
            if _is_user_message(self._items[offset]):
                index = offset
                break
        self._user = (len(self._items), index)
        return index

    def derived(self, item: Mapping[str, Any], kind: str) -> Any:
        """Return the value of ``kind`` that :meth:`keep_derived` kept for ``item`` (the same
        object), or None."""
        if self._derived is None:
            return None
        (kept, kept_kind), value = self._derived
        return value if kept is item and kept_kind == kind else None

    def keep_derived(self, item: Mapping[str, Any], kind: str, value: Any) -> None:
        """Keep a value computed from one of the items (items never change, see the module
        docstring) for this context and the contexts that extend it later; one at a time."""
        self._derived = ((item, kind), value)

    def seed_digest(self) -> str:
        """Return :func:`seed_digest` of this context, extending the parent's state if known."""
        sha, done = (hashlib.sha256(b"seed"), 0) if self._seed is None else self._seed
        for item in self._items[done:]:
            sha.update(b",")
            sha.update(_utf8(canonical_json(_plain(_without_ids(item)))))
        self._seed = (sha, len(self._items))
        return sha.copy().hexdigest()

    def canonical_bytes(self, count: int | None = None) -> int:
        """Return the UTF-8 byte length of the canonical JSON of the first ``count`` items."""
        count = len(self._items) if count is None else max(0, min(count, len(self._items)))
        if count == 0:
            return 2  # "[]"
        # The items, count - 1 commas and the two brackets.
        return self._ends[count - 1] + (count - 1) + 2

    def digest(self) -> str:
        """Return :func:`context_digest` of this context (A.1)."""
        sha = self._sha.copy()
        sha.update(b"]")
        return sha.hexdigest()

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[dict[str, Any]]:
        items: tuple[dict[str, Any], ...] = self._items
        return iter(reversed(items))

    def __eq__(self, other: object) -> bool:
        # Equal to any sequence of the same items, a plain list included.
        if isinstance(other, Context):
            return self._items == other._items
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self._items) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Context({list(self._items)!r})"


# The fields of an item that name it rather than say something: the server makes them up (an
# output item's id, a call's call_id) and a client echoes them back (function_call_output).
_ID_FIELDS = frozenset({"id", "call_id"})


def _without_ids(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _ID_FIELDS}


def seed_digest(context: Sequence[Mapping[str, Any]]) -> str:
    """Return a SHA-256 (hex) of the context without the ids the server made up.

    It is the context's canonical JSON item by item, each item without its ``id`` and
    ``call_id``: two contexts that differ only in the ids a server drew (``msg_…``,
    ``call_…``) have the same seed digest, so a chain replayed on another server (or after a
    restart) seeds ``freeform-1`` the same way. A :class:`Context` extends the state of the
    context it continues when that was computed, so a long chain costs its new items only.
    """
    if isinstance(context, Context):
        return context.seed_digest()
    return Context(context).seed_digest()


def context_tokens(context: Sequence[Mapping[str, Any]], count: int | None = None) -> int:
    """Return ``tokens`` of the first ``count`` items of ``context`` (all when None), as a list.

    RWS-MODEL-2, RWS-MODEL-3: the input and cached tokens of a run. A :class:`Context` answers
    from its byte counts; any other sequence is serialised.
    """
    if isinstance(context, Context):
        return -(-context.canonical_bytes(count) // 4)
    items = list(context) if count is None else list(context[:count])
    return tokens(items)


def _normalize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    # A.1 step 2: "an item that has a role but no type gets type message; nothing else is changed".
    # A shallow copy: the parsed message is the session's own and nothing changes it, so its
    # nested parts are shared rather than copied (a deep copy of a 15 MB input held the event
    # loop for seconds, issue 18).
    plain = dict(item)
    if "role" in plain and "type" not in plain:
        return {"type": "message", **plain}
    return plain


def normalize_input(input: str | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Normalise a request's ``input`` into context items (A.1 step 2).

    A string becomes one user message with that string as its ``content``; an array is taken
    item by item, adding ``"type": "message"`` to items that have a ``role`` but no ``type``;
    ``None`` (no input) gives no items. The items are new dicts that share their nested
    values with ``input``: neither may be changed afterwards (the session changes neither).
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
) -> Context:
    """Assemble the context of a run (A.1).

    ``previous_context`` and ``previous_output`` are the context and the output items (as sent in
    their ``response.output_item.done`` events) of the response named by
    ``previous_response_id``, both empty without one; ``new_input`` is the request's input,
    normalised here again (normalising is idempotent) so that a raw item list is safe too.

    The result shares the items of ``previous_context`` and ``previous_output`` (they are
    never changed, see the module docstring) and copies those of ``new_input``. When
    ``previous_context`` is a :class:`Context` (a cache hit), only the output and the new
    items are serialised.
    """
    base = previous_context if isinstance(previous_context, Context) else Context(previous_context)
    return base.extended([*previous_output, *(_normalize_item(item) for item in new_input)])


def _is_user_message(item: Mapping[str, Any]) -> bool:
    return item.get("type") == "message" and item.get("role") == "user"


def latest_user_index(context: Sequence[Mapping[str, Any]]) -> int | None:
    """Return the index of the last user ``message`` item, or None when there is none."""
    if isinstance(context, Context):
        # A continuation's context looks at its new items only (the rest is remembered).
        return context.latest_user()
    for offset, item in enumerate(reversed(context)):
        if _is_user_message(item):
            return len(context) - 1 - offset
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


# A.3: the items that answer the model's calls, counted by ``P``: a function call is answered
# with a function_call_output, a custom tool call with a custom_tool_call_output.
TOOL_OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output"})


def tool_outputs_after_latest_user(context: Sequence[Mapping[str, Any]]) -> int:
    """Return ``P``: the number of tool outputs (``function_call_output`` and
    ``custom_tool_call_output`` items) after the latest user message.

    Without any user message every tool output of the context counts.
    """
    index = latest_user_index(context)
    start = 0 if index is None else index + 1
    return sum(1 for item in context[start:] if item.get("type") in TOOL_OUTPUT_TYPES)
