"""Rule checks for the faults that break how a request is answered (see fault_registry.py).

Each check drives a sans-I/O session (tests/reference_impl/driver.py) and returns whether one
rule held: accepting and refusing ``response.create`` (RWS-CREATE-*), error events
(RWS-ERR-5, RWS-SEQ-4), the cache (RWS-CACHE-*), lanes (RWS-LANE-*) and the limits that
close a connection (RWS-LIMIT-*, RWS-ERR-6). test_faults.py asserts each holds with no fault
and fails with its fault on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reference_impl import model
from reference_impl.faults import Faults
from reference_impl.session import Limits
from tests.reference_impl.driver import Driver, create, of_lane, terminal
from tests.reference_impl.fault_registry import check

__all__: list[str] = []

Event = dict[str, Any]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
_SLOW = "rws:text length=8 chunks=4\nrws:delay ms=5"


def _completes(events: list[Event]) -> bool:
    """Whether a request was served: no error, and its run ended response.completed."""
    return (
        not any(e["type"] == "error" for e in events)
        and bool(events)
        and events[-1]["type"] == "response.completed"
    )


def _only_error(events: list[Event], code: str, param: str) -> bool:
    """Whether a request got exactly one error event ``code`` naming ``param``, and no run."""
    return (
        len(events) == 1
        and events[0]["type"] == "error"
        and events[0]["error"]["code"] == code
        and events[0]["error"]["param"] == param
    )


# --- response.create ----------------------------------------------------------------------


@check("reject-unknown-field")
def unknown_field_ignored(faults: Faults) -> bool:
    # RWS-CREATE-4: top-level fields the server does not know are ignored.
    return _completes(Driver(faults=faults).turn(create(x_vendor_hint={"level": 1})))


@check("refuse-stream-options")
def stream_options_accepted(faults: Faults) -> bool:
    # RWS-CREATE-14: stream_options is accepted (it has no effect over WebSocket).
    events = Driver(faults=faults).turn(create(stream_options={"include_obfuscation": False}))
    return _completes(events)


@check("schema-error-no-param")
def schema_error_names_the_field(faults: Faults) -> bool:
    # RWS-CREATE-5: one error, invalid_type / invalid_value / missing_required_parameter,
    # whose param names the offending field, and no run.
    driver = Driver(faults=faults)
    missing = driver.turn({"type": "response.create", "input": "hi"})
    wrong = driver.turn(create(temperature="warm"))
    return _only_error(missing, "missing_required_parameter", "model") and _only_error(
        wrong, "invalid_type", "temperature"
    )


@check("generate-false-output")
def generate_false_runs_empty(faults: Faults) -> bool:
    # RWS-CREATE-6: generate: false ends response.completed with no output and 0 output tokens.
    events = Driver(faults=faults).turn(create("rws:text length=20", generate=False))
    if not _completes(events):
        return False
    response = events[-1]["response"]
    no_items = not any(e["type"] == "response.output_item.added" for e in events)
    return no_items and response["output"] == [] and response["usage"]["output_tokens"] == 0


@check("unknown-model-served")
def each_request_served_with_its_model(faults: Faults) -> bool:
    # RWS-CREATE-16: a request is served with the model it names, whatever came before; this
    # server has no model "no-such-model", so it serves nothing (model_not_found).
    driver = Driver(faults=faults)
    assert _completes(driver.turn(create()))
    events = driver.turn(create(model="no-such-model"))
    return _only_error(events, "model_not_found", "model")


def _frame_errors(faults: Faults, messages: list[str]) -> tuple[list[str], bool]:
    """The error codes answering ``messages``, and whether the connection stayed open."""
    driver = Driver(faults=faults)
    codes = [e["error"]["code"] for message in messages for e in driver.turn(message)]
    return codes, driver.closed is None


@check("invalid-json-as-unknown-type")
def not_json_is_invalid_json(faults: Faults) -> bool:
    # RWS-CREATE-9: text that is not JSON, or JSON but not an object, is invalid_json.
    codes, open_ = _frame_errors(faults, ["not json", "[1]"])
    return open_ and codes == ["invalid_json", "invalid_json"]


@check("unknown-type-as-invalid-json")
def unknown_type_is_unknown_event_type(faults: Faults) -> bool:
    # RWS-CREATE-11: an object whose type is missing or unknown is unknown_event_type.
    codes, open_ = _frame_errors(faults, ['{"type": "response.nope"}', "{}"])
    return open_ and codes == ["unknown_event_type", "unknown_event_type"]


# --- error events ---------------------------------------------------------------------------


def _errors(faults: Faults) -> list[Event]:
    """Errors of each scope: frame, request (schema, model, cache miss) and connection."""
    driver = Driver(faults=faults, limits=Limits(max_connection_age=10))
    events = driver.turn("not json")
    events += driver.turn(create(stream=False))
    events += driver.turn(create(model="no-such-model"))
    events += driver.turn(create(previous_response_id="resp_unknown"))
    driver.advance(10)  # the connection-age limit: a connection-scoped error
    events += driver.take()
    assert [e["type"] for e in events] == ["error"] * 5
    return events


@check("request-error-numbered")
def errors_outside_runs_unnumbered(faults: Faults) -> bool:
    # RWS-SEQ-4: request-scoped errors before a run and connection-scoped errors carry no
    # sequence_number.
    return all("sequence_number" not in e for e in _errors(faults))


@check("error-leaks-trace")
def error_messages_clean(faults: Faults) -> bool:
    # RWS-ERR-5: no internal exception text or stack trace in error.message.
    leaks = ("Traceback", 'File "')
    return not any(leak in e["error"]["message"] for e in _errors(faults) for leak in leaks)


# --- the cache ----------------------------------------------------------------------------


@check("miss-runs-without-history")
def miss_is_not_found(faults: Faults) -> bool:
    # RWS-CACHE-4: a previous_response_id neither cached nor stored gets
    # previous_response_not_found (status 400) instead of a run.
    events = Driver(faults=faults).turn(create(previous_response_id="resp_unknown"))
    return (
        _only_error(events, "previous_response_not_found", "previous_response_id")
        and events[0]["status"] == 400
    )


@check("generate-false-not-cached")
def generate_false_cached(faults: Faults) -> bool:
    # RWS-CACHE-10: a generate: false response is a cached entry whose context is its input
    # (store=false: only the connection cache can serve the continuation).
    driver = Driver(faults=faults)
    first = driver.turn(create("hello", generate=False, store=False))
    parent = first[-1]["response"]["id"]
    events = driver.turn(create("rws:context", previous_response_id=parent, store=False))
    if not _completes(events):
        return False
    context = [*model.normalize_input("hello"), *model.normalize_input("rws:context")]
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    return bool(done["text"].endswith(model.context_digest(context)))


@check("instructions-carried-over")
def instructions_not_carried_over(faults: Faults) -> bool:
    # RWS-CACHE-14: a continuation sent without instructions is served with none (its
    # response echoes none, and its input tokens are its context's only, appendix A.2).
    driver = Driver(faults=faults)
    first = driver.turn(create(store=False, instructions="Answer briefly. " * 8))
    parent = terminal(first)["response"]["id"]
    events = driver.turn(create("rws:context", previous_response_id=parent, store=False))
    if not _completes(events):
        return False
    response = events[-1]["response"]
    context = [*model.normalize_input("hi"), *terminal(first)["response"]["output"]]
    context += model.normalize_input("rws:context")
    wanted = model.context_tokens(context)
    return response["instructions"] is None and response["usage"]["input_tokens"] == wanted


# --- lanes --------------------------------------------------------------------------------


@check("lanes-not-concurrent")
def lanes_run_concurrently(faults: Faults) -> bool:
    # RWS-LANE-4: runs of different lanes run at once, up to max-active-responses (16 here).
    driver = Driver(faults=faults)
    driver.send(create(_SLOW, stream_id="a"))
    driver.send(create(_SLOW, stream_id="b"))
    events = driver.settle()
    types = [(e["type"], e.get("stream_id")) for e in events]
    return types.index(("response.created", "b")) < types.index(("response.completed", "a"))


@check("lane-error-disturbs-others")
def lane_error_leaves_other_lanes_alone(faults: Faults) -> bool:
    # RWS-LANE-6: a request-scoped error on lane b leaves the run in flight on lane a alone.
    driver = Driver(faults=faults)
    driver.send(create(_SLOW, stream_id="a", store=False))
    driver.send(create(12345, stream_id="b"))
    events = driver.settle()
    on_a = [e["type"] for e in of_lane(events, "a")]
    assert [e["type"] for e in of_lane(events, "b")] == ["error"]
    error_at = next(i for i, e in enumerate(events) if e.get("stream_id") == "b")
    ended_at = max(i for i, e in enumerate(events) if e.get("stream_id") == "a")
    assert error_at < ended_at, "lane a's run ended before lane b's error"
    return bool(on_a[0] == "response.created" and on_a[-1] == "response.completed")


@check("fork-serialised")
def fork_runs_beside_its_source(faults: Faults) -> bool:
    # RWS-LANE-7: a fork of lane a's entry on lane b and lane a's own continuation, sent back
    # to back, run concurrently: lane a's run starts before the fork's run ends.
    driver = Driver(faults=faults)
    driver.send(create("rws:text length=8", stream_id="a", store=False))
    parent = terminal(driver.settle())["response"]["id"]
    driver.send(create(_SLOW, stream_id="b", store=False, previous_response_id=parent))
    driver.send(create(_SLOW, stream_id="a", store=False, previous_response_id=parent))
    events = driver.settle()
    types = [(e["type"], e.get("stream_id")) for e in events]
    assert types.count(("response.completed", "a")) == types.count(("response.completed", "b"))
    return types.index(("response.created", "a")) < types.index(("response.completed", "b"))


@check("busy-lane-rejected")
def busy_lane_queues(faults: Faults) -> bool:
    # RWS-LANE-2: with busy-lane=queue, a request on a busy lane waits for the lane's run and
    # then runs.
    driver = Driver(faults=faults)
    assert driver.session.limits.busy_lane == "queue"
    for lane in ("a", "a", None, None):
        driver.send(create(_SLOW, **({} if lane is None else {"stream_id": lane})))
    events = driver.settle()
    for lane in ("a", None):
        types = [e["type"] for e in of_lane(events, lane)]
        if "error" in types or types.count("response.completed") != 2:
            return False
        if types.index("response.created", 1) < types.index("response.completed"):
            return False
    return True


@check("core-only-serves-lanes")
def no_multiplex_refuses_stream_id(faults: Faults) -> bool:
    # RWS-LANE-12: without the multiplex profile a stream_id is refused with
    # unsupported_parameter (param stream_id), carrying that stream_id.
    events = Driver(faults=faults, multiplex=False).turn(create(stream_id="a"))
    return (
        _only_error(events, "unsupported_parameter", "stream_id")
        and events[0].get("stream_id") == "a"
    )


# --- limits and closing -------------------------------------------------------------------


@check("no-idle-timeout")
def idle_connection_closes(faults: Faults) -> bool:
    # RWS-LIMIT-4: with a declared idle-timeout, an idle connection closes when it is reached.
    driver = Driver(faults=faults, limits=Limits(idle_timeout=30))
    driver.turn(create())
    driver.advance(29)
    assert driver.closed is None, "closed before the idle timeout"
    driver.advance(2)
    return driver.closed is not None


def _going_away() -> int:
    """The close code the registry gives the connection-age limit and the idle timeout."""
    registry = json.loads((SCHEMAS / "rules" / "errors.json").read_text(encoding="utf-8"))
    (code,) = [
        int(code)
        for code, entry in registry["close_codes"].items()
        if "connection-age limit" in entry["when"] and "idle timeout" in entry["when"]
    ]
    return code


@check("limit-close-1000")
def limits_close_going_away(faults: Faults) -> bool:
    # RWS-ERR-6: a connection closes only with the registry's code for its reason: 1001
    # (going away) at the connection-age limit and the idle timeout (RWS-LIMIT-2, -4).
    aged = Driver(faults=faults, limits=Limits(max_connection_age=10))
    aged.advance(10)
    idle = Driver(faults=faults, limits=Limits(idle_timeout=30))
    idle.advance(30)
    codes = [d.closed.code if d.closed else None for d in (aged, idle)]
    return codes == [_going_away()] * 2


@check("keep-runs-after-close")
def cut_run_not_continuable(faults: Faults) -> bool:
    # RWS-LIMIT-10: a run stopped by its connection's close - here after it was persisted,
    # before its terminal event - is neither cached nor hydratable.
    driver = Driver(faults=faults)
    driver.send(create(_SLOW))  # store=true
    driver.step_until(lambda: bool(driver.persisted))
    sent = driver.take()
    assert sent[-1]["type"] != "response.completed", "the run has not ended"
    driver.close()
    other = Driver(faults=faults, store=driver.store)
    events = other.turn(create(previous_response_id=sent[0]["response"]["id"]))
    return _only_error(events, "previous_response_not_found", "previous_response_id")
