"""Each fault switch breaks exactly the rule it names, and a correct server keeps it.

For every fault there is a *rule check*: a small scenario on the sans-I/O session that
returns whether the rule held. The check must hold with no fault on and fail with the fault
on - which is what lets the conformance suite prove its own checks fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import reference_impl
from reference_impl import model
from reference_impl.cache import ResponseCache
from reference_impl.faults import FAULTS, NO_FAULTS, Faults, UnknownFaultError, describe
from reference_impl.session import Limits
from reference_impl.store import ResponseStore
from reference_impl.validation import DeepInputError
from tests.reference_impl.driver import TERMINAL_TYPES, Driver, create, terminal

__all__: list[str] = []

RuleCheck = Callable[[Faults], bool]
CHECKS: dict[str, RuleCheck] = {}


def check(*names: str) -> Callable[[RuleCheck], RuleCheck]:
    def register(fn: RuleCheck) -> RuleCheck:
        for name in names:
            CHECKS[name] = fn
        return fn

    return register


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


@check("no-stream-id")
def named_lane_tagged(faults: Faults) -> bool:
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


# no-auth acts at the upgrade, before any session: see test_server.py.
SERVER_LEVEL = {"no-auth"}


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


def test_readme_documents_every_fault() -> None:
    """Each fault has a row in the reference server's README."""
    readme = (Path(reference_impl.__file__).parent / "README.md").read_text(encoding="utf-8")
    for fault in FAULTS.values():
        assert f"| `{fault.name}` | {fault.requirement} | {fault.description} |" in readme
