"""Rule checks for the faults that break the events of a run (see fault_registry.py).

Each check runs the conformance model on a sans-I/O session (tests/reference_impl/driver.py)
and returns whether one rule of a run's events held: parts and deltas (RWS-DELTA-*), the
ordering grammar (RWS-ORDER-*), schemas and event types (RWS-EVENT-*) and numbering
(RWS-SEQ-*). test_faults.py asserts each holds with no fault and fails with its fault on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from conformance import schemas
from reference_impl.faults import Faults
from tests.reference_impl.driver import TERMINAL_TYPES, Driver, create
from tests.reference_impl.fault_registry import check

__all__: list[str] = []

Event = dict[str, Any]

# Runs with parts of every kind the conformance model produces: text, refusal, reasoning.
_PARTS = (
    "rws:text length=12 chunks=3\n"
    "rws:refusal length=8 chunks=2\n"
    "rws:reasoning summary=10 text=12 chunks=2"
)
# Tool calls of every kind whose generated text the model streams (RWS-DELTA-5).
_TOOLS = (
    "rws:custom name=run_shell chunks=3 input=ls -la | wc -l\n"
    'rws:mcp server=docs name=search chunks=2 arguments={"q": "x y"}\n'
    "rws:code chunks=4 code=print(sum(range(10)))"
)
# A text with annotations, one of them announced before the first delta (RWS-DELTA-7).
_ANNOTATED = "rws:text length=40 chunks=4 annotations=3\nrws:text length=0 annotations=1"
_SAMPLES = (
    _PARTS,
    'rws:call name=lookup chunks=3 arguments={"q": "x"}',
    _TOOLS,
    _ANNOTATED,
    "rws:text length=30\nrws:incomplete",
    "rws:text length=30 chunks=5\nrws:fail after=5",
)


def _run(faults: Faults, text: str = _PARTS, **fields: Any) -> list[Event]:
    return Driver(faults=faults).turn(create(text, **fields))


def _runs(faults: Faults) -> Iterator[list[Event]]:
    """The events of one run of each sample, each on a connection of its own."""
    return (_run(faults, text) for text in _SAMPLES)


def _ended_with(events: list[Event]) -> Event | None:
    """The last event of a run if it is a terminal event, else None."""
    return events[-1] if events and events[-1]["type"] in TERMINAL_TYPES else None


# --- parts and deltas ---------------------------------------------------------------------


@check("part-added-not-empty")
def parts_open_empty(faults: Faults) -> bool:
    # RWS-DELTA-2: the part a part-added event carries is the empty initial part.
    added = [
        e["part"]
        for e in _run(faults)
        if e["type"] in ("response.content_part.added", "response.reasoning_summary_part.added")
    ]
    assert len(added) == 4, "text, refusal, reasoning summary and reasoning text parts"
    return all(
        part.get("text", "") == "" and part.get("refusal", "") == "" and not part.get("annotations")
        for part in added
    )


# (delta type prefix, field of the done event and of the part, index key, item list)
_TEXT_KINDS = {
    "refusal": [("response.refusal", "refusal", "content_index", "content")],
    "reasoning": [
        ("response.reasoning_summary_text", "text", "summary_index", "summary"),
        ("response.reasoning_text", "text", "content_index", "content"),
    ],
}


def _deltas_match(events: list[Event], kind: str) -> bool:
    """Whether each part's deltas equal its done event, its part-done part and its item."""
    items = {e["output_index"]: e["item"] for e in events if e["type"].endswith("item.done")}
    parts = {
        (e["output_index"], e.get("content_index"), e.get("summary_index")): e["part"]
        for e in events
        if e["type"] in ("response.content_part.done", "response.reasoning_summary_part.done")
    }
    checked = 0
    for prefix, field, index, item_list in _TEXT_KINDS[kind]:
        for done in (e for e in events if e["type"] == f"{prefix}.done"):
            key = (done["output_index"], done[index])
            text = "".join(
                e["delta"]
                for e in events
                if e["type"] == f"{prefix}.delta" and (e["output_index"], e[index]) == key
            )
            part_key = (*key, None) if index == "content_index" else (key[0], None, key[1])
            item_entry = items[key[0]][item_list][key[1]]
            if not done[field] == parts[part_key][field] == item_entry[field] == text:
                return False
            checked += 1
    assert checked == len(_TEXT_KINDS[kind]), "every kind of part was produced"
    return True


@check("refusal-delta-mismatch")
def refusal_deltas_match(faults: Faults) -> bool:
    # RWS-DELTA-3: a refusal's deltas equal response.refusal.done, its part and its item.
    return _deltas_match(_run(faults), "refusal")


