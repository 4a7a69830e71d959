"""The probes' verdict rules, from observations made up here: WARNING exactly when a figure
breaks a declared limit or a stress limit, INFORMATIONAL otherwise, and what could not be
measured is said, not judged."""

from __future__ import annotations

from collections import Counter

from conformance.results import Verdict
from conformance.stress import bad_frames, large_input, queue_flood, slow_reader, stalled_reader
from conformance.stress.config import StressParams
from conformance.stress.figures import LatencyStats, MemoryStats, latency_stats
from conformance.stress.monitor import LatencySample
from conformance.stress.tally import Tally
from conformance.stress.wire import Received
from tests.stress.support import context, figure

__all__: list[str] = []


def _memory(before: float, peak: float, after: float) -> MemoryStats:
    return MemoryStats(
        before=before,
        peak=peak,
        end=peak,
        after=after,
        cpu_s=1.0,
        samples=10,
        peak_from="VmHWM",
    )


def _latency(*elapsed: float) -> LatencyStats:
    return latency_stats([LatencySample("created", i, e, "ok") for i, e in enumerate(elapsed)])


def _slow(tally: Tally | None = None) -> slow_reader.SlowReaderObservation:
    return slow_reader.SlowReaderObservation(
        seconds=40.0,
        bytes_read=80_000_000,
        requests_sent=115,
        request_text="conformance-1",
        tally=tally or Tally(),
        ended=None,
    )


def test_slow_reader_warns_when_the_peak_passes_the_rss_limit() -> None:
    ctx = context()
    report = slow_reader.judge(_slow(), _memory(47, 785, 60), _latency(0.01), ctx)
    assert report.verdict is Verdict.WARNING
    assert report.headline().startswith("server peak RSS 785.0 MiB > 200.0 MiB")
    assert figure(report, "read_rate_mb_s").value == 2.0
    within = slow_reader.judge(_slow(), _memory(47, 150, 50), _latency(0.01), ctx)
    assert within.verdict is Verdict.INFORMATIONAL


def test_slow_reader_warns_when_memory_is_not_returned_after_the_client_left() -> None:
    report = slow_reader.judge(_slow(), _memory(47, 150, 120), None, context())
    assert report.verdict is Verdict.WARNING
    assert "kept after the connections left" in report.headline()
    assert any("latency not measured" in note for note in report.notes)


def test_slow_reader_without_instruments_judges_nothing_and_says_why() -> None:
    report = slow_reader.judge(_slow(), None, None, context())
    assert report.verdict is Verdict.INFORMATIONAL
    assert report.rules == ()
    assert report.headline().startswith("no limit could be judged: server memory not measured")


def test_slow_reader_limits_come_from_the_parameters() -> None:
    ctx = context(StressParams().with_overrides(["limits.rss-mib=1000"]))
    report = slow_reader.judge(_slow(), _memory(47, 785, 50), None, ctx)
    assert report.verdict is Verdict.INFORMATIONAL


def test_slow_reader_warns_when_another_connection_waits_too_long() -> None:
    report = slow_reader.judge(_slow(), _memory(47, 60, 50), _latency(0.01, 3.8), context())
    assert report.verdict is Verdict.WARNING
    assert "longest wait 3.800 s > 0.500 s" in report.headline()


def test_stalled_reader_reports_when_the_server_closed_and_judges_memory() -> None:
    obs = stalled_reader.StalledObservation(
        requests_sent=100,
        stall_seconds=45.0,
        observable=True,
        server_closed_after=41.5,
        server_state="FIN_WAIT1",
        server_send_queue_max=4_000_000,
        drained_bytes=5_000_000,
        drain_reached_end=True,
        ended="a close frame, close 1011",
    )
    report = stalled_reader.judge(obs, _memory(43, 449, 60), None, context())
    assert report.verdict is Verdict.WARNING
    assert figure(report, "server_closed_after_s").value == 41.5
    assert "closed its socket 41.5 s into the stall" in report.came_back
    assert "reached the end: a close frame, close 1011" in report.came_back


