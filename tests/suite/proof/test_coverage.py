"""The proof matrix covers every check: a new check without a proof fails here.

Computed from the scenario registries (server and client) and the requirement registry:
every check with a MUST or SHOULD has a row failing one of its own requirements, every MUST
a check tests is failed by some row, every fault switch of the reference server and every
broken client is in the matrix, and every fault that a check running with any model can
catch is caught with freeform-1 too.
"""

from __future__ import annotations

import pytest

from conformance.clientsuite.scenarios import SCENARIOS as CLIENT_SCENARIOS
from conformance.docsgen.proof_matrix import ProofRow
from conformance.harness.config import CONFORMANCE_MODEL
from conformance.harness.registry import Scenario
from conformance.requirements import load_requirements
from conformance.scenarios import all_scenarios
from reference_impl.faults import FAULTS
from tests.clientsuite.broken_clients.broken import MODES
from tests.suite.proof.coverage import suite_coverage
from tests.suite.proof.matrix import matrix
from tests.suite.reference_server import fault_table

ANY_MODEL = "freeform-1"
_WANTED = {"MUST": "FAILED", "MUST NOT": "FAILED", "SHOULD": "WARNING", "SHOULD NOT": "WARNING"}
_SETUPS = {"", "core-only", "slow-decode", "http"}


def _any_model(scenario: Scenario) -> bool:
    """Whether the check runs with a model other than conformance-1."""
    return not scenario.needs_model and "conformance-model" not in scenario.extra_profiles


def test_every_must_and_should_check_has_a_proof(capsys: pytest.CaptureFixture[str]) -> None:
    server, client = suite_coverage()
    with capsys.disabled():
        print(f"\n{server.summary()}\n{client.summary()}")
    # Only the gaps the matrix names, with their reason, may remain: a new check without a
    # proof fails here.
    gaps = matrix().known_gaps
    assert sorted((*server.unproven, *client.unproven)) == sorted(gaps.get("checks", {}))
    musts = sorted((*server.musts_unproven, *client.musts_unproven))
    assert musts == sorted(gaps.get("requirements", {}))


def test_checks_that_only_record_are_listed_as_informational() -> None:
    server, client = suite_coverage()
    listed = matrix().informational
    assert sorted(listed.get("server", {})) == sorted(server.informational)
    assert sorted(listed.get("client", {})) == sorted(client.informational)


def test_every_row_names_a_check_its_own_requirement_and_the_levels_verdict() -> None:
    requirements = load_requirements()
    server = {s.id: s for s in all_scenarios()}
    client = {s.id: s for s in CLIENT_SCENARIOS}
    wrong: list[tuple[ProofRow, str]] = []
    for row in matrix().rows:
        checks = server if row.suite == "server" else client
        check = checks.get(row.check)
        if check is None:
            wrong.append((row, "no such check"))
        elif row.requirement not in check.requirements:
            wrong.append((row, "not a requirement of the check"))
        elif _WANTED.get(requirements[row.requirement].level) != row.verdict:
            wrong.append((row, f"a {requirements[row.requirement].level} gives another verdict"))
        elif row.suite == "server" and row.breaker not in FAULTS:
            wrong.append((row, "no such fault"))
        elif row.suite == "client" and row.breaker not in MODES:
            wrong.append((row, "no such broken client"))
        elif row.model not in (CONFORMANCE_MODEL, ANY_MODEL) or row.setup not in _SETUPS:
            wrong.append((row, "unknown model or setup"))
        elif row.model == ANY_MODEL and not _any_model(server[row.check]):
            wrong.append((row, "the check does not run with any model"))
        elif not row.finding.strip():
            wrong.append((row, "no finding"))
    assert wrong == []


def test_the_matrix_lists_every_fault_and_broken_client() -> None:
    proof = matrix()
    assert set(fault_table()) == set(FAULTS)  # `serve --fault help` lists them all
    assert dict(proof.faults) == {
        name: {"requirement": f.requirement, "description": f.description}
        for name, f in FAULTS.items()
    }
    assert dict(proof.peers) == MODES
    rows = proof.rows
    assert {r.breaker for r in rows if r.suite == "server"} == set(FAULTS)
    assert {r.breaker for r in rows if r.suite == "client"} == set(MODES)


def test_every_fault_a_check_catches_with_any_model_is_proven_with_any_model() -> None:
    proof = matrix()
    scenarios = {s.id: s for s in all_scenarios()}
    owed = {
        row.breaker
        for row in proof.rows
        if row.suite == "server"
        and row.model == CONFORMANCE_MODEL
        and row.requirement == FAULTS[row.breaker].requirement
        and _any_model(scenarios[row.check])
    }
    proven = {r.breaker for r in proof.rows if r.model == ANY_MODEL}
    missing = owed - proven - set(proof.not_reached_with_any_model)
    assert sorted(missing) == sorted(proof.known_gaps.get("any_model", {}))
