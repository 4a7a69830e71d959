"""Tests of the pytest plugin (entry point ``responses_ws``), run in inner pytest sessions
with ``pytester``: inert without ``--rws-server-url``; with it, one item per check, verdicts
mapped to pytest outcomes, the baseline applied (xfail, stale), reports written."""

from __future__ import annotations

import json
import textwrap

import pytest

pytest_plugins = ["pytester"]

__all__: list[str] = []

# A conftest that supplies synthetic checks through the plugin's hook, so these tests need no
# server. VERDICTS maps check id -> verdict name; every run_check call is logged to ran.txt.
SOURCE = """
from dataclasses import dataclass
from pathlib import Path

from conformance.results import CheckResult, Verdict

VERDICTS = {verdicts}


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    requirements: tuple[str, ...]


class Source:
    def checks(self):
        return [Spec(cid, "title of " + cid, ("RWS-CACHE-4",)) for cid in VERDICTS]

    def run_check(self, check_id):
        with Path("ran.txt").open("a") as log:
            log.write(check_id + "\\n")
        verdict = Verdict(VERDICTS[check_id])
        return CheckResult(
            id=check_id,
            title="title of " + check_id,
            requirements=("RWS-CACHE-4",),
            verdict=verdict,
            duration_s=0.01,
            message=(
                "" if verdict is Verdict.PASSED else "expected: A\\nactual: B (" + check_id + ")"
            ),
            wire_log=(
                {{"ts": 0.1, "conn": "c1", "kind": "text", "dir": "s2c",
                  "text": '{{"type":"error"}}'}},
            ),
            requirement_verdicts={{"RWS-CACHE-4": verdict}},
            details={{}},
        )

    def target(self):
        return {{"server_url": "ws://fake:1", "model": "conformance-1"}}


def pytest_rws_suite_source(config, settings):
    Path("settings.txt").write_text(repr(settings))
    return Source()
"""

ALL_VERDICTS = {
    "cache.hit": "PASSED",
    "cache.miss": "FAILED",
    "handshake.plain-get": "WARNING",
    "handshake.limits": "INFORMATIONAL",
    "lanes.busy": "SKIPPED",
}
URL = "--rws-server-url=ws://fake:1"


def with_source(pytester: pytest.Pytester, verdicts: dict[str, str]) -> None:
    pytester.makeconftest(SOURCE.format(verdicts=repr(verdicts)))


def ran(pytester: pytest.Pytester) -> list[str]:
    log = pytester.path / "ran.txt"
    return log.read_text().split() if log.exists() else []


def baseline(pytester: pytest.Pytester, text: str) -> str:
    path = pytester.path / "baseline.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return f"--rws-expected-failures={path}"


class TestInertWithoutServerUrl:
    """Installed everywhere, the plugin must not change anyone's test run."""

    def test_plain_run_is_unchanged_and_suite_hook_not_called(
        self, pytester: pytest.Pytester
    ) -> None:
        """Only the user's test runs; the suite source hook is never asked."""
        with_source(pytester, ALL_VERDICTS)
        pytester.makepyfile(test_user="def test_one():\n    assert True\n")
        result = pytester.runpytest("-W", "error")
        result.assert_outcomes(passed=1)
        assert not (pytester.path / "settings.txt").exists()
        assert ran(pytester) == []
        assert "responses-ws conformance" not in result.stdout.str()
        assert "responses-ws::" not in result.stdout.str()

    def test_plugin_imports_no_harness_when_inert(self, pytester: pytest.Pytester) -> None:
        """In a fresh process, loading the plugin does not pull in the harness or scenarios."""
        pytester.makepyfile(
            test_user="""
            import sys

            def test_harness_not_loaded():
                assert "conformance.pytest_plugin" in sys.modules
                assert "conformance.harness" not in sys.modules
                assert "conformance.scenarios" not in sys.modules
            """
        )
        result = pytester.runpytest_subprocess("-p", "responses_ws")
        result.assert_outcomes(passed=1)

    def test_options_are_listed_in_help(self, pytester: pytest.Pytester) -> None:
        """The --rws-* options exist (that is all the inert plugin adds)."""
        result = pytester.runpytest("--help")
        for option in (
            "--rws-server-url",
            "--rws-api-key",
            "--rws-model",
            "--rws-profile",
            "--rws-expected-failures",
            "--rws-report-dir",
            "--rws-timeout",
        ):
            result.stdout.fnmatch_lines([f"*{option}*"])

    def test_empty_folder_still_reports_no_tests(self, pytester: pytest.Pytester) -> None:
        """Without the option an empty run stays pytest's 'no tests collected'."""
        result = pytester.runpytest()
        assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


