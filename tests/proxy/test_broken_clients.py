"""The proxy in front of the client suite's scripted server reports the broken clients live.

Each row of the proof matrix's client half names a deliberately broken client
(tests/clientsuite/broken_clients/broken.py) and the scenario that catches it. Here the client
talks to the scenario's scripted server through the proxy, and the proxy must tell the row's
requirement before the session ends. It tells what the client suite's judgement of the
transcript tells (the same checker), and two things a transcript cannot hold: the pongs a
client owes the server's pings (RWS-CLIENT-9) and how its upgrade carried the credential
(RWS-TRANS-19).

The rows not listed are judged by what only the scenario knows (the task's result, a client
that crashes or stops, what its output holds), or are steering rows, judged when the steering
profile is declared.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from pathlib import Path

import pytest
import trio

from conformance.checker import CheckerConfig
from conformance.clientsuite.runner import API_KEY, DEFAULT_MODEL, client_env
from conformance.clientsuite.scenarios import scenario_by_id
from conformance.clientsuite.script import BUSY_LANE, Script
from conformance.clientsuite.server import ScriptedServer
from conformance.results import Verdict
from tests.clientsuite.conftest import broken_client
from tests.proxy.running import running_proxy
from tests.suite.proof.matrix import matrix

# (broken mode, scenario) -> the requirement the proxy must tell.
SEEN_IN_TRAFFIC = {
    ("stale-previous-id", "resume-not-found"): "RWS-CLIENT-2",
    ("reconnect-always", "no-reconnect-1008"): "RWS-ERR-9",
    ("reconnect-always", "no-reconnect-1005"): "RWS-ERR-7",
    ("stale-id-new-connection", "reconnect-store-false"): "RWS-CLIENT-5",
    ("stale-id-new-connection", "connection-age-limit"): "RWS-CLIENT-5",
    ("no-backoff", "reconnect-backoff"): "RWS-ERR-7",
    ("background", "incremental-input"): "RWS-CREATE-2",
    ("stream", "incremental-input"): "RWS-CREATE-13",
    ("null-stream-id", "incremental-input"): "RWS-CREATE-8",
    ("wrapped", "incremental-input"): "RWS-CREATE-1",
    ("binary-frame", "incremental-input"): "RWS-TRANS-6",
    ("second-create", "incremental-input"): "RWS-CLIENT-3",
    ("full-resend", "incremental-input"): "RWS-CLIENT-1",
    ("prev-and-full", "incremental-input"): "RWS-CLIENT-1",
    ("no-pong", "slow-stream"): "RWS-CLIENT-9",
    ("early-tool-output", "tool-loop"): "RWS-CLIENT-3",
    ("token-scheme", "incremental-input"): "RWS-TRANS-19",
    ("key-in-query", "incremental-input"): "RWS-TRANS-19",
}
_ROWS = {(r.breaker, r.check): r for r in matrix().rows if r.suite == "client"}
_LEVEL = {"FAILED": Verdict.FAILED, "WARNING": Verdict.WARNING}

Told = set[tuple[str | None, Verdict]]


async def _through_proxy(mode: str, scenario_id: str, report_dir: Path) -> tuple[Told, str]:
    scenario = scenario_by_id(scenario_id)
    client = broken_client(mode)
    config = CheckerConfig.make(("core", "multiplex"), busy_lane=BUSY_LANE)
    server = ScriptedServer(Script(scenario, DEFAULT_MODEL), API_KEY)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        async with running_proxy(server.url, report_dir, config=config) as proxy:
            url = proxy.url + "/v1/responses"
            env = {**os.environ, **client.env, **client_env(scenario, url, DEFAULT_MODEL, API_KEY)}
            with trio.move_on_after(scenario.timeout):
                await trio.run_process(
                    client.command,
                    shell=True,
                    env=env,
                    cwd=client.cwd,
                    check=False,
                    capture_stdout=True,
                    capture_stderr=True,
                )
            await proxy.idle()
            # What was told before the session ended: live.
            told = {(f.finding.requirement, f.finding.verdict) for f in proxy.told}
            printed = proxy.out.getvalue()
            await proxy.finish(write=False)
        nursery.cancel_scope.cancel()
    return told, printed


def _run(case: tuple[str, str], report_dir: Path) -> tuple[Told, str]:
    return trio.run(functools.partial(_through_proxy, *case, report_dir))


@pytest.fixture(scope="module")
def client_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[Told, str]]:
    """Every listed broken client through the proxy, four at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            case: pool.submit(_run, case, tmp_path_factory.mktemp("-".join(case)))
            for case in SEEN_IN_TRAFFIC
        }
        return {case: future.result() for case, future in futures.items()}


def test_every_listed_case_is_a_row_of_the_proof_matrix() -> None:
    for case, requirement in SEEN_IN_TRAFFIC.items():
        assert _ROWS[case].requirement == requirement


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(SEEN_IN_TRAFFIC), ids="-".join)
def test_proxy_tells_the_broken_clients_requirement_live(
    case: tuple[str, str], client_runs: dict[tuple[str, str], tuple[Told, str]]
) -> None:
    told, printed = client_runs[case]
    row = _ROWS[case]
    assert (row.requirement, _LEVEL[row.verdict]) in told, sorted(told, key=str)
    # Each violation is printed as it happens, on a line of its own naming the requirement.
    assert any(row.requirement in line for line in printed.splitlines())
    # The key the client was given is never printed, whatever the client did with it.
    assert API_KEY not in printed
