"""The models of the reference server, pure and sans-I/O.

``conformance-1`` is the deterministic conformance model of spec appendix A; ``freeform-1``
(:mod:`.freeform`) is a model that behaves like a real one (it reads no directives, answers
with seeded text of its own and only obeys the standard parameters), so that the suite's
paths for any model can be run against the reference server. :data:`MODELS` maps each model
id to its ``prepare_run``; both models share the context, token and event machinery below.

The reference server calls a model for every run: it builds the run's context with
``normalize_input`` and ``build_context`` (A.1; a :class:`Context` shares the items of the
context it continues), then the model's ``prepare_run`` checks the output limit (A.5) and gives
the run's ``response.created``, and its ``generate()`` (or ``generate_run`` in one call)
returns every event of the run (without ``sequence_number`` and ``stream_id``), the delay to
apply between events and the terminal response. Nothing here does I/O, reads a clock or draws
random numbers (``freeform-1``'s are pseudo-random, drawn from a seed of the request's
content): ids come from the caller's ``ids`` function and timestamps from the caller's
response skeleton.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from . import freeform
from .context import (
    Context,
    build_context,
    canonical_json,
    context_digest,
    context_tokens,
    latest_user_text,
    normalize_input,
    seed_digest,
    tokens,
    tool_outputs_after_latest_user,
)
from .directives import (
    CallDirective,
    CodeDirective,
    ContextDirective,
    CustomDirective,
    DelayDirective,
    Directive,
    FailDirective,
    IncompleteDirective,
    LoopDirective,
    McpDirective,
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


class PrepareRun(Protocol):
    """The signature every model's ``prepare_run`` has (see ``run.prepare_run``)."""

    def __call__(
        self,
        *,
        response: Mapping[str, Any],
        context: Sequence[Mapping[str, Any]],
        request: Mapping[str, Any],
        restored_items: int,
        ids: Callable[[str], str],
    ) -> PreparedRun: ...


# The models the reference server serves, by the request's ``model``; any other id is
# answered with model_not_found.
MODELS: Mapping[str, PrepareRun] = {
    MODEL_ID: prepare_run,
    freeform.MODEL_ID: freeform.prepare_run,
}

__all__ = [
    "MAX_RUN_CHARACTERS",
    "MAX_RUN_DELTAS",
    "MODELS",
    "MODEL_ID",
    "PATTERN",
    "CallDirective",
    "CodeDirective",
    "Context",
    "ContextDirective",
    "CustomDirective",
    "DelayDirective",
    "Directive",
    "FailDirective",
    "GeneratedRun",
    "IncompleteDirective",
    "LoopDirective",
    "McpDirective",
    "ModelLimitError",
    "PrepareRun",
    "PreparedRun",
    "ReasoningDirective",
    "RefusalDirective",
    "TextDirective",
    "build_context",
    "canonical_json",
    "context_digest",
    "context_tokens",
    "freeform",
    "generate_run",
    "latest_user_text",
    "normalize_input",
    "parse_directives",
    "pattern",
    "prepare_run",
    "seed_digest",
    "split_chunks",
    "tokens",
    "tool_outputs_after_latest_user",
    "truncate_utf8",
    "usage",
]