class TestCollectionAndVerdicts:
    """One item per check; verdicts become outcomes."""

    def test_one_item_per_check_under_responses_ws(self, pytester: pytest.Pytester) -> None:
        """--collect-only lists responses-ws::<check id> for every check, in order."""
        with_source(pytester, ALL_VERDICTS)
        result = pytester.runpytest(URL, "--collect-only", "-q")
        result.stdout.fnmatch_lines([f"responses-ws::{cid}" for cid in ALL_VERDICTS])
        assert ran(pytester) == []

    def test_verdicts_map_to_pytest_outcomes(self, pytester: pytest.Pytester) -> None:
        """PASSED/WARNING/INFORMATIONAL pass, FAILED fails, SKIPPED skips with the reason."""
        with_source(pytester, ALL_VERDICTS)
        result = pytester.runpytest(URL, "-rs", "-W", "error")
        result.assert_outcomes(passed=3, failed=1, skipped=1)
        assert ran(pytester) == list(ALL_VERDICTS)
        result.stdout.fnmatch_lines(["*SKIPPED*expected: A*"])
        assert result.ret == pytest.ExitCode.TESTS_FAILED

    def test_failure_shows_expected_vs_actual_and_wire_log_not_traceback(
        self, pytester: pytest.Pytester
    ) -> None:
        """The failure text is the check's message and its wire log."""
        with_source(pytester, {"cache.miss": "FAILED"})
        result = pytester.runpytest(URL)
        result.stdout.fnmatch_lines(
            [
                "*cache.miss FAILED [[]RWS-CACHE-4[]]*",
                "expected: A",
                "actual: B (cache.miss)",
                "wire log (1 records):",
                '*c1 s2c text: {"type":"error"}*',
            ]
        )
        assert "Traceback" not in result.stdout.str()
        assert "pytest_plugin.py" not in result.stdout.str()

    def test_warning_is_reported_in_the_summary_not_as_python_warning(
        self, pytester: pytest.Pytester
    ) -> None:
        """WARNING passes even with -W error, and the terminal summary names it."""
        with_source(pytester, {"handshake.plain-get": "WARNING"})
        result = pytester.runpytest(URL, "-W", "error")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*WARNING handshake.plain-get: expected: A*"])
        assert result.ret == pytest.ExitCode.OK

    def test_items_run_under_pytest_trio_trio_mode(self, pytester: pytest.Pytester) -> None:
        """pytest-trio's trio_mode (on in this project's pytest settings) reads ``obj`` of
        every collected item: the check items have one, so the session runs its checks
        instead of ending in INTERNALERROR ('CheckItem' object has no attribute 'obj')."""
        pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings =\n    error\n")
        with_source(pytester, ALL_VERDICTS)
        result = pytester.runpytest(URL)
        result.assert_outcomes(passed=3, failed=1, skipped=1)
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        assert ran(pytester) == list(ALL_VERDICTS)

    def test_keyword_selection_runs_only_selected_checks(self, pytester: pytest.Pytester) -> None:
        """-k applies to check ids: deselected checks are not run."""
        with_source(pytester, ALL_VERDICTS)
        result = pytester.runpytest(URL, "-k", "cache")
        result.assert_outcomes(passed=1, failed=1, deselected=3)
        assert ran(pytester) == ["cache.hit", "cache.miss"]

    def test_every_check_skipped_fails_the_session(self, pytester: pytest.Pytester) -> None:
        """A vacuous run (only SKIPPED) is not green."""
        with_source(pytester, {"lanes.busy": "SKIPPED"})
        result = pytester.runpytest(URL)
        result.assert_outcomes(skipped=1)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(["*run fails: every check was SKIPPED*"])

    def test_options_reach_the_source(self, pytester: pytest.Pytester) -> None:
        """Profiles (repeatable and comma-separated), model, timeout and key are parsed."""
        with_source(pytester, {"cache.hit": "PASSED"})
        pytester.runpytest(
            URL,
            "--rws-profile=core,multiplex",
            "--rws-profile=steering",
            "--rws-model=gpt-x",
            "--rws-timeout=2.5",
            "--rws-api-key=sk-test",
            "--rws-server-param=busy-lane=reject",
        )
        settings = (pytester.path / "settings.txt").read_text()
        assert "profiles=('core', 'multiplex', 'steering')" in settings
        assert "model='gpt-x'" in settings
        assert "timeout=2.5" in settings
        assert "api_key='sk-test'" in settings
        assert "parameters=(('busy-lane', 'reject'),)" in settings

    def test_short_limit_instances_reach_the_source(self, pytester: pytest.Pytester) -> None:
        """The instances with a short age and a short idle-timeout, for RWS-LIMIT-1/2/4."""
        with_source(pytester, {"cache.hit": "PASSED"})
        pytester.runpytest(
            URL,
            "--rws-test-connection-age=3",
            "--rws-age-limit-url=ws://aged:2",
            "--rws-test-idle-timeout=1.5",
            "--rws-idle-limit-url=ws://idle:3",
        )
        settings = (pytester.path / "settings.txt").read_text()
        assert "test_connection_age=3.0, age_limit_url='ws://aged:2'" in settings
        assert "test_idle_timeout=1.5, idle_limit_url='ws://idle:3'" in settings


