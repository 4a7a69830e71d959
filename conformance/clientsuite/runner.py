"""Runs client scenarios: a scripted server per scenario, the client program, the verdict.

For each scenario the runner starts a :class:`~conformance.clientsuite.server.ScriptedServer`
on loopback port 0, runs the client command with the adapter contract's environment
(docs/client-adapters.md) until it exits or the scenario's timeout passes, and hands the
transcript and the client's output to :func:`~conformance.clientsuite.judge.judge`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from conformance.clientsuite.judge import ClientOutcome, judge, skipped
from conformance.clientsuite.scenarios import SCENARIOS, TOOL_NAME, ClientScenario
from conformance.clientsuite.script import BUSY_LANE, Script
from conformance.clientsuite.server import ScriptedServer
from conformance.results import CheckResult, RunResult

__all__ = [
    "DEFAULT_MODEL",
    "Capture",
    "ClientUnderTest",
    "capture",
    "client_env",
    "run_client_suite",
    "run_scenario",
    "select",
]

DEFAULT_MODEL = "conformance-1"
API_KEY = "sk-rws-client-suite"
# Exit status an adapter uses for "this task is not supported": the check is SKIPPED.
EXIT_UNSUPPORTED = 3

Progress = Callable[[CheckResult], None]


@dataclass(frozen=True)
class ClientUnderTest:
    """A client program and what it declares."""

    name: str
    command: str  # run with the shell
    profiles: frozenset[str] = frozenset({"core"})
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # profile -> why the client does not declare it (said when its scenarios are skipped)
    undeclared: Mapping[str, str] = field(default_factory=dict)


def lane_names(scenario: ClientScenario) -> list[str]:
    """The stream ids of a lanes scenario's prompts."""
    return [f"lane-{i + 1}" for i in range(len(scenario.prompts))]


def client_env(scenario: ClientScenario, url: str, model: str, api_key: str) -> dict[str, str]:
    """The adapter contract's environment for one scenario."""
    env = {
        "RWS_URL": url,
        "RWS_API_KEY": api_key,
        "RWS_MODEL": model,
        "RWS_SCENARIO": scenario.id,
        "RWS_TASK": scenario.task,
        "RWS_PROMPTS": json.dumps(list(scenario.prompts)),
        "RWS_STORE": "true" if scenario.store else "false",
        "RWS_TOOL": TOOL_NAME,
        "RWS_HISTORY": json.dumps(list(scenario.history)),
        "RWS_LANES": json.dumps(lane_names(scenario) if scenario.task == "lanes" else []),
        "RWS_STEERS": json.dumps(list(scenario.steers)),
    }
    if scenario.previous_response_id is not None:
        env["RWS_PREVIOUS_RESPONSE_ID"] = scenario.previous_response_id
    return env


def select(ids: Sequence[str] = (), requirements: Sequence[str] = ()) -> list[ClientScenario]:
    """The scenarios with these ids and/or requirements (all when both are empty)."""
    chosen = list(SCENARIOS)
    if ids:
        unknown = set(ids) - {s.id for s in chosen}
        if unknown:
            raise KeyError(f"unknown client scenario(s): {', '.join(sorted(unknown))}")
        chosen = [s for s in chosen if s.id in ids]
    if requirements:
        chosen = [s for s in chosen if set(s.requirements) & set(requirements)]
    return chosen


async def _drain(stream: Any, sink: bytearray) -> None:
    if stream is None:
        return
    while True:
        chunk = await stream.receive_some(1 << 20)
        if not chunk:
            return
        sink.extend(chunk)


