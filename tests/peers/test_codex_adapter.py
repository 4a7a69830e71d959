"""The shipped Codex CLI adapter against the whole client suite.

Like the SDK adapters (tests/clientsuite/test_shipped_adapters.py), its run must match its
expected-failures file exactly: no unexpected failure, no stale entry. What Codex cannot be
asked to do must come back SKIPPED with the adapter's reason, and everything else must run.
Codex comes from ``RWS_CODEX`` or ``.peers-codex/`` (``make peers``); without it the test skips.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from conformance.adapters import ADAPTERS, REPO_ROOT
from conformance.adapters.codex_cli import codex_executable
from conformance.baseline import apply_expected_failures, exit_status, load_expected_failures
from conformance.clientsuite.runner import ClientUnderTest, run_client_suite
from conformance.clientsuite.scenarios import SCENARIOS, ClientScenario
from conformance.results import Verdict

__all__: list[str] = []

pytestmark = [pytest.mark.peers, pytest.mark.slow]


@pytest.fixture(scope="module")
def codex() -> Path:
    path = codex_executable()
    if path is None:
        pytest.skip("Codex CLI is not installed (make peers installs it into .peers-codex/)")
    return path


def _not_applicable(scenario: ClientScenario) -> str | None:
    """The part of the adapter's reason a scenario Codex cannot attempt is skipped with."""
    if scenario.profile != "core":
        return scenario.profile
    if scenario.store:
        return "store: false"
    if scenario.history or scenario.previous_response_id:
        return "codex exec resume"
    if scenario.calls:
        # The scripted model calls the contract's tool, which Codex does not have.
        return "unsupported call: lookup"
    return None


def test_codex_adapter_matches_its_expected_failures(codex: Path) -> None:
    info = next(a for a in ADAPTERS if a.name == "codex-cli")
    client = ClientUnderTest(
        name=info.name,
        command=info.command(sys.executable),
        profiles=info.profiles,
        undeclared=info.undeclared,
        env={"PYTHONPATH": str(REPO_ROOT), "RWS_CODEX": str(codex)},
        cwd=str(REPO_ROOT),
    )
    run = trio.run(lambda: run_client_suite([client], SCENARIOS, jobs=4))
    run, stale = apply_expected_failures(run, load_expected_failures(info.expected_failures))
    failures = [(c.id, c.message) for c in run.checks if c.verdict is Verdict.FAILED]
    assert exit_status(run, stale) == 0, (failures, [s.message for s in stale])
    by_scenario = {c.details["scenario"]: c for c in run.checks}
    assert set(by_scenario) == {s.id for s in SCENARIOS}
    for scenario in SCENARIOS:
        check = by_scenario[scenario.id]
        reason = _not_applicable(scenario)
        if reason is not None:
            assert check.verdict is Verdict.SKIPPED, (scenario.id, check.message)
            assert reason in check.message, (scenario.id, check.message)
        else:
            assert check.verdict is not Verdict.SKIPPED, (scenario.id, check.message)
            assert "harness_errors" not in check.details["observations"], check.message
            # Codex asks to stream in every request: RWS-CREATE-13 (SHOULD NOT) everywhere.
            assert check.requirement_verdicts["RWS-CREATE-13"] is Verdict.WARNING
    for scenario_id in ("reconnect-store-false", "connection-age-limit"):
        # Codex warms up each turn's connection (generate: false), which the scripted server
        # answers without output, and continues from the warm-up; its resend on the new
        # connection holds the whole conversation.
        check = by_scenario[scenario_id]
        assert check.requirement_verdicts["RWS-CLIENT-5"] is Verdict.PASSED, check.message
        assert _warm_ups(check.wire_log) >= 2


def _warm_ups(wire_log: Sequence[Mapping[str, Any]]) -> int:
    """The runs of a wire log that completed without output: the scripted server's answers
    to Codex's generate: false warm-ups (RWS-CREATE-6). The requests themselves, with Codex's
    tools, are too long to be kept whole in a report; these answers are short."""
    count = 0
    for record in wire_log:
        if record.get("kind") != "text" or record.get("dir") != "s2c" or "note" in record:
            continue
        body = json.loads(record["text"])
        if body.get("type") == "response.completed" and body["response"]["output"] == []:
            assert body["response"]["usage"]["output_tokens"] == 0
            count += 1
    return count
