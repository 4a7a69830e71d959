"""What the stress probes send, as bytes: requests sized and shaped for each probe.

With ``conformance-1`` every request says exactly what the run produces (the directives of
spec/appendix-conformance-model.md: ``rws:text length=N chunks=K`` streams ``N`` characters
in ``K`` deltas, ``rws:delay ms=N`` paces them); with another model the same request asks in
words and bounds the answer with ``max_output_tokens``, and the report says which was used.
Every request is ``store: false``: the probes measure the connection, not the storage.

Payloads are built once per probe as bytes (``orjson``, or appended into one ``bytearray``
for the 15 MB input) so that a probe holds one copy of what it sends.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

__all__ = [
    "MALFORMED",
    "PATTERN",
    "TERMINAL_EVENTS",
    "bomb_parts",
    "is_conformance_model",
    "large_input_request",
    "long_output_request",
    "long_run_request",
    "padded_request",
    "small_request",
]

CONFORMANCE_MODEL = "conformance-1"
#: The events that end a run (schemas/rules/ordering.json).
TERMINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})
#: conformance-1's text pattern (appendix A.3), also used as padding.
PATTERN = "The quick brown fox jumps over the lazy dog. "

#: Messages that cannot be client events (spec/client-events.md section 3.3): each must be
#: answered with an error event (RWS-CREATE-9 for the JSON ones) or, when a client keeps
#: sending them, the connection may be closed with 1008. Text only: a binary message may be
#: answered by closing with 1003 (RWS-CREATE-10), which would end a flood after one message.
MALFORMED: tuple[bytes, ...] = (
    b"{not json",
    b"[1, 2, 3]",
    b'"a JSON string, not an object"',
    b'{"type": "response.no-such-event"}',
    b'{"no_type": true}',
    b"",
)


def is_conformance_model(model: str) -> bool:
    """Whether requests can script the run with directives."""
    return model == CONFORMANCE_MODEL


def _create(model: str, input_value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "response.create",
        "model": model,
        "store": False,
        "input": input_value,
        **extra,
    }


def small_request(model: str) -> bytes:
    """The latency monitor's request: the smallest run the model makes."""
    if is_conformance_model(model):
        return orjson.dumps(_create(model, "rws:text length=1"))
    return orjson.dumps(_create(model, "Reply with the word ok.", max_output_tokens=16))


def long_output_request(model: str, chars: int, chunks: int) -> bytes:
    """A run that streams ``chars`` characters of text as fast as the server can."""
    if is_conformance_model(model):
        return orjson.dumps(_create(model, f"rws:text length={chars} chunks={chunks}"))
    return orjson.dumps(
        _create(
            model,
            "Write the longest text you can: a story of many chapters, without stopping.",
            max_output_tokens=max(16, chars // 4),
        )
    )


def long_run_request(model: str, seconds: float) -> bytes:
    """A run that lasts at least ``seconds``: conformance-1 sends one paced delta every
    100 ms; another model is asked for a long answer (it lasts what it lasts)."""
    if is_conformance_model(model):
        deltas = max(2, math.ceil(seconds / 0.1) + 1)
        return orjson.dumps(
            _create(model, f"rws:text length={deltas} chunks={deltas}\nrws:delay ms=100")
        )
    return orjson.dumps(
        _create(
            model,
            "Count from 1 to 3000 in words, one number per line.",
            max_output_tokens=8000,
        )
    )


def padded_request(model: str, size: int) -> bytes:
    """A request of about ``size`` bytes: one user message of padding whose last line asks
    for one character (conformance-1) or one word (another model)."""
    ask = "rws:text length=1" if is_conformance_model(model) else "Reply with the word ok."
    head = orjson.dumps(_create(model, [{"role": "user", "content": ""}]))
    room = max(0, size - len(head) - len(ask) - 1)
    padding = (PATTERN * (room // len(PATTERN) + 1))[:room]
    extra: dict[str, Any] = {} if is_conformance_model(model) else {"max_output_tokens": 16}
    return orjson.dumps(_create(model, [{"role": "user", "content": f"{padding}\n{ask}"}], **extra))


def large_input_request(model: str, size: int, item_chars: int = 1000) -> bytearray:
    """A request whose ``input`` is an array of about ``size`` bytes of user messages (each
    a little different, numbered), the last one asking for a short answer. Built in one
    buffer: the largest thing a probe sends exists once."""
    ask = "rws:text length=8" if is_conformance_model(model) else "Reply with the word ok."
    extra = b"" if is_conformance_model(model) else b',"max_output_tokens":16'
    body = PATTERN * (item_chars // len(PATTERN) + 1)
    buffer = bytearray(b'{"type":"response.create","model":')
    buffer += orjson.dumps(model)
    buffer += b',"store":false' + extra + b',"input":['
    closing = orjson.dumps({"type": "message", "role": "user", "content": ask}) + b"]}"
    index = 0
    while True:
        item = {"type": "message", "role": "user", "content": f"{index:07d} {body[:item_chars]}"}
        encoded = orjson.dumps(item) + b","
        if len(buffer) + len(encoded) + len(closing) > size:
            break  # never above ``size``: it is capped below the declared max-message-size
        buffer += encoded
        index += 1
    buffer += closing
    return buffer


def bomb_parts(model: str, inflated: int) -> tuple[bytes, bytes, bytes, int]:
    """``(head, unit, tail, total)`` of a valid request whose ``input`` string makes the
    message ``inflated`` bytes long: compressed by ``deflate_repeated`` it is a few kB."""
    head = orjson.dumps(_create(model, ""))[:-2]  # up to and including the opening quote
    assert head.endswith(b'"input":"')
    return head, PATTERN.encode(), b'"}', inflated
