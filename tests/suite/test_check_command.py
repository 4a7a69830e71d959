"""``responses-ws check`` end to end against a spawned reference server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main

SUBSET = ["--check", "handshake.upgrade-101", "--check", "cache.continue-store-false"]


@pytest.mark.slow
def test_check_passes_the_reference_server_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["check", "--spawn-reference", *SUBSET, "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "PASSED 2" in out
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["target"]["model"] == "conformance-1"
    assert {"report.json", "junit.xml", "report.html"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.slow
def test_check_exits_non_zero_when_a_fault_breaks_a_checked_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(
        [
            "check",
            "--spawn-reference",
            *SUBSET,
            "--reference-arg=--fault",
            "--reference-arg=no-cache",
        ]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "cache.continue-store-false" in out
    assert "RWS-CACHE-2" in out


@pytest.mark.slow
def test_check_that_runs_no_check_fails(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", "--spawn-reference", "--check", "no.such-check"])
    assert status == 1
    assert "no check ran" in capsys.readouterr().out


def test_check_lists_its_checks_with_their_requirements(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--list", "--requirement", "RWS-CACHE-8"]) == 0
    out = capsys.readouterr().out
    assert "cache.store-false-miss-on-other-connection" in out
    assert "handshake.upgrade-101" not in out
