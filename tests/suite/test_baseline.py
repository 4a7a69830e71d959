"""Tests of the expected-failures baseline: parsing, MCP's strict semantics (listed failure
is expected, unlisted failure fails, listed pass is stale), requirement-scoped entries,
patterns, and the exit status."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from conformance.baseline import (
    EXPECTED_FAILURE_KEY,
    BaselineError,
    ExpectedFailure,
    apply_expected_failures,
    exit_reasons,
    exit_status,
    expected_failure_reason,
    is_unexpected_failure,
    load_expected_failures,
    parse_expected_failures,
    unmatched_entries,
)
from conformance.results import CheckResult, RunResult, Verdict

__all__: list[str] = []


def check(
    check_id: str,
    verdict: Verdict,
    requirements: tuple[str, ...] = ("RWS-CACHE-4",),
    requirement_verdicts: Mapping[str, Verdict] | None = None,
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"{check_id} title",
        requirements=requirements,
        verdict=verdict,
        duration_s=0.01,
        message="" if verdict is Verdict.PASSED else f"{check_id}: expected X, got Y",
        wire_log=(),
        requirement_verdicts=(
            requirement_verdicts
            if requirement_verdicts is not None
            else dict.fromkeys(requirements, verdict)
        ),
        details={"drives": "nothing"},
    )


def run_of(*checks: CheckResult) -> RunResult:
    return RunResult(
        checks=checks,
        started_at="2026-11-21T00:00:00+00:00",
        duration_s=1.0,
        target={"server_url": "ws://127.0.0.1:9"},
    )


def entry(check_id: str, requirement: str | None = None) -> ExpectedFailure:
    return ExpectedFailure(check=check_id, reason=f"known: {check_id}", requirement=requirement)


class TestParsing:
    """The YAML file format."""

    def test_load_reads_entries_with_optional_requirement(self, tmp_path: Path) -> None:
        """A list of check/requirement/reason mappings loads in order."""
        path = tmp_path / "baseline.yaml"
        path.write_text(
            "- check: cache.miss\n  reason: cache outlives the socket\n"
            "- check: order.*\n  requirement: RWS-ORDER-3\n  reason: late done events\n",
            encoding="utf-8",
        )
        assert load_expected_failures(path) == (
            ExpectedFailure(check="cache.miss", reason="cache outlives the socket"),
            ExpectedFailure(check="order.*", reason="late done events", requirement="RWS-ORDER-3"),
        )

    def test_empty_file_lists_nothing(self, tmp_path: Path) -> None:
        """An empty file is an empty baseline."""
        path = tmp_path / "baseline.yaml"
        path.write_text("", encoding="utf-8")
        assert load_expected_failures(path) == ()

    @pytest.mark.parametrize(
        ("data", "problem"),
        [
            ({"check": "a"}, "YAML list"),
            (["cache.miss"], "mapping"),
            ([{"check": "a"}], "'reason'"),
            ([{"check": "", "reason": "r"}], "'check'"),
            ([{"check": "a", "reason": "r", "requirement": "CACHE-4"}], "'requirement'"),
            ([{"check": "a", "reason": "r", "why": "x"}], "unknown keys"),
        ],
    )
    def test_malformed_entries_are_rejected_with_the_problem(
        self, data: object, problem: str
    ) -> None:
        """Each malformation names what is wrong."""
        with pytest.raises(BaselineError, match=problem):
            parse_expected_failures(data, "baseline.yaml")

    def test_invalid_yaml_is_a_baseline_error(self, tmp_path: Path) -> None:
        """A YAML syntax error is reported as a BaselineError naming the file."""
        path = tmp_path / "bad.yaml"
        path.write_text("- check: [unclosed\n", encoding="utf-8")
        with pytest.raises(BaselineError, match="not valid YAML"):
            load_expected_failures(path)


class TestSemantics:
    """MCP's expected-failures semantics."""

    def test_listed_failure_keeps_verdict_and_gains_reason(self) -> None:
        """A listed FAILED check stays FAILED but is marked expected with the reason."""
        run, stale = apply_expected_failures(
            run_of(check("cache.miss", Verdict.FAILED)), [entry("cache.miss")]
        )
        (result,) = run.checks
        assert result.verdict is Verdict.FAILED
        assert result.details[EXPECTED_FAILURE_KEY] == "known: cache.miss"
        assert result.details["drives"] == "nothing"
        assert expected_failure_reason(result) == "known: cache.miss"
        assert not is_unexpected_failure(result)
        assert stale == ()
        assert exit_status(run, stale) == 0

    def test_unlisted_failure_fails_the_run(self) -> None:
        """A FAILED check nobody listed makes the exit status 1."""
        run, stale = apply_expected_failures(
            run_of(check("cache.miss", Verdict.FAILED), check("cache.hit", Verdict.PASSED)), []
        )
        assert exit_status(run, stale) == 1
        assert exit_reasons(run, stale) == ["1 check(s) FAILED: cache.miss"]

    def test_listed_check_that_passes_is_stale_and_fails_the_run(self) -> None:
        """A listed check that now passes is a stale entry; the run fails."""
        run, stale = apply_expected_failures(
            run_of(check("cache.miss", Verdict.PASSED)), [entry("cache.miss")]
        )
        assert [s.entry.check for s in stale] == ["cache.miss"]
        assert stale[0].observed == (("cache.miss", Verdict.PASSED),)
        assert "stale" in stale[0].message
        assert exit_status(run, stale) == 1

    def test_listed_check_now_only_warning_is_stale(self) -> None:
        """FAILED -> WARNING means the MUST is met now: the entry is no longer needed."""
        _run, stale = apply_expected_failures(
            run_of(check("trans.426", Verdict.WARNING)), [entry("trans.426")]
        )
        assert len(stale) == 1

    def test_listed_check_that_was_skipped_is_unmatched_not_stale(self) -> None:
        """SKIPPED teaches nothing about the failure: not stale, reported as unmatched."""
        listed = [entry("lane.busy"), entry("never.ran")]
        run, stale = apply_expected_failures(
            run_of(check("lane.busy", Verdict.SKIPPED), check("x.y", Verdict.PASSED)), listed
        )
        assert stale == ()
        assert [e.check for e in unmatched_entries(run, listed)] == ["lane.busy", "never.ran"]
        assert exit_status(run, stale) == 0

    def test_pattern_entry_covers_every_matching_failure(self) -> None:
        """``cache.*`` covers each failing cache check and is not stale while one fails."""
        run, stale = apply_expected_failures(
            run_of(
                check("cache.a", Verdict.FAILED),
                check("cache.b", Verdict.PASSED),
                check("order.c", Verdict.FAILED),
            ),
            [entry("cache.*")],
        )
        assert [expected_failure_reason(c) for c in run.checks] == ["known: cache.*", None, None]
        assert stale == ()
        assert exit_reasons(run, stale) == ["1 check(s) FAILED: order.c"]

    def test_requirement_scoped_entry_covers_only_its_requirement(self) -> None:
        """A check failing two requirements is expected only when both are listed."""
        failing_both = check(
            "cache.evict",
            Verdict.FAILED,
            ("RWS-CACHE-4", "RWS-CACHE-5"),
            {"RWS-CACHE-4": Verdict.FAILED, "RWS-CACHE-5": Verdict.FAILED},
        )
        one = [entry("cache.evict", "RWS-CACHE-4")]
        run, _ = apply_expected_failures(run_of(failing_both), one)
        assert is_unexpected_failure(run.checks[0])
        both = [*one, entry("cache.evict", "RWS-CACHE-5")]
        run, stale = apply_expected_failures(run_of(failing_both), both)
        assert not is_unexpected_failure(run.checks[0])
        assert stale == ()

    def test_requirement_scoped_entry_is_stale_when_its_requirement_passes(self) -> None:
        """The check still fails, but not for the listed requirement: that entry is stale."""
        result = check(
            "cache.evict",
            Verdict.FAILED,
            ("RWS-CACHE-4", "RWS-CACHE-5"),
            {"RWS-CACHE-4": Verdict.FAILED, "RWS-CACHE-5": Verdict.PASSED},
        )
        run, stale = apply_expected_failures(
            run_of(result),
            [entry("cache.evict", "RWS-CACHE-4"), entry("cache.evict", "RWS-CACHE-5")],
        )
        assert not is_unexpected_failure(run.checks[0])
        assert [s.entry.requirement for s in stale] == ["RWS-CACHE-5"]
        assert exit_status(run, stale) == 1

    def test_failure_without_per_requirement_verdicts_counts_all_requirements(self) -> None:
        """A prerequisite failure names no requirement: each listed requirement must cover it."""
        result = check("cache.evict", Verdict.FAILED, ("RWS-CACHE-4", "RWS-CACHE-5"), {})
        run, _ = apply_expected_failures(run_of(result), [entry("cache.evict", "RWS-CACHE-4")])
        assert is_unexpected_failure(run.checks[0])


class TestExitStatus:
    """The exit-status rule of issue 4."""

    def test_clean_run_with_warnings_and_informational_exits_zero(self) -> None:
        """WARNING, INFORMATIONAL and SKIPPED never fail a run that ran something."""
        run = run_of(
            check("a.b", Verdict.PASSED),
            check("a.c", Verdict.WARNING),
            check("a.d", Verdict.INFORMATIONAL),
            check("a.e", Verdict.SKIPPED),
        )
        assert exit_status(run) == 0
        assert exit_reasons(run) == []

    def test_run_without_checks_fails(self) -> None:
        """A run that executed no check is not a pass."""
        assert exit_status(run_of()) == 1
        assert exit_reasons(run_of()) == ["no check ran"]

    def test_run_where_every_check_was_skipped_fails(self) -> None:
        """Only SKIPPED checks is a vacuous run too."""
        run = run_of(check("a.b", Verdict.SKIPPED))
        assert exit_status(run) == 1
        assert exit_reasons(run) == ["every check was SKIPPED"]
