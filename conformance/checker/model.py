"""The parts of the conformance model (spec/appendix-conformance-model.md) the checker recomputes.

Only what is cheap and needs no model output prediction: the context of a run (A.1), its
digest, and token counts (A.2), so that ``rws:context`` replies (RWS-CACHE-2) and
``cached_tokens`` (RWS-MODEL-3) can be checked from the transcript alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["CONTEXT_REPLY", "MODEL_ID", "canonical", "digest", "normalize_input", "tokens"]

MODEL_ID = "conformance-1"
# A.3 rws:context: "context items=<number of items in the context> digest=<digest>"
CONTEXT_REPLY = re.compile(r"context items=(\d+) digest=([0-9a-f]{64})")


def canonical(value: Any) -> str:
    """A.1: canonical JSON (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(context: list[Any]) -> str:
    """A.1: lower-case hex SHA-256 of the canonical JSON of a context."""
    return hashlib.sha256(canonical(context).encode("utf-8")).hexdigest()


def tokens(value: Any) -> int:
    """A.2: ceil(len(utf8(s)) / 4) of a string, of the canonical JSON of anything else."""
    text = value if isinstance(value, str) else canonical(value)
    return -(-len(text.encode("utf-8")) // 4)


def normalize_input(value: Any) -> list[Any] | None:
    """A.1 step 2: the request's ``input`` as context items (None when it is not usable)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        return None
    out: list[Any] = []
    for item in value:
        if isinstance(item, dict) and "role" in item and "type" not in item:
            item = {**item, "type": "message"}
        out.append(item)
    return out
