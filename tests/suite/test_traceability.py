"""Tests of the traceability matrix and ``responses-ws trace``: tested / excluded / untested
from a real report.json, totals by level, the three formats, and ``--strict``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.reports.json_report import build_report, write_json_report
from conformance.requirements import Requirement, load_requirements
from conformance.results import CheckResult, RunResult, Verdict
from conformance.traceability import (
    TraceError,
    build_matrix,
    load_exclusions,
    load_report,
    render,
    render_json,
    render_markdown,
    render_text,
)

__all__: list[str] = []


def req(rid: str, level: str, role: str = "server", profile: str = "core") -> Requirement:
    return Requirement(
        id=rid, level=level, role=role, profile=profile, text=f"{rid} says {level}", area="X"
    )


REGISTRY: dict[str, Requirement] = {
    r.id: r
    for r in [
        req("RWS-CACHE-1", "MUST"),
        req("RWS-CACHE-2", "MUST NOT"),
        req("RWS-TRANS-4", "SHOULD"),
        req("RWS-TRANS-11", "MAY"),
        req("RWS-ORDER-1", "MUST"),
        req("RWS-LANE-2", "MUST", profile="multiplex"),
        req("RWS-LIMIT-9", "SHOULD NOT"),
        req("RWS-CLIENT-1", "MUST", role="client"),
        Requirement(
            id="RWS-CACHE-3",
            level="MUST",
            role="server",
            profile="core",
            text="gone",
            area="CACHE",
            status="withdrawn",
        ),
    ]
}
EXCLUSIONS = {
    "RWS-LIMIT-9": "needs an hour-long connection; not practical in a run",
    "RWS-CACHE-1": "stale exclusion kept to test the note",
}


def check(
    check_id: str,
    verdict: Verdict,
    requirements: tuple[str, ...],
    details: Mapping[str, Any] | None = None,
    requirement_verdicts: Mapping[str, Verdict] | None = None,
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id,
        requirements=requirements,
        verdict=verdict,
        duration_s=0.1,
        message="",
        wire_log=(),
        requirement_verdicts=(
            requirement_verdicts
            if requirement_verdicts is not None
            else dict.fromkeys(requirements, verdict)
        ),
        details=details or {},
    )


def report() -> dict[str, Any]:
    run = RunResult(
        checks=(
            check("cache.hit", Verdict.PASSED, ("RWS-CACHE-1",), {"exercised": {"RWS-ORDER-1": 4}}),
            check(
                "cache.evict",
                Verdict.FAILED,
                ("RWS-CACHE-2",),
                requirement_verdicts={"RWS-CACHE-2": Verdict.FAILED, "RWS-NOPE-1": Verdict.FAILED},
            ),
            check("handshake.plain-get", Verdict.WARNING, ("RWS-TRANS-4",)),
            check("lanes.busy", Verdict.SKIPPED, ("RWS-LANE-2",)),
        ),
        started_at="2026-11-21T23:00:00+00:00",
        duration_s=1.0,
        target={"server_url": "ws://127.0.0.1:8080"},
    )
    return build_report(run, registry=REGISTRY)


class TestMatrix:
    """build_matrix."""

    def test_each_requirement_gets_its_status(self) -> None:
        """Declared and checker-exercised are tested; exclusions excluded; the rest untested."""
        matrix = build_matrix(report(), REGISTRY, EXCLUSIONS)
        status = {r.id: r.status for r in matrix.rows}
        assert status == {
            "RWS-CACHE-1": "tested",
            "RWS-CACHE-2": "tested",
            "RWS-TRANS-4": "tested",
            "RWS-TRANS-11": "untested",
            "RWS-ORDER-1": "tested",
            "RWS-LANE-2": "untested",
            "RWS-LIMIT-9": "excluded",
        }

    def test_tested_rows_name_checks_verdicts_and_how(self) -> None:
        """A tested row lists each check with its verdict about the requirement."""
        rows = {r.id: r for r in build_matrix(report(), REGISTRY, EXCLUSIONS).rows}
        assert [(t.check, t.verdict, t.via) for t in rows["RWS-CACHE-2"].checks] == [
            ("cache.evict", "FAILED", "declared")
        ]
        assert [(t.check, t.verdict, t.via) for t in rows["RWS-ORDER-1"].checks] == [
            ("cache.hit", "PASSED", "checker")
        ]
        assert rows["RWS-CACHE-1"].also_excluded
        assert rows["RWS-LIMIT-9"].reason.startswith("needs an hour-long")

    def test_requirement_covered_only_by_skipped_checks_is_untested_with_reason(self) -> None:
        """A SKIPPED check tests nothing; the row says which skipped check would."""
        rows = {r.id: r for r in build_matrix(report(), REGISTRY, {}).rows}
        assert rows["RWS-LANE-2"].reason == "skipped, no reason given (lanes.busy)"
        assert rows["RWS-TRANS-11"].reason == "no check that ran tests it"

    def test_role_profile_and_withdrawn_filters(self) -> None:
        """Client role gives client rows; profiles restrict; withdrawn rows never appear."""
        client = build_matrix(report(), REGISTRY, {}, role="client")
        assert [(r.id, r.status) for r in client.rows] == [("RWS-CLIENT-1", "untested")]
        multiplex = build_matrix(report(), REGISTRY, {}, profiles=["multiplex"])
        assert [r.id for r in multiplex.rows] == ["RWS-LANE-2"]
        server = build_matrix(report(), REGISTRY, {})
        assert "RWS-CACHE-3" not in {r.id for r in server.rows}

    def test_totals_by_level_class_and_gaps(self) -> None:
        """MUST NOT counts under MUST, SHOULD NOT under SHOULD; gaps are untested MUST/SHOULD."""
        matrix = build_matrix(report(), REGISTRY, EXCLUSIONS)
        assert matrix.totals() == {
            "MUST": {"total": 4, "tested": 3, "excluded": 0, "untested": 1},
            "SHOULD": {"total": 2, "tested": 1, "excluded": 1, "untested": 0},
            "MAY": {"total": 1, "tested": 0, "excluded": 0, "untested": 1},
            "all": {"total": 7, "tested": 4, "excluded": 1, "untested": 2},
        }
        assert [r.id for r in matrix.gaps()] == ["RWS-LANE-2"]

    def test_unknown_requirement_ids_are_reported(self) -> None:
        """A check citing an ID the registry lacks shows up, so typos cannot hide."""
        assert build_matrix(report(), REGISTRY, {}).unknown_ids == ("RWS-NOPE-1",)


class TestRendering:
    """text, markdown and json."""

    def test_text_has_totals_gaps_and_rows(self) -> None:
        """The text matrix starts with totals and lists every row."""
        text = render_text(build_matrix(report(), REGISTRY, EXCLUSIONS))
        lines = text.splitlines()
        assert lines[0].endswith("against ws://127.0.0.1:8080")
        assert lines[2].split() == ["level", "total", "tested", "excluded", "untested"]
        assert lines[3].split() == ["MUST", "4", "3", "0", "1"]
        assert "Untested MUST/SHOULD requirements: 1" in text
        assert "RWS-ORDER-1    MUST        tested    cache.hit PASSED (checker)" in text
        assert "[also in exclusions.yaml]" in text

    def test_markdown_is_a_table_with_escaped_cells(self) -> None:
        """Markdown rows have five cells; pipes in reasons are escaped."""
        exclusions = {"RWS-LIMIT-9": "a | b"}
        md = render_markdown(build_matrix(report(), REGISTRY, exclusions))
        rows = [line for line in md.splitlines() if line.startswith("| RWS-")]
        assert len(rows) == 7
        assert "| RWS-LIMIT-9 | SHOULD NOT | core | excluded | a \\| b |" in rows

    def test_json_round_trips_statuses(self) -> None:
        """The JSON form has totals and one object per requirement."""
        data = json.loads(render_json(build_matrix(report(), REGISTRY, EXCLUSIONS)))
        assert data["totals"]["all"]["tested"] == 4
        assert {r["id"]: r["status"] for r in data["requirements"]}["RWS-LIMIT-9"] == "excluded"
        assert render(build_matrix(report(), REGISTRY, {}), "json") == render_json(
            build_matrix(report(), REGISTRY, {})
        )

    def test_unknown_format_is_an_error(self) -> None:
        """Only text, markdown and json exist."""
        with pytest.raises(TraceError, match="unknown format"):
            render(build_matrix(report(), REGISTRY, {}), "csv")


class TestLoading:
    """report.json and exclusions files."""

    def test_load_report_rejects_other_json(self, tmp_path: Path) -> None:
        """A JSON file that is not a report is refused."""
        path = tmp_path / "x.json"
        path.write_text('{"checks": []}', encoding="utf-8")
        with pytest.raises(TraceError, match="not a responses-ws report"):
            load_report(path)

    def test_exclusions_file_must_be_a_mapping(self, tmp_path: Path) -> None:
        """A list is refused; a missing explicit file is an error; whitespace is collapsed."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("- RWS-CACHE-1\n", encoding="utf-8")
        with pytest.raises(TraceError, match="mapping"):
            load_exclusions(bad)
        with pytest.raises(TraceError, match="no such"):
            load_exclusions(tmp_path / "missing.yaml")
        good = tmp_path / "good.yaml"
        good.write_text("RWS-LIMIT-9: >\n  not practical\n  in a run\n", encoding="utf-8")
        assert load_exclusions(good) == {"RWS-LIMIT-9": "not practical in a run"}
        wrapped = tmp_path / "wrapped.yaml"
        wrapped.write_text("exclusions:\n  RWS-LIMIT-9: &r not practical\n  RWS-LIMIT-8: *r\n")
        assert load_exclusions(wrapped) == {
            "RWS-LIMIT-9": "not practical",
            "RWS-LIMIT-8": "not practical",
        }

    def test_project_exclusions_name_registry_requirements_with_reasons(self) -> None:
        """The suite's exclusions.yaml loads, and every entry is a known ID with a reason."""
        exclusions = load_exclusions()
        registry = load_requirements()
        assert exclusions, "conformance/exclusions.yaml lists no exclusion"
        assert set(exclusions) <= set(registry)
        assert all(reason.strip() for reason in exclusions.values())


