"""Coverage per model in ``responses-ws trace``: why a requirement is untested (the skip
reasons, grouped), the registry's plan without a run (checks per model), and two runs — one
with conformance-1, one with another model — side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.harness.registry import Scenario
from conformance.model_coverage import (
    ANY_MODEL,
    SCRIPTED,
    column_of,
    plan,
    plan_totals,
    render_plan,
    scripted_only,
    side_by_side,
    summary_line,
)
from conformance.requirements import Requirement, load_requirements
from conformance.scenarios import all_scenarios
from conformance.traceability import build_matrix, load_exclusions

__all__: list[str] = []

NEEDS = "not runnable with model 'm': needs the scripted model 'conformance-1'"
PROFILE = "profile 'multiplex' not declared"
PART = "the exact cached_tokens is predicted for conformance-1 only"


def _req(rid: str, level: str = "MUST", profile: str = "core") -> Requirement:
    return Requirement(id=rid, level=level, role="server", profile=profile, text=rid, area="X")


REGISTRY = {
    r.id: r
    for r in (
        _req("RWS-CACHE-1"),
        _req("RWS-LANE-1", profile="multiplex"),
        _req("RWS-ORDER-1", "SHOULD"),
        _req("RWS-MODEL-3", profile="conformance-model"),
        _req("RWS-TRANS-11", "MAY"),
    )
}


async def _nothing(ctx: Any) -> None:
    """A scenario body the plan never calls."""


def _scenario(
    sid: str, requirements: tuple[str, ...], *, needs_model: bool, extra: tuple[str, ...] = ()
) -> Scenario:
    return Scenario(
        id=sid,
        title=sid,
        requirements=requirements,
        profile="core",
        needs_model=needs_model,
        drives="-",
        func=_nothing,
        extra_profiles=extra,
    )


SCENARIOS = [
    _scenario("cache.hit", ("RWS-CACHE-1", "RWS-MODEL-3"), needs_model=False),
    _scenario("stream.text", ("RWS-ORDER-1", "RWS-CACHE-1"), needs_model=True),
    _scenario("lanes.fork", ("RWS-LANE-1",), needs_model=False, extra=("conformance-model",)),
]


def _check(cid: str, verdict: str, verdicts: dict[str, str], message: str = "") -> Any:
    return {
        "id": cid,
        "requirements": list(verdicts),
        "verdict": verdict,
        "message": message,
        "requirement_verdicts": verdicts,
        "details": {},
    }


def _report(model: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "responses-ws-conformance-report",
        "started_at": "2026-12-01T00:00:00+00:00",
        "target": {"model": model, "server_url": "ws://127.0.0.1:1"},
        "checks": checks,
    }


SCRIPTED_RUN = _report(
    "conformance-1",
    [
        _check("cache.hit", "PASSED", {"RWS-CACHE-1": "PASSED", "RWS-MODEL-3": "PASSED"}),
        _check("stream.text", "PASSED", {"RWS-ORDER-1": "PASSED", "RWS-CACHE-1": "PASSED"}),
        _check("lanes.fork", "PASSED", {"RWS-LANE-1": "PASSED"}),
    ],
)
OTHER_RUN = _report(
    "my-model",
    [
        {
            **_check("cache.hit", "PASSED", {"RWS-CACHE-1": "PASSED", "RWS-MODEL-3": "SKIPPED"}),
            "details": {"not_applicable": {"RWS-MODEL-3": PART}},
        },
        _check(
            "stream.text", "SKIPPED", {"RWS-ORDER-1": "SKIPPED", "RWS-CACHE-1": "SKIPPED"}, NEEDS
        ),
        _check("lanes.fork", "SKIPPED", {"RWS-LANE-1": "SKIPPED"}, PROFILE),
        _check("lanes.busy", "SKIPPED", {"RWS-LANE-1": "SKIPPED"}, NEEDS),
    ],
)


def test_an_untested_requirement_says_why_grouped_by_reason() -> None:
    """The reason of each skipped check (or skipped part) is kept, and checks that gave the
    same reason are named together: what the console lists as "not reached"."""
    rows = {r.id: r for r in build_matrix(OTHER_RUN, REGISTRY, {}).rows}
    lane = rows["RWS-LANE-1"]
    assert lane.status == "untested"
    assert lane.skipped == ((PROFILE, ("lanes.fork",)), (NEEDS, ("lanes.busy",)))
    assert lane.reason == f"{PROFILE} (lanes.fork); {NEEDS} (lanes.busy)"
    assert rows["RWS-MODEL-3"].skipped == ((PART, ("cache.hit",)),)
    gaps = {r.id for r in build_matrix(OTHER_RUN, REGISTRY, {}).gaps()}
    assert gaps == {"RWS-LANE-1", "RWS-MODEL-3", "RWS-ORDER-1"}
    assert rows["RWS-CACHE-1"].status == "tested"


def test_a_report_feeds_the_column_of_the_model_it_names() -> None:
    """conformance-1 is the scripted column; any other model, or none named, the other."""
    assert column_of(SCRIPTED_RUN) == SCRIPTED
    assert column_of(OTHER_RUN) == ANY_MODEL
    assert column_of({"target": {}}) == ANY_MODEL


def test_plan_splits_each_requirement_by_model_from_the_registry() -> None:
    """A check runs with any model unless it needs conformance-1 or its profile; a
    requirement of the conformance-model profile is tested with conformance-1 only."""
    rows = {r.id: r for r in plan(REGISTRY, SCENARIOS, {"RWS-TRANS-11": "not observable"})}
    assert rows["RWS-CACHE-1"].scripted == ("cache.hit", "stream.text")
    assert rows["RWS-CACHE-1"].any_model == ("cache.hit",)
    assert rows["RWS-MODEL-3"].any_model == ()
    assert "conformance-model" in rows["RWS-MODEL-3"].needs
    assert rows["RWS-ORDER-1"].needs == scripted_only(SCENARIOS[1])
    assert rows["RWS-LANE-1"].needs == scripted_only(SCENARIOS[2])
    assert "'conformance-model' profile" in rows["RWS-LANE-1"].needs
    assert rows["RWS-TRANS-11"].excluded == "not observable"
    totals = plan_totals(tuple(rows.values()))
    assert totals["MUST"] == {"total": 3, SCRIPTED: 3, ANY_MODEL: 1, "excluded": 0}
    assert totals["all"]["excluded"] == 1


def test_trace_without_a_report_prints_the_plan_of_the_suites_own_checks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No run needed: the totals per model come from the registry of this suite."""
    assert main(["trace"]) == 0
    out = capsys.readouterr().out
    rows = plan(load_requirements(), all_scenarios(), load_exclusions())
    must = plan_totals(rows)["MUST"]
    assert (
        f"server MUSTs declared by a check: {must[SCRIPTED]}/{must['total']} with the scripted "
        f"model (conformance-1), {must[ANY_MODEL]}/{must['total']} with any model"
    ) in out
    assert must[ANY_MODEL] > 0
    assert render_plan(rows, "text") == out


