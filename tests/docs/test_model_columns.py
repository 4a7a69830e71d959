"""The site's two columns of server verdicts — with the scripted model conformance-1 and with
any other model — from two synthetic runs: the requirement index's rows, totals and the
table of what the other model leaves untested, the check catalogue's columns and skipped
parts, and ``docs import-report`` filing each run by the model its report names."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from conformance import docsgen
from conformance.cli import main
from conformance.docsgen.requirements_index import RunData, checks_page, index
from conformance.harness.registry import Scenario
from conformance.requirements import Requirement

__all__: list[str] = []

SKIP_REASON = "the exact cached_tokens is predicted for the model conformance-1 only"
WHOLE_SKIP = "not runnable with model 'freeform-1': needs the scripted model 'conformance-1'"


def _req(rid: str, level: str = "MUST", profile: str = "core") -> Requirement:
    return Requirement(
        id=rid, level=level, role="server", profile=profile, text=f"{rid} text", area="CACHE"
    )


REQUIREMENTS = {
    r.id: r
    for r in (
        _req("RWS-CACHE-1"),
        _req("RWS-CACHE-2"),
        _req("RWS-CACHE-3", "SHOULD"),
        _req("RWS-MODEL-3", profile="conformance-model"),
    )
}


async def _nothing(ctx: Any) -> None:
    """A scenario body the page generator never calls."""


def _scenario(sid: str, requirements: tuple[str, ...], *, needs_model: bool) -> Scenario:
    return Scenario(
        id=sid,
        title=f"{sid} title",
        requirements=requirements,
        profile="core",
        needs_model=needs_model,
        drives="two runs",
        func=_nothing,
    )


SCENARIOS = [
    _scenario("cache.hit", ("RWS-CACHE-1", "RWS-MODEL-3"), needs_model=False),
    _scenario("cache.exact", ("RWS-CACHE-2", "RWS-CACHE-3"), needs_model=True),
]


def _check(
    cid: str, verdict: str, verdicts: dict[str, str], message: str = "", **details: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "title": cid,
        "requirements": list(verdicts),
        "verdict": verdict,
        "message": message,
        "requirement_verdicts": verdicts,
        "details": details,
    }


def _report(model: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    requirements = []
    for rid in REQUIREMENTS:
        said = [
            {"check": c["id"], "verdict": c["requirement_verdicts"][rid]}
            for c in checks
            if rid in c["requirement_verdicts"]
        ]
        ran = [s for s in said if s["verdict"] != "SKIPPED"]
        if ran:
            requirements.append({"id": rid, "verdict": ran[0]["verdict"], "checks": said})
    return {
        "format": "responses-ws-conformance-report",
        "format_version": 1,
        "started_at": "2026-12-01T00:00:00+00:00",
        "target": {"model": model, "profiles": ["core"], "suite_version": "0.1"},
        "summary": {"total": len(checks), "verdicts": {}},
        "requirements": requirements,
        "checks": checks,
    }


SCRIPTED_RUN = _report(
    "conformance-1",
    [
        _check("cache.hit", "PASSED", {"RWS-CACHE-1": "PASSED", "RWS-MODEL-3": "PASSED"}),
        _check("cache.exact", "PASSED", {"RWS-CACHE-2": "PASSED", "RWS-CACHE-3": "PASSED"}),
    ],
)
ANY_RUN = _report(
    "freeform-1",
    [
        _check(
            "cache.hit",
            "PASSED",
            {"RWS-CACHE-1": "PASSED", "RWS-MODEL-3": "SKIPPED"},
            not_applicable={"RWS-MODEL-3": SKIP_REASON},
        ),
        _check(
            "cache.exact",
            "SKIPPED",
            {"RWS-CACHE-2": "SKIPPED", "RWS-CACHE-3": "SKIPPED"},
            WHOLE_SKIP,
        ),
    ],
)


def _index(run: RunData) -> str:
    return index(Path("."), REQUIREMENTS, SCENARIOS, {}, run)


def _row(page: str, rid: str) -> list[str]:
    line = next(line for line in page.splitlines() if f'<a id="{rid.lower()}">' in line)
    return [c.strip() for c in line.strip("|").split(" | ")]


BOTH = RunData(report=SCRIPTED_RUN, exclusions={}, any_model_report=ANY_RUN)


def test_each_server_requirement_has_a_verdict_per_model() -> None:
    """The two last cells are the scripted run's and the other model's, each from its run."""
    page = _index(BOTH)
    header = next(line for line in page.splitlines() if line.startswith("| Requirement |"))
    assert header.endswith("| Scripted model (conformance-1) | Any model (freeform-1) |")
    *_, scripted, other = _row(page, "RWS-CACHE-1")
    assert "rws-passed" in scripted
    assert "rws-passed" in other
    *_, scripted, other = _row(page, "RWS-MODEL-3")
    assert "rws-passed" in scripted
    assert other == f"untested ({SKIP_REASON} (cache.hit))"
    *_, scripted, other = _row(page, "RWS-CACHE-2")
    assert "rws-passed" in scripted
    assert other == f"untested ({WHOLE_SKIP} (cache.exact))"


def test_totals_count_each_model_and_say_it_in_one_line() -> None:
    """The summary names the tested MUSTs per model; the totals table has a column per run."""
    page = _index(BOTH)
    assert "server MUSTs tested: 3/3 scripted, 1/3 any model (freeform-1)" in page
    assert "server SHOULDs tested: 1/1 scripted, 0/1 any model (freeform-1)" in page
    server = next(line for line in page.splitlines() if line.startswith("| server |"))
    # Requirements, MUST, SHOULD, MAY, tested (scripted), tested (any model), excluded, untested
    assert server.split(" | ")[1:] == ["4", "3", "1", "0", "4", "1", "0", "0 |"]


def test_what_the_other_model_leaves_untested_is_grouped_by_reason() -> None:
    """Every requirement tested only with conformance-1 is listed under the reason the
    other run's checks gave, with those checks linked to the catalogue."""
    page = _index(BOTH)
    section = page[page.index("{#not-with-any-model}") :].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "RWS-" in line]
    assert len(rows) == 2
    whole = next(r for r in rows if WHOLE_SKIP in r)
    assert "[`cache.exact`](checks.md#check-cache-exact)" in whole
    assert "[RWS-CACHE-2](#rws-cache-2) MUST" in whole
    assert "[RWS-CACHE-3](#rws-cache-3) SHOULD" in whole
    part = next(r for r in rows if SKIP_REASON in r)
    assert "[RWS-MODEL-3](#rws-model-3) MUST" in part
    assert "RWS-CACHE-1" not in part


