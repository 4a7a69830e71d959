"""What the suite predicts about ``conformance-1`` (spec/appendix-conformance-model.md).

The suite computes the expected text, context digest and token counts from the appendix
itself, independently of any server, so a scenario can compare a server's answer with what
the appendix says it must be (RWS-MODEL-2).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "PATTERN",
    "annotation",
    "annotation_spans",
    "announced_after",
    "canonical",
    "chunk_sizes",
    "context_text",
    "digest",
    "normalise_input",
    "pattern",
    "tokens",
    "tokens_of",
]

PATTERN = "The quick brown fox jumps over the lazy dog. "


def pattern(length: int) -> str:
    """The first ``length`` characters of the endless repetition of :data:`PATTERN`."""
    repeats = length // len(PATTERN) + 1
    return (PATTERN * repeats)[:length]


def chunk_sizes(length: int, chunks: int) -> list[int]:
    """How the appendix splits a text of ``length`` characters into ``chunks`` deltas."""
    if length == 0:
        return []
    k = max(1, min(chunks, length))
    base, extra = divmod(length, k)
    return [base + 1 if i < extra else base for i in range(k)]


def annotation_spans(length: int, count: int) -> list[tuple[int, int]]:
    """The (start_index, end_index) of the ``count`` annotations of a text of ``length``
    characters (A.4): annotation ``j`` spans ``floor(j * N / M)`` to ``floor((j + 1) * N / M)``."""
    return [(j * length // count, (j + 1) * length // count) for j in range(count)]


def annotation(index: int, span: tuple[int, int]) -> dict[str, Any]:
    """The ``url_citation`` annotation ``index`` of ``rws:text ... annotations=M`` (A.4)."""
    return {
        "type": "url_citation",
        "start_index": span[0],
        "end_index": span[1],
        "title": f"source {index}",
        "url": f"https://example.com/conformance-1/{index}",
    }


def announced_after(sizes: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[int]:
    """How many of a text's deltas (of ``sizes``) precede each annotation's announcement.

    A.4: an annotation is announced as soon as the text streamed so far holds its
    ``end_index`` characters (before the first delta when that is 0).
    """
    counts: list[int] = []
    for _, end in spans:
        streamed = sent = 0
        while streamed < end and sent < len(sizes):
            streamed += sizes[sent]
            sent += 1
        counts.append(sent)
    return counts


def canonical(value: Any) -> str:
    """The canonical JSON of the appendix (A.1)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(context: Sequence[Any]) -> str:
    """The lower-case hex SHA-256 of the canonical JSON of a context."""
    return hashlib.sha256(canonical(list(context)).encode("utf-8")).hexdigest()


def tokens(text: str) -> int:
    """``tokens(s)``: ``ceil(len(utf8(s)) / 4)``."""
    return math.ceil(len(text.encode("utf-8")) / 4)


def tokens_of(value: Any) -> int:
    """``tokens`` of a JSON value: of its canonical JSON."""
    return tokens(canonical(value))


def normalise_input(value: Any) -> list[Any]:
    """A request's ``input`` as context items (A.1, step 2)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    items: list[Any] = []
    for item in value:
        if isinstance(item, Mapping) and "role" in item and "type" not in item:
            items.append({"type": "message", **item})
        else:
            items.append(item)
    return items


def context_text(context: Sequence[Any]) -> str:
    """The text ``rws:context`` answers for ``context``."""
    return f"context items={len(context)} digest={digest(context)}"
