"""``responses-ws validate --role client`` judges a recorded client session fully.

The whole-transcript client rules (continuations, retries, reconnections, backoff) run through
the same judgement as the client suite (:func:`conformance.checker.judge.judge_transcript`),
and every finding says in words what the client sent and what came back. The transcripts are
hand-built recordings, and recordings of the client suite's broken clients judged both ways.
"""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from conformance.cli import build_parser
from conformance.clientsuite.judge import judge
from conformance.clientsuite.runner import ClientUnderTest, capture
from conformance.clientsuite.scenarios import scenario_by_id
from conformance.commands.validate import run as run_validate
from conformance.requirements import load_requirements
from conformance.transcript import write_jsonl
from tests.checker.synth import Message, Transcript, error_event, run_events
from tests.clientsuite.conftest import broken_client

NOT_FOUND = error_event("previous_response_not_found", param="previous_response_id")
RAW = ClientUnderTest(
    "raw-websockets",
    f"{shlex.quote(sys.executable)} -m conformance.adapters.raw_websockets",
    frozenset({"core", "multiplex"}),
)


def _validate(path: Path, *options: str) -> tuple[int, str]:
    args = build_parser().parse_args(["validate", str(path), "--role", "client", *options])
    out = io.StringIO()
    status = run_validate(args, out)
    return status, out.getvalue()


def _first_turn(t: Transcript) -> Transcript:
    """A store=false first turn on c1, answered "one", then the server's 1001 close."""
    t.open("c1").create("c1", input="first question", store=False)
    t.recv(*run_events([Message("one")], rid="resp_a"), conn="c1")
    return t.close("c1", direction="s2c", code=1001)


def _misbehaving(tmp_path: Path) -> Path:
    # RWS-CLIENT-5: continues the store=false chain on the new connection by id, then
    # RWS-CLIENT-2: after previous_response_not_found, sends the same id once more.
    t = _first_turn(Transcript())
    t.open("c2").create("c2", previous_response_id="resp_a", input="second question")
    t.recv(NOT_FOUND, conn="c2")
    t.create("c2", previous_response_id="resp_a", input="second question")
    t.recv(NOT_FOUND, conn="c2")
    path = tmp_path / "misbehaving.jsonl"
    write_jsonl(path, t.records)
    return path


def _well_behaved(tmp_path: Path) -> Path:
    t = _first_turn(Transcript())
    full: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": "first question"},
        {"type": "message", "role": "assistant", "content": "one"},
        {"type": "message", "role": "user", "content": "second question"},
    ]
    t.open("c2").create("c2", input=full, store=False)
    t.recv(*run_events([Message("two")], rid="resp_b"), conn="c2")
    new = [{"type": "message", "role": "user", "content": "third question"}]
    t.create("c2", previous_response_id="resp_b", input=new, store=False)
    t.recv(*run_events([Message("three")], rid="resp_c"), conn="c2")
    path = tmp_path / "well-behaved.jsonl"
    write_jsonl(path, t.records)
    return path


def test_validate_role_client_fails_a_stale_id_after_1001_and_a_repeated_not_found_id(
    tmp_path: Path,
) -> None:
    status, out = _validate(_misbehaving(tmp_path))
    assert status == 1
    lines = out.splitlines()
    assert any(line.startswith("FAILED        RWS-CLIENT-5") for line in lines), out
    assert any(line.startswith("FAILED        RWS-CLIENT-2") for line in lines), out
    # In words: what the client sent, and what came back.
    assert 'the client sent response.create with previous_response_id "resp_a"' in out
    assert "the answer: the server sent error previous_response_not_found" in out


def test_validate_role_client_json_gives_verdicts_and_explanations(tmp_path: Path) -> None:
    status, out = _validate(_misbehaving(tmp_path), "--json")
    assert status == 1
    report = json.loads(out)
    assert report["verdicts"]["RWS-CLIENT-5"] == "FAILED"
    assert report["verdicts"]["RWS-CLIENT-2"] == "FAILED"
    explained = {f["requirement"]: f["explanation"] for f in report["findings"]}
    assert explained["RWS-CLIENT-5"][0].startswith(
        'the client sent response.create with previous_response_id "resp_a"'
    )
    assert explained["RWS-CLIENT-2"][-1].startswith("the answer: the server sent error")
    # Only client requirements are judged under --role client.
    registry = load_requirements()
    assert {registry[rid].role for rid in report["verdicts"]} == {"client"}


def test_validate_role_client_passes_a_well_behaved_session(tmp_path: Path) -> None:
    status, out = _validate(_well_behaved(tmp_path), "--json")
    assert status == 0
    report = json.loads(out)
    assert report["findings"] == []
    verdicts = report["verdicts"]
    # The whole-transcript rules ran: the continuation on the new connection (RWS-CLIENT-5)
    # and the incremental continuation after it (RWS-CLIENT-1), with the per-message rules.
    for rid in ("RWS-CLIENT-5", "RWS-CLIENT-1", "RWS-CREATE-13", "RWS-ERR-7", "RWS-CREATE-2"):
        assert verdicts[rid] == "PASSED", (rid, verdicts)


def test_validate_role_server_does_not_judge_the_client(tmp_path: Path) -> None:
    args = build_parser().parse_args(["validate", str(_misbehaving(tmp_path)), "--json"])
    out = io.StringIO()
    run_validate(args, out)
    both = json.loads(out.getvalue())["verdicts"]
    args = build_parser().parse_args(
        ["validate", str(_misbehaving(tmp_path)), "--role", "server", "--json"]
    )
    out = io.StringIO()
    run_validate(args, out)
    server = json.loads(out.getvalue())["verdicts"]
    assert both["RWS-CLIENT-5"] == "FAILED"
    assert "RWS-CLIENT-5" not in server


@pytest.mark.parametrize(
    ("client", "scenario_id", "requirement", "verdict"),
    [
        (
            broken_client("stale-id-new-connection"),
            "reconnect-store-false",
            "RWS-CLIENT-5",
            "FAILED",
        ),
        (broken_client("stale-previous-id"), "resume-not-found", "RWS-CLIENT-2", "FAILED"),
        (broken_client("full-resend"), "incremental-input", "RWS-CLIENT-1", "WARNING"),
        (RAW, "reconnect-store-false", "RWS-CLIENT-5", "PASSED"),
    ],
    ids=["stale-id-new-connection", "stale-previous-id", "full-resend", "raw-adapter"],
)
def test_validate_and_the_client_suite_give_a_recording_the_same_verdicts(
    tmp_path: Path, client: ClientUnderTest, scenario_id: str, requirement: str, verdict: str
) -> None:
    scenario = scenario_by_id(scenario_id)
    captured = trio.run(lambda: capture(client, scenario))
    suite = judge(
        client.name,
        scenario,
        client.profiles,
        captured.records,
        captured.observations,
        captured.outcome,
    )
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in captured.records), encoding="utf-8")
    code, out = _validate(path, "--busy-lane", "reject", "--profile", "multiplex", "--json")
    verdicts = json.loads(out)["verdicts"]
    assert code == (1 if verdict == "FAILED" else 0), out
    assert verdicts[requirement] == verdict
    # Whatever the recording shows, both judge alike (the suite adds what only the scenario
    # shows - the task's result, the upgrade request - and never contradicts the transcript).
    for rid, value in verdicts.items():
        assert suite.requirement_verdicts[rid].value == value, rid
