"""One run of the ``conformance-1`` model: from context and request to the full event stream.

``generate_run`` is pure: the same arguments (and the same ``ids`` answers) give the same run.
It works in three steps, each a small function:

1. *plan*: the directives of the latest user message become planned items (A.3), the
   ``rws:incomplete`` cut and the ``max_output_tokens`` budget are applied to the plan;
2. *emit*: each planned item becomes its full event grammar (A.4), between ``response.created``
   and ``response.in_progress`` and the terminal event;
3. *end*: ``rws:fail`` cuts the event list, the terminal event is built with the output items
   and the ``usage`` of what was actually sent (A.2).

Steps 2 and 3 are :func:`emit_run`, shared with ``freeform-1`` (``freeform.py``), which
plans its items differently but streams and accounts for them by the same rules.

Events carry neither ``sequence_number`` nor ``stream_id``: the server adds both.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from .context import (
    Context,
    context_digest,
    context_tokens,
    latest_user_index,
    latest_user_text,
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
    iter_directives,
)
from .text import pattern, split_chunks, truncate_utf8

__all__ = [
    "MAX_RUN_CHARACTERS",
    "MAX_RUN_DELTAS",
    "MODEL_ID",
    "GeneratedRun",
    "ModelLimitError",
    "PlannedItem",
    "PlannedPart",
    "PreparedRun",
    "apply_budget",
    "budget_of",
    "created_event",
    "emit_run",
    "generate_run",
    "prepare_run",
    "usage",
]

MODEL_ID = "conformance-1"
# Guards against directives that would exhaust memory (not in the appendix; see ModelLimitError).
MAX_RUN_CHARACTERS = 1_000_000
MAX_RUN_DELTAS = 100_000

Event = dict[str, Any]
PartKind = Literal[
    "output_text", "refusal", "summary_text", "reasoning_text", "arguments", "input", "code"
]
ItemKind = Literal[
    "message", "reasoning", "function_call", "custom_tool_call", "mcp_call", "code_interpreter_call"
]
# (start_index, end_index) of one url_citation annotation of an output_text part (A.4).
Span = tuple[int, int]

TERMINAL_TYPES: Mapping[str, str] = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}
# The delta event types whose concatenated deltas are generated text (A.2 output_tokens), keyed
# to whether they count as reasoning tokens.
DELTA_TYPES: Mapping[str, bool] = {
    "response.output_text.delta": False,
    "response.refusal.delta": False,
    "response.function_call_arguments.delta": False,
    # A.2: custom tool call input, MCP call arguments and code interpreter code are generated
    # text too.
    "response.custom_tool_call_input.delta": False,
    "response.mcp_call_arguments.delta": False,
    "response.code_interpreter_call_code.delta": False,
    "response.reasoning_summary_text.delta": True,
    "response.reasoning_text.delta": True,
}


@dataclass(frozen=True)
class GeneratedRun:
    """Everything the server needs to stream one run of the model.

    ``events`` are all events of the run in order, from ``response.created`` to the terminal
    event, without ``sequence_number`` and ``stream_id``; ``delay_s`` is the wait before every
    event after ``response.created`` (``rws:delay``); ``status`` is the terminal status;
    ``response`` is the terminal event's ``response``; ``output`` the output items as in their
    ``response.output_item.done`` events (what the next turn's context carries over).
    """

    events: tuple[dict[str, Any], ...]
    delay_s: float
    status: str
    response: dict[str, Any]
    output: tuple[dict[str, Any], ...]


# --- 1. plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedPart:
    """One generated text of an item: a content part, a summary part, call arguments, a custom
    tool call's input or a code interpreter's code.

    Its deltas are ``chunks`` even pieces (A.3 chunking) or, when ``cuts`` is given, the
    pieces between those character offsets (a model that chunks unevenly, such as
    ``freeform-1``); offsets outside the text (after a ``max_output_tokens`` cut) are ignored.
    ``annotations`` are the spans of an ``output_text`` part's ``url_citation`` annotations.
    """

    kind: PartKind
    text: str
    chunks: int = 1
    cut: bool = False  # stopped by max_output_tokens
    cuts: tuple[int, ...] | None = None
    annotations: tuple[Span, ...] = ()

    def deltas(self) -> tuple[str, ...]:
        """Return the deltas of the text: consecutive non-empty pieces that concatenate to it."""
        if self.cuts is None:
            return split_chunks(self.text, self.chunks)
        if not self.text:
            return ()
        inner = sorted({c for c in self.cuts if 0 < c < len(self.text)})
        bounds = [0, *inner, len(self.text)]
        return tuple(self.text[a:b] for a, b in itertools.pairwise(bounds))


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One output item a model plans: a message, a reasoning item or a tool call (function,
    custom tool, MCP or code interpreter); ``server`` is an MCP call's ``server_label``."""

    kind: ItemKind
    parts: tuple[PlannedPart, ...]
    name: str = ""
    incomplete: bool = False
    server: str = ""


def _message(text: str, chunks: int = 1, kind: PartKind = "output_text") -> PlannedItem:
    return PlannedItem("message", (PlannedPart(kind, text, chunks),))


def _call(name: str, arguments: str, chunks: int = 1) -> PlannedItem:
    return PlannedItem("function_call", (PlannedPart("arguments", arguments, chunks),), name=name)


def annotation_spans(length: int, count: int) -> tuple[Span, ...]:
    """The spans of ``rws:text annotations=M`` (A.4): annotation ``j`` of ``M`` covers the
    characters ``floor(j * N / M)`` to ``floor((j + 1) * N / M)`` of a text of ``N``."""
    return tuple((j * length // count, (j + 1) * length // count) for j in range(count))


def _context_text(items: int, digest: str) -> str:
    # A.3 rws:context: the text of the message it produces.
    return f"context items={items} digest={digest}"


def _plan_directive(
    directive: Directive, context: Sequence[Mapping[str, Any]], p: int, digest: Callable[[], str]
) -> PlannedItem | None:
    """Return the item a directive produces, or None when it produces none (A.3 table)."""
    match directive:
        case TextDirective(length=length, chunks=chunks, annotations=annotations):
            spans = annotation_spans(length, annotations)
            part = PlannedPart("output_text", pattern(length), chunks, annotations=spans)
            return PlannedItem("message", (part,))
        case RefusalDirective(length=length, chunks=chunks):
            return _message(pattern(length), chunks, "refusal")
        case ReasoningDirective(summary=summary, text=text, chunks=chunks):
            parts = [PlannedPart("summary_text", pattern(summary), chunks)]
            if text > 0:
                parts.append(PlannedPart("reasoning_text", pattern(text), chunks))
            return PlannedItem("reasoning", tuple(parts))
        case CallDirective(name=name, chunks=chunks, arguments=arguments):
            # A.3: "call directives apply only while P = 0; when P > 0 they are skipped".
            return _call(name, arguments, chunks) if p == 0 else None
        case CustomDirective(name=name, chunks=chunks, input=text):
            part = PlannedPart("input", text, chunks)
            return PlannedItem("custom_tool_call", (part,), name=name) if p == 0 else None
        case McpDirective(server=server, name=name, chunks=chunks, arguments=arguments):
            part = PlannedPart("arguments", arguments, chunks)
            return PlannedItem("mcp_call", (part,), name=name, server=server) if p == 0 else None
        case CodeDirective(chunks=chunks, code=code):
            part = PlannedPart("code", code, chunks)
            return PlannedItem("code_interpreter_call", (part,)) if p == 0 else None
        case LoopDirective(calls=calls, name=name, arguments=arguments):
            if p < calls:
                return _call(name, arguments)
            return _message(f"loop done after {calls} calls")
        case ContextDirective():
            return _message(_context_text(len(context), digest()))
    return None


def apply_budget(items: Sequence[PlannedItem], max_output_tokens: int) -> list[PlannedItem]:
    """Stop the output where it would exceed ``max_output_tokens`` (A.3).

    The texts are spent in order against the budget; the first text whose tokens exceed what is
    left is cut at ``4 * left`` bytes (character boundary), its item ends ``incomplete`` and
    nothing after it is produced (neither later parts of that item nor later items). A cut
    text keeps the annotations that lie wholly within it (A.5).
    """
    left = max_output_tokens
    kept: list[PlannedItem] = []
    for item in items:
        parts: list[PlannedPart] = []
        for part in item.parts:
            cost = tokens(part.text)
            if cost <= left:
                left -= cost
                parts.append(part)
                continue
            text = truncate_utf8(part.text, 4 * left)
            spans = tuple(span for span in part.annotations if span[1] <= len(text))
            parts.append(replace(part, text=text, cut=True, annotations=spans))
            kept.append(replace(item, parts=tuple(parts), incomplete=True))
            return kept
        kept.append(item)
    return kept


class ModelLimitError(ValueError):
    """The directives ask for more than the model generates in one run.

    A.5: a run may generate at most 1,000,000 characters of text in total and at most
    100,000 deltas, so that ``rws:text length=999999999`` or a message of a million
    directive lines cannot exhaust the server's memory or time. The check runs before
    anything is generated; the server answers the request with ``invalid_value`` (param
    ``input``) and the connection lives on (RWS-LIMIT-6).
    """

    def __init__(self, characters: int, deltas: int) -> None:
        super().__init__(characters, deltas)
        self.characters = characters
        self.deltas = deltas

    def __str__(self) -> str:
        return (
            f"directives ask for at least {self.characters} characters in {self.deltas} deltas; "
            f"the limit is {MAX_RUN_CHARACTERS} characters and {MAX_RUN_DELTAS} deltas"
        )


def _within_limits(directives: Iterable[Directive], context_items: int) -> list[Directive]:
    """Return the directives, or raise ModelLimitError as soon as they exceed a run (A.5).

    Every item directive counts, ``rws:context`` included (its text has a known length), so
    the cost of planning and emitting a run is bounded by the limits, whatever the input; and
    the count stops at the first line past a limit, so a message of millions of directive
    lines is not even parsed to its end.
    """
    characters = deltas = 0
    context_length = len(_context_text(context_items, "0" * 64))  # a digest has 64 hex digits
    kept: list[Directive] = []
    for directive in directives:
        kept.append(directive)
        lengths: tuple[int, ...] = ()
        chunks = 1
        match directive:
            case TextDirective(length=length, chunks=chunks, annotations=annotations):
                lengths = (length,)
                # A.5: every annotation is one more event, counted as a delta.
                deltas += annotations
            case RefusalDirective(length=length, chunks=chunks):
                lengths = (length,)
            case ReasoningDirective(summary=summary, text=text, chunks=chunks):
                lengths = (summary, text) if text > 0 else (summary,)
            case (
                CallDirective(chunks=chunks, arguments=body)
                | McpDirective(chunks=chunks, arguments=body)
                | CustomDirective(chunks=chunks, input=body)
                | CodeDirective(chunks=chunks, code=body)
            ):
                lengths = (len(body),)
            case LoopDirective(arguments=arguments):
                lengths = (len(arguments),)
            case ContextDirective():
                lengths = (context_length,)
            case _:
                continue
        characters += sum(lengths)
        # An empty text sends no delta but its part's events all the same: it counts as one,
        # so that lines of bare "rws:text" cannot ask for millions of items.
        deltas += sum(min(max(chunks, 1), max(length, 1)) for length in lengths)
        if characters > MAX_RUN_CHARACTERS or deltas > MAX_RUN_DELTAS:
            raise ModelLimitError(characters, deltas)
    return kept


def _plan(
    directives: Sequence[Directive],
    context: Sequence[Mapping[str, Any]],
    max_output_tokens: int | None,
) -> list[PlannedItem]:
    p = tool_outputs_after_latest_user(context)
    digests: list[str] = []

    def digest() -> str:
        # Computed once per run, however many rws:context lines ask for it.
        if not digests:
            digests.append(context_digest(context))
        return digests[0]

    items = [
        item for d in directives if (item := _plan_directive(d, context, p, digest)) is not None
    ]
    if not items:
        # A.3: "When no item directive applies, the model answers with one message whose text
        # is ok when P = 0 and received <P> tool outputs when P > 0."
        items = [_message("ok" if p == 0 else f"received {p} tool outputs")]
    if any(isinstance(d, IncompleteDirective) for d in directives):
        # A.3 rws:incomplete: the run ends after its first output item, which ends incomplete.
        items = [replace(items[0], incomplete=True)]
    if max_output_tokens is not None:
        items = apply_budget(items, max_output_tokens)
    return items


# --- 2. emit -----------------------------------------------------------------------------------


def _event(event_type: str, **fields: Any) -> Event:
    return {"type": event_type, **fields}


def _empty_part(kind: PartKind) -> dict[str, Any]:
    # RWS-DELTA-2: the part of content_part.added / reasoning_summary_part.added is empty (an
    # output_text part has no annotations yet).
    return _final_part(kind, "")


def annotation(index: int, span: Span) -> dict[str, Any]:
    """The ``url_citation`` annotation ``index`` of an ``output_text`` part (A.4)."""
    start, end = span
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "title": f"source {index}",
        "url": f"https://example.com/conformance-1/{index}",
    }


def _final_part(kind: PartKind, text: str, spans: Sequence[Span] = ()) -> dict[str, Any]:
    if kind == "output_text":
        annotations = [annotation(index, span) for index, span in enumerate(spans)]
        return {"type": "output_text", "annotations": annotations, "logprobs": [], "text": text}
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": kind, "text": text}


def _output_text_events(part: PlannedPart, where: Mapping[str, Any]) -> Iterator[Event]:
    """The deltas of an output_text part, each annotation announced once its text is sent.

    A.4: annotation ``j`` is sent as soon as the text streamed so far holds its ``end_index``
    characters: before the first delta when that is 0, otherwise right after the delta that
    reaches it, so every annotation comes before ``response.output_text.done``.
    """
    spans = part.annotations
    announced = streamed = 0
    for delta in (None, *part.deltas()):
        if delta is not None:
            streamed += len(delta)
            yield _event("response.output_text.delta", **where, delta=delta, logprobs=[])
        while announced < len(spans) and spans[announced][1] <= streamed:
            # RWS-DELTA-7: the annotation sent at annotation_index is the one the final part
            # lists at that index.
            yield _event(
                "response.output_text.annotation.added",
                **where,
                annotation_index=announced,
                annotation=annotation(announced, spans[announced]),
            )
            announced += 1


def _content_part_events(
    part: PlannedPart, item_id: str, output_index: int, content_index: int
) -> Iterator[Event]:
    """The events of one content part (output_text, refusal or reasoning_text)."""
    where = {"item_id": item_id, "output_index": output_index, "content_index": content_index}
    yield _event("response.content_part.added", **where, part=_empty_part(part.kind))
    deltas = part.deltas()
    # RWS-DELTA-1, RWS-DELTA-3, RWS-DELTA-6: the deltas are consecutive pieces of the done text.
    if part.kind == "output_text":
        yield from _output_text_events(part, where)
        yield _event("response.output_text.done", **where, text=part.text, logprobs=[])
    elif part.kind == "refusal":
        for delta in deltas:
            yield _event("response.refusal.delta", **where, delta=delta)
        yield _event("response.refusal.done", **where, refusal=part.text)
    else:
        for delta in deltas:
            yield _event("response.reasoning_text.delta", **where, delta=delta)
        yield _event("response.reasoning_text.done", **where, text=part.text)
    final = _final_part(part.kind, part.text, part.annotations)
    yield _event("response.content_part.done", **where, part=final)


def _summary_part_events(
    part: PlannedPart, item_id: str, output_index: int, summary_index: int
) -> Iterator[Event]:
    where = {"item_id": item_id, "output_index": output_index, "summary_index": summary_index}
    yield _event("response.reasoning_summary_part.added", **where, part=_empty_part(part.kind))
    for delta in part.deltas():
        yield _event("response.reasoning_summary_text.delta", **where, delta=delta)
    yield _event("response.reasoning_summary_text.done", **where, text=part.text)
    done = _event(
        "response.reasoning_summary_part.done", **where, part=_final_part(part.kind, part.text)
    )
    if part.cut:
        # The SDK's model: status is "omitted when the part completed normally and set to
        # incomplete when generation was interrupted".
        done["status"] = "incomplete"
    yield done


def _item_events(
    item: PlannedItem, output_index: int, ids: Callable[[str], str]
) -> Iterator[Event]:
    """The full grammar of one output item (A.4), from output_item.added to output_item.done."""
    status = "incomplete" if item.incomplete else "completed"
    if item.kind == "message":
        item_id = ids("msg")
        shell = {"id": item_id, "type": "message", "role": "assistant"}
        yield _event(
            "response.output_item.added",
            output_index=output_index,
            item={**shell, "status": "in_progress", "content": []},
        )
        (part,) = item.parts
        yield from _content_part_events(part, item_id, output_index, 0)
        content = [_final_part(part.kind, part.text, part.annotations)]
        final = {**shell, "status": status, "content": content}
    elif item.kind == "reasoning":
        item_id = ids("rs")
        shell = {"id": item_id, "type": "reasoning"}
        yield _event(
            "response.output_item.added",
            output_index=output_index,
            item={**shell, "status": "in_progress", "summary": [], "content": []},
        )
        summaries = [p for p in item.parts if p.kind == "summary_text"]
        texts = [p for p in item.parts if p.kind == "reasoning_text"]
        for index, part in enumerate(summaries):
            yield from _summary_part_events(part, item_id, output_index, index)
        for index, part in enumerate(texts):
            yield from _content_part_events(part, item_id, output_index, index)
        final = {
            **shell,
            "status": status,
            "summary": [_final_part(p.kind, p.text) for p in summaries],
            "content": [_final_part(p.kind, p.text) for p in texts],
        }
    elif item.kind == "function_call":
        item_id = ids("fc")
        shell = {"id": item_id, "type": "function_call", "call_id": ids("call"), "name": item.name}
        yield _event(
            "response.output_item.added",
            output_index=output_index,
            item={**shell, "status": "in_progress", "arguments": ""},
        )
        (part,) = item.parts
        where = {"item_id": item_id, "output_index": output_index}
        # RWS-DELTA-4: the argument deltas concatenate to the done arguments.
        for delta in part.deltas():
            yield _event("response.function_call_arguments.delta", **where, delta=delta)
        # OpenAI's done event also names the function, though the SDK model omits it.
        yield _event(
            "response.function_call_arguments.done", **where, name=item.name, arguments=part.text
        )
        final = {**shell, "status": status, "arguments": part.text}
    else:
        final = yield from _tool_call_events(item, output_index, ids, status)
    # RWS-DELTA-8: same id and type as the added item, status no longer in_progress.
    yield _event("response.output_item.done", output_index=output_index, item=final)


# The events of a tool call's generated text (A.4): (id prefix, the item's field holding the
# text, delta event, done event). RWS-DELTA-5: the deltas concatenate to the done text.
_TOOL_TEXT: Mapping[str, tuple[str, str, str, str]] = {
    "custom_tool_call": (
        "ctc",
        "input",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
    ),
    "mcp_call": (
        "mcp",
        "arguments",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
    ),
    "code_interpreter_call": (
        "ci",
        "code",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
    ),
}


def _tool_call_events(
    item: PlannedItem, output_index: int, ids: Callable[[str], str], status: str
) -> Generator[Event, None, dict[str, Any]]:
    """The events of a custom tool, MCP or code interpreter call up to its output_item.done
    (A.4, in the order of the grammar's item machines); returns the finished item."""
    prefix, field, delta_type, done_type = _TOOL_TEXT[item.kind]
    item_id = ids(prefix)
    shell: dict[str, Any] = {"id": item_id, "type": item.kind}
    # The fields no text is streamed into: what the SDK's item models carry.
    rest: dict[str, Any] = {}
    if item.kind == "custom_tool_call":
        shell.update(call_id=ids("call"), name=item.name)
    elif item.kind == "mcp_call":
        shell.update(server_label=item.server, name=item.name)
        rest = {"output": None, "error": None}  # conformance-1 calls no MCP server
    else:
        shell["container_id"] = ids("cntr")
        rest = {"outputs": None}  # nor runs any code
    yield _event(
        "response.output_item.added",
        output_index=output_index,
        item={**shell, "status": "in_progress", field: "", **rest},
    )
    (part,) = item.parts
    where = {"item_id": item_id, "output_index": output_index}
    hosted = item.kind != "custom_tool_call"
    if hosted:
        yield _event(f"response.{item.kind}.in_progress", **where)
    for delta in part.deltas():
        yield _event(delta_type, **where, delta=delta)
    yield _event(done_type, **where, **{field: part.text})
    if item.kind == "mcp_call":
        # A.5: an MCP call whose arguments were cut by max_output_tokens is not made.
        yield _event(
            "response.mcp_call.failed" if part.cut else "response.mcp_call.completed", **where
        )
    elif hosted:
        yield _event("response.code_interpreter_call.interpreting", **where)
        yield _event("response.code_interpreter_call.completed", **where)
    return {**shell, "status": status, field: part.text, **rest}


# --- 3. end ------------------------------------------------------------------------------------


def usage(
    *,
    context: Sequence[Mapping[str, Any]],
    instructions: object,
    restored_items: int,
    events: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Return the ``usage`` of a run whose sent events are ``events`` (A.2).

    RWS-MODEL-2 / RWS-MODEL-3: input tokens are those of the context plus the instructions;
    cached tokens those of the ``restored_items`` leading context items restored from the
    connection cache (0 when none); output tokens those of every generated text, i.e. of the
    concatenated deltas of each text that was sent.
    """
    input_tokens = context_tokens(context) + (0 if instructions is None else tokens(instructions))
    cached = context_tokens(context, restored_items) if restored_items > 0 else 0
    texts: dict[tuple[str, int, int], list[str]] = {}
    for event in events:
        if event["type"] in DELTA_TYPES:
            index = event.get("content_index", event.get("summary_index", 0))
            texts.setdefault((event["type"], event["output_index"], index), []).append(
                event["delta"]
            )
    output_tokens = reasoning_tokens = 0
    for (event_type, _, _), pieces in texts.items():
        count = tokens("".join(pieces))
        output_tokens += count
        if DELTA_TYPES[event_type]:
            reasoning_tokens += count
    return {
        "input_tokens": input_tokens,
        # A.2: conformance-1 writes no prompt cache; the field is there because the official
        # SDK's usage model requires it.
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def _fail_follows_incomplete_item(events: Sequence[Event], kept: int) -> bool:
    """Whether cutting the run after ``kept`` events keeps an item that ended ``incomplete``.

    A.5 and RWS-ORDER-11: an item that ends ``incomplete`` is the last item of a run that
    ends ``response.incomplete``, so ``rws:fail`` is ignored when its cut comes after that
    item's ``response.output_item.done``.
    """
    return any(
        e["type"] == "response.output_item.done" and e["item"].get("status") == "incomplete"
        for e in events[:kept]
    )


def _lifecycle(skeleton: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    # The skeleton's values (the request's tools, instructions, metadata...) are shared by
    # every lifecycle event, never changed; a deep copy of them per event cost more than the
    # rest of the run. What the run itself fills in (output, usage...) is copied per event.
    return {**skeleton, **copy.deepcopy(fields)}


_RunLevel = TypeVar("_RunLevel", FailDirective, DelayDirective)


def _last(directives: Sequence[Directive], cls: type[_RunLevel]) -> _RunLevel | None:
    # Repeated run-level directives (rws:fail, rws:delay): the last line wins.
    found = [d for d in directives if isinstance(d, cls)]
    return found[-1] if found else None


@dataclass(frozen=True)
class PreparedRun:
    """A run the model accepted, whose ``response.created`` is known before the rest is built.

    ``created`` is the run's first event; :meth:`generate` builds the whole run (its first
    event is ``created``). Preparing is cheap - it parses the directives and checks the
    output limit - so a server can send ``response.created`` before generating the rest.
    """

    created: dict[str, Any]
    _generate: Callable[[], GeneratedRun]

    def generate(self) -> GeneratedRun:
        """Return the whole run (pure: the same each time, given the same ``ids`` answers)."""
        return self._generate()


def generate_run(
    *,
    response: Mapping[str, Any],
    context: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any],
    restored_items: int,
    ids: Callable[[str], str],
) -> GeneratedRun:
    """Generate one run of ``conformance-1`` (RWS-MODEL-1, RWS-MODEL-2).

    ``response`` is the server's skeleton Response (``id``, ``created_at``, echoed settings,
    ...); every lifecycle event carries a copy of it with ``status``, ``output``, ``usage``,
    ``error``, ``incomplete_details`` and ``completed_at`` filled in. ``context`` is the run's
    full context (A.1), ``restored_items`` how many of its leading items came from the
    connection cache, ``request`` the parsed ``response.create``, and ``ids(prefix)`` returns a
    fresh unique id with that prefix. Raises :class:`ModelLimitError` (A.5).
    """
    return prepare_run(
        response=response,
        context=context,
        request=request,
        restored_items=restored_items,
        ids=ids,
    ).generate()


def prepare_run(
    *,
    response: Mapping[str, Any],
    context: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any],
    restored_items: int,
    ids: Callable[[str], str],
) -> PreparedRun:
    """Accept a run and return its ``response.created``; the arguments are generate_run's.

    Raises :class:`ModelLimitError` when the directives ask for more than one run generates
    (A.5): the check comes first, before anything is generated.
    """
    # RWS-MODEL-1, RWS-MODEL-2: every value below follows from the appendix and the arguments.
    # A.3: "A run with generate: false produces no output and ignores directives".
    # A.5, RWS-LIMIT-6: the output limit, before response.created and before generating.
    directives = [] if request.get("generate") is False else _user_directives(context)
    created = created_event(response)
    return PreparedRun(
        created,
        lambda: _generate(
            created=created,
            response=response,
            context=context,
            request=request,
            restored_items=restored_items,
            ids=ids,
            directives=directives,
        ),
    )


def _user_directives(context: Sequence[Mapping[str, Any]]) -> list[Directive]:
    """The directives of the latest user message (A.3), within the limits of a run (A.5).

    A continuation's latest user message is usually the one its parent had: a context
    remembers its directives, so a tool loop parses them once, not once per turn. They are
    checked against the limits again each time (``rws:context`` counts the context's items).
    """
    index = latest_user_index(context)
    if not isinstance(context, Context) or index is None:
        return _within_limits(iter_directives(latest_user_text(context)), len(context))
    item = context[index]
    known: tuple[Directive, ...] | None = context.derived(item, "directives")
    if known is not None:
        return _within_limits(known, len(context))
    # Parsed lazily, so that the limits stop a message of millions of lines early.
    directives = _within_limits(iter_directives(latest_user_text(context)), len(context))
    context.keep_derived(item, "directives", tuple(directives))
    return directives


def budget_of(request: Mapping[str, Any]) -> int | None:
    """Return the request's ``max_output_tokens`` when it is an integer, else None."""
    max_tokens = request.get("max_output_tokens")
    return max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None


def _generate(
    *,
    created: Event,
    response: Mapping[str, Any],
    context: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any],
    restored_items: int,
    ids: Callable[[str], str],
    directives: Sequence[Directive],
) -> GeneratedRun:
    items = (
        [] if request.get("generate") is False else _plan(directives, context, budget_of(request))
    )
    fail = _last(directives, FailDirective)
    delay = _last(directives, DelayDirective)
    return emit_run(
        created=created,
        response=response,
        context=context,
        instructions=request.get("instructions"),
        restored_items=restored_items,
        ids=ids,
        items=items,
        fail_after=None if fail is None else fail.after,
        delay_s=0.0 if delay is None else delay.ms / 1000,
    )


def _in_progress() -> dict[str, Any]:
    # The fields of response.created and response.in_progress that the run fills in later.
    return {
        "status": "in_progress",
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "completed_at": None,
    }


def created_event(response: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``response.created`` of a run whose skeleton response is ``response``.

    RWS-ORDER-1: status ``in_progress``, ``output`` empty.
    """
    # _in_progress() is built fresh for each event: nothing to copy (see _lifecycle).
    return _event("response.created", response={**response, **_in_progress()})


def emit_run(
    *,
    created: Event,
    response: Mapping[str, Any],
    context: Sequence[Mapping[str, Any]],
    instructions: object,
    restored_items: int,
    ids: Callable[[str], str],
    items: Sequence[PlannedItem],
    fail_after: int | None = None,
    delay_s: float = 0.0,
) -> GeneratedRun:
    """Turn a model's planned items into the whole run (A.4), the same for every model.

    ``created`` is the run's ``response.created`` (:func:`created_event`); ``items`` the
    planned output, already cut by ``max_output_tokens`` (:func:`apply_budget`); a run with an
    item that ends ``incomplete`` ends ``response.incomplete``. ``fail_after`` (``rws:fail``)
    ends the run ``response.failed`` after that many events; ``delay_s`` is the wait before
    every event after ``response.created``. ``usage`` is computed from the events sent (A.2).
    """
    events: list[Event] = [
        created,
        _event("response.in_progress", response={**response, **_in_progress()}),
    ]
    status = "completed"
    for output_index, item in enumerate(items):
        events.extend(_item_events(item, output_index, ids))
        if item.incomplete:
            status = "incomplete"

    if fail_after is not None and not _fail_follows_incomplete_item(events, max(fail_after, 1)):
        # A.3 rws:fail: "after the run's N-th event (counting response.created as the first),
        # the run ends with response.failed". N = 0 is read as 1: response.created always
        # comes first. When N reaches the terminal event, response.failed takes its place.
        events = events[: max(fail_after, 1)]
        status = "failed"

    output = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    terminal_fields: dict[str, Any] = {
        "status": status,
        "output": output,
        "usage": usage(
            context=context,
            instructions=instructions,
            restored_items=restored_items,
            events=events,
        ),
        "error": None,
        "incomplete_details": None,
        "completed_at": None,
    }
    if status == "completed":
        # Deterministic: the skeleton's created_at (the server may overwrite it).
        terminal_fields["completed_at"] = response.get("created_at")
    elif status == "incomplete":
        terminal_fields["incomplete_details"] = {"reason": "max_output_tokens"}
    else:
        terminal_fields["error"] = {
            "code": "server_error",
            "message": f"the conformance model failed the run after event {len(events)} "
            "as directed by rws:fail",
        }
    final = _lifecycle(response, **terminal_fields)
    events.append(_event(TERMINAL_TYPES[status], response=final))

    # Each event is built fresh above, so events share nothing they could change in one
    # another, except the skeleton's values (see _lifecycle). The output items carried into
    # the next turn's context and the terminal response kept for storage are copies of their
    # own: nothing done to an event reaches them.
    return GeneratedRun(
        events=tuple(events),
        delay_s=delay_s,
        status=status,
        response={**final, "output": copy.deepcopy(output)},
        output=tuple(copy.deepcopy(item) for item in output),
    )
