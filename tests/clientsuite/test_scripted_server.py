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
from conformance.clientsuite.script import (
    BUSY_LANE,
    TERMINAL_PAUSE,
    Action,
    Close,
    Pause,
    Script,
    Send,
    SendBatch,
    Stream,
)
from conformance.clientsuite.server import ScriptedServer
from conformance.clientsuite.upgrade import inspect_upgrade
from conformance.schemas import default_schema_set
from tests.clientsuite.conftest import broken_client

# The scripted server is a steering server in the steering scenarios (and has no steering
# to judge in the others).
PROFILES = ("core", "multiplex", "steering")
RAW = ClientUnderTest(
    "raw-websockets",
    f"{sys.executable} -m conformance.adapters.raw_websockets",
    frozenset(PROFILES),
)


# A conforming client that opens every connection with a generate: false warm-up (as Codex
# CLI does), in the scenarios whose faults are keyed to creates, and with lanes and foreign
# events.
WARM = broken_client("", warm_up=True)
WARM_SCENARIOS = [
    s
    for s in SCENARIOS
    if s.faults or s.task == "lanes" or s.unknown or s.previous_response_id is not None
]


def _capture_all(
    client: ClientUnderTest, scenarios: Sequence[ClientScenario]
) -> dict[str, Capture]:
    async def run_all() -> dict[str, Capture]:
        out: dict[str, Capture] = {}

        async def one(scenario: ClientScenario) -> None:
            out[scenario.id] = await capture(client, scenario)

        async with trio.open_nursery() as nursery:
            for scenario in scenarios:
                nursery.start_soon(one, scenario)
        return out

    return trio.run(run_all)


@pytest.fixture(scope="module")
def captures() -> dict[str, Capture]:
    """Every scenario once, driven by the raw adapter."""
    return _capture_all(RAW, SCENARIOS)


@pytest.fixture(scope="module")
def warm_captures() -> dict[str, Capture]:
    """The warm-up scenarios once, driven by the warm-up client."""
    return _capture_all(WARM, WARM_SCENARIOS)


def _server_events(c: Capture) -> Iterator[dict[str, object]]:
    for record in c.records:
        if record["kind"] == "text" and record["dir"] == "s2c":
            event = json.loads(record["text"])
            assert isinstance(event, dict)
            yield event


def _assert_events_validate(c: Capture, scenario: ClientScenario) -> None:
    schemas = default_schema_set()
    known = schemas.server_event_types()
    seen = 0
    for event in _server_events(c):
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
def test_scripted_server_events_validate_except_declared_deviations(
    captures: dict[str, Capture], scenario: ClientScenario
) -> None:
    _assert_events_validate(captures[scenario.id], scenario)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_server_role_checker_finds_only_the_declared_deviations(
    captures: dict[str, Capture], scenario: ClientScenario
) -> None:
    config = CheckerConfig.make(PROFILES, roles=("server",), busy_lane=BUSY_LANE)
    report = Checker(config).feed_all(captures[scenario.id].records)
    found = {f.requirement for f in report.findings}
    assert found <= set(scenario.server_deviations), [f.message for f in report.findings]
    assert None not in found


@pytest.mark.parametrize("scenario", WARM_SCENARIOS, ids=[s.id for s in WARM_SCENARIOS])
def test_scripted_server_answers_warm_ups_as_a_conforming_server(
    warm_captures: dict[str, Capture], scenario: ClientScenario
) -> None:
    # RWS-CREATE-6 / RWS-CACHE-10: every warm-up runs without output and becomes a cached
    # entry; the faults still hit the turns they name, and nothing else deviates.
    records = warm_captures[scenario.id].records
    config = CheckerConfig.make(PROFILES, roles=("server",), busy_lane=BUSY_LANE)
    report = Checker(config).feed_all(records)
    found = {f.requirement for f in report.findings}
    assert found <= set(scenario.server_deviations), [f.message for f in report.findings]
    assert report.exercised.get("RWS-CREATE-6", 0) > 0
    if scenario.task == "conversation":
        # Continued from: the lanes task leaves its warm-up alone.
        assert report.exercised.get("RWS-CACHE-10", 0) > 0
    _assert_events_validate(warm_captures[scenario.id], scenario)
    outcome = warm_captures[scenario.id].outcome
    assert outcome.exit_code == (0 if scenario.completes else 1), outcome.stderr[-500:]


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


