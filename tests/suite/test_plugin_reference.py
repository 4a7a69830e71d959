"""End to end: the pytest plugin runs real scenarios against the reference server (started
as a separate program) and its reports agree with pytest's own outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest

from conformance.harness.spawn import SpawnedServer, spawn_reference
from conformance.reports.json_report import SCHEMA_PATH
from conformance.requirements import load_requirements
from conformance.traceability import build_matrix, load_report

pytest_plugins = ["pytester"]

__all__: list[str] = []


@pytest.fixture(scope="module")
def reference() -> Iterator[SpawnedServer]:
    with spawn_reference([]) as server:
        yield server


@pytest.mark.slow
def test_plugin_runs_handshake_checks_against_reference_and_reports_agree(
    pytester: pytest.Pytester, reference: SpawnedServer
) -> None:
    """Selected real checks run as items; report.json validates and matches the outcome."""
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        f"--rws-server-url={reference.url}",
        f"--rws-api-key={reference.api_keys[0]}",
        f"--rws-api-key2={reference.api_keys[1]}",
        f"--rws-report-dir={out}",
        "-k",
        "handshake",
        "-p",
        "no:cacheprovider",
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(report)
    ids = [check["id"] for check in report["checks"]]
    assert ids
    assert all(check_id.startswith("handshake.") for check_id in ids)
    outcomes = result.parseoutcomes()
    ran = sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped", "xfailed"))
    assert ran == len(ids)
    assert report["target"]["server_url"] == reference.url
    assert report["target"]["runner"] == "pytest"
    # The report's exit status is pytest's: 0 with 0, non-zero with TESTS_FAILED.
    assert (report["summary"]["exit_status"] == 0) == (result.ret == pytest.ExitCode.OK)
    # And the traceability matrix can be built from it: handshake requirements are tested.
    matrix = build_matrix(load_report(out / "report.json"), load_requirements(), {})
    tested = {row.id for row in matrix.rows if row.status == "tested"}
    assert "RWS-TRANS-1" in tested
