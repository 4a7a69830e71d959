"""The proxy in front of a broken reference server reports the broken requirement live.

Every fault switch of the reference server is classified here: either the traffic shows its
violation (``SEEN_IN_TRAFFIC``) or it does not (``NOT_IN_TRAFFIC``, with the reason), and a
test keeps that list complete. For each fault the traffic shows, the server suite's scenarios
of the fault's rows in the proof matrix (docs/data/proof-matrix.json) run through the proxy -
every server the suite uses behind a proxy of its own (the age-limit instance too), one server
per fault - and the proxy must have told the fault's requirement, with the verdict of its
level, before the session ended. The same suite through the proxy in front of the healthy
server makes the proxy find nothing wrong with the server.

A fault the traffic does not show is one ``responses-ws validate`` cannot judge from a
transcript either (the proxy's judgement is validate's, tests/proxy/test_live.py).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from conformance.checker import CheckerConfig
from conformance.docsgen.proof_matrix import ProofRow
from conformance.harness.config import CONFORMANCE_MODEL, SuiteConfig
from conformance.harness.registry import Scenario
from conformance.harness.runner import run_suite
from conformance.requirements import load_requirements
from conformance.results import Verdict
from conformance.scenarios import all_scenarios
from tests.proxy.running import Running, running_proxy
from tests.suite.proof.matrix import matrix, miss
from tests.suite.reference_server import reference_config

# What the suite is told the server declares, the steering profile included (the steering
# rules judge the replies to response.steer a proxy sees).
_PROFILES = frozenset({"core", "multiplex", "steering", "conformance-model"})
_LEVEL = {"FAILED": Verdict.FAILED, "WARNING": Verdict.WARNING}

# fault -> its requirement, for every fault whose violation the traffic shows.
SEEN_IN_TRAFFIC = {
    "accept-bad-stream-id": "RWS-LANE-3",
    "age-error-stream-id": "RWS-EVENT-5",
    "annotation-mismatch": "RWS-DELTA-7",
    "binary-close-1003": "RWS-CREATE-22",
    "binary-crash": "RWS-CREATE-10",
    "cache-failed": "RWS-CACHE-7",
    "code-delta-mismatch": "RWS-DELTA-5",
    "context-drop-output": "RWS-CACHE-2",
    "created-missing-object": "RWS-EVENT-1",
    "created-not-first": "RWS-ORDER-1",
    "cross-key": "RWS-LIMIT-5",
    "custom-input-mismatch": "RWS-DELTA-5",
    "delta-mismatch": "RWS-DELTA-1",
    "delta-no-sequence": "RWS-SEQ-1",
    "duplicate-terminal": "RWS-ORDER-2",
    "empty-terminal-output": "RWS-ORDER-9",
    "error-no-status": "RWS-ERR-2",
    "error-no-type": "RWS-ERR-10",
    "failed-ends-error": "RWS-ORDER-12",
    "flat-error": "RWS-ERR-1",
    "generate-false-not-cached": "RWS-CACHE-10",
    "generate-false-output": "RWS-CREATE-6",
    "in-progress-twice": "RWS-ORDER-4",
    "incomplete-ends-completed": "RWS-ORDER-11",
    "invalid-json-as-unknown-type": "RWS-CREATE-9",
    "item-done-in-progress": "RWS-DELTA-8",
    "keep-runs-after-close": "RWS-LIMIT-10",
    "lane-limit-off": "RWS-LANE-5",
    "lane-overlap": "RWS-LANE-1",
    "mcp-arguments-mismatch": "RWS-DELTA-5",
    "miss-runs-without-history": "RWS-CACHE-4",
    "named-lane-overlap": "RWS-LANE-1",
    "no-cache": "RWS-CACHE-2",
    "no-evict": "RWS-CACHE-5",
    "no-item-added": "RWS-ORDER-5",
    "no-part-added": "RWS-ORDER-6",
    "no-persist": "RWS-CACHE-3",
    "no-pong": "RWS-TRANS-9",
    "no-stream-id-after-created": "RWS-EVENT-4",
    "part-added-not-empty": "RWS-DELTA-2",
    "pending-twice": "RWS-STEER-6",
    "reasoning-delta-mismatch": "RWS-DELTA-6",
    "refusal-delta-mismatch": "RWS-DELTA-3",
    "refuse-stream-false-invalid-value": "RWS-CREATE-18",
    "request-error-numbered": "RWS-SEQ-4",
    "reuse-response-id": "RWS-EVENT-7",
    "sequence-repeat": "RWS-SEQ-2",
    "sequence-start-1": "RWS-SEQ-3",
    "shared-cache": "RWS-CACHE-8",
    "split-large-event": "RWS-TRANS-5",
    "steer-double-reply": "RWS-STEER-2",
    "steer-no-stream-id": "RWS-STEER-3",
    "steer-numbered-0": "RWS-SEQ-5",
    "stream-id-on-default": "RWS-EVENT-5",
    "successor-wrong-parent": "RWS-STEER-4",
    "terminal-in-progress": "RWS-ORDER-3",
    "undefined-event": "RWS-EVENT-2",
    "unknown-type-as-invalid-json": "RWS-CREATE-11",
    "wrong-cached-tokens": "RWS-MODEL-3",
    "wrong-item-id": "RWS-ORDER-8",
    "wrong-response-id": "RWS-EVENT-6",
}

# Why the traffic cannot show what the other faults break.
_REFUSED_UPGRADE = (
    "a refused upgrade's status and headers, which the suite compares with what it sent"
)
_WAITS = "a wait the scenario knows it made (a timeout, a limit's clock, a run it expected)"
_EXPECTED_ANSWER = "an answer only the scenario knows to expect of the request it crafted"
# The request must be queued behind the steered run at the moment it stops: a race the
# scenario arranges, which the extra hop through the proxy (and a loaded machine) can lose.
_RACE = "a race the scenario arranges between a run's safe point and a queued request"
_OPEN_SPEC = "a violation the checker attributes to another requirement, or none, from the traffic"
NOT_IN_TRAFFIC = {
    "auth-403": _REFUSED_UPGRADE,
    "no-auth": _REFUSED_UPGRADE,
    "plain-get-200": _REFUSED_UPGRADE,
    "refuse-deflate": _REFUSED_UPGRADE,
    "reject-unknown-header": _REFUSED_UPGRADE,
    "reject-unknown-query": _REFUSED_UPGRADE,
    "require-beta-header": _REFUSED_UPGRADE,
    "busy-lane-rejected": _WAITS,
    "drop-terminal": _WAITS,
    "fork-serialised": _WAITS,
    "idle-during-run": _WAITS,
    "ignore-age-limit": _WAITS,
    "lanes-not-concurrent": _WAITS,
    "no-idle-timeout": _WAITS,
    "persist-on-close": _WAITS,
    "short-connection-age": _WAITS,
    "start-queued-at-age-limit": _WAITS,
    "close-on-error": _EXPECTED_ANSWER,
    "core-only-serves-lanes": _EXPECTED_ANSWER,
    "crash-on-deep-input": _EXPECTED_ANSWER,
    "error-leaks-trace": _EXPECTED_ANSWER,
    "instructions-carried-over": _EXPECTED_ANSWER,
    "lane-error-disturbs-others": _EXPECTED_ANSWER,
    "lane-limit-counts-default": _EXPECTED_ANSWER,
    "model-stops-early": _EXPECTED_ANSWER,
    "refuse-stream-options": _EXPECTED_ANSWER,
    "reject-unknown-field": _EXPECTED_ANSWER,
    "schema-error-no-param": _EXPECTED_ANSWER,
    "shrunk-message-limit": _EXPECTED_ANSWER,
    "steer-accepts-anything": _EXPECTED_ANSWER,
    "steer-failure-silent": _EXPECTED_ANSWER,
    "steer-ignored": _EXPECTED_ANSWER,
    "successor-drops-input": _EXPECTED_ANSWER,
    "unknown-model-served": _EXPECTED_ANSWER,
    "successor-after-queued": _RACE,
    "limit-close-1000": _OPEN_SPEC,
    "no-stream-id": _OPEN_SPEC,
}
_ROWS = [
    row
    for row in matrix().rows
    if row.suite == "server" and row.model == CONFORMANCE_MODEL and row.setup == ""
]

# What the proxy told live, per fault: (requirement, verdict) pairs.
Told = set[tuple[str | None, Verdict]]
# Tries of a fault whose scenario did not break it (a queue that depends on timing).
_TRIES = 3


@dataclass(frozen=True)
class FaultRun:
    """A fault's scenarios through the proxy: what it told live, what its report judged
    FAILED or WARNING for the server, and whether the suite's own check caught the fault."""

    told: Told
    broken: set[str]
    caught: bool


