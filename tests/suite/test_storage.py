"""D24: the declared storage parameter decides what the hydration checks expect.

A server without a response store (``storage=none``) must answer every continuation of a
response its connection no longer caches with previous_response_not_found; a server that
declares ``durable`` must hydrate. Each declaration is run against the reference server
started both ways: the matching pair passes, each mismatch fails the requirement it breaks.
"""

from __future__ import annotations

import pytest

from conformance.harness.runner import run_suite, select_scenarios
from conformance.results import RunResult, Verdict
from conformance.scenarios import all_scenarios
from tests.suite.reference_server import reference_config

__all__: list[str] = []

HYDRATION = ("cache.store-true-hydrated-after-reconnect", "cache.store-true-hydrated-while-open")


async def _run(server_storage: str, declared: str) -> RunResult:
    scenarios = [s for s in select_scenarios(all_scenarios()) if s.id in HYDRATION]
    assert len(scenarios) == len(HYDRATION)
    with reference_config(
        server_args=["--storage", server_storage], parameters={"storage": declared}
    ) as config:
        return await run_suite(config, scenarios, jobs=2)


def _verdicts(run: RunResult, requirement: str) -> set[Verdict]:
    return {
        check.requirement_verdicts[requirement]
        for check in run.checks
        if requirement in check.requirement_verdicts
    }


@pytest.mark.slow
async def test_server_without_storage_passes_when_it_declares_none() -> None:
    run = await _run("none", "none")
    assert {c.id: c.message for c in run.checks if c.verdict is Verdict.FAILED} == {}
    assert _verdicts(run, "RWS-CACHE-4") == {Verdict.PASSED}
    assert Verdict.PASSED not in _verdicts(run, "RWS-CACHE-3")


@pytest.mark.slow
async def test_server_without_storage_declared_durable_fails_hydration() -> None:
    run = await _run("none", "durable")
    assert Verdict.FAILED in _verdicts(run, "RWS-CACHE-3")
    assert Verdict.FAILED in _verdicts(run, "RWS-CACHE-11")


@pytest.mark.slow
async def test_server_that_hydrates_declared_none_fails_cache_4() -> None:
    """A declared storage=none server that serves a response on another connection ran it
    from somewhere the client cannot rely on: previous_response_not_found was owed."""
    run = await _run("durable", "none")
    assert Verdict.FAILED in _verdicts(run, "RWS-CACHE-4")