def _stalled(closed: float | None, stall: float = 45.0) -> stalled_reader.StalledObservation:
    return stalled_reader.StalledObservation(
        requests_sent=100, stall_seconds=stall, observable=True, server_closed_after=closed
    )


def test_stalled_reader_notes_the_close_next_to_the_write_timeout_and_never_warns() -> None:
    limits = {"write-timeout": ("30", "advertised")}
    cases = {
        "after": (_stalled(40.6, 40.6), "its write-timeout 30 s (advertised) counting from"),
        "before": (_stalled(12.0, 12.0), "before its write-timeout 30 s (advertised)"),
        "short": (_stalled(None, 20.0), "shorter than the write-timeout 30 s"),
        "kept": (_stalled(None), "closing is permitted (RWS-LIMIT-13), not required"),
    }
    for name, (obs, said) in cases.items():
        report = stalled_reader.judge(obs, None, None, context(limits=limits))
        assert report.verdict is Verdict.INFORMATIONAL, name
        assert any(said in note for note in report.notes), name
        assert figure(report, "write_timeout_s").value == 30.0
    undeclared = stalled_reader.judge(_stalled(40.6, 40.6), None, None, context())
    assert any("without declaring a write-timeout" in note for note in undeclared.notes)
    assert figure(undeclared, "write_timeout_s").value is None


def test_stalled_reader_on_a_remote_server_says_the_close_cannot_be_seen() -> None:
    obs = stalled_reader.StalledObservation(requests_sent=100, stall_seconds=45.0)
    report = stalled_reader.judge(obs, None, None, context())
    assert report.verdict is Verdict.INFORMATIONAL
    assert figure(report, "server_closed_after_s").value is None
    assert any("not in this machine's /proc/net/tcp" in note for note in report.notes)


def _queue(created: int, refused: int, other: int = 0) -> queue_flood.QueueObservation:
    tally = Tally()
    tally.created = created
    tally.errors.update({"rate_limit_exceeded": refused} if refused else {})
    tally.errors.update({"invalid_value": other} if other else {})
    return queue_flood.QueueObservation(
        requests=100,
        request_bytes=1_000_000,
        long_run_started=True,
        long_run_ended=True,
        tally=tally,
    )


def test_queue_flood_warns_on_growth_above_the_limit() -> None:
    report = queue_flood.judge(_queue(101, 0), _memory(55, 163, 60), None, context())
    assert report.verdict is Verdict.WARNING
    assert "growth while the queue was held 108.0 MiB > 40.0 MiB" in report.headline()
    assert figure(report, "accepted").value == 100


def test_queue_flood_growth_of_a_queue_bounded_as_declared_is_a_figure_not_a_finding() -> None:
    limits = {"max-queued-requests": ("64", "advertised")}
    # 100 sent, 36 refused: the 64 the bound lets wait cost 83 MiB.
    bounded = queue_flood.judge(_queue(65, 36), _memory(47, 130, 58), None, context(limits=limits))
    assert bounded.verdict is Verdict.INFORMATIONAL
    assert any("the queue, and so this growth, is bounded" in r.text for r in bounded.rules)
    assert figure(bounded, "growth_per_request_mib").value == 83 / 64
    # The same growth without refusals beyond the bound stays a finding.
    loose = {"max-queued-requests": ("1000", "declared")}
    unbounded = queue_flood.judge(_queue(101, 0), _memory(47, 130, 58), None, context(limits=loose))
    assert unbounded.verdict is Verdict.WARNING


def test_queue_flood_warns_when_more_are_accepted_than_the_declared_bound() -> None:
    limits = {"max-queued-requests": ("16", "advertised")}
    refused_enough = queue_flood.judge(_queue(17, 84), None, None, context(limits=limits))
    assert refused_enough.verdict is Verdict.INFORMATIONAL
    assert "requests not refused 16 <= max-queued-requests 16 (advertised)" in (
        refused_enough.headline()
    )
    too_many = queue_flood.judge(_queue(41, 60), None, None, context(limits=limits))
    assert too_many.verdict is Verdict.WARNING
    assert "requests not refused 40 > max-queued-requests 16" in too_many.headline()