_PROXIED = ("server_url", "age_limit_url", "idle_limit_url", "no_steering_url")


async def _through_proxy(
    config: SuiteConfig, scenarios: list[Scenario], rows: list[ProofRow], report_dir: Path
) -> FaultRun:
    """Run ``scenarios`` with every server of ``config`` behind a proxy of its own."""
    checker = CheckerConfig.make(profiles=_PROFILES)
    async with contextlib.AsyncExitStack() as stack:
        proxies: dict[str, Running] = {}
        for name in _PROXIED:
            url = getattr(config, name)
            if url:
                folder = report_dir / name
                proxies[name] = await stack.enter_async_context(
                    running_proxy(url, folder, config=checker)
                )
        urls: dict[str, Any] = {name: p.url + "/v1/responses" for name, p in proxies.items()}
        suite = dataclasses.replace(config, **urls)
        run = await run_suite(suite, scenarios, jobs=6)
        checks = {c.id: c for c in run.checks}
        caught = any(r.check in checks and miss(r, checks[r.check]) is None for r in rows)
        told: Told = set()
        broken: set[str] = set()
        for proxy in proxies.values():
            await proxy.idle()
            told |= {(f.finding.requirement, f.finding.verdict) for f in proxy.told}
            end = await proxy.finish()
            server = next(c for c in end.run.checks if c.id == "proxy.server")
            broken |= {r for r, v in server.requirement_verdicts.items() if v is not Verdict.PASSED}
    return FaultRun(told, broken, caught)


