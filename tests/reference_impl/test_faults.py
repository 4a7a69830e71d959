"""Each fault switch breaks exactly the rule it names, and a correct server keeps it.

For every fault there is a *rule check*: a small scenario on the sans-I/O session that
returns whether the rule held. The check must hold with no fault on and fail with the fault
on - which is what lets the conformance suite prove its own checks fail. The checks are
registered in fault_registry.py: the first ones below, the rest in fault_rules_events.py
(a run's events), fault_rules_requests.py (requests, errors, cache, lanes, limits) and
fault_rules_steering.py (the steering profile) and fault_rules_http.py (the HTTP transport).

The few faults that act before or around any session (the upgrade, pings, the command line)
are SERVER_LEVEL: the conformance suite's proof matrix shows each of them caught instead.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import reference_impl
from reference_impl import model
from reference_impl.cache import ResponseCache
from reference_impl.faults import FAULTS, NO_FAULTS, Faults, UnknownFaultError, describe
from reference_impl.session import Limits, RunDone, SendText, Session, StartRun
from reference_impl.store import ResponseStore
from reference_impl.validation import DeepInputError
from tests.reference_impl import (
    fault_rules_events,
    fault_rules_http,
    fault_rules_requests,
    fault_rules_steering,
)
from tests.reference_impl.driver import TERMINAL_TYPES, Driver, create, of_lane, terminal
from tests.reference_impl.fault_registry import CHECKS, check

__all__: list[str] = []

# Imported for the rule checks they register.
RULE_MODULES = (fault_rules_events, fault_rules_requests, fault_rules_steering, fault_rules_http)
ROOT = Path(__file__).resolve().parents[2]


def _turn(faults: Faults, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return Driver(faults=faults).turn(event or create("rws:text length=12 chunks=3"))


@check("drop-terminal", "duplicate-terminal")
def one_terminal(faults: Faults) -> bool:
    return sum(e["type"] in TERMINAL_TYPES for e in _turn(faults)) == 1


@check("created-not-first")
def created_first(faults: Faults) -> bool:
    return bool(_turn(faults)[0]["type"] == "response.created")


@check("no-item-added")
def item_added(faults: Faults) -> bool:
    return any(e["type"] == "response.output_item.added" for e in _turn(faults))


@check("wrong-item-id")
def item_ids(faults: Faults) -> bool:
    events = _turn(faults)
    (added,) = [e for e in events if e["type"] == "response.output_item.added"]
    return all(e["item_id"] == added["item"]["id"] for e in events if "item_id" in e)


@check("empty-terminal-output")
def terminal_output(faults: Faults) -> bool:
    events = _turn(faults)
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    return bool(terminal(events)["response"]["output"] == done)


@check("wrong-response-id")
def response_id(faults: Faults) -> bool:
    return len({e["response"]["id"] for e in _turn(faults) if "response" in e}) == 1


@check("sequence-repeat")
def sequence_increases(faults: Faults) -> bool:
    numbers = [e["sequence_number"] for e in _turn(faults)]
    return all(a < b for a, b in itertools.pairwise(numbers))


@check("sequence-start-1")
def sequence_from_zero(faults: Faults) -> bool:
    return bool(_turn(faults)[0]["sequence_number"] == 0)


@check("delta-mismatch")
def deltas_match(faults: Faults) -> bool:
    events = _turn(faults)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    return bool(done["text"] == text)


@check("shared-cache")
def cache_per_connection(faults: Faults) -> bool:
    shared = ResponseCache() if faults.active("shared-cache") else None
    first = terminal(Driver(faults=faults, cache=shared).turn(create(store=False)))
    other = Driver(faults=faults, cache=shared)
    events = other.turn(create(previous_response_id=first["response"]["id"], store=False))
    return bool(events[0]["type"] == "error")


@check("no-cache")
def cache_hit(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    first = terminal(driver.turn(create(store=False)))
    events = driver.turn(create(previous_response_id=first["response"]["id"], store=False))
    return bool(events[-1]["type"] == "response.completed")


@check("context-drop-output")
def context_has_output(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    first = terminal(driver.turn(create("rws:text length=5", store=False)))
    events = driver.turn(
        create("rws:context", previous_response_id=first["response"]["id"], store=False)
    )
    context = [
        *model.normalize_input("rws:text length=5"),
        *first["response"]["output"],
        *model.normalize_input("rws:context"),
    ]
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    return bool(done["text"].endswith(model.context_digest(context)))


@check("no-persist")
def persisted(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    first = terminal(driver.turn(create()))
    return driver.store.load(first["response"]["id"], "key-a") is not None


@check("no-evict")
def evicted(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    parent = terminal(driver.turn(create(store=False)))["response"]["id"]
    driver.turn(create("rws:fail after=2", previous_response_id=parent, store=False))
    events = driver.turn(create(previous_response_id=parent, store=False))
    return bool(events[0]["type"] == "error")


@check("cache-failed")
def failed_not_cached(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    failed = terminal(driver.turn(create("rws:fail after=2", store=False)))
    events = driver.turn(create(previous_response_id=failed["response"]["id"], store=False))
    return bool(events[0]["type"] == "error")


@check("wrong-cached-tokens")
def cached_tokens(faults: Faults) -> bool:
    usage = terminal(_turn(faults))["response"]["usage"]
    return bool(usage["input_tokens_details"]["cached_tokens"] == 0)


@check("flat-error", "error-no-status")
def wrapped_error(faults: Faults) -> bool:
    (error,) = Driver(faults=faults).turn("not json")
    return isinstance(error.get("error"), dict) and error.get("status") == 400


@check("close-on-error")
def open_after_error(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    driver.turn(create(stream=False))
    return driver.closed is None


@check("no-stream-id", "no-stream-id-after-created")
def named_lane_tagged(faults: Faults) -> bool:
    # RWS-EVENT-4: every event of a run on a named lane carries its stream_id.
    events = _turn(faults, create(stream_id="lane"))
    return all(e.get("stream_id") == "lane" for e in events)


@check("stream-id-on-default")
def default_lane_untagged(faults: Faults) -> bool:
    return all("stream_id" not in e for e in _turn(faults))


@check("lane-overlap")
def lane_fifo(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
    driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
    types = [e["type"] for e in driver.settle()]
    return types.index("response.created", 1) > types.index("response.completed")


@check("lane-limit-off")
def lane_limit(faults: Faults) -> bool:
    driver = Driver(faults=faults, limits=Limits(max_named_lanes=1))
    driver.turn(create(stream_id="a"))
    return bool(driver.turn(create(stream_id="b"))[0]["type"] == "error")


@check("accept-bad-stream-id")
def stream_id_checked(faults: Faults) -> bool:
    return bool(_turn(faults, create(stream_id="a b"))[0]["type"] == "error")


@check("binary-crash")
def binary_answered(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    driver.send_binary(b"\x00")
    return driver.closed is None and driver.take()[0]["type"] == "error"


@check("ignore-age-limit")
def age_limit(faults: Faults) -> bool:
    driver = Driver(faults=faults, limits=Limits(max_connection_age=10))
    driver.advance(10)
    return driver.closed is not None


@check("steer-ignored")
def steer_answered(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    return (
        len(driver.turn({"type": "response.steer", "previous_response_id": "r", "input": "x"})) == 1
    )


@check("cross-key")
def key_isolation(faults: Faults) -> bool:
    store = ResponseStore(None)
    first = terminal(Driver(faults=faults, store=store, api_key="a").turn(create()))
    other = Driver(faults=faults, store=store, api_key="b")
    events = other.turn(create(previous_response_id=first["response"]["id"]))
    return bool(events[0]["type"] == "error")


@check("crash-on-deep-input")
def deep_input_survives(faults: Faults) -> bool:
    deep = "[" * 200 + "]" * 200
    try:
        Driver(faults=faults).turn(
            f'{{"type":"response.create","model":"conformance-1","x":{deep}}}'
        )
    except DeepInputError:
        return False
    return True


@check("persist-on-close")
def persisted_before_terminal(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    first = terminal(driver.turn(create()))
    saved = driver.store.load(first["response"]["id"], "key-a") is not None
    # What the fault held back is saved only when the I/O layer learns of the close.
    held = driver.session.held_records()
    assert [h.record.response_id for h in held] == ([] if saved else [first["response"]["id"]])
    return saved


@check("named-lane-overlap")
def named_lane_fifo(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    for lane in ("a", "a", None, None):
        fields = {"stream_id": lane} if lane is not None else {}
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5", **fields))
    events = driver.settle()
    in_order = []
    for lane in ("a", None):
        types = [e["type"] for e in of_lane(events, lane)]
        in_order.append(types.index("response.created", 1) > types.index("response.completed"))
    assert in_order[1], "the default lane queues even with the fault on"
    return in_order[0]


@check("lane-limit-counts-default")
def default_lane_not_counted(faults: Faults) -> bool:
    driver = Driver(faults=faults, limits=Limits(max_named_lanes=1))
    driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))  # the default lane busy
    driver.send(create(stream_id="a", generate=False))
    return not any(e["type"] == "error" for e in driver.settle())


@check("age-error-stream-id")
def age_error_without_stream_id(faults: Faults) -> bool:
    driver = Driver(faults=faults, limits=Limits(max_connection_age=10))
    driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5", stream_id="a"))
    driver.advance(10)
    driver.send(create(stream_id="b"))
    errors = [e for e in driver.settle() if e["type"] == "error"]
    assert [e["error"]["code"] for e in errors] == ["websocket_connection_limit_reached"]
    return "stream_id" not in errors[0]


@check("idle-during-run")
def run_is_not_idle(faults: Faults) -> bool:
    driver = Driver(faults=faults, limits=Limits(idle_timeout=30))
    driver.send(create("rws:delay ms=5"))
    driver.advance(31)  # the run has not finished: the connection is not idle
    return driver.closed is None


@check("shrunk-message-limit")
def message_at_declared_size(faults: Faults) -> bool:
    size = 4096
    overhead = len(json.dumps(create("", generate=False)))
    driver = Driver(faults=faults, limits=Limits(max_message_size=size))
    events = driver.turn(create("x" * (size - overhead), generate=False))
    return driver.closed is None and terminal(events)["type"] == "response.completed"


@check("split-large-event")
def large_event_in_one_message(faults: Faults) -> bool:
    texts = _texts(faults, create("rws:text length=100000"))
    assert max(map(len, texts)) > 100000 or faults.active("split-large-event")
    return all(_is_object(text) for text in texts)


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _texts(faults: Faults, event: dict[str, Any]) -> list[str]:
    """The raw text messages of one request's outcome (the Driver parses every message)."""
    session = Session(api_key="key-a", now=0.0, faults=faults)
    session.receive_text(json.dumps(event), 0.0)
    texts: list[str] = []
    runs: list[int] = []

    def perform() -> None:
        for action in session.actions():
            if isinstance(action, SendText):
                texts.append(action.text)
            elif isinstance(action, StartRun):
                runs.append(action.run_id)

    perform()
    while runs:
        run_id = runs.pop(0)
        while not isinstance(session.step(run_id, 0.0), RunDone):
            perform()
        perform()
    return texts