def _first_run(scenario_id: str) -> list[object]:
    scenario = scenario_by_id(scenario_id)
    script = Script(scenario, "conformance-1")
    script.connect("c1")
    actions = script.receive("c1", _create(input=scenario.prompts[0], store=scenario.store))
    return [json.loads(a.text)["type"] if isinstance(a, Send) else a for a in actions]


@pytest.mark.parametrize("scenario_id", ["tool-loop", "incremental-input"])
def test_script_pauses_between_the_last_item_and_the_terminal_event(scenario_id: str) -> None:
    # RWS-CLIENT-3 needs the pause to catch a client that does not wait for the run's end.
    run = _first_run(scenario_id)
    assert run[-3:] == ["response.output_item.done", Pause(TERMINAL_PAUSE), "response.completed"]


def test_script_sends_a_single_prompt_run_without_a_pause() -> None:
    run = _first_run("bursty-stream")
    assert run[-1] == "response.completed"
    assert not any(isinstance(a, Pause) for a in run)


def test_tool_loop_and_multi_prompt_scenarios_are_the_ones_that_pause() -> None:
    pausing = {s.id for s in SCENARIOS if Script(s, "conformance-1").pause_before_end}
    assert {"tool-loop", "incremental-input", "reconnect-store-false"} <= pausing
    assert not pausing & {"bursty-stream", "large-messages", "slow-stream", "lanes-interleaved"}


# --- the upgrade request (RWS-TRANS-19) --------------------------------------------------------

KEY = "sk-test-Secret_42"


@pytest.mark.parametrize(
    ("authorization", "target", "headers", "accepted", "bearer", "words"),
    [
        ([f"Bearer {KEY}"], "/v1/responses", [], True, True, "`Authorization: Bearer …`"),
        # RFC 9110: the scheme is case-insensitive.
        ([f"bearer  {KEY}"], "/v1/responses", [], True, True, "`Authorization: bearer …`"),
        (
            ["Bearer other-key"],
            "/v1/responses",
            [],
            False,
            True,
            "with a credential other than the key the suite gave",
        ),
        ([f"Basic {KEY}"], "/v1/responses", [], False, False, "`Authorization: Basic …`"),
        ([f"Token {KEY}"], "/v1/responses", [], False, False, "`Authorization: Token …`"),
        ([KEY], "/v1/responses", [], False, False, "<the key itself, without a scheme>"),
        (["Bearer"], "/v1/responses", [], False, False, "`Authorization: Bearer (no credential)`"),
        (
            [],
            f"/v1/responses?api_key={KEY}",
            [],
            False,
            False,
            "no Authorization header; the key was in the query parameter `api_key`",
        ),
        (
            [],
            "/v1/responses",
            [("X-Api-Key", KEY)],
            False,
            False,
            "no Authorization header; the key was in the header `X-Api-Key`",
        ),
        (
            [f"Bearer {KEY}", f"Token {KEY}"],
            "/v1/responses",
            [],
            False,
            False,
            "2 Authorization headers (`Authorization: Bearer …`, `Authorization: Token …`)",
        ),
    ],
)
def test_upgrade_credential_is_judged_and_described_without_the_key(
    authorization: list[str],
    target: str,
    headers: list[tuple[str, str]],
    accepted: bool,
    bearer: bool,
    words: str,
) -> None:
    upgrade = inspect_upgrade(target, authorization, headers, KEY)
    assert (upgrade.accepted, upgrade.bearer) == (accepted, bearer)
    assert words in upgrade.describe()
    assert KEY not in json.dumps(upgrade.to_dict())