def test_queue_flood_notes_refusals_the_server_did_not_declare() -> None:
    report = queue_flood.judge(_queue(17, 84), _memory(55, 60, 56), None, context())
    assert report.verdict is Verdict.INFORMATIONAL
    assert any(
        "without declaring max-queued-requests or max-queued-bytes" in note for note in report.notes
    )
    assert figure(report, "unresolved").value == 0


# The reference server's bounds: 64 requests, 16 MiB; 16 of the flood's 1 MB requests fit.
BOTH_BOUNDS = {
    "max-queued-requests": ("64", "advertised"),
    "max-queued-bytes": ("16777216", "advertised"),
}


def test_queue_flood_refusals_within_the_byte_budget_conform() -> None:
    """RWS-LANE-11: refusals well before max-queued-requests are explained by a declared
    max-queued-bytes; the bytes accepted are reported against it."""
    report = queue_flood.judge(
        _queue(17, 84), _memory(50, 68, 52), None, context(limits=BOTH_BOUNDS)
    )
    assert report.verdict is Verdict.INFORMATIONAL
    assert figure(report, "accepted_bytes").value == 16_000_000
    assert figure(report, "max_queued_bytes").value == 16_777_216
    assert "bytes of the requests not refused 16,000,000 <= max-queued-bytes 16,777,216 " in (
        report.headline()
    )
    assert "requests not refused 16 <= max-queued-requests 64 (advertised)" in report.headline()
    assert not any("before the requests not refused reached" in n for n in report.notes)


def test_queue_flood_warns_when_more_bytes_are_accepted_than_declared() -> None:
    report = queue_flood.judge(_queue(21, 80), None, None, context(limits=BOTH_BOUNDS))
    assert report.verdict is Verdict.WARNING
    assert "bytes of the requests not refused 20,000,000 > max-queued-bytes 16,777,216 " in (
        report.headline()
    )


def test_queue_flood_growth_bounded_by_the_byte_budget_is_a_figure_not_a_finding() -> None:
    limits = {"max-queued-bytes": ("16777216", "declared")}
    tight = StressParams(growth_limit_mib=10.0)
    report = queue_flood.judge(
        _queue(17, 84), _memory(50, 70, 52), None, context(tight, limits=limits)
    )
    assert report.verdict is Verdict.INFORMATIONAL
    (growth,) = (r for r in report.rules if "growth" in r.text)
    assert "beyond its declared max-queued-bytes 16777216: the queue, and so this growth" in (
        growth.text
    )
    # Without the declaration the same figures are a finding, refusals or not.
    assert (
        queue_flood.judge(_queue(17, 84), _memory(50, 70, 52), None, context(tight)).verdict
        is Verdict.WARNING
    )


def test_queue_flood_notes_refusals_no_declared_bound_explains() -> None:
    report = queue_flood.judge(_queue(6, 95), None, None, context(limits=BOTH_BOUNDS))
    assert report.verdict is Verdict.INFORMATIONAL
    assert any("before the requests not refused reached" in n for n in report.notes)


def _phase(name: str, *results: large_input.SenderResult) -> large_input.PhaseObservation:
    return large_input.PhaseObservation(
        name, f"{name} load", list(results), latency=_latency(0.01, 0.02)
    )


def _sender(first: str, *, event: bool, code: int | None = None) -> large_input.SenderResult:
    return large_input.SenderResult(
        wire_bytes=45_000,
        message_bytes=15_000_000,
        first=first,
        first_was_event=event,
        first_after=0.2,
        outcome=first,
        outcome_after=0.3,
        closed_code=code,
    )


def test_large_input_warns_when_another_connection_waits_while_input_is_processed() -> None:
    slow = large_input.PhaseObservation(
        "plain",
        "1 connection sends a 15.0 MB input",
        [_sender("response.created", event=True)],
        latency=_latency(0.01, 3.8),
    )
    report = large_input.judge([slow], context(), 15_000_000)
    assert report.verdict is Verdict.WARNING
    assert "while 1 connection sends a 15.0 MB input: longest wait 3.800 s" in report.headline()
    assert figure(report, "plain_latency_max_s").value == 3.8


