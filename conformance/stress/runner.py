"""Run the stress probes one after the other, each with its own instruments.

Each probe runs on the server a :data:`ServerForProbe` yields: with ``--spawn-reference`` a
fresh reference server per probe, so that no probe's figures include what the one before
left in the server's memory; otherwise always the server at ``--server-url``. For each probe
the process sampler (when the server's pid is known, readable, and the process listens on
the server's port) and the latency monitor start anew; the probe takes windows of their
samples. Every
probe is bounded (its ``budget``: the sum of its parameters and timeouts, plus a margin) and
isolated: a probe that overruns, that cannot connect, or that stops on an error of its own
becomes a report saying so, and the next probe runs. A server that stops accepting
connections is a finding (WARNING), a server process that is gone too; an error of the
prober is reported as such (INFORMATIONAL), never as a finding about the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import trio

from conformance.results import RunResult
from conformance.stress import bad_frames, large_input, queue_flood, slow_reader, stalled_reader
from conformance.stress.config import PROBE_NAMES, StressParams
from conformance.stress.context import ProbeContext, Target
from conformance.stress.figures import ProbeReport, Rule
from conformance.stress.monitor import LatencyMonitor
from conformance.stress.procfs import ProcessSampler, listens_on, socket_inodes, tcp_states
from conformance.stress.wire import ConnectFailed

__all__ = [
    "PROBES",
    "Probe",
    "ServerForProbe",
    "describe_error",
    "run_stress",
    "same_server",
    "server_sampler",
]


@dataclass(frozen=True)
class Probe:
    """One probe: what it does, how to run it, and its bound."""

    name: str
    title: str
    run: Callable[[ProbeContext], Awaitable[ProbeReport]]
    budget: Callable[[ProbeContext], float]


PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe(
            "slow-reader",
            "a client reading at a bounded rate while runs stream faster than it reads",
            slow_reader.run,
            slow_reader.budget,
        ),
        Probe(
            "stalled-reader",
            "a client that stops reading while its runs stream",
            stalled_reader.run,
            stalled_reader.budget,
        ),
        Probe(
            "queue-flood",
            "many large requests queued behind a long run on one lane",
            queue_flood.run,
            queue_flood.budget,
        ),
        Probe(
            "large-input",
            "large and compressed messages while another connection is timed",
            large_input.run,
            large_input.budget,
        ),
        Probe(
            "bad-frame-flood",
            "a flood of malformed messages on one connection",
            bad_frames.run,
            bad_frames.budget,
        ),
    )
}
assert tuple(PROBES) == PROBE_NAMES


def describe_error(exc: BaseException) -> str:
    """The first innermost error (trio nurseries group them) and where it was raised."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _stopped(probe: Probe, why: str, *, finding: bool) -> ProbeReport:
    """The report of a probe that did not finish."""
    return ProbeReport(
        probe=probe.name,
        title=probe.title,
        sent="(the probe did not finish)",
        came_back=why,
        measured="nothing: the probe did not finish",
        figures=(),
        rules=(Rule(why, True),) if finding else (),
        notes=() if finding else (f"the probe could not finish (not a finding): {why}",),
    )


async def _run_probe(probe: Probe, ctx: ProbeContext) -> ProbeReport:
    bound = probe.budget(ctx)
    report: ProbeReport | None = None
    try:
        with trio.move_on_after(bound):
            report = await probe.run(ctx)
    except ConnectFailed as exc:
        return _stopped(probe, f"the server did not accept a new connection: {exc}", finding=True)
    except Exception as exc:  # the prober's own failure: reported, and the run goes on
        return _stopped(probe, describe_error(exc), finding=False)
    finally:
        # A probe stopped half-way leaves connections (and their runs) behind: never let
        # them load the server under the next probe.
        await ctx.abort_all()
    if report is None:
        return _stopped(
            probe,
            f"the probe did not finish within its bound of {bound:.0f} s (its parameters "
            "and timeouts, plus a margin)",
            finding=False,
        )
    return report


#: Yields the server a probe runs against: its /v1/responses URL and its pid (None: no
#: memory figures). A fresh reference server per probe, or always the same server.
ServerForProbe = Callable[[], AbstractAsyncContextManager[tuple[str, int | None]]]


def same_server(url: str, pid: int | None) -> ServerForProbe:
    """Every probe runs against the one server at ``url``."""

    @contextlib.asynccontextmanager
    async def server() -> AsyncIterator[tuple[str, int | None]]:
        yield url, pid

    return server


def server_sampler(url: str, pid: int | None) -> tuple[ProcessSampler | None, str]:
    """The process sampler of the server, or None and why there is none."""
    if pid is None:
        return None, "no server pid (--server-pid, or --spawn-reference)"
    sampler = ProcessSampler(pid)
    port = urlsplit(url).port or (443 if url.startswith("wss:") else 80)
    if not sampler.available():
        return None, f"/proc/{pid}/status cannot be read (not a process of this machine)"
    if listens_on(tcp_states(), socket_inodes(pid), port) is False:
        # The pid is not the server under test (a remote URL, or a proxy in front): its
        # memory would be another program's.
        return None, f"process {pid} does not listen on port {port} of this machine"
    return sampler, ""


