"""``responses-ws fuzz``: the command line runs the fuzzers and reports with exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.fuzz.profiles import BUDGETS, profile_name
from tests.fuzz.known import KNOWN_FINDINGS

__all__: list[str] = []

KNOWN_ARGS = [arg for pattern in KNOWN_FINDINGS.values() for arg in ("--known-failure", pattern)]


def test_fuzz_is_a_registered_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fuzz", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--server-url", "--max-examples", "--seed", "--stateful", "--profile"):
        assert flag in out


def test_settings_profile_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RWS_FUZZ_PROFILE", "ci")
    assert profile_name() == "ci"
    assert profile_name("nightly") == "nightly"
    monkeypatch.delenv("RWS_FUZZ_PROFILE")
    assert profile_name() == "dev"
    with pytest.raises(ValueError, match="unknown fuzz profile"):
        profile_name("weekly")


def test_ci_profile_budget_meets_the_issue() -> None:
    assert BUDGETS["ci"].stateless_examples >= 2000
    assert BUDGETS["ci"].stateful_sessions >= 200
    assert BUDGETS["ci"].derandomize


def test_unreachable_server_exits_with_status_2(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    status = main(["fuzz", "--server-url", "ws://127.0.0.1:9", "--out", str(tmp_path)])
    assert status == 2


@pytest.mark.slow
def test_fuzz_command_against_the_reference_server_writes_a_clean_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "fuzz",
            "--spawn-reference",
            "--both",
            "--profile",
            "ci",
            "--max-examples",
            "40",
            "--out",
            str(tmp_path),
            *KNOWN_ARGS,
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads((tmp_path / "fuzz-report.json").read_text())
    assert report["ok"] is True
    assert [run["mode"] for run in report["runs"]] == ["stateless", "stateful"]
    assert all(run["examples"] >= 40 for run in report["runs"])


@pytest.mark.slow
def test_fuzz_command_reports_a_crash_with_a_replayable_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "fuzz",
            "--spawn-reference",
            "--fault",
            "crash-on-deep-input",
            "--profile",
            "ci",
            "--out",
            str(tmp_path),
            *KNOWN_ARGS,
        ]
    )
    out = capsys.readouterr().out
    assert status == 1, out
    report = json.loads((tmp_path / "fuzz-report.json").read_text())
    (run,) = report["runs"]
    transcript = Path(run["transcript"])
    assert transcript.exists()
    assert run["replay"].startswith(f"responses-ws validate {transcript} --role server")
    assert f"replay: {run['replay']}" in out
    # The printed replay command works: validate exits 1 (a FAILED requirement).
    assert main(run["replay"].split()[1:]) == 1