@check("reasoning-delta-mismatch")
def reasoning_deltas_match(faults: Faults) -> bool:
    # RWS-DELTA-6: a reasoning summary or text part's deltas equal its done text, its part and
    # its item's entry.
    return _deltas_match(_run(faults), "reasoning")


# done event -> (the text's field in it and in the item, its delta event)
_TOOL_TEXTS = {
    "response.custom_tool_call_input.done": ("input", "response.custom_tool_call_input.delta"),
    "response.mcp_call_arguments.done": ("arguments", "response.mcp_call_arguments.delta"),
    "response.code_interpreter_call_code.done": (
        "code",
        "response.code_interpreter_call_code.delta",
    ),
}


def _tool_text_matches(events: list[Event], done_type: str) -> bool:
    """Whether each tool call's deltas equal its done event, its item and the terminal item."""
    field, delta_type = _TOOL_TEXTS[done_type]
    items = {e["output_index"]: e["item"] for e in events if e["type"].endswith("item.done")}
    ended = _ended_with(events)
    output = ended["response"]["output"] if ended is not None else []
    dones = [e for e in events if e["type"] == done_type]
    assert dones, f"the run has a {done_type}"
    for done in dones:
        index = done["output_index"]
        text = "".join(
            e["delta"] for e in events if e["type"] == delta_type and e["output_index"] == index
        )
        if not done[field] == items[index][field] == output[index][field] == text:
            return False
    return True


@check("custom-input-mismatch")
def custom_input_matches(faults: Faults) -> bool:
    # RWS-DELTA-5: a custom tool call's input deltas equal its done input and its item's.
    return _tool_text_matches(_run(faults, _TOOLS), "response.custom_tool_call_input.done")


@check("mcp-arguments-mismatch")
def mcp_arguments_match(faults: Faults) -> bool:
    # RWS-DELTA-5: an MCP call's argument deltas equal its done arguments and its item's.
    return _tool_text_matches(_run(faults, _TOOLS), "response.mcp_call_arguments.done")


@check("code-delta-mismatch")
def code_matches(faults: Faults) -> bool:
    # RWS-DELTA-5: a code interpreter call's code deltas equal its done code and its item's.
    return _tool_text_matches(_run(faults, _TOOLS), "response.code_interpreter_call_code.done")


@check("annotation-mismatch")
def annotations_in_final_part(faults: Faults) -> bool:
    # RWS-DELTA-7: each announced annotation is the one its final part lists at its index.
    events = _run(faults, _ANNOTATED)
    parts = {
        (e["output_index"], e["content_index"]): e["part"]
        for e in events
        if e["type"] == "response.content_part.done"
    }
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert len(added) == 4, "every annotation is announced"
    return all(
        parts[(e["output_index"], e["content_index"])]["annotations"][e["annotation_index"]]
        == e["annotation"]
        for e in added
    )


@check("item-done-in-progress")
def items_end_settled(faults: Faults) -> bool:
    # RWS-DELTA-8: output_item.done carries the added item's id and type, not in_progress.
    for events in _runs(faults):
        added = {e["output_index"]: e["item"] for e in events if e["type"].endswith("item.added")}
        for done in (e for e in events if e["type"] == "response.output_item.done"):
            item, first = done["item"], added[done["output_index"]]
            if (item["id"], item["type"]) != (first["id"], first["type"]):
                return False
            if item["status"] == "in_progress":
                return False
    return True


# --- schemas and event types --------------------------------------------------------------


@check("created-missing-object")
def events_validate(faults: Faults) -> bool:
    # RWS-EVENT-1: every server event validates against the schema of its type.
    return all(
        schemas.is_valid(event, direction="server") for events in _runs(faults) for event in events
    )


def _defined(event_type: str) -> bool:
    vendor = "." in event_type and not event_type.startswith("response.")
    return event_type in schemas.server_event_types() or vendor


@check("undefined-event")
def only_defined_events(faults: Faults) -> bool:
    # RWS-EVENT-2: only event types the spec defines, or vendor-prefixed ones (not response.).
    return all(_defined(event["type"]) for events in _runs(faults) for event in events)


@check("reuse-response-id")
def response_ids_unique(faults: Faults) -> bool:
    # RWS-EVENT-7: a response id is never used for a second response.
    driver = Driver(faults=faults)
    ids = [driver.turn(create())[-1]["response"]["id"] for _ in range(3)]
    return len(set(ids)) == len(ids)


# --- the ordering grammar ----------------------------------------------------------------

# RWS-ORDER-4 (schemas/rules/ordering.json, the response machine): response.created, any
# number of response.queued, at most one response.in_progress, the body, one terminal event.
_RESPONSE_SCOPE = re.compile(
    r"response\.created( response\.queued)*( response\.in_progress)?"
    r" response\.(completed|incomplete|failed)"
)