class TestBaseline:
    """--rws-expected-failures."""

    def test_listed_failure_is_xfail_and_run_passes(self, pytester: pytest.Pytester) -> None:
        """A listed FAILED check is xfailed with the reason; exit status 0."""
        with_source(pytester, {"cache.hit": "PASSED", "cache.miss": "FAILED"})
        option = baseline(pytester, "- check: cache.miss\n  reason: known bug 12\n")
        result = pytester.runpytest(URL, option, "-rx")
        result.assert_outcomes(passed=1, xfailed=1)
        result.stdout.fnmatch_lines(["*XFAIL*expected failure: known bug 12*"])
        assert result.ret == pytest.ExitCode.OK

    def test_listed_check_that_passes_fails_as_stale(self, pytester: pytest.Pytester) -> None:
        """A listed check that passes is a failure saying the entry is stale."""
        with_source(pytester, {"cache.hit": "PASSED"})
        option = baseline(pytester, "- check: cache.hit\n  reason: was broken\n")
        result = pytester.runpytest(URL, option)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*expected failure cache.hit is stale: cache.hit PASSED*"])
        assert result.ret == pytest.ExitCode.TESTS_FAILED

    def test_stale_pattern_entry_fails_the_session_at_the_end(
        self, pytester: pytest.Pytester
    ) -> None:
        """A pattern entry is judged over all its matches: every item passes, the run fails."""
        with_source(pytester, {"cache.a": "PASSED", "cache.b": "PASSED"})
        option = baseline(pytester, "- check: cache.*\n  reason: cache broken\n")
        result = pytester.runpytest(URL, option)
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["*STALE expected failure cache.* is stale*"])
        assert result.ret == pytest.ExitCode.TESTS_FAILED

    def test_malformed_server_param_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        """--rws-server-param needs NAME=VALUE."""
        with_source(pytester, {"cache.hit": "PASSED"})
        result = pytester.runpytest(URL, "--rws-server-param=busy-lane")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--rws-server-param expects NAME=VALUE*"])

    def test_malformed_baseline_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        """An entry without a reason stops the run before anything is collected."""
        with_source(pytester, {"cache.hit": "PASSED"})
        option = baseline(pytester, "- check: cache.hit\n")
        result = pytester.runpytest(URL, option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--rws-expected-failures*'reason' must be*"])
        assert ran(pytester) == []


def test_reports_are_written_at_session_end(pytester: pytest.Pytester) -> None:
    """--rws-report-dir gets report.json (with the target), junit.xml and report.html."""
    with_source(pytester, ALL_VERDICTS)
    option = baseline(pytester, "- check: cache.miss\n  reason: known\n")
    result = pytester.runpytest(URL, option, f"--rws-report-dir={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.OK
    out = pytester.path / "out"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in report["checks"]] == list(ALL_VERDICTS)
    assert report["target"] == {"server_url": "ws://fake:1", "model": "conformance-1"}
    assert report["summary"]["exit_status"] == 0
    assert report["summary"]["verdicts"]["expected_failure"] == 1
    assert (out / "junit.xml").read_text(encoding="utf-8").startswith("<?xml")
    assert "<!DOCTYPE html>" in (out / "report.html").read_text(encoding="utf-8")
    result.stdout.fnmatch_lines([f"report.json: {out / 'report.json'}"])


def test_default_source_collects_the_harness_scenario_registry(
    pytester: pytest.Pytester,
) -> None:
    """Without a conftest hook, the items are the harness's registered scenarios."""
    from conformance.scenarios import all_scenarios

    result = pytester.runpytest("--rws-server-url=ws://127.0.0.1:9", "--collect-only", "-q")
    listed = [
        line.removeprefix("responses-ws::")
        for line in result.stdout.lines
        if line.startswith("responses-ws::")
    ]
    assert listed == [scn.id for scn in all_scenarios()]
    assert len(listed) > 0