async def test_scripted_server_accepts_a_lowercase_scheme_and_never_records_the_key() -> None:
    from websockets.exceptions import InvalidStatus

    key = "k-" + "s3cret"
    server = ScriptedServer(Script(scenario_by_id("incremental-input"), "conformance-1"), key)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)

        def handshake(url: str, headers: dict[str, str]) -> int:
            from websockets.sync.client import connect as sync_connect

            try:
                with sync_connect(url, additional_headers=headers):
                    return 101
            except InvalidStatus as exc:
                return exc.response.status_code

        lower = {"Authorization": f"bearer {key}"}
        ok = await trio.to_thread.run_sync(handshake, server.url, lower)
        query = await trio.to_thread.run_sync(handshake, f"{server.url}?key={key}", {})
        nursery.cancel_scope.cancel()
    assert (ok, query) == (101, 401)
    seen = server.observations["upgrades"]
    assert [(u["status"], u["bearer"]) for u in seen] == [(101, True), (401, False)]
    assert key not in json.dumps([server.records, server.observations])


# --- warm-ups: generate: false (RWS-CREATE-6, RWS-CACHE-10) ---------------------------------

SYSTEM = {"type": "message", "role": "developer", "content": "You are a test client."}


def _warm_up(script: Script, conn: str, **body: object) -> tuple[list[Action], dict[str, Any]]:
    """A warm-up on ``conn``: what the script did, and its completed response."""
    actions = script.receive(conn, _create(generate=False, input=[SYSTEM], store=False, **body))
    done = _sent(actions)[-1]
    assert done["type"] == "response.completed"
    response = done["response"]
    assert isinstance(response, dict)
    script.finished(conn, None)
    return actions, response


def test_script_answers_a_warm_up_without_output_as_create_6_says() -> None:
    script = Script(scenario_by_id("incremental-input"), "conformance-1")
    script.connect("c1")
    actions, response = _warm_up(script, "c1")
    # RWS-CREATE-6: no output items, response.completed with output empty, 0 output tokens;
    # no pause either: the warm-up is no turn the client could answer early.
    assert [json.loads(a.text)["type"] for a in actions if isinstance(a, Send)] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    assert not any(isinstance(a, Pause | Close) for a in actions)
    assert response["output"] == []
    assert response["usage"]["output_tokens"] == 0
    assert (script.creates, script.warm_ups) == (0, 1)


def test_script_continues_from_a_warm_up_whose_context_is_its_input() -> None:
    script = Script(scenario_by_id("incremental-input"), "conformance-1")
    script.connect("c1")
    warm = {"type": "message", "role": "user", "content": "warm-up question"}
    actions = script.receive("c1", _create(generate=False, input=[warm], store=False))
    rid = _sent(actions)[-1]["response"]["id"]
    script.finished("c1", None)
    turn = _sent(script.receive("c1", _create(previous_response_id=rid, input="first question")))
    # RWS-CACHE-10: the warm-up is a cached entry; the model sees its input (2 user messages).
    text = turn[-1]["response"]["output"][0]["content"][0]["text"]
    assert text == "reply 2.0: first question"
    assert script.creates == 1


def test_script_faults_address_turns_not_warm_ups() -> None:
    # reconnect-store-false closes with 1001 after create 1: the first turn, not the warm-up.
    script = Script(scenario_by_id("reconnect-store-false"), "conformance-1")
    script.connect("c1")
    _, warm = _warm_up(script, "c1")
    turn = script.receive("c1", _create(previous_response_id=warm["id"], input="first question"))
    assert turn[-1] == Close(1001, "going away")
    assert _sent(turn)[-1]["type"] == "response.completed"


def test_script_connection_age_limit_meets_the_second_turn_after_two_warm_ups() -> None:
    script = Script(scenario_by_id("connection-age-limit"), "conformance-1")
    script.connect("c1")
    _, warm = _warm_up(script, "c1")
    first = _sent(script.receive("c1", _create(previous_response_id=warm["id"], input="one")))
    assert first[-1]["type"] == "response.completed"
    script.finished("c1", None)
    script.disconnect("c1")
    # Codex: a new process, a new connection, a warm-up, then the second turn.
    script.connect("c2")
    _, warm = _warm_up(script, "c2")
    actions = script.receive("c2", _create(previous_response_id=warm["id"], input="two"))
    assert [e["error"]["code"] for e in _sent(actions)] == ["websocket_connection_limit_reached"]
    assert actions[-1] == Close(1001, "connection age limit")
    assert (script.creates, script.warm_ups) == (2, 2)


