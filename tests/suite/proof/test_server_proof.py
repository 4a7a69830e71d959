"""The server suite's proof: every server row of the proof matrix, caught by its check.

One reference server (a subprocess) per fault, model and setup, reused by every check of the
rows that share them; only those checks run, in-process, so that the whole proof stays fast.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence

import pytest

from conformance.docsgen.proof_matrix import ProofRow
from conformance.harness.config import CONFORMANCE_MODEL
from conformance.results import CheckResult
from conformance.scenarios import all_scenarios
from tests.suite.proof.matrix import matrix, miss
from tests.suite.reference_server import ANY_MODEL_PROFILES, REAL_MODEL_PACE, run_reference

ROWS = [row for row in matrix().rows if row.suite == "server"]

# What the suite is told a server declares: with conformance-1 the scripted model's profile
# too; with any other model what a server running its own model declares.
_PROFILES = {
    CONFORMANCE_MODEL: frozenset({"core", "multiplex", "steering", "conformance-model"}),
    "": ANY_MODEL_PROFILES,
}
# Named server setups some rows need: server arguments and the profiles declared.
_SETUPS: Mapping[str, tuple[tuple[str, ...], frozenset[str] | None]] = {
    "": ((), None),
    # A server without the multiplex profile (lanes.stream-id-without-multiplex).
    "core-only": (("--no-multiplex",), frozenset({"core", "conformance-model"})),
    # freeform-1 at a real model's pace, as `check --spawn-reference` runs it: a run is still
    # in flight when the next request arrives (a busy lane, the age and idle limits, a fork
    # beside its source), when the client closes, or when another lane's request is refused.
    # Every row whose check needs a run in flight uses it; without it the row holds by luck.
    "slow-decode": (REAL_MODEL_PACE, None),
    # The suite over HTTP (spec section 13): the profile http declared, requests as POSTs.
    "http": ((), frozenset({"core", "multiplex", "steering", "conformance-model", "http"})),
}
# The suite's transport per setup (websocket unless named here).
_TRANSPORTS: Mapping[str, str] = {"http": "http"}
# Long enough for a loaded machine, short enough for the faults that leave a server silent;
# the connection-age checks wait for runs that span the test age limit (3 s).
_TIMEOUT = 3.0

Group = tuple[str, str, str]  # fault, model, setup


def _group(row: ProofRow) -> Group:
    return (row.breaker, row.model, row.setup)


def _run(group: Group, check_ids: Sequence[str]) -> dict[str, CheckResult]:
    fault, model, setup = group
    server_args, profiles = _SETUPS[setup]
    if profiles is None:
        profiles = _PROFILES.get(model, _PROFILES[""])
    elif model != CONFORMANCE_MODEL:
        profiles = profiles - {"conformance-model"}
    scenarios = [s for s in all_scenarios() if s.id in check_ids]
    run = run_reference(
        [fault],
        scenarios,
        model=model,
        profiles=profiles,
        server_args=server_args,
        timeout=_TIMEOUT,
        transport=_TRANSPORTS.get(setup, "websocket"),
    )
    return {check.id: check for check in run.checks}


@pytest.fixture(scope="module")
def proof_runs() -> dict[Group, dict[str, CheckResult]]:
    """Every group's run, four at a time (each its own servers and trio loop)."""
    groups: dict[Group, set[str]] = {}
    for row in ROWS:
        groups.setdefault(_group(row), set()).add(row.check)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {g: pool.submit(_run, g, sorted(ids)) for g, ids in groups.items()}
        return {g: future.result() for g, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{r.check}-{r.requirement}-{r.breaker}-{r.model}" for r in ROWS]
)
def test_check_fails_the_fault_through_its_finding(
    row: ProofRow, proof_runs: dict[Group, dict[str, CheckResult]]
) -> None:
    checks = proof_runs[_group(row)]
    assert row.check in checks, f"{row.check} did not run"
    problem = miss(row, checks[row.check])
    assert problem is None, f"{row.breaker} ({row.model}): {row.check}: {problem}"
