"""The live judge reaches validate's verdicts, and tells each finding at the record revealing it."""

from __future__ import annotations

import copy
from typing import Any

from conformance.checker import CheckerConfig
from conformance.checker.judge import judge_transcript
from conformance.proxy.live import LiveFinding, LiveJudge, describe
from conformance.transcript import Record
from tests.checker.synth import Message, Transcript, error_event, run_events

_CONFIG = CheckerConfig.make(profiles=("core", "multiplex"))


def _dicts(records: list[Record]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in records]


def _live(records: list[dict[str, Any]]) -> tuple[LiveJudge, list[LiveFinding]]:
    told: list[LiveFinding] = []
    judge = LiveJudge(_CONFIG, on_finding=told.append)
    for record in records:
        judge.record(record)
    return judge, told


def _conversation() -> Transcript:
    """Two connections: a continuation with a broken sequence number and a bad field, a ping
    the server closes without answering, and a second connection that continues the first's
    store=false response (previous_response_not_found, as it should be)."""
    first = run_events([Message("Hello there.")], rid="resp_live_1")
    broken = run_events([Message("Again.", k=3)], rid="resp_live_2")
    broken[4]["sequence_number"] = 3  # RWS-SEQ-2: not above the previous one
    t = Transcript().open("c1").create("c1", store=False).recv(*first, conn="c1")
    t.create("c1", previous_response_id="resp_live_1", stream=True).recv(*broken, conn="c1")
    t.ping(b"hb", conn="c1").close("c1", direction="s2c")
    t.open("c2").create("c2", previous_response_id="resp_live_1")
    t.recv(error_event("previous_response_not_found", param="previous_response_id"), conn="c2")
    return t.close("c2", direction="c2s")


def test_live_judgement_is_validates_judgement_of_the_same_records() -> None:
    records = _dicts(_conversation().records)
    judge, told = _live(records)
    live = judge.finish()
    offline = judge_transcript(copy.deepcopy(records), _CONFIG)
    # The live report also judges upgrades (RWS-TRANS-19), which a transcript cannot show.
    assert [(f.requirement, f.message, f.records) for f in live.findings] == [
        (f.requirement, f.message, f.records) for f in offline.findings
    ]
    assert live.verdicts() == offline.verdicts()
    assert {f.finding for f in told} == set(live.findings)


def test_each_finding_is_told_at_the_record_that_reveals_it() -> None:
    records = _dicts(_conversation().records)
    _, told = _live(records)
    by_requirement = {f.finding.requirement: f for f in told}
    seq = by_requirement["RWS-SEQ-2"]
    assert seq.record == max(seq.finding.records)
    assert seq.event == "s2c response.output_text.delta"
    stream = by_requirement["RWS-CREATE-13"]  # "stream": true in response.create
    assert stream.event == "c2s response.create"
    pong = by_requirement["RWS-TRANS-9"]  # the server closed without answering the ping
    assert pong.event == "s2c close 1000"


def test_upgrade_without_a_bearer_credential_breaks_trans_19_without_showing_it() -> None:
    told: list[LiveFinding] = []
    judge = LiveJudge(_CONFIG, on_finding=told.append)
    record = {"ts": 0.0, "conn": "c1", "kind": "rejected", "url": "ws://h/", "status": 401}
    index = judge.record(record)
    judge.upgrade("c1", index, "/v1/responses", ["Token sk-hidden-key"], [], record)
    judge.upgrade("c1", index, "/v1/responses", ["Bearer sk-hidden-key"], [], record)
    [found] = told
    assert found.finding.requirement == "RWS-TRANS-19"
    assert "Token …" in found.finding.message
    assert "sk-hidden-key" not in found.finding.message
    assert found.event == "rejected (HTTP 401)"
    assert judge.finish().exercised["RWS-TRANS-19"] == 2


def test_server_only_judgement_leaves_the_client_unjudged() -> None:
    config = CheckerConfig.make(profiles=("core",), roles=("server",))
    judge = LiveJudge(config)
    for record in _dicts(_conversation().records):
        judge.record(record)
    report = judge.finish()
    assert {f.requirement for f in report.findings} == {"RWS-SEQ-2", "RWS-SEQ-3", "RWS-TRANS-9"}


def test_record_in_words() -> None:
    assert describe({"kind": "text", "dir": "c2s", "text": "not json"}) == "c2s text (not JSON)"
    assert describe({"kind": "close", "dir": "s2c", "code": 1001}) == "s2c close 1001"
    assert describe({"kind": "close", "code": 1006}) == "close 1006"
    assert describe({"kind": "ping", "dir": "c2s"}) == "c2s ping"
