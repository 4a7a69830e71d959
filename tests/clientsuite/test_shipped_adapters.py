"""The shipped adapters against the whole client suite, and the check-client command.

The raw ``websockets`` adapter (the contract's reference client) must pass every scenario.
The real SDKs run with the peers interpreter (``RWS_PEERS_PYTHON``, set by ``make pytest``);
their runs must match their expected-failures files exactly (no unexpected failure, no stale
entry). Each adapter's whole run is timed: it must stay well under a minute.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import jsonschema
import pytest
import trio

from conformance.adapters import ADAPTERS, REPO_ROOT, AdapterInfo
from conformance.baseline import apply_expected_failures, exit_status, load_expected_failures
from conformance.cli import main
from conformance.clientsuite.runner import ClientUnderTest, run_client_suite
from conformance.clientsuite.scenarios import NOT_COVERED, SCENARIOS
from conformance.reports.json_report import SCHEMA_PATH, build_report
from conformance.requirements import load_requirements
from conformance.results import RunResult, Verdict
from conformance.traceability import build_matrix
from tests.clientsuite.conftest import broken_client, peers_python


def _client(info: AdapterInfo, python: str) -> ClientUnderTest:
    return ClientUnderTest(
        name=info.name,
        command=info.command(python),
        profiles=info.profiles,
        undeclared=info.undeclared,
        env={"PYTHONPATH": str(REPO_ROOT)},
        cwd=str(REPO_ROOT),
    )


def _run(client: ClientUnderTest) -> RunResult:
    return trio.run(lambda: run_client_suite([client], SCENARIOS, jobs=6))


def _info(name: str) -> AdapterInfo:
    return next(a for a in ADAPTERS if a.name == name)


@pytest.fixture(scope="module")
def raw_run() -> RunResult:
    """The whole client suite against the raw adapter, once for this module."""
    return _run(_client(_info("raw-websockets"), sys.executable))


def test_raw_adapter_passes_every_client_scenario(raw_run: RunResult) -> None:
    run = raw_run
    verdicts = {c.id: c.verdict for c in run.checks}
    assert set(verdicts.values()) == {Verdict.PASSED}, [
        (c.id, c.message) for c in run.checks if c.verdict is not Verdict.PASSED
    ]
    assert len(verdicts) == len(SCENARIOS)


def test_raw_adapter_run_tests_every_covered_client_requirement(raw_run: RunResult) -> None:
    # The traceability matrix (responses-ws trace, the docs' requirement index) counts what
    # the run's report says; RWS-TRANS-19 is judged at the upgrade, outside the transcript.
    registry = load_requirements()
    matrix = build_matrix(build_report(raw_run, registry=registry), registry, {}, role="client")
    profiles = ("core", "multiplex", "steering")
    status = {row.id: row.status for row in matrix.rows if row.profile in profiles}
    assert status["RWS-TRANS-19"] == "tested"
    assert {r for r, s in status.items() if s != "tested"} == set(NOT_COVERED) & set(status)


def test_raw_adapter_steers_and_never_sends_accepted_input_again(raw_run: RunResult) -> None:
    checks = {c.details["scenario"]: c for c in raw_run.checks}
    for scenario in (s for s in SCENARIOS if s.profile == "steering"):
        check = checks[scenario.id]
        # Both steering requirements judged, from the transcript alone.
        assert check.requirement_verdicts["RWS-STEER-9"] is Verdict.PASSED, check.message
        assert check.requirement_verdicts["RWS-STEER-7"] is Verdict.PASSED, check.message
    # Input refused, then input given back with its id: the client sends the same words in
    # its next request both times, which is no resend of accepted input.
    returned = checks["steer-returned"]
    sent = [
        json.loads(r["text"])
        for r in returned.wire_log
        if r.get("kind") == "text" and r.get("dir") == "c2s"
    ]
    steered = {"steer: first words", "steer: second words"}
    assert {
        item["content"]
        for body in sent
        if body["type"] == "response.create"
        for item in body["input"]
        if item.get("role") == "user"
    } >= steered


@pytest.mark.peers
@pytest.mark.slow
@pytest.mark.parametrize("name", ["openai-sdk", "openai-agents"])
def test_sdk_adapter_matches_its_expected_failures(name: str) -> None:
    python = peers_python()
    if python is None:
        pytest.skip("RWS_PEERS_PYTHON is not set (make pytest sets it)")
    info = _info(name)
    run = _run(_client(info, python))
    run, stale = apply_expected_failures(run, load_expected_failures(info.expected_failures))
    failures = [(c.id, c.message) for c in run.checks if c.verdict is Verdict.FAILED]
    assert exit_status(run, stale) == 0, (failures, [s.message for s in stale])
    # Every scenario ran (or was skipped for an undeclared profile, with its reason).
    profiles = {s.id: s.profile for s in SCENARIOS}
    for check in run.checks:
        if check.verdict is Verdict.SKIPPED:
            profile = profiles[check.details["scenario"]]
            assert f"does not declare the {profile} profile" in check.message
            assert profile not in info.profiles
            # With the adapter's reason: why the client cannot be asked to do it.
            assert info.undeclared[profile] in check.message
        else:
            assert "harness_errors" not in check.details["observations"], check.message


def test_check_client_command_writes_a_valid_report(tmp_path: Path) -> None:
    command = f"{shlex.quote(sys.executable)} -m conformance.adapters.raw_websockets"
    status = main(
        [
            "check-client",
            "--client-cmd",
            command,
            "--adapter-name",
            "raw",
            "--profile",
            "core,multiplex",
            "--scenario",
            "incremental-input",
            "--scenario",
            "lanes-interleaved",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert [c["id"] for c in report["checks"]] == [
        "client.raw.incremental-input",
        "client.raw.lanes-interleaved",
    ]
    assert {c["details"]["adapter"] for c in report["checks"]} == {"raw"}
    assert {c["area"] for c in report["checks"]} == {"client"}


def test_check_client_command_honours_an_expected_failures_file(tmp_path: Path) -> None:
    client = broken_client("background")
    command = f"RWS_BROKEN=background PYTHONPATH={shlex.quote(str(REPO_ROOT))} {client.command}"
    args = ["check-client", "--client-cmd", command, "--adapter-name", "bg"]
    args += ["--scenario", "incremental-input"]
    assert main(args) == 1
    baseline = tmp_path / "expected.yaml"
    baseline.write_text(
        "- check: client.bg.incremental-input\n"
        "  requirement: RWS-CREATE-2\n"
        "  reason: sends background true (test)\n",
        encoding="utf-8",
    )
    assert main([*args, "--expected-failures", str(baseline)]) == 0
    # The same entry is stale for a client that does not break it: the run fails.
    raw = f"{shlex.quote(sys.executable)} -m conformance.adapters.raw_websockets"
    stale = ["check-client", "--client-cmd", raw, "--adapter-name", "bg"]
    stale += ["--scenario", "incremental-input", "--expected-failures", str(baseline)]
    assert main(stale) == 1


def test_client_without_the_multiplex_profile_skips_lane_scenarios_with_a_reason() -> None:
    client = ClientUnderTest(
        "core-only", f"{shlex.quote(sys.executable)} -m conformance.adapters.raw_websockets"
    )
    lanes = [s for s in SCENARIOS if s.profile == "multiplex"]
    run = trio.run(lambda: run_client_suite([client], lanes))
    assert [c.verdict for c in run.checks] == [Verdict.SKIPPED] * len(lanes)
    assert all("multiplex" in c.message for c in run.checks)


def test_client_without_the_steering_profile_skips_steering_scenarios_with_a_reason() -> None:
    client = ClientUnderTest(
        "core-only", f"{shlex.quote(sys.executable)} -m conformance.adapters.raw_websockets"
    )
    steering = [s for s in SCENARIOS if s.profile == "steering"]
    assert steering
    run = trio.run(lambda: run_client_suite([client], steering))
    assert [c.verdict for c in run.checks] == [Verdict.SKIPPED] * len(steering)
    assert all("does not declare the steering profile" in c.message for c in run.checks)


@pytest.mark.peers
@pytest.mark.slow
def test_openai_sdk_adapter_steers_through_the_sdks_own_call() -> None:
    python = peers_python()
    if python is None:
        pytest.skip("RWS_PEERS_PYTHON is not set (make pytest sets it)")
    steering = [s for s in SCENARIOS if s.profile == "steering"]
    run = trio.run(lambda: run_client_suite([_client(_info("openai-sdk"), python)], steering))
    for check in run.checks:
        assert check.verdict is Verdict.PASSED, (check.id, check.message)
        steers = [
            json.loads(r["text"])
            for r in check.wire_log
            if r.get("kind") == "text" and r.get("dir") == "c2s" and "response.steer" in r["text"]
        ]
        # connection.response.steer(input=..., previous_response_id=...) sends these three
        # members and nothing else (RWS-STEER-9).
        assert steers
        assert all(set(s) == {"type", "previous_response_id", "input"} for s in steers)
