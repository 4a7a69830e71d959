"""Figures and the rules that judge them: percentiles, latency and memory summaries, and
what a probe's report becomes in the run."""

from __future__ import annotations

import pytest

from conformance.results import Verdict
from conformance.stress.figures import (
    Figure,
    ProbeReport,
    Rule,
    at_most,
    latency_rule,
    latency_stats,
    memory_stats,
    percentile,
)
from conformance.stress.monitor import LatencySample
from conformance.stress.procfs import ProcessSample

__all__: list[str] = []


def _created(t: float, elapsed: float, outcome: str = "ok") -> LatencySample:
    return LatencySample("created", t, elapsed, outcome)


def test_percentile_is_nearest_rank() -> None:
    values = [0.4, 0.1, 0.3, 0.2]
    assert percentile(values, 50) == 0.2
    assert percentile(values, 95) == 0.4
    assert percentile(values, 0) == 0.1
    assert percentile([], 50) is None


def test_at_most_breaks_only_above_the_limit_and_not_without_a_value() -> None:
    ok = at_most("peak", 200.0, 200.0, "MiB", "limits.rss-mib")
    assert ok == Rule("peak 200.0 MiB <= 200.0 MiB (limits.rss-mib)", False)
    broken = at_most("peak", 262.0, 200.0, "MiB", "limits.rss-mib")
    assert broken is not None
    assert broken.broken
    assert "262.0 MiB > 200.0 MiB" in broken.text
    assert at_most("peak", None, 200.0, "MiB", "x") is None


def test_latency_stats_count_lost_requests_apart_from_answered_ones() -> None:
    stats = latency_stats(
        [_created(0, 0.01), _created(1, 0.03), _created(2, 10.0, "timeout")],
        [LatencySample("handshake", 0, 0.002, "ok"), LatencySample("handshake", 1, 5, "failed")],
    )
    assert (stats.count, stats.lost) == (3, 1)
    assert stats.max == 0.03
    assert stats.worst == 10.0
    assert stats.outcomes == {"timeout": 1}
    assert (stats.handshakes, stats.handshake_max, stats.handshakes_lost) == (2, 0.002, 1)


def test_latency_rule_breaks_on_a_slow_answer_or_a_lost_request() -> None:
    fast = latency_stats([_created(0, 0.01), _created(1, 0.2)])
    rule = latency_rule(fast, 0.5, "during x")
    assert rule is not None
    assert not rule.broken
    slow = latency_rule(latency_stats([_created(0, 0.8)]), 0.5, "during x")
    assert slow is not None
    assert slow.broken
    lost = latency_rule(latency_stats([_created(0, 0.1, "closed 1011")]), 0.5, "during x")
    assert lost is not None
    assert lost.broken
    assert "1 closed 1011" in lost.text
    assert latency_rule(None, 0.5, "during x") is None


def _sample(t: float, rss_mib: float, hwm_mib: float, cpu: float) -> ProcessSample:
    return ProcessSample(t, int(rss_mib * 1024), int(hwm_mib * 1024), cpu)


def test_memory_takes_the_high_water_mark_when_it_was_reset_and_is_higher() -> None:
    before = _sample(0.0, 50, 50, 1.0)
    during = [_sample(1.0, 120, 120, 1.5), _sample(2.0, 150, 300, 2.0)]
    after = _sample(3.0, 60, 300, 2.5)
    stats = memory_stats(
        [before, *during, after], before=before, t0=0.5, t1=2.5, after=after, hwm_reset=True
    )
    assert (stats.peak, stats.peak_from) == (300.0, "VmHWM")
    assert (stats.growth, stats.retained, stats.end) == (250.0, 10.0, 150.0)
    assert stats.cpu_s == pytest.approx(1.5)
    sampled = memory_stats(
        [before, *during, after], before=before, t0=0.5, t1=2.5, after=after, hwm_reset=False
    )
    assert (sampled.peak, sampled.peak_from) == (150.0, "samples")


def test_a_report_is_a_warning_iff_a_rule_is_broken_and_never_passes() -> None:
    def report(*rules: Rule) -> ProbeReport:
        return ProbeReport(
            probe="slow-reader",
            title="t",
            sent="sent this",
            came_back="got that",
            measured="how",
            figures=(Figure("rss_peak_mib", "server peak RSS", 262.0, "MiB"),),
            rules=rules,
            notes=("a note",),
        )

    assert report().verdict is Verdict.INFORMATIONAL
    assert report(Rule("fine", False)).verdict is Verdict.INFORMATIONAL
    warned = report(Rule("fine", False), Rule("too big", True))
    assert warned.verdict is Verdict.WARNING
    assert warned.headline() == "too big"
    message = warned.message()
    for part in ("sent: sent this", "came back: got that", "WARNING: too big", "ok: fine"):
        assert part in message
    assert "server peak RSS 262.0 MiB" in message
    check = warned.to_check()
    assert (check.id, check.verdict, check.requirements) == (
        "stress.slow-reader",
        Verdict.WARNING,
        (),
    )
    assert check.details["area"] == "stress"
    assert check.details["figures"]["rss_peak_mib"] == {
        "label": "server peak RSS",
        "value": 262.0,
        "unit": "MiB",
    }
    assert check.details["rules"][1] == {"text": "too big", "broken": True}


def test_a_figure_that_was_not_measured_reads_n_a() -> None:
    assert Figure("x", "x", None, "s").text() == "n/a"
    assert Figure("x", "x", 12345, "bytes").text() == "12,345 bytes"
    assert Figure("x", "x", 0.1234, "s").text() == "0.123 s"
    assert Figure("x", "x", "ESTABLISHED").text() == "ESTABLISHED"
