"""Transcript records, reading and writing, and ``responses-ws validate``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conformance.cli import build_parser
from conformance.commands.validate import run as run_validate
from conformance.transcript import (
    Record,
    dumps_record,
    parse_line,
    read_jsonl,
    write_jsonl,
)
from tests.checker.synth import Transcript, check, error_event, run_events

__all__: list[str] = []


class TestRecords:
    """Reading never raises: bad lines become malformed records."""

    def test_records_round_trip_through_jsonl(self, tmp_path: Path) -> None:
        """write_jsonl then read_jsonl gives the same records."""
        t = Transcript().open().create().recv(*run_events()).binary(b"\x00\xff").close()
        path = tmp_path / "t.jsonl"
        write_jsonl(path, t.records)
        assert list(read_jsonl(path)) == t.records

    @pytest.mark.parametrize(
        ("line", "problem"),
        [
            ("{not json", "not a JSON line"),
            ("[1]", "must be a JSON object"),
            ('{"kind": "text"}', "no string 'conn'"),
            ('{"conn": "c1", "kind": "frame"}', "unknown record kind"),
            ('{"conn": "c1", "kind": "text", "dir": "up", "text": ""}', "needs 'dir'"),
            ('{"conn": "c1", "kind": "text", "dir": "c2s"}', "no string 'text'"),
            ('{"conn": "c1", "kind": "binary", "dir": "c2s", "b64": "!!"}', "not base64"),
        ],
    )
    def test_bad_line_becomes_malformed_record(self, line: str, problem: str) -> None:
        """Each kind of bad line is named in the record's problem."""
        record = parse_line(line, 7)
        assert record.kind == "malformed"
        assert record.index == 7
        assert problem in (record.problem or "")

    def test_unknown_keys_are_kept(self) -> None:
        """Keys the format does not define survive a round trip."""
        record = parse_line('{"conn": "c1", "kind": "close", "x-harness": 3}', 0)
        assert json.loads(dumps_record(record))["x-harness"] == 3

    def test_malformed_record_is_a_transcript_finding(self) -> None:
        """The checker reports a malformed line as a FAILED transcript problem."""
        report = check([parse_line("{oops", 0)])
        assert [(f.requirement, f.verdict.value) for f in report.findings] == [(None, "FAILED")]
        assert report.failed

    def test_traffic_after_close_is_a_transcript_finding(self) -> None:
        """A message on a closed connection is a problem of the recording."""
        t = Transcript().open().close().create()
        report = check(t)
        assert [f.requirement for f in report.findings] == [None]

    def test_message_constructor_serialises_dicts(self) -> None:
        """Record.message writes compact JSON text."""
        record = Record.message(0, "c1", "c2s", {"type": "response.create"})
        assert record.text == '{"type":"response.create"}'


