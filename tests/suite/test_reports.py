"""Tests of the run reports: report.json against its schema, junit.xml's verdict mapping,
report.html's layout and escaping, the console progress and summary, and write_reports."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.baseline import ExpectedFailure, StaleEntry, apply_expected_failures
from conformance.reports import REPORT_FILES, Progress, print_summary, write_reports
from conformance.reports._common import level_class, requirement_summaries, to_jsonable
from conformance.reports.console import coverage_line, run_role
from conformance.reports.html import WIRE_TEXT_LIMIT, build_html
from conformance.reports.json_report import SCHEMA_PATH, build_report
from conformance.reports.junit import build_junit
from conformance.requirements import Requirement, load_requirements
from conformance.results import CheckResult, RunResult, Verdict
from conformance.traceability import build_matrix, load_exclusions

__all__: list[str] = []

HOSTILE = "<script>alert(\"x\")</script> & 'quote'"

REGISTRY: dict[str, Requirement] = {
    rid: Requirement(
        id=rid,
        level=level,
        role="server",
        profile="core",
        text=f"{rid} text",
        area=rid.split("-")[1],
    )
    for rid, level in [
        ("RWS-CACHE-4", "MUST"),
        ("RWS-CACHE-5", "MUST NOT"),
        ("RWS-TRANS-4", "SHOULD"),
        ("RWS-TRANS-11", "MAY"),
        ("RWS-LANE-2", "MUST"),
    ]
}


def wire(text: str = '{"type":"response.created"}') -> tuple[dict[str, Any], ...]:
    return (
        {
            "ts": 0.001,
            "conn": "c1",
            "kind": "open",
            "url": "ws://h/v1/responses",
            "status": 101,
            "headers": {},
        },
        {
            "ts": 0.002,
            "conn": "c1",
            "kind": "text",
            "dir": "c2s",
            "text": '{"type":"response.create"}',
        },
        {"ts": 0.003, "conn": "c1", "kind": "text", "dir": "s2c", "text": text},
        {"ts": 0.004, "conn": "c1", "kind": "close", "dir": "s2c", "code": 1000, "reason": ""},
    )


def check(
    check_id: str,
    verdict: Verdict,
    requirements: tuple[str, ...] = ("RWS-CACHE-4",),
    message: str = "",
    details: Mapping[str, Any] | None = None,
    text: str = '{"type":"response.created"}',
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"title of {check_id}",
        requirements=requirements,
        verdict=verdict,
        duration_s=0.25,
        message=message,
        wire_log=wire(text),
        requirement_verdicts=dict.fromkeys(requirements, verdict),
        details=details or {},
    )


def sample_run() -> RunResult:
    return RunResult(
        checks=(
            check("cache.hit", Verdict.PASSED),
            check(
                "cache.miss",
                Verdict.FAILED,
                message="expected: previous_response_not_found\nactual: response.created",
            ),
            check("cache.evict", Verdict.FAILED, ("RWS-CACHE-5",), message="expected eviction"),
            check(
                "handshake.plain-get",
                Verdict.WARNING,
                ("RWS-TRANS-4",),
                message="expected 426, got 200",
            ),
            check(
                "handshake.limits",
                Verdict.INFORMATIONAL,
                ("RWS-TRANS-11",),
                message="no responses-ws-limits header",
                details={"headers": frozenset({"b", "a"}), "raw": b"\x00\x01"},
            ),
            check(
                "lanes.busy",
                Verdict.SKIPPED,
                ("RWS-LANE-2",),
                message="profile 'multiplex' not declared",
            ),
            check("cache.fixed", Verdict.PASSED),
        ),
        started_at="2026-11-21T23:00:00+00:00",
        duration_s=2.5,
        target={"server_url": "ws://127.0.0.1:8080", "profiles": ["core"], "suite_version": "0.1"},
    )


def applied() -> tuple[RunResult, tuple[StaleEntry, ...]]:
    baseline = [
        ExpectedFailure(check="cache.evict", reason="eviction not done yet (issue 7)"),
        ExpectedFailure(check="cache.fixed", reason="was broken"),
    ]
    return apply_expected_failures(sample_run(), baseline)


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


class TestJsonReport:
    """report.json."""

    def test_report_schema_is_a_valid_2020_12_schema(self) -> None:
        """The documented format is itself a valid JSON Schema."""
        jsonschema.Draft202012Validator.check_schema(schema())

    def test_report_validates_against_its_schema(self) -> None:
        """A report with every verdict, an expected failure and a stale entry validates."""
        run, stale = applied()
        report = build_report(run, stale=stale, registry=REGISTRY)
        jsonschema.Draft202012Validator(schema()).validate(report)

    def test_a_huge_wire_text_is_kept_as_its_head_and_digest(self) -> None:
        """A 16 MiB message (frames.message-at-declared-size) does not make a 16 MiB report."""
        huge = '{"type":"response.create","input":"' + "x" * (1 << 20) + '"}'
        run = RunResult(
            checks=(check("frames.big", Verdict.PASSED, text=huge),),
            started_at="2026-12-04T00:00:00+00:00",
            duration_s=1.0,
            target={},
        )
        report = build_report(run, registry=REGISTRY)
        jsonschema.Draft202012Validator(schema()).validate(report)
        (record,) = [r for r in report["checks"][0]["wire_log"] if "text_omitted" in r]
        assert record["text"] == huge[:2048]
        assert record["text_omitted"] == {
            "bytes": len(huge),
            "sha256": hashlib.sha256(huge.encode()).hexdigest(),
            "kept_chars": 2048,
        }
        assert len(json.dumps(report)) < 100_000

    def test_report_of_an_empty_run_validates_and_fails(self) -> None:
        """A run without checks is a valid report with exit status 1."""
        run = RunResult(
            checks=(), started_at="2026-11-21T23:00:00+00:00", duration_s=0.0, target={}
        )
        report = build_report(run)
        jsonschema.Draft202012Validator(schema()).validate(report)
        assert report["summary"]["exit_status"] == 1
        assert report["summary"]["exit_reasons"] == ["no check ran"]

    def test_report_records_verdicts_levels_and_baseline_marks(self) -> None:
        """Each check entry carries its verdict, level class, area and baseline marks."""
        run, stale = applied()
        report = build_report(run, stale=stale, registry=REGISTRY)
        by_id = {c["id"]: c for c in report["checks"]}
        assert [c["id"] for c in report["checks"]] == [c.id for c in run.checks]
        assert by_id["cache.miss"]["verdict"] == "FAILED"
        assert by_id["cache.miss"]["expected_failure"] is None
        assert by_id["cache.evict"]["expected_failure"] == "eviction not done yet (issue 7)"
        assert by_id["cache.evict"]["level"] == "MUST"  # MUST NOT counts as MUST
        assert by_id["handshake.plain-get"]["level"] == "SHOULD"
        assert by_id["handshake.limits"]["level"] == "MAY"
        assert by_id["cache.fixed"]["stale_expected_failure"] is not None
        assert by_id["cache.hit"]["area"] == "cache"
        assert by_id["cache.miss"]["wire_log"][2]["dir"] == "s2c"
        assert report["summary"]["verdicts"] == {
            "FAILED": 2,
            "WARNING": 1,
            "PASSED": 2,
            "INFORMATIONAL": 1,
            "SKIPPED": 1,
            "BLOCKED": 0,
            "expected_failure": 1,
        }
        assert report["summary"]["exit_status"] == 1
        assert report["stale_expected_failures"][0]["check"] == "cache.fixed"
        assert report["target"]["server_url"] == "ws://127.0.0.1:8080"

    def test_details_that_are_not_json_are_converted(self) -> None:
        """Sets become sorted lists and bytes become base64, so the report never breaks."""
        report = build_report(sample_run(), registry=REGISTRY)
        limits = next(c for c in report["checks"] if c["id"] == "handshake.limits")
        assert limits["details"] == {"headers": ["a", "b"], "raw": {"b64": "AAE="}}
        assert to_jsonable({"v": Verdict.WARNING, "t": (1, 2)}) == {"v": "WARNING", "t": [1, 2]}

    def test_requirement_summary_takes_the_worst_verdict(self) -> None:
        """CACHE-4 is tested by a pass and a failure: the summary says FAILED, with both."""
        summaries = {s.id: s for s in requirement_summaries(sample_run(), REGISTRY)}
        cache4 = summaries["RWS-CACHE-4"]
        assert cache4.verdict is Verdict.FAILED
        assert [c for c, _ in cache4.checks] == ["cache.hit", "cache.miss", "cache.fixed"]
        assert summaries["RWS-LANE-2"].verdict is Verdict.SKIPPED
        assert list(summaries) == [
            "RWS-CACHE-4",
            "RWS-CACHE-5",
            "RWS-TRANS-4",
            "RWS-TRANS-11",
            "RWS-LANE-2",
        ]

    @pytest.mark.parametrize(
        ("level", "expected"),
        [
            ("MUST", "MUST"),
            ("MUST NOT", "MUST"),
            ("SHOULD NOT", "SHOULD"),
            ("MAY", "MAY"),
            ("", "-"),
        ],
    )
    def test_level_class_groups_negative_levels_with_positive(
        self, level: str, expected: str
    ) -> None:
        """MUST NOT weighs as MUST, SHOULD NOT as SHOULD."""
        assert level_class(level) == expected


class TestJunit:
    """junit.xml."""

    def cases(self) -> dict[str, ET.Element]:
        run, stale = applied()
        root = build_junit(run, stale=stale, registry=REGISTRY).getroot()
        return {case.get("name", ""): case for case in root.iter("testcase")}

    def test_one_testcase_per_check_with_area_classname(self) -> None:
        """Every check is a testcase; classname is its area; suites are areas."""
        run, stale = applied()
        root = build_junit(run, stale=stale, registry=REGISTRY).getroot()
        assert [s.get("name") for s in root.iter("testsuite")] == ["cache", "handshake", "lanes"]
        cases = self.cases()
        assert set(cases) == {c.id for c in run.checks}
        assert cases["handshake.limits"].get("classname") == "handshake"
        assert root.get("tests") == "7"

    def test_failed_check_is_a_failure_with_message_and_wire_log(self) -> None:
        """FAILED -> <failure> with expected vs actual; the wire log goes to system-out."""
        case = self.cases()["cache.miss"]
        failure = case.find("failure")
        assert failure is not None
        assert failure.get("message") == "expected: previous_response_not_found"
        assert "actual: response.created" in (failure.text or "")
        assert '"kind": "open"' in (case.findtext("system-out") or "")

    def test_expected_failure_is_skipped_not_failure(self) -> None:
        """A listed failure is <skipped type="expected-failure">, so CI stays green."""
        case = self.cases()["cache.evict"]
        assert case.find("failure") is None
        skipped = case.find("skipped")
        assert skipped is not None
        assert skipped.get("type") == "expected-failure"
        assert "issue 7" in (skipped.get("message") or "")

    def test_stale_entry_fails_the_check_it_names(self) -> None:
        """A passing check named by a stale entry is a failure of type stale-expected-failure."""
        failure = self.cases()["cache.fixed"].find("failure")
        assert failure is not None
        assert failure.get("type") == "stale-expected-failure"

    def test_warning_passes_with_note_and_property(self) -> None:
        """WARNING -> no failure; a system-out note and a verdict property."""
        case = self.cases()["handshake.plain-get"]
        assert case.find("failure") is None
        assert case.find("skipped") is None
        assert "WARNING" in (case.findtext("system-out") or "")
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["verdict"] == "WARNING"
        assert props["level"] == "SHOULD"

    def test_skipped_has_reason_and_informational_is_a_property(self) -> None:
        """SKIPPED -> <skipped> with the reason; INFORMATIONAL -> property, no failure."""
        cases = self.cases()
        skipped = cases["lanes.busy"].find("skipped")
        assert skipped is not None
        assert skipped.get("message") == "profile 'multiplex' not declared"
        info = cases["handshake.limits"]
        props = {p.get("name"): p.get("value") for p in info.iter("property")}
        assert (
            json.loads(props["informational"] or "")["message"] == "no responses-ws-limits header"
        )
        assert info.find("failure") is None

    def test_counts_match_the_exit_status(self) -> None:
        """failures = unexpected failures + stale; skipped = SKIPPED + expected failures."""
        run, stale = applied()
        root = build_junit(run, stale=stale, registry=REGISTRY).getroot()
        assert (root.get("failures"), root.get("skipped"), root.get("errors")) == ("2", "2", "0")

    def test_control_characters_from_the_wire_still_give_well_formed_xml(
        self, tmp_path: Path
    ) -> None:
        """A server sending NUL or ESC cannot make junit.xml unparseable."""
        run = RunResult(
            checks=(
                check("frames.ctl", Verdict.FAILED, message="got \x00\x1b", text="\x00\x07bad"),
            ),
            started_at="2026-11-21T23:00:00+00:00",
            duration_s=0.1,
            target={},
        )
        path = tmp_path / "junit.xml"
        build_junit(run).write(path, encoding="utf-8", xml_declaration=True)
        root = ET.parse(path).getroot()
        failure = root.find("./testsuite/testcase/failure")
        assert failure is not None
        assert "\\x00" in (failure.text or "")


class _Collector(HTMLParser):
    """Collects tags, text and attributes of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