@check("binary-close-1003")
def binary_answered_with_error(faults: Faults) -> bool:
    driver = Driver(faults=faults)
    driver.send_binary(b"{}")
    events = driver.settle()
    return driver.closed is None and [e["error"]["code"] for e in events] == [
        "unsupported_frame_type"
    ]


@check("refuse-stream-false-invalid-value")
def stream_false_refused_as_unsupported(faults: Faults) -> bool:
    codes = [
        Driver(faults=faults).turn(create(**field))[0]["error"]["code"]
        for field in ({"stream": False}, {"background": True})
    ]
    return codes == ["unsupported_parameter", "unsupported_parameter"]


@check("error-no-type")
def error_carries_type(faults: Faults) -> bool:
    events = Driver(faults=faults).turn(create(previous_response_id="resp_unknown"))
    return "type" in events[0]["error"]


@check("start-queued-at-age-limit")
def queued_request_does_not_start_at_age_limit(faults: Faults) -> bool:
    driver = Driver(faults=faults, limits=Limits(max_connection_age=10))
    driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
    driver.send(create("rws:text length=4"))  # queued behind the slow run
    driver.advance(10)
    events = driver.settle()
    started = [e for e in events if e["type"] == "response.created"]
    return len(started) == 1


# The faults that act where no session is: the opening handshake (upgrade.py: credentials,
# headers, query, permessage-deflate, a plain GET), WebSocket pings (the I/O drivers) and
# the command line (cli.py: the limits handed to every session). The conformance suite
# catches each (test_server_level_faults_are_caught_by_the_suite).
SERVER_LEVEL = {
    "no-auth",
    "auth-403",
    "require-beta-header",
    "reject-unknown-header",
    "reject-unknown-query",
    "plain-get-200",
    "refuse-deflate",
    "no-pong",
    "short-connection-age",
}