def test_trace_plan_refuses_what_needs_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    """--strict judges a run and the client role has no registry plan: both exit 2."""
    assert main(["trace", "--strict"]) == 2
    assert main(["trace", "--role", "client"]) == 2
    assert "give --report" in capsys.readouterr().err


def _write(tmp_path: Path, name: str, report: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(report), encoding="utf-8")
    return str(path)


def test_two_reports_print_both_columns_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever their order, the conformance-1 run is the scripted column and the other run
    the any-model column; the totals name both."""
    registry = load_requirements()
    other, scripted = (
        _write(tmp_path, "b.json", OTHER_RUN),
        _write(tmp_path, "a.json", SCRIPTED_RUN),
    )
    assert main(["trace", "--report", other, "--report", scripted, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["columns"]) == [SCRIPTED, ANY_MODEL]
    assert data["columns"][ANY_MODEL]["model"] == "my-model"
    cache = next(r for r in data["requirements"] if r["id"] == "RWS-CACHE-1")
    assert cache[SCRIPTED]["status"] == cache[ANY_MODEL]["status"] == "tested"
    lane = next(r for r in data["requirements"] if r["id"] == "RWS-LANE-1")
    assert lane[SCRIPTED]["status"] == "tested"
    assert lane[ANY_MODEL]["reason"] == f"{PROFILE} (lanes.fork); {NEEDS} (lanes.busy)"
    matrices = side_by_side(
        [build_matrix(r, registry, load_exclusions()) for r in (SCRIPTED_RUN, OTHER_RUN)]
    )
    assert main(["trace", "--report", scripted, "--report", other]) == 0
    text = capsys.readouterr().out
    assert summary_line(matrices) in text
    assert summary_line(matrices).startswith("server MUSTs tested: ")
    assert "any model (my-model): untested: " + f"{PROFILE} (lanes.fork)" in text


def test_two_reports_of_one_model_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs cannot fill one column: exit 2 with the reason."""
    path = _write(tmp_path, "a.json", SCRIPTED_RUN)
    assert main(["trace", "--report", path, "--report", path]) == 2
    assert "two runs for the" in capsys.readouterr().err