class TestValidateCommand:
    """responses-ws validate TRANSCRIPT.jsonl."""

    def write(self, tmp_path: Path, t: Transcript) -> str:
        path = tmp_path / "t.jsonl"
        write_jsonl(path, t.records)
        return str(path)

    def test_clean_transcript_exits_0(self, tmp_path: Path) -> None:
        """No FAILED finding: exit status 0 and a summary line."""
        path = self.write(tmp_path, Transcript().open().create().recv(*run_events()))
        args = build_parser().parse_args(["validate", path])
        out = io.StringIO()
        assert run_validate(args, out) == 0
        assert "PASSED" in out.getvalue()

    def test_failing_transcript_exits_1_and_names_the_requirement(self, tmp_path: Path) -> None:
        """A FAILED finding: exit status 1, the requirement in the output."""
        events = run_events()[1:]
        path = self.write(tmp_path, Transcript().open().create().recv(*events))
        args = build_parser().parse_args(["validate", path])
        out = io.StringIO()
        assert run_validate(args, out) == 1
        assert "RWS-ORDER-1" in out.getvalue()

    def test_json_report_lists_findings_and_verdicts(self, tmp_path: Path) -> None:
        """--json prints the report as JSON."""
        t = Transcript().open().create(stream=False)
        t.recv(error_event("invalid_value", param="stream"))
        args = build_parser().parse_args(["validate", self.write(tmp_path, t), "--json"])
        out = io.StringIO()
        assert run_validate(args, out) == 1
        report = json.loads(out.getvalue())
        assert report["verdicts"]["RWS-CREATE-18"] == "FAILED"
        assert report["findings"][0]["requirement"] == "RWS-CREATE-18"

    def test_declared_parameters_change_the_verdict(self, tmp_path: Path) -> None:
        """--busy-lane reject makes a queued second run a failure, and --role server keeps
        the client's own fault out."""
        t = Transcript().open().create().create().recv(*run_events(), *run_events())
        path = self.write(tmp_path, t)
        queue = build_parser().parse_args(["validate", path])
        reject = build_parser().parse_args(
            ["validate", path, "--busy-lane", "reject", "--role", "server"]
        )
        assert run_validate(queue, io.StringIO()) == 0
        out = io.StringIO()
        assert run_validate(reject, out) == 1
        assert "RWS-LANE-2" in out.getvalue()
        assert "RWS-CLIENT-3" not in out.getvalue()

    def test_missing_file_exits_2(self, tmp_path: Path) -> None:
        """An unreadable transcript is exit status 2."""
        args = build_parser().parse_args(["validate", str(tmp_path / "absent.jsonl")])
        assert run_validate(args, io.StringIO()) == 2


def test_validate_accepts_profiles_and_server_parameters(tmp_path: Path) -> None:
    """--profile takes comma-separated lists; --server-param sets any declared parameter."""
    t = Transcript().open()
    t.records.append(Record(index=1, kind="text", conn="c1", ts=9.0, dir="c2s",
                            text='{"type":"response.create","input":"hi"}'))  # fmt: skip
    t.recv(*run_events())
    path = tmp_path / "t.jsonl"
    write_jsonl(path, t.records)
    args = build_parser().parse_args(
        ["validate", str(path), "--profile", "multiplex,steering", "--server-param",
         "max-connection-age=5", "--json"]
    )  # fmt: skip
    out = io.StringIO()
    assert run_validate(args, out) == 1
    assert json.loads(out.getvalue())["verdicts"]["RWS-LIMIT-1"] == "FAILED"


def test_validate_rejects_unknown_profile(tmp_path: Path) -> None:
    """A profile the specification does not define is a usage error (exit 2)."""
    path = tmp_path / "t.jsonl"
    write_jsonl(path, Transcript().open().records)
    args = build_parser().parse_args(["validate", str(path), "--profile", "turbo"])
    assert run_validate(args, io.StringIO()) == 2


class TestControlRecords:
    """ping and pong records: a direction and an optional base64 payload."""

    def test_ping_and_pong_records_round_trip(self, tmp_path: Path) -> None:
        """The payload is kept as bytes and written back as b64."""
        t = Transcript().open().ping(b"\x00rws").pong(b"\x00rws").ping(b"", direction="s2c")
        path = tmp_path / "t.jsonl"
        write_jsonl(path, t.records)
        assert list(read_jsonl(path)) == t.records
        assert json.loads(path.read_text().splitlines()[1])["b64"] == "AHJ3cw=="

    def test_ping_without_payload_has_an_empty_payload(self) -> None:
        """b64 may be left out: an empty payload."""
        record = parse_line('{"conn": "c1", "kind": "ping", "dir": "c2s"}', 0)
        assert (record.kind, record.data) == ("ping", b"")

    @pytest.mark.parametrize(
        ("line", "problem"),
        [
            ('{"conn": "c1", "kind": "pong"}', "pong record needs 'dir'"),
            ('{"conn": "c1", "kind": "ping", "dir": "c2s", "b64": "%%"}', "not base64"),
        ],
    )
    def test_bad_control_records_are_malformed(self, line: str, problem: str) -> None:
        """A ping or pong needs a direction, and its payload must be base64."""
        record = parse_line(line, 0)
        assert record.kind == "malformed"
        assert problem in (record.problem or "")
