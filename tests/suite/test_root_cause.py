"""Root cause first (issue 12): the verdict model of conformance.results on synthetic results,
the reports that lead with it, and two runs against the reference server with a fault."""

from __future__ import annotations

import functools
import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio
import yaml

from conformance.baseline import (
    ExpectedFailure,
    apply_expected_failures,
    exit_reasons,
    exit_status,
)
from conformance.commands.check import profile_warning
from conformance.docsgen.requirements_index import _check_anchor
from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.runner import run_suite
from conformance.harness.wire import Recorder
from conformance.reports import DEFAULT_SPEC_BASE_URL, Progress, print_summary
from conformance.reports.html import build_html, check_anchor
from conformance.reports.json_report import SCHEMA_PATH, build_report
from conformance.reports.junit import build_junit
from conformance.requirements import load_requirements
from conformance.results import (
    CheckResult,
    Evidence,
    RunResult,
    Verdict,
    blocked,
    resolve,
    untestable,
    violations,
)
from conformance.scenarios import all_scenarios
from conformance.suite_options import SuiteOptions
from tests.suite.reference_server import reference_config

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = load_requirements()


def result(
    check_id: str,
    own: tuple[str, ...],
    verdicts: dict[str, Verdict],
    evidence: tuple[Evidence, ...] = (),
    wire: int = 0,
) -> CheckResult:
    """A check result as the runner builds it (its verdict from its own requirements)."""
    own_verdicts = [verdicts[r] for r in own if r in verdicts]
    order = [Verdict.FAILED, Verdict.WARNING, Verdict.PASSED]
    verdict = next((v for v in order if v in own_verdicts), Verdict.PASSED)
    return CheckResult(
        id=check_id,
        title=f"title of {check_id}",
        requirements=own,
        verdict=verdict,
        duration_s=0.1,
        message="\n".join(f"{e.requirement} ({e.verdict.value}): {e.message}" for e in evidence),
        wire_log=tuple(
            {"ts": 0.0, "conn": "c1", "kind": "text", "dir": "s2c", "text": f"record {i}"}
            for i in range(wire)
        ),
        requirement_verdicts=verdicts,
        details={},
        evidence=evidence,
    )


def cache_run() -> RunResult:
    """The no-cache shape: the cache check fails RWS-CACHE-2 directly; an error check's
    continuation relied on it; a stream check saw RWS-SEQ-1 violated on the way."""
    miss = Evidence("RWS-CACHE-2", Verdict.FAILED, "continuation got previous_response_not_found")
    checks = (
        result(
            "cache.continue",
            ("RWS-CACHE-2",),
            {"RWS-CACHE-2": Verdict.FAILED},
            (miss,),
        ),
        result(
            "errors.usable",
            ("RWS-ERR-3",),
            {"RWS-ERR-3": Verdict.FAILED, "RWS-CACHE-2": Verdict.FAILED},
            (
                Evidence(
                    "RWS-ERR-3",
                    Verdict.FAILED,
                    "continuing after the error got previous_response_not_found",
                    (3,),
                    relies_on=("RWS-CACHE-1", "RWS-CACHE-2"),
                ),
                Evidence("RWS-CACHE-2", Verdict.FAILED, "the checker's cache finding", (3,)),
            ),
            wire=5,
        ),
        result(
            "handshake.deflate",
            ("RWS-TRANS-8",),
            {"RWS-TRANS-8": Verdict.PASSED, "RWS-SEQ-1": Verdict.FAILED},
            (Evidence("RWS-SEQ-1", Verdict.FAILED, "an event without sequence_number", (1,)),),
            wire=2,
        ),
    )
    return RunResult(resolve(checks), "2026-12-01T00:00:00+00:00", 1.0, {"server_url": "ws://x"})