def test_script_serves_a_warm_up_in_a_lanes_scenario_at_once() -> None:
    # The lanes scenario holds lane requests until all have come; a warm-up is not one.
    script = Script(scenario_by_id("lanes-interleaved"), "conformance-1")
    script.connect("c1")
    _warm_up(script, "c1")
    assert not script.waiting("c1")


# --- steering (the steering scenarios' server) ------------------------------------------------


def _steer(target: str, words: str = "steer words", **extra: object) -> str:
    return json.dumps(
        {"type": "response.steer", "previous_response_id": target, "input": words, **extra}
    )


def _texts(step: object) -> list[dict[str, Any]]:
    """The events one step of a stream sends."""
    if isinstance(step, Send):
        return [json.loads(step.text)]
    if isinstance(step, SendBatch):
        return [json.loads(t) for t in step.texts]
    return []


def _steered_run(
    scenario_id: str, create: str, steer: str | None = None
) -> tuple[Script, list[dict[str, Any]], list[object]]:
    """Drive one run of a steering scenario's script step by step, as the glue does; ``steer``
    (its target filled in from the run's response.created) arrives right after that event.
    Returns the script, every event sent, and every step."""
    script = Script(scenario_by_id(scenario_id), "conformance-1")
    script.connect("c1")
    (stream,) = script.receive("c1", create)
    assert isinstance(stream, Stream)
    events: list[dict[str, Any]] = []
    steps: list[object] = []
    for step in stream.steps:
        steps.append(step)
        sent = _texts(step)
        events.extend(sent)
        if steer is not None and any(e["type"] == "response.created" for e in sent):
            target = sent[0]["response"]["id"]
            replies = script.receive("c1", steer.replace("TARGET", target))
            assert replies == [], "a steer for the running target is answered by the run"
            steer = None
        if isinstance(step, Send | SendBatch) and step.ends_run:
            script.finished("c1", step.lane)
    return script, events, steps


def test_running_target_accepts_a_steer_from_its_counter_and_its_successor_follows() -> None:
    _, events, steps = _steered_run(
        "steer-successor", _create(input="a long question"), _steer("TARGET")
    )
    types = [e["type"] for e in events]
    accepted = events[types.index("response.steer.accepted")]
    target = events[0]["response"]["id"]
    # RWS-STEER-3 / RWS-SEQ-5: the next number of the running target's counter.
    previous = events[types.index("response.steer.accepted") - 1]
    assert accepted["sequence_number"] == previous["sequence_number"] + 1
    assert accepted["steer"] == {"id": "steer_001", "previous_response_id": target}
    # The target stops at its next delta: one delta, its item incomplete, reason steered.
    assert types.count("response.output_text.delta") >= 1
    terminal = events[types.index("response.incomplete")]
    assert terminal["response"]["incomplete_details"] == {"reason": "steered"}
    assert terminal["response"]["output"][0]["status"] == "incomplete"
    # RWS-STEER-4: the successor continues the target, in the same write as its end, and
    # answers for the steering input (the scripted model names the last user message).
    batch = next(s for s in steps if isinstance(s, SendBatch))
    assert [e["type"] for e in _texts(batch)] == ["response.incomplete", "response.created"]
    assert not batch.ends_run
    successor = _texts(batch)[1]["response"]
    assert successor["previous_response_id"] == target
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["id"] == successor["id"]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "reply 2.0: steer words"


