"""Test helper: start the reference server (as a subprocess) and describe it as a SuiteConfig."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence

import trio

from conformance.commands.check import REFERENCE_REAL_MODEL_PACE
from conformance.harness.config import CONFORMANCE_MODEL, DEFAULT_PARAMETERS, SuiteConfig
from conformance.harness.registry import Scenario
from conformance.harness.runner import run_suite
from conformance.harness.spawn import spawn_reference
from conformance.results import CheckResult, RunResult

__all__ = [
    "ANY_MODEL",
    "ANY_MODEL_PROFILES",
    "REAL_MODEL_PACE",
    "TEST_AGE",
    "TEST_IDLE",
    "check_of",
    "fault_table",
    "reference_config",
    "run_reference",
]

#: The reference server's model that behaves like a real one (it reads no rws: directive),
#: and what a server running its own model declares.
ANY_MODEL = "freeform-1"
ANY_MODEL_PROFILES = frozenset({"core", "multiplex", "steering"})
#: The pace `responses-ws check --spawn-reference` gives a model other than conformance-1.
REAL_MODEL_PACE = REFERENCE_REAL_MODEL_PACE

# The short connection age of the second instance that the age-limit check waits for.
TEST_AGE = 3.0
# The short idle-timeout of the third instance that the idle-timeout checks wait for.
TEST_IDLE = 1.0


@contextlib.contextmanager
def reference_config(
    faults: Sequence[str] = (),
    *,
    with_age_instance: bool = False,
    with_idle_instance: bool = False,
    with_plain_instance: bool = False,
    timeout: float = 3.0,
    server_args: Sequence[str] = (),
    parameters: Mapping[str, str] | None = None,
    profiles: frozenset[str] = frozenset({"core", "multiplex", "conformance-model"}),
    model: str = CONFORMANCE_MODEL,
    transport: str = "websocket",
) -> Iterator[SuiteConfig]:
    """Run the reference server with ``faults`` and yield the suite configuration for it.

    ``server_args`` go to every instance; ``parameters`` are what the suite is told the server
    declares (the defaults where None); ``model`` is the model the suite requests (the
    reference server also serves ``freeform-1``, which behaves like a real model);
    ``transport`` is the suite's (``http``: spec section 13).
    """
    extra = [*(arg for name in faults for arg in ("--fault", name)), *server_args]
    if "steering" not in profiles:
        # The server declares what the suite is told: without steering, it has none.
        extra.append("--no-steering")
    with contextlib.ExitStack() as stack:
        main = stack.enter_context(spawn_reference(extra))
        age_url: str | None = None
        if with_age_instance:
            aged = stack.enter_context(
                spawn_reference([*extra, "--max-connection-age", str(TEST_AGE)])
            )
            age_url = aged.url
        idle_url: str | None = None
        if with_idle_instance:
            idle = stack.enter_context(spawn_reference([*extra, "--idle-timeout", str(TEST_IDLE)]))
            idle_url = idle.url
        plain_url: str | None = None
        if with_plain_instance:
            # RWS-STEER-1 against a server that declares steering: an instance without it.
            plain = stack.enter_context(spawn_reference([*extra, "--no-steering"]))
            plain_url = plain.url
        yield SuiteConfig(
            server_url=main.url,
            api_key=main.api_keys[0],
            api_key2=main.api_keys[1],
            model=model,
            profiles=profiles,
            timeout=timeout,
            quiet_period=0.2,
            test_connection_age=TEST_AGE if with_age_instance else None,
            age_limit_url=age_url,
            test_idle_timeout=TEST_IDLE if with_idle_instance else None,
            idle_limit_url=idle_url,
            no_steering_url=plain_url,
            parameters={**DEFAULT_PARAMETERS, **(parameters or {})},
            transport=transport,
        )


def run_reference(
    faults: Sequence[str],
    scenarios: Sequence[Scenario],
    *,
    model: str = CONFORMANCE_MODEL,
    profiles: frozenset[str] = frozenset({"core", "multiplex", "conformance-model"}),
    server_args: Sequence[str] = (),
    timeout: float = 3.0,
    jobs: int = 12,
    transport: str = "websocket",
) -> RunResult:
    """Run ``scenarios`` against the reference server with ``faults``; the age-limit and
    idle-timeout instances are started when a scenario tests RWS-LIMIT-1 or RWS-LIMIT-4."""
    checked = {r for s in scenarios for r in s.requirements}
    with reference_config(
        faults,
        model=model,
        profiles=profiles,
        server_args=server_args,
        with_age_instance="RWS-LIMIT-1" in checked,
        with_idle_instance="RWS-LIMIT-4" in checked,
        with_plain_instance="RWS-STEER-1" in checked and "steering" in profiles,
        timeout=timeout,
        transport=transport,
    ) as config:
        return trio.run(functools.partial(run_suite, config, list(scenarios), jobs=jobs))


def check_of(run: RunResult, check_id: str) -> CheckResult:
    """The result of ``check_id`` in ``run`` (the check must have run)."""
    found = [check for check in run.checks if check.id == check_id]
    assert found, f"{check_id} did not run"
    return found[0]


def fault_table() -> dict[str, str]:
    """The reference server's fault switches (``--fault help``): name -> requirement."""
    output = subprocess.run(
        [sys.executable, "-m", "reference_impl", "serve", "--fault", "help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout
    table: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and line.startswith("  ") and parts[1].startswith("RWS-"):
            table[parts[0]] = parts[1]
    return table