class TestVerdictModel:
    """conformance.results on synthetic results."""

    def test_a_conclusion_relying_on_a_violated_requirement_is_blocked(self) -> None:
        run = cache_run()
        usable = run.checks[1]
        assert usable.verdict is Verdict.BLOCKED
        assert usable.requirement_verdicts["RWS-ERR-3"] is Verdict.BLOCKED
        assert usable.blocked_by == {"RWS-ERR-3": ("RWS-CACHE-2",)}
        assert [(b.requirement, b.blocked_by) for b in blocked(run.checks)] == [
            ("RWS-ERR-3", ("RWS-CACHE-2",))
        ]

    def test_the_own_violated_requirement_stays_failed(self) -> None:
        # The mutation proof reads requirement_verdicts: a check's own violation is FAILED.
        check = cache_run().checks[0]
        assert check.verdict is Verdict.FAILED
        assert check.requirement_verdicts["RWS-CACHE-2"] is Verdict.FAILED

    def test_a_violation_seen_on_the_way_is_reported_once_and_does_not_fail_the_check(
        self,
    ) -> None:
        run = cache_run()
        deflate = run.checks[2]
        assert deflate.verdict is Verdict.PASSED
        found = {v.requirement: v for v in violations(run.checks)}
        assert list(found) == ["RWS-CACHE-2", "RWS-SEQ-1"]
        assert found["RWS-CACHE-2"].check == "cache.continue"
        assert found["RWS-CACHE-2"].seen_in == ("cache.continue", "errors.usable")
        assert found["RWS-SEQ-1"].seen_in == ("handshake.deflate",)
        assert found["RWS-SEQ-1"].own_in == ()
        assert found["RWS-SEQ-1"].records == (1,)

    def test_reliance_on_nothing_violated_stays_failed(self) -> None:
        alone = resolve([cache_run().checks[1]])  # the cache check did not run
        # The checker's own RWS-CACHE-2 finding in the same check still blocks RWS-ERR-3.
        assert alone[0].requirement_verdicts["RWS-ERR-3"] is Verdict.BLOCKED
        refused = result(
            "cache.x",
            ("RWS-CACHE-5",),
            {"RWS-CACHE-5": Verdict.FAILED},
            (
                Evidence(
                    "RWS-CACHE-5",
                    Verdict.FAILED,
                    "prerequisite not met: the setup run did not complete",
                    relies_on=("RWS-ORDER-2",),
                    violation=False,
                ),
            ),
        )
        (kept,) = resolve([refused])
        assert kept.verdict is Verdict.FAILED
        assert untestable([kept]) == {
            "RWS-CACHE-5": [("cache.x", "prerequisite not met: the setup run did not complete")]
        }
        assert violations([kept]) == []

    def test_resolve_is_idempotent(self) -> None:
        run = cache_run()
        assert resolve(run.checks) == run.checks

    def test_a_step_relying_on_a_requirement_is_direct_evidence_about_it(self) -> None:
        # A continuation relies on RWS-CACHE-1 and RWS-CACHE-2: a failure of RWS-CACHE-2 after
        # it is not blocked by RWS-CACHE-1, while RWS-MODEL-3 relies on both.
        async def scenario() -> tuple[tuple[str, ...], tuple[str, ...]]:
            async with trio.open_nursery() as nursery:
                ctx = ScenarioContext(SuiteConfig(server_url="ws://x"), nursery, Recorder(), {})
                ctx.rely_on("RWS-CACHE-1", "RWS-CACHE-2")
                return ctx.relied_on("RWS-CACHE-2"), ctx.relied_on("RWS-MODEL-3")

        direct, other = trio.run(scenario)
        assert direct == ()
        assert other == ("RWS-CACHE-1", "RWS-CACHE-2")


class TestExitStatus:
    """What fails the run, and the expected-failures file."""

    def test_a_violation_on_the_way_fails_the_run_and_an_entry_covers_it(self) -> None:
        run = cache_run()
        assert exit_reasons(run) == [
            "1 check(s) FAILED: cache.continue",
            "1 requirement(s) violated on the way: RWS-SEQ-1 (seen in handshake.deflate)",
        ]
        baseline = [
            ExpectedFailure(check="cache.continue", reason="no cache yet"),
            ExpectedFailure(check="handshake.*", requirement="RWS-SEQ-1", reason="issue 4"),
        ]
        marked, stale = apply_expected_failures(run, baseline)
        assert stale == ()
        assert exit_status(marked, stale) == 0

    def test_an_entry_for_a_blocked_check_is_not_stale(self) -> None:
        baseline = [
            ExpectedFailure(check="cache.continue", reason="no cache yet"),
            ExpectedFailure(check="errors.usable", reason="was failing"),
        ]
        _marked, stale = apply_expected_failures(cache_run(), baseline)
        assert stale == ()


