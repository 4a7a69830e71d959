"""The fuzzer's progress lines and its bound on shrinking, on a clock the test moves."""

from __future__ import annotations

from conformance.fuzz.progress import Progress

__all__: list[str] = []


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(lines: list[str], clock: _Clock) -> Progress:
    return Progress("stateful", 200, lines.append, interval=5.0, shrink_seconds=60.0, clock=clock)


def test_routine_lines_come_at_most_once_per_interval() -> None:
    lines: list[str] = []
    clock = _Clock()
    progress = _progress(lines, clock)
    for _ in range(3):
        assert progress.started(final=False)
        progress.ended(None, 10)
    assert lines == []
    clock.now += 5.0
    assert progress.started(final=False)
    progress.ended(None, 10)
    assert lines == [
        "stateful: searching: 4 sessions passed (200 planned), 40 transcript records so far (5 s)"
    ]


def test_first_failure_is_said_at_once_and_shrinking_stops_after_its_budget() -> None:
    lines: list[str] = []
    clock = _Clock()
    progress = _progress(lines, clock)
    failure = ValueError("RWS-CACHE-8: expected error previous_response_not_found")
    assert progress.started(final=False)
    progress.ended("RWS-CACHE-8: expected error previous_response_not_found", 90, failure)
    assert "session 1 failed (90 transcript records)" in lines[-1]
    assert "shrinking it for up to 60 s" in lines[-1]
    # a smaller failure while shrinking becomes the one kept
    smaller = ValueError("smaller")
    clock.now += 30.0
    assert progress.started(final=False)
    progress.ended("smaller", 40, smaller)
    assert (progress.smallest, progress.smallest_error) == (40, smaller)
    # a larger one does not replace it
    assert progress.started(final=False)
    progress.ended("larger", 70, ValueError("larger"))
    assert progress.smallest_error is smaller
    # the budget is spent: further shrinking examples are skipped, and that is said once
    clock.now += 31.0
    assert not progress.started(final=False)
    assert not progress.started(final=False)
    assert sum("shrinking stopped" in line for line in lines) == 1
    # the final replay of the smallest failure always runs
    assert progress.started(final=True)
    assert "replaying the smallest failing session (40 transcript records)" in lines[-1]


def test_no_reporter_is_silent_and_no_budget_never_skips() -> None:
    clock = _Clock()
    progress = Progress("stateless", 10, None, shrink_seconds=None, clock=clock)
    progress.ended("boom", 3, ValueError("boom"))
    clock.now += 10_000.0
    assert progress.started(final=False)
    assert progress.unit == "examples"