def test_a_single_recorded_run_keeps_one_column_and_no_gap_table() -> None:
    """Before the first run with another model the page shows the scripted run only."""
    page = _index(RunData(report=SCRIPTED_RUN, exclusions={}))
    assert len(_row(page, "RWS-CACHE-1")) == 4
    assert "{#not-with-any-model}" not in page


def test_check_catalogue_has_a_verdict_per_model_and_names_skipped_parts() -> None:
    """A check that ran with the other model but skipped a part says which and why."""
    page = checks_page(REQUIREMENTS, SCENARIOS, BOTH)
    row = next(line for line in page.splitlines() if '<a id="check-cache-hit">' in line)
    *_, scripted, other = [c.strip() for c in row.strip("|").split(" | ")]
    assert "rws-passed" in scripted
    assert "skipped" not in scripted
    assert other.endswith(f"<br>skipped: RWS-MODEL-3 ({SKIP_REASON})")
    row = next(line for line in page.splitlines() if '<a id="check-cache-exact">' in line)
    assert "+ model `conformance-1`" in row
    assert row.rstrip(" |").endswith(WHOLE_SKIP)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project folder with an empty docs/."""
    (tmp_path / "project" / "docs").mkdir(parents=True)
    return tmp_path / "project"


def _write(path: Path, report: dict[str, Any]) -> Path:
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def test_import_report_files_each_run_by_the_model_it_names(root: Path, tmp_path: Path) -> None:
    """The report's target model chooses the file: no option can put a run in the wrong
    column, and the pages read both back."""
    scripted = docsgen.import_report(root, _write(tmp_path / "a.json", SCRIPTED_RUN))
    other = docsgen.import_report(root, _write(tmp_path / "b.json", ANY_RUN))
    assert scripted == root / "docs" / docsgen.REPORT_PATH
    assert other == root / "docs" / docsgen.ANY_MODEL_REPORT_PATH
    run = docsgen.load_run(root)
    assert run.report is not None
    assert run.report["target"]["model"] == "conformance-1"
    assert run.any_model_report is not None
    assert run.any_model_report["target"]["model"] == "freeform-1"
    stored = run.any_model_report["checks"][0]["details"]
    assert stored == {"not_applicable": {"RWS-MODEL-3": SKIP_REASON}}


def test_import_report_check_compares_a_run_with_the_stored_run_of_its_model(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check of a fresh run with another model compares it with the any-model report, not
    with the scripted one, and names a verdict that changed."""
    docsgen.import_report(root, _write(tmp_path / "a.json", SCRIPTED_RUN))
    docsgen.import_report(root, _write(tmp_path / "b.json", ANY_RUN))
    args = ["docs", "import-report", "--check", "--root", str(root)]
    assert main([*args, str(_write(tmp_path / "fresh.json", ANY_RUN))]) == 0
    changed = copy.deepcopy(ANY_RUN)
    changed["checks"][0]["requirement_verdicts"]["RWS-CACHE-1"] = "FAILED"
    assert main([*args, str(_write(tmp_path / "fresh.json", changed))]) == 1
    out = capsys.readouterr().out
    assert "cache.hit RWS-CACHE-1: published PASSED, this run FAILED" in out
    (root / "docs" / docsgen.ANY_MODEL_REPORT_PATH).unlink()
    assert main([*args, str(_write(tmp_path / "fresh.json", ANY_RUN))]) == 1
    assert f"docs/{docsgen.ANY_MODEL_REPORT_PATH}: missing" in capsys.readouterr().out