class TestReports:
    """The reports lead with the violated requirements, then the blocked ones."""

    def test_report_json_holds_the_root_causes_and_validates(self) -> None:
        report = build_report(cache_run(), registry=REGISTRY)
        schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(schema).validate(report)
        assert report["format_version"] == 2
        assert [v["requirement"] for v in report["violations"]] == ["RWS-CACHE-2", "RWS-SEQ-1"]
        assert report["blocked"] == [
            {"requirement": "RWS-ERR-3", "blocked_by": ["RWS-CACHE-2"], "checks": ["errors.usable"]}
        ]
        verdicts = {s["id"]: s["verdict"] for s in report["requirements"]}
        assert verdicts["RWS-ERR-3"] == "BLOCKED"
        assert verdicts["RWS-SEQ-1"] == "FAILED"
        assert report["summary"]["verdicts"]["BLOCKED"] == 1

    def test_console_leads_with_violations_then_blocked_and_lists_skips(self) -> None:
        skipped = CheckResult(
            id="lanes.x",
            title="t",
            requirements=("RWS-LANE-12",),
            verdict=Verdict.SKIPPED,
            duration_s=0.0,
            message="not runnable with model 'freeform-1'",
            wire_log=(),
            requirement_verdicts={"RWS-LANE-12": Verdict.SKIPPED},
            details={},
        )
        run = cache_run()
        run = RunResult((*run.checks, skipped), run.started_at, 1.0, run.target)
        out = io.StringIO()
        print_summary(run, stream=out, registry=REGISTRY, exclusions={})
        text = out.getvalue()
        lead = text.index("2 requirements violated:")
        assert lead < text.index("1 requirement blocked") < text.index("\nFAILED:")
        assert "  RWS-SEQ-1 (MUST), first seen in handshake.deflate:" in text
        assert "      also seen in: errors.usable" in text
        assert "  RWS-ERR-3 (MUST) blocked by RWS-CACHE-2 in errors.usable" in text
        assert "\nSKIPPED:\n  lanes.x: not runnable with model 'freeform-1'\n" in text
        assert "RWS-LANE-12 (SHOULD): not runnable with model 'freeform-1' (lanes.x)" in text

    def test_progress_legend_names_every_mark(self) -> None:
        legend = Progress.legend()
        for mark in (". PASSED", "F FAILED", "B BLOCKED", "x expected failure", "s SKIPPED"):
            assert mark in legend

    def test_profile_warning_when_conformance_model_is_left_out(self) -> None:
        config = SuiteConfig(
            server_url="ws://x", model="conformance-1", profiles=frozenset({"core"})
        )
        warning = profile_warning(SuiteOptions(server_url="ws://x", profiles=("core",)), config)
        assert warning is not None
        assert "conformance-model" in warning
        assert profile_warning(SuiteOptions(server_url="ws://x"), config) is None

    def test_junit_leads_with_the_root_causes_and_skips_blocked(self) -> None:
        root = build_junit(cache_run(), registry=REGISTRY).getroot()
        out = root.find("system-out")
        assert out is not None
        assert out.text is not None
        assert out.text.startswith("2 requirements violated:")
        case = root.find(".//testcase[@name='errors.usable']/skipped")
        assert case is not None
        assert case.get("type") == "blocked"
        assert "BLOCKED by RWS-CACHE-2" in case.get("message", "")

    def test_html_groups_by_violated_requirement_and_marks_the_record(self) -> None:
        page = build_html(cache_run(), registry=REGISTRY, spec_base_url="https://spec.test/")
        lead = page.index("2 requirements violated")
        assert lead < page.index('id="violated-rws-cache-2"') < page.index("What failed")
        assert 'href="https://spec.test/spec/cache/#rws-cache-2"' in page
        # The first evidence links to the wire record where it was seen, marked there.
        assert 'href="#check-handshake-deflate-r1"' in page
        row = page[page.index('id="check-handshake-deflate-r1"') - 40 :]
        assert 'class="s2c hit"' in row[:80]
        assert "What the verdicts mean" in page
        assert "`" not in re.sub(r"<pre.*?</pre>", "", page, flags=re.S)

    def test_check_anchors_are_the_sites(self) -> None:
        for check_id in ("cache.continue-store-false", "handshake.permessage-deflate"):
            assert check_anchor(check_id) == _check_anchor(check_id)

    def test_default_spec_base_url_is_the_sites(self) -> None:
        mkdocs = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
        assert mkdocs["site_url"] == DEFAULT_SPEC_BASE_URL


class _Loader(yaml.SafeLoader):
    """mkdocs.yml carries !!python/name tags; only site_url is read here."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def _fault_run(fault: str) -> RunResult:
    with reference_config(
        [fault], with_age_instance=True, with_idle_instance=True, timeout=3.0
    ) as config:
        return trio.run(functools.partial(run_suite, config, all_scenarios(), jobs=6))


def _failed_requirements(run: RunResult) -> set[str]:
    return {v.requirement for v in violations(run.checks) if v.verdict is Verdict.FAILED} | set(
        untestable(run.checks)
    )


@pytest.mark.slow
def test_no_cache_fails_at_most_the_four_cache_requirements_and_blocks_the_rest() -> None:
    run = _fault_run("no-cache")
    failed = _failed_requirements(run)
    assert "RWS-CACHE-2" in failed
    assert failed <= {"RWS-CACHE-1", "RWS-CACHE-2", "RWS-CACHE-10", "RWS-LANE-7"}
    stuck = {b.requirement: b.blocked_by for b in blocked(run.checks)}
    assert stuck, "the checks that rely on the cache are BLOCKED"
    assert all(set(by) <= failed for by in stuck.values())
    assert exit_status(run) == 1


@pytest.mark.slow
def test_a_defect_seen_on_the_way_does_not_fail_the_observing_checks() -> None:
    # sequence-start-1 breaks RWS-SEQ-3 (a SHOULD) in every run of every check.
    run = _fault_run("sequence-start-1")
    (seq,) = [v for v in violations(run.checks) if v.requirement == "RWS-SEQ-3"]
    assert len(seq.seen_in) > len(seq.own_in) > 0
    onlookers = [c for c in run.checks if c.id in seq.seen_in and c.id not in seq.own_in]
    assert {c.verdict for c in onlookers} <= {Verdict.PASSED, Verdict.INFORMATIONAL}
    assert not [c.id for c in run.checks if c.verdict in (Verdict.FAILED, Verdict.BLOCKED)]
