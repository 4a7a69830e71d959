"""``responses-ws proxy`` as a program: live lines, the summary, the reports, the exit status.

The proxy runs a small client through itself (the command after ``--``) in front of the
reference server with a fault switch, so that each run breaks one requirement on purpose: a
SHOULD (``sequence-start-1``, RWS-SEQ-3) fails the run only with ``--fail-on should``, a MUST
(``delta-mismatch``, RWS-DELTA-1) always. Without a command, SIGTERM ends the session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from conformance.cli import build_parser
from conformance.harness.spawn import spawn_reference
from conformance.reports.json_report import SCHEMA_PATH

_REPO = Path(__file__).resolve().parents[2]

# A client for the command after --: one run through the proxy, key from the environment.
_CLIENT = textwrap.dedent(
    """
    import json, os
    from websockets.sync.client import connect

    url = os.environ["RWS_PROXY_URL"] + "/v1/responses"
    key = os.environ["TEST_KEY"]
    with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        ws.send(json.dumps({"type": "response.create", "model": "conformance-1",
                            "input": "rws:text length=30 chunks=3"}))
        while json.loads(ws.recv())["type"] != "response.completed":
            pass
    print("client done")
    """
)


def _proxy(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "proxy", *args],
        cwd=_REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def _through(fault: str, tmp_path: Path, *options: str) -> tuple[int, str]:
    client = tmp_path / "client.py"
    client.write_text(_CLIENT, encoding="utf-8")
    with spawn_reference(["--fault", fault]) as server:
        process = _proxy(
            "--upstream", server.url, "--report-dir", str(tmp_path / "report"), *options,
            "--", sys.executable, str(client),
            env={"TEST_KEY": server.api_keys[0]},
        )  # fmt: skip
        output, _ = process.communicate(timeout=120)
    return process.returncode, output


@pytest.mark.slow
@pytest.mark.parametrize(("fail_on", "status"), [("must", 0), ("should", 1)])
def test_should_not_met_fails_only_with_fail_on_should(
    tmp_path: Path, fail_on: str, status: int
) -> None:
    code, output = _through("sequence-start-1", tmp_path, "--fail-on", fail_on)
    assert code == status, output
    assert "client done" in output
    live = [line for line in output.splitlines() if " WARNING RWS-SEQ-3 " in line]
    assert live, output
    # Printed as it happened: the violation's line comes before the summary.
    assert output.index(live[0]) < output.index("requirements: FAILED 0")
    assert "0 requirements violated, 1 SHOULD not met:" in output


@pytest.mark.slow
def test_must_violation_fails_the_run_and_is_in_every_report(tmp_path: Path) -> None:
    code, output = _through("delta-mismatch", tmp_path)
    assert code == 1, output
    assert any(" FAILED  RWS-DELTA-1 " in line for line in output.splitlines()), output
    report_dir = tmp_path / "report"
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert [v["requirement"] for v in report["violations"]] == ["RWS-DELTA-1"]
    assert "RWS-DELTA-1" in (report_dir / "junit.xml").read_text(encoding="utf-8")
    assert "RWS-DELTA-1" in (report_dir / "report.html").read_text(encoding="utf-8")
    [transcript] = (report_dir / "transcripts").glob("*.jsonl")
    validated = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "validate", str(transcript)],
        cwd=_REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    # The transcript judged again offline finds the same violation.
    assert validated.returncode == 1
    assert "RWS-DELTA-1" in validated.stdout


@pytest.mark.slow
def test_sigterm_ends_the_session_with_a_summary(tmp_path: Path) -> None:
    process = _proxy("--upstream", "ws://127.0.0.1:9", "--report-dir", str(tmp_path))
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "listening on ws://127.0.0.1:" in first
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "SIGTERM: ending the session" in rest
    assert "0 connections" in rest
    assert (tmp_path / "report.json").is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--upstream", "http://h/"], "expected a ws:// or wss:// URL"),
        (["--upstream", "ws://h", "--insecure"], "wss:// upstream only"),
        (["--upstream", "ws://h", "--listen", "nonsense"], "expected HOST:PORT"),
        (["--upstream", "ws://h", "--profile", "nope"], "unknown profile 'nope'"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(
    tmp_path: Path, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed = build_parser().parse_args(["proxy", *args, "--report-dir", str(tmp_path)])
    assert parsed.func(parsed) == 2
    err = capsys.readouterr().err
    assert err.startswith("responses-ws proxy: ")
    assert says in err