@pytest.mark.parametrize("name", sorted(set(FAULTS) - SERVER_LEVEL))
def test_fault_breaks_exactly_its_rule(name: str) -> None:
    """The rule check holds on a correct session and fails with the fault on."""
    rule = CHECKS[name]
    assert rule(NO_FAULTS), f"{name}: the rule fails on a correct server"
    assert not rule(Faults({name})), f"{name}: the fault does not break its rule"


def test_every_fault_has_a_rule_check() -> None:
    """No fault switch goes untested."""
    assert set(FAULTS) == set(CHECKS) | SERVER_LEVEL


def test_faults_reject_unknown_names() -> None:
    """A typo on the command line is an error, not a silently correct server."""
    with pytest.raises(UnknownFaultError, match="no-such-fault"):
        Faults({"no-such-fault"})


def test_fault_help_lists_name_requirement_and_description() -> None:
    """--fault help shows every fault with the requirement it breaks."""
    text = describe()
    for fault in FAULTS.values():
        line = next(line for line in text.splitlines() if line.split()[:1] == [fault.name])
        assert fault.requirement in line
        assert fault.description in line


def test_server_level_faults_are_caught_by_the_suite() -> None:
    """Each SERVER_LEVEL fault is caught by the conformance suite: the proof matrix has a row
    for it, on its requirement, with the verdict the requirement's level gives (FAILED for a
    MUST, WARNING for a SHOULD)."""
    matrix = json.loads((ROOT / "docs" / "data" / "proof-matrix.json").read_text(encoding="utf-8"))
    registry = yaml.safe_load((ROOT / "spec" / "requirements.yaml").read_text(encoding="utf-8"))
    levels = {entry["id"]: entry["level"] for entry in registry["requirements"]}
    missed = []
    for name in sorted(SERVER_LEVEL):
        requirement = FAULTS[name].requirement
        verdict = "FAILED" if levels[requirement].startswith("MUST") else "WARNING"
        rows = [
            row
            for row in matrix["rows"]
            if row.get("fault") == name
            and row["requirement"] == requirement
            and row["verdict"] == verdict
        ]
        if not rows:
            missed.append(f"{name} ({requirement}, {verdict})")
    assert missed == []


def test_server_level_is_only_what_no_session_implements() -> None:
    """A SERVER_LEVEL fault has no hook in the session: the session's faults get rule checks."""
    sources = [
        (Path(reference_impl.__file__).parent / name).read_text(encoding="utf-8")
        for name in (
            "session.py",
            "session_state.py",
            "session_limits.py",
            "session_lanes.py",
            "session_runs.py",
            "session_requests.py",
            "run_events.py",
            "fault_hooks.py",
            "errors.py",
            "validation.py",
        )
    ]
    hooked = {name for name in FAULTS if any(f'"{name}"' in source for source in sources)}
    assert hooked & SERVER_LEVEL == set()


def test_readme_documents_every_fault() -> None:
    """The reference server's README has one row per fault, in the order of FAULTS."""
    readme = (Path(reference_impl.__file__).parent / "README.md").read_text(encoding="utf-8")
    table = readme.partition("## Fault switches")[2]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows == [
        f"| `{fault.name}` | {fault.requirement} | {fault.description} |"
        for fault in FAULTS.values()
    ]