def project_report(tmp_path: Path, *, cover_everything: bool) -> Path:
    """A report against the project's registry: either every server MUST/SHOULD is declared
    by a passing check, or only the first one is."""
    registry = load_requirements()
    gated = [
        r.id
        for r in registry.values()
        if r.role == "server"
        and r.status != "withdrawn"
        and r.level in ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT")
    ]
    covered = gated if cover_everything else gated[:1]
    run = RunResult(
        checks=tuple(check(f"all.{rid.lower()}", Verdict.PASSED, (rid,)) for rid in covered),
        started_at="2026-11-21T23:00:00+00:00",
        duration_s=1.0,
        target={"server_url": "ws://127.0.0.1:8080"},
    )
    return write_json_report(run, tmp_path / "report.json", registry=registry)


class TestCommand:
    """``responses-ws trace``."""

    def test_strict_fails_when_a_must_is_untested(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With gaps, --strict exits 1 and names them; without --strict it exits 0."""
        path = project_report(tmp_path, cover_everything=False)
        empty = tmp_path / "none.yaml"
        empty.write_text("", encoding="utf-8")
        args = ["trace", "--report", str(path), "--exclusions", str(empty)]
        assert main(args) == 0
        assert main([*args, "--strict"]) == 1
        assert "untested" in capsys.readouterr().err

    def test_strict_passes_when_everything_is_tested(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every server MUST/SHOULD declared by a check: --strict exits 0."""
        path = project_report(tmp_path, cover_everything=True)
        empty = tmp_path / "none.yaml"
        empty.write_text("", encoding="utf-8")
        assert main(["trace", "--report", str(path), "--exclusions", str(empty), "--strict"]) == 0
        out = capsys.readouterr().out
        assert "Untested MUST/SHOULD requirements: 0" in out

    def test_markdown_to_file(self, tmp_path: Path) -> None:
        """--format markdown --output writes the page."""
        path = project_report(tmp_path, cover_everything=False)
        target = tmp_path / "matrix.md"
        main(["trace", "--report", str(path), "--format", "markdown", "--output", str(target)])
        assert target.read_text(encoding="utf-8").startswith("# Traceability of the server")

    def test_unreadable_report_exits_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing report is a usage problem, exit 2, with the reason on stderr."""
        assert main(["trace", "--report", str(tmp_path / "missing.json")]) == 2
        assert "cannot read the report" in capsys.readouterr().err