def _kill_group(pid: int) -> None:
    # The client runs in a session of its own (start_new_session): its whole process group
    # is the client, shells and children included.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _run_client(
    client: ClientUnderTest, env: Mapping[str, str], limit_s: float
) -> ClientOutcome:
    out, err = bytearray(), bytearray()
    started = time.monotonic()
    code: int | None
    async with trio.open_nursery() as nursery:
        proc = await trio.lowlevel.open_process(
            client.command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **client.env, **env},
            cwd=client.cwd,
            start_new_session=True,
        )
        nursery.start_soon(_drain, proc.stdout, out)
        nursery.start_soon(_drain, proc.stderr, err)
        try:
            with trio.move_on_after(limit_s) as scope:
                await proc.wait()
            code = None if scope.cancelled_caught else proc.returncode
        finally:
            _kill_group(proc.pid)
            with trio.CancelScope(shield=True):
                await proc.wait()
    return ClientOutcome(
        exit_code=code,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        duration_s=time.monotonic() - started,
    )


async def run_scenario(
    client: ClientUnderTest,
    scenario: ClientScenario,
    *,
    model: str = DEFAULT_MODEL,
    api_key: str = API_KEY,
) -> CheckResult:
    """Run one scenario against one client and judge it."""
    if scenario.profile not in client.profiles:
        why = client.undeclared.get(scenario.profile)
        return skipped(
            client.name,
            scenario,
            f"the client does not declare the {scenario.profile} profile"
            + (f": {why}" if why else ""),
        )
    captured = await capture(client, scenario, model=model, api_key=api_key)
    outcome = captured.outcome
    if outcome.exit_code == EXIT_UNSUPPORTED:
        tail = outcome.stderr.strip().splitlines()[-1:] or ["no reason given"]
        return skipped(client.name, scenario, f"the client does not support the task: {tail[0]}")
    return judge(
        client.name,
        scenario,
        client.profiles,
        captured.records,
        captured.observations,
        outcome,
    )


@dataclass(frozen=True)
class Capture:
    """What one scenario run produced, before judging: the whole transcript (large messages
    included, unlike a report's wire log), the server's observations, the client's end."""

    records: list[dict[str, Any]]
    observations: dict[str, Any]
    outcome: ClientOutcome


async def capture(
    client: ClientUnderTest,
    scenario: ClientScenario,
    *,
    model: str = DEFAULT_MODEL,
    api_key: str = API_KEY,
) -> Capture:
    """Run the scripted server and the client for one scenario."""
    server = ScriptedServer(Script(scenario, model), api_key)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        outcome = await _run_client(
            client, client_env(scenario, server.url, model, api_key), scenario.timeout
        )
        nursery.cancel_scope.cancel()
    return Capture(server.records, server.observations, outcome)


async def run_client_suite(
    clients: Iterable[ClientUnderTest],
    scenarios: Sequence[ClientScenario] = SCENARIOS,
    *,
    jobs: int = 4,
    model: str = DEFAULT_MODEL,
    progress: Progress | None = None,
) -> RunResult:
    """Run every scenario against every client; checks come back in a stable order."""
    clients = list(clients)
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    pairs = [(c, s) for c in clients for s in scenarios]
    results: dict[int, CheckResult] = {}
    limiter = trio.CapacityLimiter(max(1, jobs))

    async def one(index: int, client: ClientUnderTest, scenario: ClientScenario) -> None:
        async with limiter:
            result = await run_scenario(client, scenario, model=model)
        results[index] = result
        if progress is not None:
            progress(result)

    async with trio.open_nursery() as nursery:
        for index, (client, scenario) in enumerate(pairs):
            if not scenario.exclusive:
                nursery.start_soon(one, index, client, scenario)
    # Timing-sensitive scenarios (backoff) run alone, so that load does not skew the waits.
    for index, (client, scenario) in enumerate(pairs):
        if scenario.exclusive:
            await one(index, client, scenario)
    return RunResult(
        checks=tuple(results[i] for i in range(len(pairs))),
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 3),
        target={
            "suite": "client",
            "server": "scripted (conformance/clientsuite)",
            "model": model,
            "parameters": {"busy-lane": BUSY_LANE},
            "clients": [
                {"name": c.name, "command": c.command, "profiles": sorted(c.profiles)}
                for c in clients
            ],
        },
    )
