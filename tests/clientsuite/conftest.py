"""Fixtures of the client-suite tests: run a client command through the suite."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from conformance.clientsuite.runner import ClientUnderTest, run_scenario
from conformance.clientsuite.scenarios import scenario_by_id
from conformance.results import CheckResult

__all__ = ["REPO_ROOT", "RunBroken", "broken_client"]

REPO_ROOT = Path(__file__).resolve().parents[2]

RunBroken = Callable[[str, str], CheckResult]


def broken_client(mode: str, *, warm_up: bool = False) -> ClientUnderTest:
    """The broken client of ``mode`` as a client under test; ``warm_up``: it opens every
    connection with a ``generate: false`` warm-up, as Codex CLI does (``mode`` may then be
    empty: a conforming client that warms up)."""
    command = f"{shlex.quote(sys.executable)} -m tests.clientsuite.broken_clients.broken"
    env = {"RWS_BROKEN": mode, "PYTHONPATH": str(REPO_ROOT)}
    if warm_up:
        env["RWS_WARM_UP"] = "1"
    return ClientUnderTest(
        name="-".join(["broken", *([mode] if mode else []), *(["warm-up"] if warm_up else [])]),
        command=command,
        profiles=frozenset({"core", "multiplex", "steering"}),
        env=env,
        cwd=str(REPO_ROOT),
    )


@pytest.fixture
def run_broken() -> RunBroken:
    """Run one scenario against one broken client (a fresh trio run: tests are sync)."""

    def run(mode: str, scenario_id: str) -> CheckResult:
        scenario = scenario_by_id(scenario_id)
        return trio.run(run_scenario, broken_client(mode), scenario)

    return run


def peers_python() -> str | None:
    """The peers interpreter, when the environment names one."""
    return os.environ.get("RWS_PEERS_PYTHON") or None