@check("in-progress-twice")
def response_scope_grammar(faults: Faults) -> bool:
    for events in _runs(faults):
        # Events without output_index belong to the response scope (ordering.json routing).
        scope = " ".join(e["type"] for e in events if "output_index" not in e)
        if not _RESPONSE_SCOPE.fullmatch(scope):
            return False
    return True


@check("no-part-added")
def parts_bracket_their_deltas(faults: Faults) -> bool:
    # RWS-ORDER-6: a part's added event comes before its deltas, its part-done event after its
    # done event.
    events = _run(faults)
    deltas = [
        (i, e)
        for i, e in enumerate(events)
        if e["type"].endswith(".delta") and ("content_index" in e or "summary_index" in e)
    ]
    assert deltas, "the run has parts"
    for at, delta in deltas:
        index = "content_index" if "content_index" in delta else "summary_index"
        part = "content_part" if index == "content_index" else "reasoning_summary_part"
        key = (delta["output_index"], delta[index])

        def first(event_type: str, key: tuple[int, int] = key, index: str = index) -> int:
            found = (
                i
                for i, e in enumerate(events)
                if e["type"] == event_type and (e["output_index"], e.get(index)) == key
            )
            return next(found, -1)

        added = first(f"response.{part}.added")
        done = first(delta["type"].removesuffix(".delta") + ".done")
        part_done = first(f"response.{part}.done")
        if not 0 <= added < at < done < part_done:
            return False
    return True


@check("terminal-in-progress")
def terminal_status(faults: Faults) -> bool:
    # RWS-ORDER-3: the terminal status matches the terminal event, with incomplete_details
    # in response.incomplete and error in response.failed.
    seen = set()
    for events in _runs(faults):
        last = _ended_with(events)
        if last is None:
            return False
        response = last["response"]
        seen.add(last["type"])
        if response["status"] != last["type"].removeprefix("response."):
            return False
        if last["type"] == "response.incomplete" and not response["incomplete_details"]["reason"]:
            return False
        if last["type"] == "response.failed" and not response["error"]:
            return False
    assert seen == TERMINAL_TYPES, "a run ends in each of the three ways"
    return True


@check("incomplete-ends-completed")
def incomplete_item_ends_run_incomplete(faults: Faults) -> bool:
    # RWS-ORDER-11: an incomplete item is the run's last, and the run ends response.incomplete.
    events = _run(faults, "rws:text length=30\nrws:incomplete")
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["status"] for item in done][-1:] == ["incomplete"], "the model ends it so"
    last = _ended_with(events)
    return last is not None and last["type"] == "response.incomplete"


@check("failed-ends-error")
def failing_run_ends_failed(faults: Faults) -> bool:
    # RWS-ORDER-12: a run that fails after response.created ends with response.failed.
    events = _run(faults, "rws:text length=30 chunks=5\nrws:fail after=5")
    assert events[0]["type"] == "response.created"
    last = _ended_with(events)
    return last is not None and last["type"] == "response.failed"


# --- sequence numbers ---------------------------------------------------------------------


@check("delta-no-sequence")
def run_events_numbered(faults: Faults) -> bool:
    # RWS-SEQ-1: every event of a run carries an integer sequence_number.
    return all(
        type(event.get("sequence_number")) is int for events in _runs(faults) for event in events
    )


@check("steer-numbered-0")
def steering_takes_the_runs_next_number(faults: Faults) -> bool:
    # RWS-SEQ-5: a steering event takes its running target's next number; 0 once it ended
    # (the refusal of a server without the steering profile).
    driver = Driver(faults=faults, steering=False)
    driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
    driver.step_until(lambda: any(e["type"] == "response.created" for e in driver.events))
    target = driver.events[0]["response"]["id"]
    steer = {"type": "response.steer", "previous_response_id": target, "input": "x"}
    driver.send(steer)
    events = driver.settle()
    (reply,) = [e for e in events if e["type"] == "response.steer.failed"]
    numbers = [e["sequence_number"] for e in events]
    # The reply took a number in the middle of the run: the run's numbers go on after it.
    running = reply["sequence_number"] > 0 and numbers == list(range(len(numbers)))
    (after,) = driver.turn(steer)  # the target has ended: it is not running
    return running and after["sequence_number"] == 0


# --- the conformance model ----------------------------------------------------------------


@check("model-stops-early")
def conformance_model_plays_its_directives(faults: Faults) -> bool:
    # RWS-MODEL-1: conformance-1 answers 'rws:text length=100 chunks=7' as the appendix says:
    # 100 characters, and the run ends response.completed.
    events = _run(faults, "rws:text length=100 chunks=7")
    texts = [e["text"] for e in events if e["type"] == "response.output_text.done"]
    return events[-1]["type"] == "response.completed" and [len(t) for t in texts] == [100]