class TestHtml:
    """report.html."""

    def test_page_is_self_contained(self) -> None:
        """No script, no external stylesheet, image or font; the only outbound links go to
        the published specification."""
        run, stale = applied()
        page = parse(
            build_html(run, stale=stale, registry=REGISTRY, spec_base_url="https://spec.test/")
        )
        assert "script" not in page.tags
        assert "img" not in page.tags
        assert "link" not in page.tags
        assert not [v for k, v in page.attrs if k == "src"]
        assert not [
            v
            for k, v in page.attrs
            if k == "href" and v and not v.startswith(("#", "https://spec.test/"))
        ]

    def test_failures_come_first_then_stale_then_expected_then_warnings(self) -> None:
        """The attention section lists failures in the order people should read them."""
        run, stale = applied()
        page = build_html(run, stale=stale, registry=REGISTRY)
        section = page[page.index("Failures and warnings") : page.index("All checks")]
        order = [
            section.index(f'<code class="cid">{cid}</code>')
            for cid in ("cache.miss", "cache.fixed", "cache.evict", "handshake.plain-get")
        ]
        assert order == sorted(order)
        assert "Expected vs actual" in section
        assert "expected: previous_response_not_found" in section

    def test_summary_tables_by_area_and_level(self) -> None:
        """The summary has a row per area and per level class."""
        run, stale = applied()
        text = " ".join(parse(build_html(run, stale=stale, registry=REGISTRY)).text)
        for heading in ("cache", "handshake", "lanes", "MUST", "SHOULD", "MAY"):
            assert heading in text
        assert "FAIL (exit status 1)" in text

    def test_wire_log_is_collapsible_and_open_for_failures(self) -> None:
        """Each check has a <details> wire log; a failure's is open."""
        run, stale = applied()
        page = build_html(run, stale=stale, registry=REGISTRY)
        # One per check, plus the verdict legend.
        assert page.count("<details") == len(run.checks) + 1
        miss = page[page.index('id="check-cache-miss"') :]
        assert miss.index("<details open>") < miss.index("</div>")

    def test_wire_text_and_messages_are_escaped(self) -> None:
        """Hostile text from the server is shown as text, never as markup."""
        run = RunResult(
            checks=(check("cache.x", Verdict.FAILED, message=HOSTILE, text=HOSTILE),),
            started_at="2026-11-21T23:00:00+00:00",
            duration_s=0.1,
            target={"server_url": HOSTILE},
        )
        page = build_html(run)
        parsed = parse(page)
        assert "script" not in parsed.tags
        assert "&lt;script&gt;" in page
        assert HOSTILE in "".join(parsed.text)

    def test_verdict_counts_are_shown_as_tiles_before_anything_else(self) -> None:
        """The counts per verdict come right after the banner, before the failure table."""
        run, stale = applied()
        page = build_html(run, stale=stale, registry=REGISTRY)
        tiles = page[page.index('<div class="tiles">') : page.index("What failed")]
        assert '<div class="tile t-FAILED"><b>2</b>FAILED</div>' in tiles
        assert '<div class="tile t-PASSED"><b>2</b>PASSED</div>' in tiles
        assert '<div class="tile"><b>1</b>expected failures</div>' in tiles

    def test_what_failed_table_names_each_failure_and_its_broken_requirement(self) -> None:
        """Before the cards, a table lists every check to look at, linked to its card, with
        the requirements it broke and its first finding."""
        run, stale = applied()
        page = build_html(run, stale=stale, registry=REGISTRY)
        table = page[page.index("What failed") : page.index("Failures and warnings")]
        assert '<a href="#check-cache-miss">cache.miss</a>' in table
        assert '<a href="#req-rws-cache-4"><span class="rid">RWS-CACHE-4</span></a>' in table
        assert "expected: previous_response_not_found" in table
        assert '<a href="#check-cache-hit">' not in table

    def test_card_shows_the_broken_requirement_text_and_spec_page(self) -> None:
        """A failure's card states the requirement it broke, word for word, with its page."""
        run, stale = applied()
        page = build_html(run, stale=stale, registry=load_requirements())
        card = page[page.index('id="check-cache-miss"') :]
        card = card[: card.index("</details>")]
        text = load_requirements()["RWS-CACHE-4"].text
        assert 'class="broken"' in card
        # Rendered as the spec shows it: no raw backticks, the words kept.
        shown = html.unescape(re.sub(r"<[^>]+>", "", card))
        assert "`" not in shown
        assert text.replace("`", "") in shown
        assert "<code>" in card
        assert 'href="https://responses-ws.org/spec/cache/#rws-cache-4"' in card

    def test_findings_put_expected_and_actual_on_separate_lines(self) -> None:
        """Each finding of a message is a block of its own; expected and actual are split."""
        message = (
            'RWS-DELTA-1 (FAILED): expected done.text = "ab" / actual "ab!" (E1); '
            'expected part.text = "ab!" / actual "ab" (E1)'
        )
        run = RunResult(
            checks=(check("stream.text", Verdict.FAILED, ("RWS-DELTA-1",), message=message),),
            started_at="2026-11-21T23:00:00+00:00",
            duration_s=0.1,
            target={},
        )
        page = build_html(run)
        assert page.count('<pre class="finding">') == 2
        assert '<span class="exp">expected part.text = &quot;ab!&quot;</span>' in page
        assert '<span class="act">actual &quot;ab&quot; (E1)</span>' in page

    def test_every_in_page_link_has_a_target(self) -> None:
        """Requirement and check links all land on an element of the page."""
        run, stale = applied()
        parsed = parse(build_html(run, stale=stale, registry=REGISTRY))
        ids = {v for k, v in parsed.attrs if k == "id"}
        targets = {v[1:] for k, v in parsed.attrs if k == "href" and v and v.startswith("#")}
        assert targets
        assert targets <= ids
        assert "req-rws-trans-4" in ids

    def test_long_wire_text_is_cut(self) -> None:
        """A huge message is shortened in the page (report.json keeps it whole)."""
        big = "x" * (WIRE_TEXT_LIMIT + 500)
        run = RunResult(
            checks=(check("cache.big", Verdict.PASSED, text=big),),
            started_at="2026-11-21T23:00:00+00:00",
            duration_s=0.1,
            target={},
        )
        page = build_html(run)
        assert big not in page
        assert "500 more characters" in page


