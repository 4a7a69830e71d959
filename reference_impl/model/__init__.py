"""The deterministic conformance model ``conformance-1`` (spec appendix A), pure and sans-I/O.

The reference server calls it for every run of the model: it builds the run's context with
``normalize_input`` and ``build_context`` (A.1; a :class:`Context` shares the items of the
context it continues), then ``prepare_run`` checks the output limit (A.5) and gives the run's
``response.created``, and its ``generate()`` (or ``generate_run`` in one call) returns every
event of the run (without ``sequence_number`` and ``stream_id``), the delay to apply between
events and the terminal response. Nothing here does I/O, reads a clock or draws random
numbers: ids come from the caller's ``ids`` function and timestamps from the caller's response
skeleton.
"""

from __future__ import annotations

from .context import (
    Context,
    build_context,
    canonical_json,
    context_digest,
    context_tokens,
    latest_user_text,
    normalize_input,
    tokens,
    tool_outputs_after_latest_user,
)
from .directives import (
    CallDirective,
    ContextDirective,
    DelayDirective,
    Directive,
    FailDirective,
    IncompleteDirective,
    LoopDirective,
    ReasoningDirective,
    RefusalDirective,
    TextDirective,
    parse_directives,
)
from .run import (
    MAX_RUN_CHARACTERS,
    MAX_RUN_DELTAS,
    MODEL_ID,
    GeneratedRun,
    ModelLimitError,
    PreparedRun,
    generate_run,
    prepare_run,
    usage,
)
from .text import PATTERN, pattern, split_chunks, truncate_utf8

__all__ = [
    "MAX_RUN_CHARACTERS",
    "MAX_RUN_DELTAS",
    "MODEL_ID",
    "PATTERN",
    "CallDirective",
    "Context",
    "ContextDirective",
    "DelayDirective",
    "Directive",
    "FailDirective",
    "GeneratedRun",
    "IncompleteDirective",
    "LoopDirective",
    "ModelLimitError",
    "PreparedRun",
    "ReasoningDirective",
    "RefusalDirective",
    "TextDirective",
    "build_context",
    "canonical_json",
    "context_digest",
    "context_tokens",
    "generate_run",
    "latest_user_text",
    "normalize_input",
    "parse_directives",
    "pattern",
    "prepare_run",
    "split_chunks",
    "tokens",
    "tool_outputs_after_latest_user",
    "truncate_utf8",
    "usage",
]
