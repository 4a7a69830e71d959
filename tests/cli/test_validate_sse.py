"""``responses-ws validate`` reads a recorded stream of server-sent events (spec section 13).

The streams are what the reference server's HTTP front sends (driven without sockets), saved
as a client would save them; a broken one is caught by the rule it breaks.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from conformance.cli import build_parser
from conformance.commands.validate import run as run_validate
from conformance.sse_transcript import REBUILT_NOTE, looks_like_sse, sse_records
from reference_impl.faults import Faults
from tests.reference_impl.http_driver import HttpDriver, post

BODY: dict[str, Any] = {
    "model": "conformance-1",
    "input": "rws:text length=30 chunks=3",
    "metadata": {"k": "v"},
    "stream": True,
}


def _stream(tmp_path: Path, *faults: str, name: str = "run.sse") -> Path:
    answer = HttpDriver(faults=Faults(faults)).exchange(post(BODY))
    path = tmp_path / name
    path.write_bytes(answer.body)
    return path


def _validate(*argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["validate", *argv])
    out = io.StringIO()
    return run_validate(args, out), out.getvalue()


def test_a_correct_stream_validates(tmp_path: Path) -> None:
    status, out = _validate(str(_stream(tmp_path)), "--role", "server")
    assert status == 0, out
    assert "FAILED" not in out


def test_a_stream_is_judged_with_the_request_that_was_sent(tmp_path: Path) -> None:
    request = tmp_path / "body.json"
    request.write_text(json.dumps(BODY), encoding="utf-8")
    status, out = _validate(str(_stream(tmp_path)), "--request", str(request))
    assert status == 0, out


def test_a_broken_stream_fails_by_its_rule(tmp_path: Path) -> None:
    status, out = _validate(str(_stream(tmp_path, "sse-event-mismatch")), "--role", "server")
    assert status == 1
    assert "RWS-HTTP-5" in out
    # A broken run over HTTP is caught by the run's own rule.
    status, out = _validate(str(_stream(tmp_path, "sequence-repeat")), "--role", "server")
    assert status == 1
    assert "RWS-SEQ-2" in out


def test_a_request_is_rebuilt_from_response_created_when_it_was_not_kept() -> None:
    answer = HttpDriver().exchange(post(BODY))
    records = sse_records(answer.body)
    request = records[1]
    assert request.note == REBUILT_NOTE
    sent = json.loads(request.text or "")
    assert sent["model"] == "conformance-1"
    assert sent["metadata"] == {"k": "v"}
    assert [r.kind for r in records[-1:]] == ["close"]


def test_transcripts_and_streams_are_told_apart() -> None:
    assert looks_like_sse(b"\nevent: response.created\ndata: {}\n")
    assert looks_like_sse(b": keep-alive\n")
    assert not looks_like_sse(b'{"conn": "c1", "kind": "open"}\n')
    assert not looks_like_sse(b"")


def test_request_is_refused_for_a_transcript(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"conn": "c1", "kind": "open"}\n', encoding="utf-8")
    status, _ = _validate(str(path), "--request", str(path))
    assert status == 2