class TestConsole:
    """Progress and summary."""

    def test_progress_prints_one_char_per_check_and_wraps_with_count(self) -> None:
        """., F, x, W, i, s per verdict; lines wrap at the width with a running count."""
        out = io.StringIO()
        progress = Progress(
            out, total=7, width=4, baseline=[ExpectedFailure(check="cache.evict", reason="r")]
        )
        for result in sample_run().checks:
            progress.check_finished(result)
        progress.finish()
        assert out.getvalue() == ".FxW [4/7]\nis. [7/7]\n"

    def test_progress_works_as_the_runner_callback(self) -> None:
        """progress(result, done, total) prints the same characters with the runner's count."""
        out = io.StringIO()
        progress = Progress(out, width=2)
        checks = sample_run().checks
        for done, result in enumerate(checks[:3], start=1):
            progress(result, done, 3)
        progress.finish()
        assert out.getvalue() == ".F [2/3]\nF [3/3]\n"

    def test_verbose_progress_prints_a_line_per_check(self) -> None:
        """With verbose, each check gets a line with verdict, id and first message line."""
        out = io.StringIO()
        progress = Progress(out, verbose=True, total=2)
        progress.check_finished(sample_run().checks[0])
        progress.check_finished(sample_run().checks[1])
        progress.finish()
        lines = out.getvalue().splitlines()
        assert lines[0].split() == ["[1/2]", "PASSED", "cache.hit", "(0.25", "s)"]
        assert lines[1].split()[:3] == ["[2/2]", "FAILED", "cache.miss"]
        assert lines[2].strip() == "expected: previous_response_not_found"

    def test_summary_counts_failures_stale_and_explains_exit_status(self) -> None:
        """The summary lists counts, the unexpected failure, the stale entry and why it exits 1."""
        run, stale = applied()
        out = io.StringIO()
        status = print_summary(run, stale, stream=out)
        text = out.getvalue()
        assert status == 1
        assert "7 checks in 2.50 s against ws://127.0.0.1:8080" in text
        assert "FAILED 2 (1 expected)" in text
        assert (
            "\nFAILED:\n  cache.miss [RWS-CACHE-4]\n      expected: previous_response_not_found"
            in text
        )
        assert "cache.evict: eviction not done yet (issue 7)" in text
        assert "expected failure cache.fixed is stale" in text
        assert "handshake.plain-get: expected 426, got 200" in text
        assert text.rstrip().endswith(
            "Exit status 1: 1 check(s) FAILED: cache.miss; "
            "1 expected-failures entry(ies) stale: cache.fixed"
        )

    def test_summary_of_a_clean_run_exits_zero(self) -> None:
        """Only passes and warnings: exit status 0, explained."""
        run = RunResult(
            checks=(check("a.b", Verdict.PASSED), check("a.c", Verdict.WARNING, message="w")),
            started_at="2026-11-21T23:00:00+00:00",
            duration_s=0.1,
            target={},
        )
        out = io.StringIO()
        assert print_summary(run, stream=out) == 0
        assert "Exit status 0" in out.getvalue()