def _run_fault(fault: str, report_dir: Path) -> FaultRun:
    rows = [row for row in _ROWS if row.breaker == fault]
    ids = {row.check for row in rows}
    scenarios = [s for s in all_scenarios() if s.id in ids]
    checked = {r for s in scenarios for r in s.requirements}
    with reference_config(
        [fault],
        timeout=3.0,
        profiles=_PROFILES,
        with_age_instance="RWS-LIMIT-1" in checked,
        with_idle_instance="RWS-LIMIT-4" in checked,
        with_plain_instance="RWS-STEER-1" in checked,
    ) as config:
        for attempt in range(_TRIES):
            done = trio.run(
                functools.partial(
                    _through_proxy, config, scenarios, rows, report_dir / f"try{attempt}"
                )
            )
            if done.caught:
                break
        return done


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FaultRun]:
    """Every listed fault through the proxy, four at a time (each its own servers and loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            fault: pool.submit(_run_fault, fault, tmp_path_factory.mktemp(fault))
            for fault in SEEN_IN_TRAFFIC
        }
        return {fault: future.result() for fault, future in futures.items()}


def test_every_listed_fault_is_a_fault_of_the_proof_matrix() -> None:
    faults = matrix().faults
    for fault, requirement in SEEN_IN_TRAFFIC.items():
        assert faults[fault]["requirement"] == requirement
        assert any(row.breaker == fault for row in _ROWS), fault


def test_every_fault_is_either_seen_in_the_traffic_or_says_why_not() -> None:
    # A new fault switch must be classified: the proxy is tested against it, or the reason
    # the traffic cannot show it is written down. The faults of the HTTP transport (spec
    # section 13) are not WebSocket traffic: the proxy does not carry them.
    registry = load_requirements()
    faults = matrix().faults
    http = {f for f, info in faults.items() if registry[info["requirement"]].profile == "http"}
    assert set(SEEN_IN_TRAFFIC).isdisjoint(NOT_IN_TRAFFIC)
    assert http.isdisjoint(set(SEEN_IN_TRAFFIC) | set(NOT_IN_TRAFFIC))
    assert set(SEEN_IN_TRAFFIC) | set(NOT_IN_TRAFFIC) | http == set(faults)


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(SEEN_IN_TRAFFIC))
def test_proxy_tells_the_broken_requirement_live(
    fault: str, fault_runs: dict[str, FaultRun]
) -> None:
    requirement = SEEN_IN_TRAFFIC[fault]
    done = fault_runs[fault]
    # Through the proxy the suite still catches the fault (what it checks arrives intact).
    assert done.caught, f"the suite did not catch {fault} in {_TRIES} tries"
    level = next(row.verdict for row in _ROWS if row.requirement == requirement)
    assert (requirement, _LEVEL[level]) in done.told, sorted(done.told, key=str)
    # The session's report says the same as the live lines.
    assert requirement in done.broken


@pytest.mark.slow
async def test_proxy_finds_nothing_wrong_with_the_healthy_server(tmp_path: Path) -> None:
    with reference_config(timeout=10.0, profiles=_PROFILES) as config:
        checker = CheckerConfig.make(profiles=_PROFILES)
        async with running_proxy(config.server_url, tmp_path, config=checker) as proxy:
            suite = dataclasses.replace(config, server_url=proxy.url + "/v1/responses")
            run = await run_suite(suite, all_scenarios(), jobs=6)
            # A few scenarios race a run on purpose (steering stops a run at its next safe
            # point, 40 ms apart): on a loaded machine the extra hop may make one miss its
            # moment. What failed runs once more, alone, through the same proxy.
            again = {c.id for c in run.checks if c.verdict is Verdict.FAILED}
            rerun = await run_suite(suite, [s for s in all_scenarios() if s.id in again])
            end = await proxy.finish()
    # The suite itself finds nothing wrong through the proxy (what it checks arrives intact).
    failed = [c for c in rerun.checks if c.verdict is Verdict.FAILED]
    assert [c.id for c in failed] == [], [c.message for c in failed]
    assert len(run.checks) > 60
    server = next(c for c in end.run.checks if c.id == "proxy.server")
    broken = {r: v for r, v in server.requirement_verdicts.items() if v in _LEVEL.values()}
    assert broken == {}, server.message
    # What the spec leaves open is recorded as data (INFORMATIONAL), not held against it.
    assert server.verdict in (Verdict.PASSED, Verdict.INFORMATIONAL)
    assert len(server.requirements) > 40
    # The suite breaks client rules on purpose (bad frames, bad requests): the client check
    # reports them, but no server requirement is among them.
    assert all(f.requirement is not None for f in end.report.findings)
    assert (tmp_path / "report.json").is_file()
    assert len(list((tmp_path / "transcripts").glob("c*.jsonl"))) == server.details["connections"]
