"""``freeform-1`` served by the sans-I/O session: chosen by the request's ``model``, streamed by
the same machinery as ``conformance-1``, continued from the cache or from storage, and every
event valid against the project's JSON Schemas."""

from __future__ import annotations

import itertools
import json
from typing import Any

from conformance import schemas
from reference_impl import model
from reference_impl.store import ResponseStore
from tests.reference_impl.driver import Driver, create, terminal

__all__: list[str] = []

FREEFORM = model.freeform.MODEL_ID
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    },
}


def ff(input: Any = "hello", **fields: Any) -> dict[str, Any]:
    """A ``response.create`` for ``freeform-1``."""
    return create(input, model=FREEFORM, **fields)


def usage_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    usage: dict[str, Any] = terminal(events)["response"]["usage"]
    return usage


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "response.output_text.done"]


def test_server_serves_freeform_by_the_request_model() -> None:
    driver = Driver()
    events = driver.turn(ff("rws:text length=3"))
    done = terminal(events)
    assert done["type"] == "response.completed"
    assert done["response"]["model"] == FREEFORM
    (text,) = texts(events)
    assert text != "The"  # what conformance-1 answers to the directive
    assert "rws:" not in json.dumps(done["response"]["output"])
    # The same connection serves conformance-1 next, by its request's model.
    assert texts(driver.turn(create("rws:text length=3"))) == ["The"]


def test_server_still_answers_unknown_models_with_model_not_found() -> None:
    (error,) = Driver().turn(create("hi", model="freeform-2"))
    assert error["type"] == "error"
    assert error["error"]["code"] == "model_not_found"


def test_same_requests_replay_the_same_events_on_another_server() -> None:
    """Seeded from content only: a fresh server with the same ids repeats every event, and one
    drawing other ids repeats every text."""
    chain = ["Tell me a story.", "Go on.", "And the ending?"]

    def play(driver: Driver) -> list[list[dict[str, Any]]]:
        runs: list[list[dict[str, Any]]] = []
        previous: dict[str, Any] = {}
        for prompt in chain:
            events = driver.turn(ff(prompt, store=False, **previous))
            runs.append(events)
            previous = {"previous_response_id": terminal(events)["response"]["id"]}
        return runs

    first, second = play(Driver()), play(Driver())
    assert first == second
    numbers = itertools.count(1000)
    other = play(Driver(ids=lambda prefix: f"{prefix}_other{next(numbers)}"))
    assert [texts(e) for e in other] == [texts(e) for e in first]


def test_usage_of_a_three_turn_chain() -> None:
    """input_tokens cover the whole context and the turn's instructions; cached_tokens are the
    tokens restored from the connection cache, and 0 on a fresh or a hydrated run."""
    store = ResponseStore(None)
    driver = Driver(store=store)
    first = driver.turn(ff("What is a WebSocket?", instructions="Be terse."))
    first_response = terminal(first)["response"]
    context = model.normalize_input("What is a WebSocket?")
    assert usage_of(first)["input_tokens"] == model.tokens(context) + model.tokens("Be terse.")
    assert usage_of(first)["input_tokens_details"]["cached_tokens"] == 0

    # Turn 2: a cache hit. Turn 1's instructions are not carried over.
    second = driver.turn(ff("Why?", previous_response_id=first_response["id"]))
    restored = [*context, *first_response["output"]]
    context = [*restored, *model.normalize_input("Why?")]
    usage = usage_of(second)
    assert usage["input_tokens_details"]["cached_tokens"] == model.tokens(restored) > 0
    assert usage["input_tokens"] == model.tokens(context)
    assert usage["output_tokens"] == model.tokens(texts(second)[0])
    assert usage["output_tokens_details"]["reasoning_tokens"] == 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    # Turn 3 on another connection: hydrated from storage, nothing counts as cached.
    second_response = terminal(second)["response"]
    third = Driver(store=store).turn(
        ff("Thanks.", previous_response_id=second_response["id"], instructions="Be kind.")
    )
    context = [*context, *second_response["output"], *model.normalize_input("Thanks.")]
    usage = usage_of(third)
    assert terminal(third)["type"] == "response.completed"
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["input_tokens"] == model.tokens(context) + model.tokens("Be kind.")


def test_tool_loop_calls_then_answers_with_text() -> None:
    """A forced call, its output sent back with tool_choice auto, then a text answer."""
    driver = Driver()
    call_events = driver.turn(ff("Weather in Paris?", tools=[WEATHER], tool_choice="required"))
    (call,) = terminal(call_events)["response"]["output"]
    assert call["type"] == "function_call"
    arguments = json.loads(call["arguments"])
    assert set(arguments) == {"city", "days"}
    assert 1 <= arguments["days"] <= 7
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    answer = driver.turn(
        ff([output], previous_response_id=terminal(call_events)["response"]["id"], tools=[WEATHER])
    )
    (message,) = terminal(answer)["response"]["output"]
    assert message["type"] == "message"
    assert texts(answer)


def test_generate_false_works_as_for_any_model() -> None:
    """RWS-CREATE-6: no output, output_tokens 0, and the response continues."""
    driver = Driver()
    events = driver.turn(ff("remember this", generate=False))
    done = terminal(events)
    assert done["type"] == "response.completed"
    assert done["response"]["output"] == []
    assert done["response"]["usage"]["output_tokens"] == 0
    follow = driver.turn(ff("and now?", previous_response_id=done["response"]["id"]))
    assert terminal(follow)["type"] == "response.completed"


def test_max_output_tokens_ends_the_run_incomplete() -> None:
    events = Driver().turn(ff("Write at length.", max_output_tokens=1))
    done = terminal(events)
    assert done["type"] == "response.incomplete"
    assert done["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    (text,) = texts(events)
    assert len(text.encode()) <= 4


def test_every_event_of_freeform_runs_validates_against_the_schemas() -> None:
    """The events the server sends (with sequence_number, and stream_id on a named lane)."""
    driver = Driver()
    events: list[dict[str, Any]] = []
    for prompt in ("hello", "rws:text length=9\nrws:fail after=2", "a longer question, please"):
        events += driver.turn(ff(prompt))
    events += driver.turn(ff("lane", stream_id="lane-a", store=False))
    events += driver.turn(ff("cut", max_output_tokens=2))
    events += driver.turn(ff("nothing", generate=False))
    calls = driver.turn(ff("call", tools=[WEATHER], tool_choice="required"))
    events += calls
    (call,) = terminal(calls)["response"]["output"]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}
    events += driver.turn(ff([output], previous_response_id=terminal(calls)["response"]["id"]))
    kinds = {e["type"] for e in events}
    assert {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.incomplete",
    } <= kinds
    assert "error" not in kinds
    found = [f"{e['type']}: {error}" for e in events for error in schemas.errors(e)]
    assert found == []
