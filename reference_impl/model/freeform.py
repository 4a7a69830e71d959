"""``freeform-1``: a model of the reference server that behaves like a real one.

It is not in the specification (the spec's model is ``conformance-1``, appendix A); it exists
so that the suite's paths for "any model" can be run against the reference server. Where
``conformance-1`` obeys ``rws:`` directives, ``freeform-1`` reads none: a directive is text
like any other. It answers with words of its own, of a length and in deltas drawn from a
seed, and does only what the standard parameters force:

* ``max_output_tokens``: the output is cut where it would exceed the budget, the run ends
  ``response.incomplete`` (reason ``max_output_tokens``), exactly as appendix A.5 cuts
  ``conformance-1``'s texts;
* ``tool_choice`` ``{"type": "function", "name": N}``, ``"required"`` (with function tools) or
  ``{"type": "allowed_tools", "mode": "required", ...}``: one ``function_call`` whose
  ``arguments`` are valid for the function's ``parameters`` (:mod:`.instances`). A forced
  choice calls every time, also after tool outputs, as real models do (which is why clients
  reset ``tool_choice`` after a call);
* ``tool_choice`` ``"auto"`` (or none given) with function tools: a call or text, drawn from
  the seed; but after a tool output (a ``function_call_output`` or ``custom_tool_call_output``
  following the latest user message, appendix A.3's ``P``) always text. ``"none"`` never calls;
* ``generate: false``: no output, as for every model (RWS-CREATE-6).

**Seeding.** Everything drawn comes from a :class:`SeededStream` keyed by the SHA-256 of the
request's content: the context's :func:`~.context.seed_digest` (the previous context, its
output and the new input, without the ids the server made up), ``instructions``, ``tools``
and ``tool_choice``. Ids, timestamps, ``max_output_tokens`` and the other settings are not in
the key: the same request on the same context gives the same output on any server and any
run, and a ``max_output_tokens`` cut is a prefix of the uncut answer.

**Tokens.** The measure is appendix A.2's (``ceil(utf8 bytes / 4)``), and ``usage`` is
computed by the same function as ``conformance-1``'s: ``input_tokens`` the whole context plus
the instructions, ``cached_tokens`` the part restored from the connection cache (0 for a fresh
or hydrated run), ``output_tokens`` the texts sent, ``reasoning_tokens`` 0.

The events come from :func:`~.run.emit_run`, the machinery of ``conformance-1``: the same
grammar, delta equalities and terminal response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .context import canonical_json, seed_digest, tool_outputs_after_latest_user
from .instances import arguments_for
from .run import (
    GeneratedRun,
    PlannedItem,
    PlannedPart,
    PreparedRun,
    apply_budget,
    budget_of,
    created_event,
    emit_run,
)
from .seeded import SeededStream

__all__ = [
    "MAX_DELTAS",
    "MAX_TEXT_LENGTH",
    "MIN_TEXT_LENGTH",
    "MODEL_ID",
    "WORDS",
    "answer_text",
    "chunk_cuts",
    "generate_run",
    "plan",
    "prepare_run",
    "seed_of",
]

MODEL_ID = "freeform-1"
# The length of an answer in characters, drawn uniformly from this range.
MIN_TEXT_LENGTH = 5
MAX_TEXT_LENGTH = 400
# The most deltas of one text (function-call arguments may be long).
MAX_DELTAS = 1000
# The odds that tool_choice "auto" with function tools calls one.
_AUTO_CALL = (1, 2)

# The vocabulary: lower-case words, a few with non-ASCII letters (so that a text's bytes and
# characters differ, as in real output). No word holds a colon, so no answer holds "rws:".
_VOCABULARY = """
    the a an and or but so of to in on at by for with from about into over after before
    under between through during without within along across behind beyond near
    model answer question request response stream server client message event token
    context cache turn lane connection socket frame delta item output input text word
    tool call function value result reason detail summary part field record status
    time day week year moment hour minute second morning evening night season
    river mountain forest garden window kitchen library village harbour valley meadow
    bright quiet gentle careful quick slow early late simple clear steady warm cold
    small large ancient modern curious patient eager honest brave calm
    walk read write build open close send carry follow bring keep find give show
    think know learn remember explain describe consider suggest notice prefer
    is are was were has have had will would can could should may might must
    this that these those it they we you he she one two three several many few
    very quite rather almost always often sometimes never perhaps indeed still
    here there then now again together already soon
    café naïve façade déjà über résumé jalapeño
"""
WORDS: tuple[str, ...] = tuple(_VOCABULARY.split())
_ENDINGS = (".", ".", ".", ".", ".", "!", "?")


def seed_of(context: Sequence[Mapping[str, Any]], request: Mapping[str, Any]) -> SeededStream:
    """Return the stream a run draws from: keyed by the request's content (see module doc)."""
    tool_choice = request.get("tool_choice")
    material = {
        "context": seed_digest(context),
        "instructions": request.get("instructions"),
        "tools": request.get("tools") or [],
        "tool_choice": "auto" if tool_choice is None else tool_choice,
    }
    key = canonical_json(material).encode("utf-8", errors="surrogatepass")
    return SeededStream(hashlib.sha256(key).digest())


def _word(stream: SeededStream) -> str:
    return stream.choice(WORDS)


def _sentence(stream: SeededStream) -> str:
    words = [_word(stream) for _ in range(stream.between(4, 14))]
    words[0] = words[0][:1].upper() + words[0][1:]
    for index in range(len(words) - 1):
        if stream.chance(1, 10):
            words[index] += ","
    return " ".join(words) + stream.choice(_ENDINGS)