def test_write_reports_writes_three_files_that_agree(tmp_path: Path) -> None:
    """report.json, junit.xml and report.html land in the folder and agree on the outcome."""
    run, stale = applied()
    written = write_reports(run, tmp_path / "out", stale=stale, registry=REGISTRY)
    assert sorted(written) == sorted(REPORT_FILES)
    report = json.loads(written["report.json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema()).validate(report)
    junit = ET.parse(written["junit.xml"]).getroot()
    assert int(junit.get("failures", "0")) == 2
    assert report["summary"]["exit_status"] == 1
    assert "FAIL (exit status 1)" in written["report.html"].read_text(encoding="utf-8")


def test_write_reports_reads_the_project_registry_by_default(tmp_path: Path) -> None:
    """Without a registry argument, levels come from spec/requirements.yaml."""
    written = write_reports(sample_run(), tmp_path)
    report = json.loads(written["report.json"].read_text(encoding="utf-8"))
    levels = {c["id"]: c["level"] for c in report["checks"]}
    registry = load_requirements()
    assert levels["handshake.plain-get"] == level_class(registry["RWS-TRANS-4"].level)
    assert levels["handshake.plain-get"] != "-"


class TestCoverageLine:
    """The console's one-line requirement coverage, computed as responses-ws trace does."""

    def test_coverage_line_counts_tested_requirements_by_level(self) -> None:
        """A requirement counts as tested when a check that ran covers it; SKIPPED does not."""
        line = coverage_line(sample_run(), REGISTRY, {})
        # MUST: CACHE-4, CACHE-5 tested, LANE-2 only skipped; SHOULD TRANS-4; MAY TRANS-11.
        assert line == (
            "requirements (server): MUST 2/3 tested, SHOULD 1/1, MAY 1/1; "
            "0 excluded, 1 MUST/SHOULD untested"
        )

    def test_coverage_line_agrees_with_the_traceability_matrix(self) -> None:
        """The line's numbers are the matrix's totals for the same report and exclusions."""
        exclusions = {"RWS-LANE-2": "not observable here"}
        run = sample_run()
        matrix = build_matrix(build_report(run, registry=REGISTRY), REGISTRY, exclusions)
        totals = matrix.totals()
        line = coverage_line(run, REGISTRY, exclusions)
        assert f"MUST {totals['MUST']['tested']}/{totals['MUST']['total']} tested" in line
        assert f"{totals['all']['excluded']} excluded" in line
        assert line.endswith("no MUST/SHOULD untested")

    def test_client_suite_runs_are_judged_against_client_requirements(self) -> None:
        """A client-suite run (target suite=client) counts the client requirements."""
        registry = {
            "RWS-CLIENT-1": Requirement("RWS-CLIENT-1", "SHOULD", "client", "core", "t", "CLIENT"),
            **REGISTRY,
        }
        run = RunResult(
            checks=(check("client.x.a", Verdict.PASSED, ("RWS-CLIENT-1",)),),
            started_at="2026-11-21T23:00:00+00:00",
            duration_s=0.1,
            target={"suite": "client"},
        )
        assert run_role(run) == "client"
        assert coverage_line(run, registry, {}) == (
            "requirements (client): SHOULD 1/1 tested; 0 excluded, no MUST/SHOULD untested"
        )

    def test_summary_prints_the_coverage_line_under_the_counts(self) -> None:
        """print_summary shows the line right after the verdict counts."""
        out = io.StringIO()
        print_summary(sample_run(), stream=out, registry=REGISTRY, exclusions={})
        lines = out.getvalue().splitlines()
        counts = next(i for i, ln in enumerate(lines) if ln.strip().startswith("FAILED "))
        assert lines[counts + 1].strip().startswith("requirements (server): MUST 2/3 tested")

    def test_summary_with_the_project_registry_uses_the_suite_exclusions(self) -> None:
        """By default the project's registry and exclusions.yaml feed the line."""
        out = io.StringIO()
        print_summary(sample_run(), stream=out)
        excluded = len(load_exclusions())
        assert f"; {excluded} excluded, " in out.getvalue()
