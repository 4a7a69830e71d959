"""Client requirement coverage, and the whole-transcript client rules on small transcripts."""

from __future__ import annotations

import json
from typing import Any

from conformance.checker import CheckerConfig
from conformance.checker.client import check_client_traffic, essence
from conformance.clientsuite.judge import parse_output
from conformance.clientsuite.scenarios import NOT_COVERED, SCENARIOS
from conformance.requirements import load_requirements
from conformance.results import Verdict

CLIENT = CheckerConfig.make(("core", "multiplex"), roles=("client",), busy_lane="reject")


def test_every_client_requirement_is_covered_or_listed_with_a_reason() -> None:
    client = {
        rid
        for rid, req in load_requirements().items()
        if req.role == "client" and req.status == "active"
    }
    covered = {rid for s in SCENARIOS for rid in s.requirements}
    assert client - covered == set(NOT_COVERED)
    assert covered <= client
    assert all(reason.strip() for reason in NOT_COVERED.values())


def test_scenario_ids_are_unique_and_name_their_task_requirements() -> None:
    ids = [s.id for s in SCENARIOS]
    assert len(ids) == len(set(ids))
    for scenario in SCENARIOS:
        assert set(scenario.task_requirements) <= set(scenario.requirements), scenario.id


def _rec(kind: str, conn: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "conn": conn, "ts": ts, **fields}


def _closes_and_opens(waits: list[float]) -> list[dict[str, Any]]:
    records = [_rec("open", "c1", 0.0, url="ws://x", status=101)]
    t = 0.0
    for n, wait in enumerate(waits, start=2):
        records.append(_rec("close", f"c{n - 1}", t, dir="s2c", code=1011))
        t += wait
        records.append(_rec("open", f"c{n}", t, url="ws://x", status=101))
    return records


def test_backoff_rule_accepts_doubling_waits() -> None:
    report = check_client_traffic(_closes_and_opens([0.2, 0.4, 0.8]), CLIENT)
    assert report.verdicts().get("RWS-ERR-7") is Verdict.PASSED


def test_backoff_rule_warns_on_immediate_reconnections() -> None:
    report = check_client_traffic(_closes_and_opens([0.001, 0.001, 0.001]), CLIENT)
    assert report.verdicts().get("RWS-ERR-7") is Verdict.WARNING


def test_backoff_rule_warns_on_shrinking_waits() -> None:
    report = check_client_traffic(_closes_and_opens([0.8, 0.4]), CLIENT)
    assert report.verdicts().get("RWS-ERR-7") is Verdict.WARNING


def test_reconnection_after_1008_is_a_warning_of_err_9() -> None:
    records = [
        _rec("open", "c1", 0.0, url="ws://x", status=101),
        _rec("close", "c1", 0.1, dir="s2c", code=1008),
        _rec("open", "c2", 0.2, url="ws://x", status=101),
    ]
    report = check_client_traffic(records, CLIENT)
    assert report.verdicts().get("RWS-ERR-9") is Verdict.WARNING


def test_stream_field_is_a_warning_of_create_13() -> None:
    create = {"type": "response.create", "model": "m", "input": "hi", "stream": True}
    records = [
        _rec("open", "c1", 0.0, url="ws://x", status=101),
        _rec("text", "c1", 0.1, dir="c2s", text=json.dumps(create)),
    ]
    report = check_client_traffic(records, CLIENT)
    assert report.verdicts().get("RWS-CREATE-13") is Verdict.WARNING


def test_essence_ignores_ids_statuses_and_part_shapes() -> None:
    sent = {"type": "message", "role": "assistant", "content": "done"}
    received = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "done", "annotations": []}],
    }
    assert essence(sent) == essence(received)
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"a": 1}'}
    assert essence(call) == essence({**call, "arguments": '{"a":1}', "id": "fc_1"})


def test_adapter_output_is_the_last_line_json_or_plain() -> None:
    assert parse_output('log\n{"text": "a"}\n') == ["a"]
    assert parse_output('{"texts": ["a", "b"]}') == ["a", "b"]
    assert parse_output("debug\nplain answer\n\n") == ["plain answer"]
    assert parse_output("") is None