def answer_text(stream: SeededStream) -> str:
    """Return an answer of ``MIN_TEXT_LENGTH`` to ``MAX_TEXT_LENGTH`` characters of words.

    Sentences are drawn until the drawn length is reached; the text is then cut back to the
    last whole word that fits, and ends with a full stop when its last sentence was cut. When
    the first words do not fit a short drawn length, the text keeps them up to the first word
    boundary past ``MIN_TEXT_LENGTH`` instead, so the length always stays within the range.
    """
    target = stream.between(MIN_TEXT_LENGTH, MAX_TEXT_LENGTH)
    text = _sentence(stream)
    while len(text) < target:
        separator = "\n\n" if stream.chance(1, 6) else " "
        text = f"{text}{separator}{_sentence(stream)}"
    if len(text) == target:
        return text
    # The last word boundary at or before the target, keeping room for the full stop.
    cut = max(text.rfind(" ", 0, target), text.rfind("\n", 0, target))
    if cut < MIN_TEXT_LENGTH:
        # The first words are longer than the target: keep them whole, up to a word boundary
        # past the minimum length.
        found = text.find(" ", MIN_TEXT_LENGTH)
        cut = len(text) if found < 0 else found
    text = text[:cut].rstrip(" ,\n")
    return text if text[-1:] in (".", "!", "?") else text + "."


def chunk_cuts(stream: SeededStream, text: str) -> tuple[int, ...]:
    """Return where the deltas of ``text`` begin (after the first one).

    A text of ``L`` characters comes in 1 to ``L // 3`` deltas (at most ``MAX_DELTAS``), all
    non-empty; the cuts fall anywhere, also inside words, as a real model's token
    boundaries do.
    """
    length = len(text)
    deltas = stream.between(1, min(max(1, length // 3), MAX_DELTAS))
    return tuple(offset + 1 for offset in stream.sample(length - 1, deltas - 1))


def _function_tools(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = request.get("tools")
    return [
        tool
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, Mapping)
        and tool.get("type") == "function"
        and isinstance(tool.get("name"), str)
    ]


def _call_target(
    request: Mapping[str, Any], stream: SeededStream, after_tool_output: bool
) -> Mapping[str, Any] | None:
    """Return the function tool the run calls (a forced name may name no tool), or None."""
    tools = _function_tools(request)
    choice = request.get("tool_choice")
    if choice is None:
        choice = "auto"
    if isinstance(choice, Mapping):
        kind = choice.get("type")
        if kind == "function" and isinstance(choice.get("name"), str):
            name = choice["name"]
            return next((t for t in tools if t["name"] == name), {"name": name})
        if kind != "allowed_tools":
            return None  # a hosted tool forced: this model has none
        listed = choice.get("tools")
        allowed = {
            t.get("name")
            for t in (listed if isinstance(listed, list) else [])
            if isinstance(t, Mapping) and t.get("type") == "function"
        }
        tools = [t for t in tools if t["name"] in allowed]
        choice = "required" if choice.get("mode") == "required" else "auto"
    if choice == "required":
        return stream.choice(tools) if tools else None
    if choice == "auto" and tools and not after_tool_output and stream.chance(*_AUTO_CALL):
        return stream.choice(tools)
    return None


def plan(context: Sequence[Mapping[str, Any]], request: Mapping[str, Any]) -> list[PlannedItem]:
    """Return the output of a run: one message or one function call, cut by the budget."""
    if request.get("generate") is False:
        return []  # RWS-CREATE-6: no output, whatever the model
    stream = seed_of(context, request)
    after_tool_output = tool_outputs_after_latest_user(context) > 0
    target = _call_target(request, stream.fork("call"), after_tool_output)
    if target is not None:
        arguments_stream = stream.fork("arguments")
        arguments = arguments_for(
            target.get("parameters"), arguments_stream, lambda: _word(arguments_stream)
        )
        cuts = chunk_cuts(stream.fork("argument-deltas"), arguments)
        part = PlannedPart("arguments", arguments, cuts=cuts)
        items = [PlannedItem("function_call", (part,), name=str(target.get("name", "")))]
    else:
        text = answer_text(stream.fork("text"))
        cuts = chunk_cuts(stream.fork("deltas"), text)
        items = [PlannedItem("message", (PlannedPart("output_text", text, cuts=cuts),))]
    budget = budget_of(request)
    return items if budget is None else apply_budget(items, budget)


def prepare_run(
    *,
    response: Mapping[str, Any],
    context: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any],
    restored_items: int,
    ids: Callable[[str], str],
) -> PreparedRun:
    """Accept a run of ``freeform-1``; the arguments are those of ``run.prepare_run``.

    The output is planned here (it is small and bounded), so nothing can go wrong after
    ``response.created`` is sent.
    """
    items = plan(context, request)
    created = created_event(response)
    return PreparedRun(
        created,
        lambda: emit_run(
            created=created,
            response=response,
            context=context,
            instructions=request.get("instructions"),
            restored_items=restored_items,
            ids=ids,
            items=items,
        ),
    )


def generate_run(
    *,
    response: Mapping[str, Any],
    context: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any],
    restored_items: int,
    ids: Callable[[str], str],
) -> GeneratedRun:
    """Generate one run of ``freeform-1`` in one call (``prepare_run(...).generate()``)."""
    return prepare_run(
        response=response,
        context=context,
        request=request,
        restored_items=restored_items,
        ids=ids,
    ).generate()
