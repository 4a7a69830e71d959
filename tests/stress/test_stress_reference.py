"""``responses-ws check --stress --spawn-reference`` end to end, with parameters of seconds.

One run (module fixture) against a reference server the command starts. The tests check the
report's structure: every probe is a check with a stress verdict, figures and rules; memory
figures are there (each probe runs on a reference server of its own, whose pid the command
knows) and so is the latency monitor. They never assert a figure against a threshold: ``make
stress`` measures, with the default parameters, and the machine decides.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.reports.json_report import SCHEMA_PATH
from conformance.stress.config import PROBE_NAMES

__all__: list[str] = []

pytestmark = pytest.mark.slow

TINY = [
    "baseline-seconds=0.3",
    "settle-seconds=0.5",
    "slow-reader.seconds=2",
    "slow-reader.requests=4",
    "slow-reader.run-chars=50000",
    "slow-reader.run-chunks=50",
    "stalled-reader.seconds=2",
    "stalled-reader.requests=4",
    "stalled-reader.drain-seconds=2",
    "queue-flood.requests=20",
    "queue-flood.request-mb=0.05",
    "queue-flood.hold-seconds=1.5",
    "queue-flood.answer-seconds=3",
    "large-input.input-mb=0.5",
    "large-input.bomb-factor=1.2",
    "large-input.timeout-seconds=10",
    "bad-frame-flood.messages=300",
    "bad-frame-flood.seconds=3",
    "bad-frame-flood.answer-seconds=3",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("stress")
    params = [f"--stress-param={pair}" for pair in TINY]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance.cli",
            "check",
            "--stress",
            "--spawn-reference",
            # A small max-message-size keeps the bombs small (they inflate past it).
            "--reference-arg=--max-message-size",
            "--reference-arg=1048576",
            "--report-dir",
            str(out),
            *params,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, done.stdout, out


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in report["checks"]}


def test_the_report_is_a_valid_suite_report_with_one_check_per_probe(
    run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, out = run
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    assert list(_checks(report)) == [f"stress.{name}" for name in PROBE_NAMES]
    target = report["target"]
    assert target["mode"] == "stress"
    # Each probe on a reference server of its own, whose pid gave the memory figures.
    assert target["fresh_server_per_probe"] is True
    pids = [target["servers"][name]["pid"] for name in PROBE_NAMES]
    assert all(isinstance(pid, int) for pid in pids)
    assert len(set(pids)) == len(PROBE_NAMES)
    assert report["summary"]["exit_status"] == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    for name in PROBE_NAMES:
        assert f"stress.{name}" in html
    assert (out / "junit.xml").is_file()


def test_every_probe_has_a_stress_verdict_figures_and_rules(
    run: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = run
    for check in report["checks"]:
        where = check["id"]
        assert check["verdict"] in ("WARNING", "INFORMATIONAL"), where
        assert check["requirements"] == [], where
        details = check["details"]
        assert details["area"] == "stress", where
        assert details["figures"], where
        assert details["rules"], where
        assert details["sent"], where
        assert details["came_back"], where
        assert "could not finish" not in check["message"], check["message"]
        broken = any(rule["broken"] for rule in details["rules"])
        assert (check["verdict"] == "WARNING") == broken, where


def test_memory_and_latency_figures_are_measured(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    checks = _checks(report)
    for name in ("slow-reader", "stalled-reader", "queue-flood", "bad-frame-flood"):
        figures = checks[f"stress.{name}"]["details"]["figures"]
        assert figures["rss_peak_mib"]["value"] > 0, name
        assert figures["rss_peak_mib"]["unit"] == "MiB", name
        assert figures["latency_requests"]["value"] > 0, name
    large = checks["stress.large-input"]["details"]
    for phase in ("plain", "compressed", "bomb"):
        assert large["figures"][f"{phase}_rss_peak_mib"]["value"] > 0, phase
        # A tiny input may be processed before the monitor's request is out: then the
        # report says so instead of giving a figure.
        measured = f"{phase}_latency_requests" in large["figures"]
        said = any(note.startswith(f"phase {phase}: no monitor") for note in large["notes"])
        assert measured or said, phase


def test_the_probes_saw_what_they_sent_answered(run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = run
    checks = _checks(report)
    slow = checks["stress.slow-reader"]["details"]["figures"]
    assert slow["bytes_read_mb"]["value"] > 0
    flood = checks["stress.bad-frame-flood"]["details"]["figures"]
    assert flood["sent"]["value"] == 300
    queue = checks["stress.queue-flood"]["details"]["figures"]
    assert queue["requests_sent"]["value"] == 20
    assert queue["accepted"]["value"] + queue["refused"]["value"] > 0
    large = checks["stress.large-input"]["details"]
    assert large["figures"]["max_message_size"]["value"] == 1048576
    # The reference server bounds inflating at its limit: no bomb is read.
    assert "close 1009" in large["came_back"]


def test_the_console_prints_the_figures_table(run: tuple[dict[str, Any], str, Path]) -> None:
    report, stdout, _ = run
    # Each probe ran on a reference server of its own: the heading says so, and each probe
    # names its server and the pid its memory figures come from.
    assert "stress figures: a fresh reference server per probe" in stdout
    for name in PROBE_NAMES:
        assert f"\n{name}: " in stdout
        server = report["target"]["servers"][name]
        assert f"  server     {server['url']}, pid {server['pid']}\n" in stdout
    # How memory and latency were measured is said once, before the probes.
    assert stdout.count("server memory: VmRSS of /proc/<server pid>/status") == 1
    assert "first finding" in stdout
    assert "responses-ws stress: 5 probes in " in stdout
    assert "Exit status 0: the stress probes ran." in stdout
