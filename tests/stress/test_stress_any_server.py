"""``responses-ws check --stress --server-url``: the stress mode against a server it did not
start, and every rule that can warn proven against a fault switch of the reference server.

The server is a reference server started here with three faults that a stress probe must
report: ``shrunk-message-limit`` (a message within ``max-message-size`` refused with 1009,
RWS-TRANS-7), ``close-on-error`` (the connection closed at the first malformed message,
RWS-CREATE-9) and a ``max-queued-requests`` declared below what the server really queues.
The pid given is this test's own process, which does not listen on the server's port: the
command must say that memory was not measured, and run the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from conformance.harness.spawn import spawn_reference
from conformance.stress.runner import server_sampler

__all__: list[str] = []

TINY = [
    "baseline-seconds=0.3",
    "settle-seconds=0.5",
    "queue-flood.requests=20",
    "queue-flood.request-mb=0.05",
    "queue-flood.hold-seconds=1.5",
    "queue-flood.answer-seconds=3",
    # Capped 4 kB below max-message-size: within the limit, above the fault's 90 %.
    "large-input.input-mb=1",
    "large-input.bomb-factor=1.2",
    "large-input.timeout-seconds=10",
    "bad-frame-flood.messages=300",
    "bad-frame-flood.seconds=3",
    "bad-frame-flood.answer-seconds=3",
]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("stress-any")
    faults = ["--fault", "shrunk-message-limit", "--fault", "close-on-error"]
    with spawn_reference([*faults, "--max-message-size", "1048576"]) as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "conformance.cli",
                "check",
                "--stress",
                f"--server-url={server.url}",
                f"--api-key={server.api_keys[0]}",
                f"--server-pid={os.getpid()}",
                # Declared below the 64 the server queues: the flood must exceed it.
                "--server-param=max-queued-requests=2",
                "--stress-probe=queue-flood,large-input,bad-frame-flood",
                "--report-dir",
                str(out),
                *(f"--stress-param={pair}" for pair in TINY),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "report.json").read_text(encoding="utf-8")), done.stdout


def _check(report: dict[str, Any], probe: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in report["checks"] if c["id"] == f"stress.{probe}"]
    assert len(found) == 1, probe
    return found[0]


def _broken(check: dict[str, Any]) -> list[str]:
    return [rule["text"] for rule in check["details"]["rules"] if rule["broken"]]


@pytest.mark.slow
def test_a_message_refused_within_max_message_size_is_a_warning(
    faulty: tuple[dict[str, Any], str],
) -> None:
    check = _check(faulty[0], "large-input")
    assert check["verdict"] == "WARNING"
    assert any("were refused with 1009 (RWS-TRANS-7)" in text for text in _broken(check))


@pytest.mark.slow
def test_a_close_at_the_first_malformed_message_is_a_warning(
    faulty: tuple[dict[str, Any], str],
) -> None:
    check = _check(faulty[0], "bad-frame-flood")
    assert check["verdict"] == "WARNING"
    assert any("at the first malformed message" in text for text in _broken(check))
    assert check["details"]["figures"]["close_code"]["value"] == 1008


@pytest.mark.slow
def test_more_queued_requests_than_declared_is_a_warning(
    faulty: tuple[dict[str, Any], str],
) -> None:
    check = _check(faulty[0], "queue-flood")
    assert check["verdict"] == "WARNING"
    assert "requests not refused 20 > max-queued-requests 2 (declared)" in _broken(check)


@pytest.mark.slow
def test_a_pid_that_is_not_the_server_gives_no_memory_figures_and_says_why(
    faulty: tuple[dict[str, Any], str],
) -> None:
    report, stdout = faulty
    assert report["target"]["fresh_server_per_probe"] is False
    for check in report["checks"]:
        figures = check["details"]["figures"]
        assert not any(key.endswith("rss_peak_mib") for key in figures), check["id"]
        assert any(
            f"process {os.getpid()} does not listen on port" in note
            for note in check["details"]["notes"]
        ), check["id"]
    # The latency monitor ran all the same.
    assert _check(report, "queue-flood")["details"]["figures"]["latency_requests"]["value"] > 0
    assert "server memory not measured: process" in stdout


def test_without_a_pid_memory_is_not_measured_and_the_reason_is_given() -> None:
    sampler, why = server_sampler("ws://127.0.0.1:9/v1/responses", None)
    assert sampler is None
    assert why.startswith("no server pid")
