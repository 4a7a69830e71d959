"""The appendix A rules the peer tests predict values with, written out from the spec text.

Deliberately independent of ``reference_impl.model`` (and of ``conformance``): the peer tests
check the server's numbers against a second, literal reading of spec/appendix-conformance-model.md
(A.1 context and digest, A.2 tokens, A.3 text pattern and chunking), so one mistake cannot hide
in both the server and its test.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "PATTERN",
    "canonical",
    "context_line",
    "digest",
    "normalise",
    "pattern",
    "piece_sizes",
    "text_tokens",
    "tokens",
]

PATTERN = "The quick brown fox jumps over the lazy dog. "


def canonical(value: object) -> str:
    """A.1: the canonical JSON of a value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(context: Sequence[object]) -> str:
    """A.1: lower-case hex SHA-256 of the context's canonical JSON, UTF-8 encoded."""
    return hashlib.sha256(canonical(list(context)).encode("utf-8")).hexdigest()


def text_tokens(text: str) -> int:
    """A.2: ``ceil(len(utf8(s)) / 4)``."""
    return math.ceil(len(text.encode("utf-8")) / 4)


def tokens(value: object) -> int:
    """A.2: tokens of a JSON value are the tokens of its canonical JSON."""
    return text_tokens(canonical(value))


def normalise(new_input: str | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A.1 step 2: a string becomes one user message; an item with ``role`` and no ``type``
    gets ``"type": "message"``; nothing else changes."""
    if isinstance(new_input, str):
        return [{"type": "message", "role": "user", "content": new_input}]
    items: list[dict[str, Any]] = []
    for item in new_input:
        copied = dict(item)
        if "role" in copied and "type" not in copied:
            copied["type"] = "message"
        items.append(copied)
    return items


def context_line(context: Sequence[object]) -> str:
    """A.3 ``rws:context``: the text the model answers with for ``context``."""
    return f"context items={len(context)} digest={digest(context)}"


def pattern(n: int) -> str:
    """A.3: the first ``n`` characters of the endless repetition of ``PATTERN``."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def piece_sizes(length: int, chunks: int) -> list[int]:
    """A.3 chunking: ``K`` (capped at ``L``) pieces, the first ``L mod K`` one longer."""
    if length == 0:
        return []
    k = min(chunks, length)
    base, extra = divmod(length, k)
    return [base + 1 if i < extra else base for i in range(k)]