@contextlib.asynccontextmanager
async def _instruments(
    target: Target, params: StressParams, pid: int | None, log: Callable[[str], None]
) -> AsyncIterator[ProbeContext]:
    """The probe context with its process sampler and latency monitor running."""
    sampler, memory_note = server_sampler(target.url, pid)
    async with trio.open_nursery() as nursery:
        if sampler is not None:
            nursery.start_soon(sampler.run)
        monitor: LatencyMonitor | None = LatencyMonitor(
            target.url,
            target.model,
            target.api_key,
            interval=params.monitor_interval_s,
            timeout=params.monitor_timeout_s,
            handshake_every=params.monitor_handshake_every,
            max_seconds=24 * 3600,
        )
        assert monitor is not None
        monitor_scope = trio.CancelScope()

        async def monitoring(task_status: trio.TaskStatus[None]) -> None:
            assert monitor is not None
            with monitor_scope:
                await monitor.run(task_status=task_status)

        await nursery.start(monitoring)
        latency_note = ""
        if not await monitor.wait_ready(20.0):
            tail = monitor.stderr_tail.decode("utf-8", "replace").strip().splitlines()[-1:]
            latency_note = "the monitor could not connect" + (f" ({tail[0]})" if tail else "")
            monitor_scope.cancel()
            monitor = None
        yield ProbeContext(
            target,
            params,
            sampler=sampler,
            monitor=monitor,
            memory_note=memory_note,
            latency_note=latency_note,
            log=log,
        )
        nursery.cancel_scope.cancel()


async def _probe_on(
    probe: Probe,
    target: Target,
    params: StressParams,
    server: ServerForProbe,
    log: Callable[[str], None],
) -> tuple[ProbeReport, str, int | None, bool]:
    """Run one probe on the server ``server`` yields; the report, the URL, the pid (when
    memory was measured) and whether the server process was gone afterwards."""
    async with server() as (url, pid):
        probe_target = dataclasses.replace(target, url=url)
        async with _instruments(probe_target, params, pid, log) as ctx:
            log(f"stress: {probe.name} (at most {probe.budget(ctx):.0f} s): {probe.title}")
            started = time.monotonic()
            report = await _run_probe(probe, ctx)
            report = dataclasses.replace(report, duration_s=time.monotonic() - started)
            gone = ctx.sampler is not None and ctx.sampler.read() is None
            if gone:
                report = dataclasses.replace(
                    report,
                    rules=(
                        *report.rules,
                        Rule(f"the server process {pid} was gone after this probe", True),
                    ),
                )
            measured_pid = pid if ctx.sampler is not None else None
            server_text = url + (f", pid {measured_pid}" if measured_pid is not None else "")
            report = dataclasses.replace(report, server=server_text)
            return report, url, measured_pid, gone


async def run_stress(
    target: Target,
    params: StressParams,
    probes: Sequence[str],
    *,
    server: ServerForProbe,
    fresh: bool,
    log: Callable[[str], None],
) -> tuple[RunResult, list[ProbeReport]]:
    """Run ``probes``, each on the server ``server`` yields (``fresh``: a new one each time,
    so that no probe inherits what the one before left in the server's memory); return the
    run (one check per probe) and the probes' reports."""
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    reports: list[ProbeReport] = []
    servers: dict[str, dict[str, object]] = {}
    gone = False
    for name in probes:
        probe = PROBES[name]
        if gone:
            reports.append(_stopped(probe, "not run: the server process was gone", finding=False))
            continue
        try:
            report, url, pid, lost = await _probe_on(probe, target, params, server, log)
        except Exception as exc:  # the server or an instrument could not be set up
            report = _stopped(probe, f"could not be set up: {describe_error(exc)}", finding=False)
            url, pid, lost = target.url, None, False
        # A server of its own per probe: one that died takes nothing else with it.
        gone = lost and not fresh
        servers[name] = {"url": url, "pid": pid}
        reports.append(report)
        log(f"stress: {name}: {report.verdict.value} in {report.duration_s:.1f} s")
    run = RunResult(
        checks=tuple(r.to_check() for r in reports),
        started_at=started_at,
        duration_s=round(time.monotonic() - t0, 3),
        target={
            "mode": "stress",
            # With a fresh server per probe there is no one URL: "servers" has them.
            **({} if fresh else {"url": target.url}),
            "model": target.model,
            "fresh_server_per_probe": fresh,
            # Per probe: the server it ran against, and its pid when memory was measured.
            "servers": servers,
            "parameters": {k: v for k, (v, _src) in target.limits.items()},
            "parameter_sources": {k: src for k, (_v, src) in target.limits.items()},
            "stress_parameters": params.as_dict(),
            "probes": list(probes),
        },
    )
    return run, reports
