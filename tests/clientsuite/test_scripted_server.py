"""The scripted server is spec-conforming except where a scenario deliberately is not.

A harness bug must never be blamed on a client: every message the scripted server sends in
every scenario (driven by the raw adapter) validates against its schema, and the server-role
checker finds nothing but the deviations the scenario declares (``server_deviations``).
The sans-I/O core is also tested directly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import trio

from conformance.checker import Checker, CheckerConfig
from conformance.clientsuite.runner import Capture, ClientUnderTest, capture
from conformance.clientsuite.scenarios import SCENARIOS, ClientScenario, scenario_by_id
from conformance.clientsuite.script import BUSY_LANE, Close, Script, Send
from conformance.clientsuite.server import ScriptedServer
from conformance.schemas import default_schema_set

RAW = ClientUnderTest(
    "raw-websockets",
    f"{sys.executable} -m conformance.adapters.raw_websockets",
    frozenset({"core", "multiplex"}),
)


@pytest.fixture(scope="module")
def captures() -> dict[str, Capture]:
    """Every scenario once, driven by the raw adapter."""

    async def run_all() -> dict[str, Capture]:
        out: dict[str, Capture] = {}

        async def one(scenario: ClientScenario) -> None:
            out[scenario.id] = await capture(RAW, scenario)

        async with trio.open_nursery() as nursery:
            for scenario in SCENARIOS:
                nursery.start_soon(one, scenario)
        return out

    return trio.run(run_all)


def _server_events(c: Capture) -> Iterator[dict[str, object]]:
    for record in c.records:
        if record["kind"] == "text" and record["dir"] == "s2c":
            event = json.loads(record["text"])
            assert isinstance(event, dict)
            yield event


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scripted_server_events_validate_except_declared_deviations(
    captures: dict[str, Capture], scenario: ClientScenario
) -> None:
    schemas = default_schema_set()
    known = schemas.server_event_types()
    seen = 0
    for event in _server_events(captures[scenario.id]):
        seen += 1
        if event["type"] not in known:
            # RWS-EVENT-3 scenarios only: a future type and a vendor type.
            assert scenario.unknown, event["type"]
            continue
        problems = schemas.errors(event, direction="server")
        if problems:
            assert scenario.server_deviations, (event["type"], str(problems[0]))
            error = event.get("error")
            assert event["type"] == "error"
            assert isinstance(error, dict)
            assert "type" not in error
    assert seen > 0


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_server_role_checker_finds_only_the_declared_deviations(
    captures: dict[str, Capture], scenario: ClientScenario
) -> None:
    config = CheckerConfig.make(("core", "multiplex"), roles=("server",), busy_lane=BUSY_LANE)
    report = Checker(config).feed_all(captures[scenario.id].records)
    found = {f.requirement for f in report.findings}
    assert found <= set(scenario.server_deviations), [f.message for f in report.findings]
    assert None not in found


def test_scripted_server_sees_the_raw_adapter_complete_every_task(
    captures: dict[str, Capture],
) -> None:
    for scenario in SCENARIOS:
        outcome = captures[scenario.id].outcome
        assert outcome.exit_code == (0 if scenario.completes else 1), (
            scenario.id,
            outcome.stderr[-500:],
        )


# --- the sans-I/O core -----------------------------------------------------------------------


def _create(**body: object) -> str:
    return json.dumps({"type": "response.create", "model": "conformance-1", **body})


def _sent(actions: Sequence[object]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def test_script_answers_previous_response_not_found_for_an_unknown_id() -> None:
    script = Script(scenario_by_id("incremental-input"), "conformance-1")
    script.connect("c1")
    events = _sent(script.receive("c1", _create(previous_response_id="resp_x", input="hi")))
    assert [e["type"] for e in events] == ["error"]
    error = events[0]["error"]
    assert isinstance(error, dict)
    assert error["code"] == "previous_response_not_found"


def test_script_serves_a_continuation_from_the_same_connection_only_for_store_false() -> None:
    script = Script(scenario_by_id("incremental-input"), "conformance-1")
    script.connect("c1")
    first = _sent(script.receive("c1", _create(input="one", store=False)))
    rid = first[-1]["response"]
    assert isinstance(rid, dict)
    script.finished("c1", None)
    again = _sent(script.receive("c1", _create(previous_response_id=rid["id"], input="two")))
    assert again[-1]["type"] == "response.completed"
    script.disconnect("c1")
    script.connect("c2")
    lost = _sent(script.receive("c2", _create(previous_response_id=rid["id"], input="two")))
    assert lost[0]["type"] == "error"


def test_script_rejects_a_second_create_while_the_lane_runs() -> None:
    script = Script(scenario_by_id("incremental-input"), "conformance-1")
    script.connect("c1")
    first = script.receive("c1", _create(input="one"))
    last = first[-1]
    assert isinstance(last, Send)
    assert last.ends_run
    busy = _sent(script.receive("c1", _create(input="two")))
    error = busy[0]["error"]
    assert isinstance(error, dict)
    assert error["code"] == "response_already_in_flight"


def test_script_closes_the_nth_connection_as_the_scenario_says() -> None:
    script = Script(scenario_by_id("reconnect-backoff"), "conformance-1")
    assert script.connect("c1") == []
    assert script.connect("c2") == [Close(1011, "try again later")]


def test_script_answers_tool_calls_until_the_scenario_count_then_text() -> None:
    script = Script(scenario_by_id("tool-loop"), "conformance-1")
    script.connect("c1")
    done = _sent(script.receive("c1", _create(input="look it up")))[-1]
    response = done["response"]
    assert isinstance(response, dict)
    call = response["output"][0]
    assert call["type"] == "function_call"
    q = json.loads(call["arguments"])["q"]
    script.finished("c1", None)
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": f"result:{q}"}
    nxt = _sent(script.receive("c1", _create(previous_response_id=response["id"], input=[output])))
    second = nxt[-1]["response"]
    assert isinstance(second, dict)
    assert second["output"][0]["type"] == "function_call"


async def test_scripted_server_advertises_busy_lane_reject_and_refuses_a_wrong_key() -> None:
    from websockets.exceptions import InvalidStatus

    server = ScriptedServer(Script(scenario_by_id("incremental-input"), "conformance-1"), "k")
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)

        # A plain client in a worker thread, as an adapter would connect.
        def handshake(key: str) -> str | int:
            from websockets.sync.client import connect as sync_connect

            try:
                with sync_connect(
                    server.url, additional_headers={"Authorization": f"Bearer {key}"}
                ) as ws:
                    assert ws.response is not None
                    return str(ws.response.headers["responses-ws-limits"])
            except InvalidStatus as exc:
                return exc.response.status_code

        limits = await trio.to_thread.run_sync(handshake, "k")
        refused = await trio.to_thread.run_sync(handshake, "wrong")
        nursery.cancel_scope.cancel()
    assert isinstance(limits, str)
    assert "busy-lane=reject" in limits.split(",")
    assert refused == 401
    assert [r["status"] for r in server.records if r["kind"] == "rejected"] == [401]