def test_large_input_warns_when_a_message_within_the_limit_is_refused() -> None:
    report = large_input.judge(
        [_phase("plain", _sender("close 1009", event=False, code=1009))], context(), 15_000_000
    )
    assert report.verdict is Verdict.WARNING
    assert "within max-message-size 16,777,216 (not declared), were refused with 1009" in (
        report.headline()
    )


def test_large_input_notes_a_bomb_that_is_read_since_refusing_it_is_a_may() -> None:
    read = large_input.judge(
        [_phase("bomb", _sender("error invalid_value", event=True))], context(), 15_000_000
    )
    assert read.verdict is Verdict.INFORMATIONAL
    assert any("above max-message-size" in note for note in read.notes)
    assert any("RWS-TRANS-16" in note for note in read.notes)
    refused = large_input.judge(
        [_phase("bomb", *[_sender("close 1009", event=False, code=1009)] * 3)],
        context(),
        15_000_000,
    )
    assert refused.verdict is Verdict.INFORMATIONAL
    assert "closed with 1009" in refused.headline()


def test_large_input_says_which_phase_did_not_run() -> None:
    skipped = large_input.PhaseObservation(
        "compressed", "3 connections", skipped="the server did not agree to permessage-deflate"
    )
    report = large_input.judge([_phase("plain"), skipped], context(), 15_000_000)
    assert "compressed: not run, the server did not agree" in report.came_back


def _flood(answered: int, close: int | None = None) -> bad_frames.FloodObservation:
    tally = Tally()
    tally.errors["invalid_json"] = answered
    obs = bad_frames.FloodObservation(sent=10_000, send_seconds=0.5, tally=tally)
    if close is not None:
        tally.add(Received("close", 2, 1.0, close_code=close))
        obs.sent_before_close = 500
        obs.ended = f"the server closed the connection with close {close}"
    else:
        obs.valid_created_after = 0.002
    return obs


def test_bad_frame_flood_answered_in_full_is_informational() -> None:
    report = bad_frames.judge(_flood(10_000), None, _latency(0.01), context())
    assert report.verdict is Verdict.INFORMATIONAL
    assert figure(report, "answered").value == 10_000


def test_bad_frame_flood_warns_on_missing_answers() -> None:
    report = bad_frames.judge(_flood(9_000), None, None, context())
    assert report.verdict is Verdict.WARNING
    assert "(1,000 not answered)" in report.headline()


def test_bad_frame_flood_accepts_a_close_with_1008_and_warns_on_another_code() -> None:
    closed = bad_frames.judge(_flood(499, close=1008), None, None, context())
    assert closed.verdict is Verdict.INFORMATIONAL
    assert figure(closed, "close_code").value == 1008
    other = bad_frames.judge(_flood(499, close=1011), None, None, context())
    assert other.verdict is Verdict.WARNING
    assert "closed with 1011 (499 answered, 500 sent by then)" in other.headline()


def test_bad_frame_flood_warns_on_a_close_at_the_first_malformed_message() -> None:
    report = bad_frames.judge(_flood(1, close=1008), None, None, context())
    assert report.verdict is Verdict.WARNING
    assert "at the first malformed message" in report.headline()


def test_bad_frame_flood_warns_when_the_flooded_connection_is_not_served_after() -> None:
    obs = _flood(10_000)
    obs.valid_created_after = None
    obs.valid_outcome = "nothing within 10 s"
    report = bad_frames.judge(obs, None, None, context())
    assert report.verdict is Verdict.WARNING
    assert "got nothing within 10 s instead of response.created" in report.headline()


def test_bad_frame_flood_notes_only_what_came_during_the_flood() -> None:
    obs = _flood(10_000)
    obs.flood_types = Counter({"error": 10_000, "response.failed": 2})
    # The valid request's own run, after the flood, is expected and not noted.
    obs.tally.types.update({"response.output_text.delta": 1, "response.completed": 1})
    report = bad_frames.judge(obs, None, None, context())
    (note,) = (n for n in report.notes if n.startswith("besides error events"))
    assert note.endswith("during the flood: 2 response.failed")
