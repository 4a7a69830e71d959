"""The latency monitor's windows, and the console table of a run."""

from __future__ import annotations

from conformance.stress.figures import Figure, ProbeReport, Rule
from conformance.stress.monitor import LatencyMonitor, LatencySample
from conformance.stress.table import format_reports, format_summary

__all__: list[str] = []


def _monitor(*samples: LatencySample) -> LatencyMonitor:
    monitor = LatencyMonitor(
        "ws://127.0.0.1:9/v1/responses",
        "conformance-1",
        "key",
        interval=0.1,
        timeout=10.0,
        handshake_every=5,
        max_seconds=60.0,
    )
    monitor.samples.extend(samples)
    return monitor


def test_the_monitor_never_has_the_api_key_on_its_command_line() -> None:
    assert "key" not in _monitor().argv


def test_a_request_in_flight_during_a_load_counts_for_the_load() -> None:
    before = LatencySample("created", 1.0, 0.01, "ok")  # ended before the load
    overlapping = LatencySample("created", 9.9, 4.0, "ok")  # sent before, answered during
    during = LatencySample("created", 11.0, 0.02, "ok")
    lost = LatencySample("created", 12.0, 10.0, "timeout")
    after = LatencySample("created", 21.0, 0.01, "ok")
    shake = LatencySample("handshake", 11.5, 0.003, "ok")
    monitor = _monitor(before, overlapping, during, lost, after, shake)
    assert monitor.window(10.0, 20.0) == [overlapping, during, lost]
    assert monitor.window(10.0, 20.0, kind="handshake") == [shake]
    assert lost.latency is None
    assert overlapping.latency == 4.0


def _report(probe: str, broken: bool, instruments: str = "VmRSS every 0.1 s") -> ProbeReport:
    return ProbeReport(
        probe=probe,
        title="t",
        sent="a few requests",
        came_back="answers",
        measured="somehow",
        figures=(Figure("rss_peak_mib", "server peak RSS", 262.0, "MiB"),),
        rules=(Rule("server peak RSS 262.0 MiB > 200.0 MiB", broken),),
        notes=("a note",),
        duration_s=40.25,
        instruments=instruments,
    )


def test_the_table_shows_each_probe_then_one_line_per_probe() -> None:
    text = format_reports(
        [_report("slow-reader", True), _report("queue-flood", False)], "stress figures"
    )
    lines = text.splitlines()
    assert lines[0] == "stress figures"
    assert "slow-reader: WARNING (40.2 s)" in lines
    assert "queue-flood: INFORMATIONAL (40.2 s)" in lines
    assert "    server peak RSS  262.0 MiB" in lines
    assert "  WARNING    server peak RSS 262.0 MiB > 200.0 MiB" in lines
    assert "  ok         server peak RSS 262.0 MiB > 200.0 MiB" in lines
    assert lines[-2].startswith("slow-reader  WARNING ")
    assert lines[-1].startswith("queue-flood  INFORMATIONAL")


def test_how_the_server_was_measured_is_said_once_when_every_probe_shares_it() -> None:
    shared = format_reports([_report("a", True), _report("b", False)], "h")
    assert shared.splitlines()[2] == "  measured   VmRSS every 0.1 s"
    assert shared.count("VmRSS every 0.1 s") == 1
    assert "  measured   somehow\n" in shared
    apart = format_reports([_report("a", True), _report("b", False, "latency only")], "h")
    assert "  measured   somehow; VmRSS every 0.1 s" in apart
    assert "  measured   somehow; latency only" in apart


def test_the_summary_counts_the_verdicts_and_says_that_neither_fails_the_run() -> None:
    text = format_summary([_report("a", True), _report("b", False), _report("c", False)], 61.0)
    assert text.startswith("responses-ws stress: 3 probes in 61.0 s: WARNING 1  INFORMATIONAL 2")
    assert "neither fails the run" in " ".join(text.split())