def test_pending_steering_input_is_placed_before_the_continuations_own_input() -> None:
    script, events, _ = _steered_run(
        "steer-pending", _create(input="look it up"), _steer("TARGET", "steer: late")
    )
    types = [e["type"] for e in events]
    assert types[-2:] == ["response.completed", "response.steer.pending"]
    pending = events[-1]
    target = events[0]["response"]["id"]
    # RWS-STEER-6 / RWS-SEQ-5: after the target's response.completed, numbered 0.
    assert pending["sequence_number"] == 0
    call = events[-2]["response"]["output"][0]
    assert pending["required_input"] == [
        {"type": "function_call_output", "call_id": call["call_id"], "name": "lookup"}
    ]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "result:q1-1"}
    (stream,) = script.receive("c1", _create(previous_response_id=target, input=[output]))
    assert isinstance(stream, Stream)
    done = [e for step in stream.steps for e in _texts(step)][-1]
    # Spec 9.3: the context is the target's, the pending input, then the tool output.
    assert done["response"]["output"][0]["content"][0]["text"] == "reply 2.1: steer: late"
    assert script.pending_steers == {}


def test_refused_steer_leaves_the_target_running_to_completion() -> None:
    _, events, _ = _steered_run(
        "steer-returned", _create(input="first long question"), _steer("TARGET")
    )
    failed = next(e for e in events if e["type"] == "response.steer.failed")
    assert "id" not in failed["steer"]
    assert failed["steer"]["input"] == "steer words"
    assert failed["error"]["code"] == "response_not_active"
    assert events[-1]["type"] == "response.completed"


def test_late_failure_gives_the_accepted_input_back_with_its_id_after_the_end() -> None:
    # The scenario's second steer fails late: the first is refused on the way.
    script = Script(scenario_by_id("steer-returned"), "conformance-1")
    script.steers = 1
    script.connect("c1")
    (stream,) = script.receive("c1", _create(input="second long question"))
    assert isinstance(stream, Stream)
    events: list[dict[str, Any]] = []
    for step in stream.steps:
        sent = _texts(step)
        events.extend(sent)
        if sent and sent[0]["type"] == "response.created":
            script.receive("c1", _steer(sent[0]["response"]["id"]))
    accepted = next(e for e in events if e["type"] == "response.steer.accepted")
    assert [e["type"] for e in events[-2:]] == ["response.completed", "response.steer.failed"]
    late = events[-1]
    # RWS-STEER-8: the accepted id, the input as sent, numbered 0 (the target has ended).
    assert late["steer"]["id"] == accepted["steer"]["id"]
    assert late["steer"]["input"] == "steer words"
    assert late["error"]["code"] == "successor_creation_failed"
    assert late["sequence_number"] == 0


def test_steer_for_a_target_that_is_not_running_is_answered_at_once_with_0() -> None:
    script = Script(scenario_by_id("steer-returned"), "conformance-1")
    script.connect("c1")
    unknown = _sent(script.receive("c1", _steer("resp_nowhere")))
    assert unknown[0]["error"]["code"] == "response_not_found"
    assert unknown[0]["sequence_number"] == 0
    assert "id" not in unknown[0]["steer"]
    # RWS-STEER-5: stream_id in response.steer is invalid input.
    with_lane = _sent(script.receive("c1", _steer("resp_nowhere", stream_id=None)))
    assert with_lane[0]["error"]["code"] == "invalid_input"
    assert script.steers == 0


def test_script_refuses_every_steer_outside_the_steering_profile() -> None:
    script = Script(scenario_by_id("incremental-input"), "conformance-1")
    script.connect("c1")
    (answer,) = _sent(script.receive("c1", _steer("resp_x")))
    # RWS-STEER-1: a server without the steering profile.
    assert answer["error"]["code"] == "steering_not_supported"


STEERING = [s for s in SCENARIOS if s.profile == "steering"]


@pytest.mark.parametrize("scenario", STEERING, ids=[s.id for s in STEERING])
def test_scripted_server_answers_every_steer_as_a_steering_server(
    captures: dict[str, Capture], scenario: ClientScenario
) -> None:
    # The server-role checker judged its steering replies (the parametrised test above
    # holds them to have no finding).
    config = CheckerConfig.make(PROFILES, roles=("server",), busy_lane=BUSY_LANE)
    report = Checker(config).feed_all(captures[scenario.id].records)
    steers = sum(
        1
        for r in captures[scenario.id].records
        if r["kind"] == "text" and r["dir"] == "c2s" and '"response.steer"' in r["text"]
    )
    assert steers >= 1
    assert report.exercised.get("RWS-STEER-2", 0) == steers
