"""The measurements of ``responses-ws bench``, all in one run, side by side.

:func:`run_bench` starts the servers (subprocesses), measures, and returns the report as a
JSON-ready dict (``conformance.bench.report`` adds the targets and ratios). Definitions, as
``docs/benchmarks.md`` states them:

* **tool loop** (per I/O driver, cost model off and on): the fixture of
  :mod:`conformance.bench.fixture`, N turns, in four modes - ``a`` one connection, each turn
  ``previous_response_id`` plus the new items (instructions and tools resent, as the spec
  says they are not carried over); ``a_lean`` the same but instructions and tools sent on
  turn 1 only (the lower bound of continuation bytes); ``b`` a new connection per turn with
  the full history resent (``store: false``); ``c`` a new connection per turn with
  ``previous_response_id`` and ``store: true``, so every turn is hydrated from storage.
  Wall time of a turn: from opening the connection (``b``, ``c``, and turn 1 of ``a``) or
  from sending ``response.create`` to receiving the terminal event; closing is not timed.
* **continuation overhead**: ``response.create`` sent to ``response.created`` received, turns
  1..50 of mode ``a`` on one connection.
* **floor**: round trip of one message through a raw ``websockets`` echo server (a separate
  program). *Hot*: round trips back to back, for a message the size of a continuation request
  and for a delta-sized message. *Loop-shaped* (the floor of the continuation-overhead
  target): each timed round trip of a continuation-sized request comes where a continuation
  comes in the tool loop - after the server has streamed a run and gone idle. The client asks
  the echo server for a stream of as many messages as the server sends in one continuation
  turn of a recorded tool loop (``stream COUNT 0 SIZE``, SIZE their mean size), receives them
  all, parsing the recorded turn's events one by one as :func:`run_turn` parses a turn's,
  builds the next continuation request as the tool loop does, sends it no sooner than the
  recorded loop's client sent its requests after a turn's last event (the server idles
  meanwhile, and the longer it idles the slower it wakes) and times its echo: the same
  exchange as a continuation, without the protocol work.
* **throughput**: ``output_text.delta`` events per second on one connection, first delta to
  last delta; and end to end, ``response.create`` to the terminal event.
* **concurrency**: S sessions on S connections, each one paced run (``rws:delay``); the
  latency of event j is its arrival time minus the time ``response.create`` was sent minus
  ``j`` pacing intervals (how late it is against the run's schedule), over every event of
  every session; the same with a single session is the baseline. The server's CPU time is
  read apart for opening the connections, for the runs (first request to last terminal
  event) and for closing them: CPU per paced event is the runs' CPU over their events.
* **paced floor**: the same sessions against the echo server's paced stream (``stream N P S``:
  N messages, one pause apart), on each ``websockets`` layer: the lateness and the CPU per
  paced message of the library alone.
* **checker**: records of a recorded transcript checked per second.
* **suite**: wall time of ``responses-ws check --spawn-reference`` per driver.
* **HTTP baseline**: the same tool loop over WebSocket and three ways over HTTP
  (:mod:`conformance.bench.http_loop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.bench import fixture
from conformance.bench.client import BenchError, ByteCount, Connection, TurnResult, run_turn
from conformance.bench.echo import stream_request
from conformance.bench.floor import echo_loop_shaped, echo_round_trips, turn_shape
from conformance.bench.http_loop import measure_http_baseline
from conformance.bench.proxy import measure_proxy
from conformance.bench.servers import (
    CostModel,
    Endpoint,
    cpu_seconds,
    echo_server,
    idle_cpu_seconds,
    reference_server,
)
from conformance.bench.stats import median, percentile, slope, summary

__all__ = ["DRIVERS", "MODES", "BenchSettings", "run_bench"]

DRIVERS: tuple[str, ...] = ("trio", "asyncio")
MODES: tuple[str, ...] = ("a", "a_lean", "b", "c")

Log = Callable[[str], None]


@dataclass(frozen=True)
class BenchSettings:
    """What one run measures and how many times."""

    quick: bool = False
    drivers: tuple[str, ...] = DRIVERS
    turns: int = 20
    loop_reps: int = 7
    overhead_turns: int = 50
    overhead_reps: int = 7
    echo_round_trips: int = 3000
    stream_length: int = 400_000
    stream_chunks: int = 100_000
    stream_reps: int = 3
    sessions: int = 500
    session_deltas: int = 12
    session_delay_ms: int = 250
    session_ramp_s: float = 1.0
    checker_deltas: int = 20_000
    run_suite: bool = True
    cost: CostModel = field(default_factory=lambda: CostModel(2.0, 20.0))

    @classmethod
    def make(cls, quick: bool = False, **overrides: Any) -> BenchSettings:
        """The full settings, or the ``--quick`` ones (same figures, fewer samples)."""
        if quick:
            base: dict[str, Any] = {
                "quick": True,
                "loop_reps": 2,
                "overhead_reps": 1,
                "echo_round_trips": 300,
                "stream_length": 40_000,
                "stream_chunks": 10_000,
                "stream_reps": 1,
                "sessions": 100,
                "session_deltas": 6,
                "session_delay_ms": 100,
                "session_ramp_s": 0.2,
                "checker_deltas": 2_000,
            }
            base.update(overrides)
            return cls(**base)
        return cls(**overrides)


# --- the tool loop ---------------------------------------------------------------------------


@dataclass(slots=True)
class _TurnSample:
    wall_s: float
    created_s: float
    payload: int
    wire: int
    uncached: int
    cached: int
    input_tokens: int
    events: int
    server_cpu_s: float = 0.0
    created_cpu_s: float = 0.0


def _check_final(result: TurnResult, calls: int) -> None:
    texts = [
        part.get("text")
        for item in result.output
        if item.get("type") == "message"
        for part in item.get("content") or []
    ]
    expected = f"loop done after {calls} calls"
    if expected not in texts:
        raise BenchError(f"the tool loop did not end with {expected!r}: {texts!r}")


def _next_call_id(result: TurnResult) -> str:
    for item in result.output:
        if item.get("type") == "function_call":
            return str(item["call_id"])
    raise BenchError(f"turn ended without a function_call: {result.output!r}")


async def _tool_loop(
    endpoint: Endpoint,
    mode: str,
    turns: int,
    transcript: list[dict[str, Any]] | None = None,
    origin: float = 0.0,
    *,
    probe_cpu: bool = False,
) -> list[_TurnSample]:
    """Run one N-turn tool loop in ``mode``; return one sample per turn."""
    cpu_before = cpu_seconds(endpoint.pid)
    calls = turns - 1
    samples: list[_TurnSample] = []
    history: list[dict[str, Any]] = [fixture.first_user_message(calls)]
    new_items: list[dict[str, Any]] = list(history)
    previous: str | None = None
    shared: Connection | None = None
    try:
        for turn in range(1, turns + 1):
            count = shared.count if shared is not None else ByteCount()
            wire_before = count.wire
            start = time.perf_counter()
            if shared is not None:
                conn = shared
            else:
                conn = await Connection.open(
                    endpoint.url,
                    endpoint.api_key,
                    count=count,
                    name=f"t{turn}" if mode in ("b", "c") else "c1",
                    transcript=transcript,
                    origin=origin,
                )
                if mode in ("a", "a_lean"):
                    shared = conn
            body = history if mode == "b" else new_items
            # The server's CPU per turn is read between turns, when the server is idle: the
            # whole turn (accept, response.created, generate, send), since response.created
            # now goes out before the rest is generated and the server is still running then.
            turn_cpu = await idle_cpu_seconds(endpoint.pid) if probe_cpu else 0.0
            result = await run_turn(conn, fixture.create_event(mode, turn, previous, body))
            if probe_cpu:
                turn_cpu = await idle_cpu_seconds(endpoint.pid) - turn_cpu
            if mode in ("a", "a_lean"):
                start = start if turn == 1 else result.sent
            if mode in ("b", "c"):
                await conn.close()
            samples.append(
                _TurnSample(
                    wall_s=result.done - start,
                    created_s=result.created - result.sent,
                    created_cpu_s=turn_cpu,
                    payload=result.bytes_sent,
                    wire=count.wire - wire_before,
                    uncached=result.uncached_input_tokens,
                    cached=result.cached_tokens,
                    input_tokens=int(result.usage.get("input_tokens", 0)),
                    events=result.events,
                )
            )
            if turn == turns:
                _check_final(result, calls)
                break
            output = fixture.tool_output(turn, _next_call_id(result))
            history.extend(result.output)
            history.append(output)
            new_items = [output]
            previous = result.response_id
    finally:
        if shared is not None:
            await shared.close()
    # The loop's server CPU time, spread evenly over its turns (schedstat has no per-turn view).
    cpu = (cpu_seconds(endpoint.pid) - cpu_before) / len(samples)
    for sample in samples:
        sample.server_cpu_s = cpu
    return samples


def _per_turn(reps: Sequence[Sequence[_TurnSample]], name: str, scale: float = 1.0) -> list[float]:
    return [median([getattr(rep[i], name) * scale for rep in reps]) for i in range(len(reps[0]))]


def _total(reps: Sequence[Sequence[_TurnSample]], name: str, scale: float = 1.0) -> float:
    return median([sum(getattr(s, name) for s in rep) * scale for rep in reps])


def _mode_summary(reps: Sequence[Sequence[_TurnSample]]) -> dict[str, Any]:
    pooled = [s.wall_s * 1e3 for rep in reps for s in rep]
    return {
        "reps": len(reps),
        "turns": len(reps[0]),
        "wall_ms_per_turn": _per_turn(reps, "wall_s", 1e3),
        "wall_ms_turn_p50": median(pooled),
        "wall_ms_turn_p99": percentile(pooled, 99),
        "wall_ms_total": _total(reps, "wall_s", 1e3),
        "server_cpu_ms_per_turn": _total(reps, "server_cpu_s", 1e3) / len(reps[0]),
        "server_cpu_ms_total": _total(reps, "server_cpu_s", 1e3),
        "created_ms_per_turn": _per_turn(reps, "created_s", 1e3),
        "c2s_payload_bytes_per_turn": _per_turn(reps, "payload"),
        "c2s_payload_bytes_total": _total(reps, "payload"),
        "c2s_wire_bytes_per_turn": _per_turn(reps, "wire"),
        "c2s_wire_bytes_total": _total(reps, "wire"),
        "uncached_input_tokens_per_turn": _per_turn(reps, "uncached"),
        "uncached_input_tokens_total": _total(reps, "uncached"),
        "cached_tokens_total": _total(reps, "cached"),
        "input_tokens_total": _total(reps, "input_tokens"),
        "events_total": _total(reps, "events"),
    }


async def _tool_loops(
    endpoint: Endpoint, settings: BenchSettings, log: Log, label: str
) -> dict[str, Any]:
    """Every mode, ``loop_reps`` times, interleaved so that noise spreads evenly."""
    samples: dict[str, list[list[_TurnSample]]] = {mode: [] for mode in MODES}
    await _tool_loop(endpoint, "a", 3)  # warm-up: imports, caches, first connection
    for rep in range(settings.loop_reps):
        log(f"  tool loop {label}: rep {rep + 1}/{settings.loop_reps}")
        for mode in MODES:
            samples[mode].append(await _tool_loop(endpoint, mode, settings.turns))
    return {mode: _mode_summary(reps) for mode, reps in samples.items()}


# --- continuation overhead and the floor -----------------------------------------------------


async def _overhead(endpoint: Endpoint, settings: BenchSettings, log: Log) -> dict[str, Any]:
    """``response.create`` -> ``response.created`` by turn, mode ``a``, turns 1..50."""
    reps: list[list[_TurnSample]] = []
    for rep in range(settings.overhead_reps):
        log(f"  continuation overhead: rep {rep + 1}/{settings.overhead_reps}")
        reps.append(await _tool_loop(endpoint, "a", settings.overhead_turns))
    # The server's CPU per turn comes from chains of their own: reading it needs the server
    # idle between turns, and waiting for that would change the wall times above.
    cpu_reps: list[list[_TurnSample]] = []
    for rep in range(max(1, settings.overhead_reps // 2)):
        log(f"  continuation overhead, server CPU: rep {rep + 1}")
        cpu_reps.append(await _tool_loop(endpoint, "a", settings.overhead_turns, probe_cpu=True))
    per_turn = _per_turn(reps, "created_s", 1e6)
    turns = list(range(1, len(per_turn) + 1))
    fit = slope(turns, per_turn)
    intercept = median(per_turn) - fit * median(turns)
    pooled = [s.created_s * 1e6 for rep in reps for s in rep]
    cpu_per_turn = _per_turn(cpu_reps, "created_cpu_s", 1e6)
    return {
        "server_cpu_us_per_turn": cpu_per_turn,
        "server_cpu_p50_us": median([s.created_cpu_s * 1e6 for rep in cpu_reps for s in rep]),
        "server_cpu_turn_1_us": cpu_per_turn[0],
        "server_cpu_turn_last_us": cpu_per_turn[-1],
        "reps": len(reps),
        "turns": len(per_turn),
        "us_per_turn": per_turn,
        "turn_1_us": per_turn[0],
        "turn_last_us": per_turn[-1],
        "ratio_last_over_first": per_turn[-1] / per_turn[0],
        "slope_us_per_turn": fit,
        "fitted_ratio_last_over_first": (intercept + fit * turns[-1]) / (intercept + fit),
        "p50_us": median(pooled),
        "p99_us": percentile(pooled, 99),
        "request_bytes_last": reps[0][-1].payload,
    }


# --- throughput and concurrency --------------------------------------------------------------

_DELTA = '"response.output_text.delta"'
_TERMINALS = ('"response.completed"', '"response.incomplete"', '"response.failed"', '"error"')


async def _stream_once(conn: Connection, length: int, chunks: int, pid: int) -> dict[str, float]:
    event = {
        "type": "response.create",
        "model": fixture.MODEL,
        "store": False,
        "input": f"rws:text length={length} chunks={chunks}",
    }
    server_cpu = cpu_seconds(pid)
    client_cpu = time.process_time()
    sent = await conn.send_event(event)
    deltas = 0
    first = last = 0.0
    ws = conn.ws
    while True:
        # The hot loop reads the socket directly and classifies by the event's leading type
        # member: parsing 100k events here would measure the client, not the server.
        message = await ws.recv()
        head = message[:64] if isinstance(message, str) else ""
        if _DELTA in head:
            last = time.perf_counter()
            if not deltas:
                first = last
            deltas += 1
        elif any(t in head for t in _TERMINALS):
            done = time.perf_counter()
            if '"response.completed"' not in head:
                raise BenchError(f"stream ended with {head!r}")
            break
    server_cpu = cpu_seconds(pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    if deltas != chunks:
        raise BenchError(f"expected {chunks} deltas, received {deltas}")
    return {
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "events_per_server_cpu_s": deltas / server_cpu,
        "deltas": deltas,
        "stream_events_per_s": (deltas - 1) / (last - first),
        "end_to_end_events_per_s": deltas / (done - sent),
        "first_delta_ms": (first - sent) * 1e3,
        "run_ms": (done - sent) * 1e3,
    }


async def _throughput(endpoint: Endpoint, settings: BenchSettings, log: Log) -> dict[str, Any]:
    conn = await Connection.open(endpoint.url, endpoint.api_key)
    try:
        await _stream_once(conn, 4000, 1000, endpoint.pid)  # warm-up
        runs = []
        for rep in range(settings.stream_reps):
            log(f"  throughput: rep {rep + 1}/{settings.stream_reps}")
            runs.append(
                await _stream_once(
                    conn, settings.stream_length, settings.stream_chunks, endpoint.pid
                )
            )
    finally:
        await conn.close()
    return {
        "reps": len(runs),
        "length": settings.stream_length,
        "chunks": settings.stream_chunks,
        **{key: median([run[key] for run in runs]) for key in runs[0]},
    }


@dataclass(slots=True)
class _PacedRun:
    created_ms: float  # request sent -> its first event (response.created) received
    late_ms: list[float]  # per event after the first: lateness against the schedule
    gaps_ms: list[float]  # per event after the first: gap to the previous minus pacing


async def _paced_session(
    conn: Connection,
    start: asyncio.Event,
    offset: float,
    request: str,
    delay_ms: int,
    messages: int | None,
) -> _PacedRun:
    """One paced run: when each of its events arrived against its pause.

    ``messages`` None reads a reference server's run up to its terminal event; a number reads
    that many messages of the echo server's paced stream.
    """
    await start.wait()
    if offset:
        await asyncio.sleep(offset)
    sent = await conn.send_text(request)
    arrivals: list[float] = []
    while True:
        message = await conn.ws.recv()
        arrivals.append(time.perf_counter())
        if messages is not None:
            if len(arrivals) == messages:
                break
            continue
        head = message[:64] if isinstance(message, str) else ""
        if any(t in head for t in _TERMINALS):
            if '"response.completed"' not in head:
                raise BenchError(f"paced run ended with {head!r}")
            break
    # Event j of the run (response.created is 0) is due j pauses after the request: its
    # lateness is when it arrived past that. The gap to its predecessor minus one pause is
    # the jitter (negative when the server sent two events in one write after falling behind).
    late = [(t - sent) * 1e3 - j * delay_ms for j, t in enumerate(arrivals) if j]
    gaps = [(b - a) * 1e3 - delay_ms for a, b in itertools.pairwise(arrivals)]
    return _PacedRun((arrivals[0] - sent) * 1e3, late, gaps)


@contextlib.contextmanager
def _client_gc_paused() -> Iterator[None]:
    """Keep the client's garbage collector still while it times events.

    With hundreds of sessions open, one full collection stops the client's loop for tens of
    milliseconds, and every event that arrives meanwhile would look late by that much: the
    server's lateness, not the client's, is what is measured.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(slots=True)
class _Load:
    """One set of concurrent paced sessions, and the server's CPU time by phase."""

    runs: list[_PacedRun]
    events: int
    elapsed_s: float  # the runs: from the start signal to the last event
    open_cpu_s: float  # opening every connection
    run_cpu_s: float  # the runs, connections open
    close_cpu_s: float  # closing every connection


async def _sessions(
    endpoint: Endpoint,
    count: int,
    request: str,
    delay_ms: int,
    ramp_s: float,
    messages: int | None = None,
) -> _Load:
    """``count`` concurrent paced sessions sending ``request``, started evenly over ``ramp_s``.

    The server's CPU time is read once it is idle between the phases: connections opened,
    runs ended, connections closed.
    """
    gate = asyncio.Semaphore(32)  # bounded handshakes at once

    async def open_one(i: int) -> Connection:
        async with gate:
            return await Connection.open(endpoint.url, endpoint.api_key, name=f"s{i}")

    conns: list[Connection] = []
    with _client_gc_paused():
        cpu_start = await idle_cpu_seconds(endpoint.pid)
        try:
            conns = list(await asyncio.gather(*(open_one(i) for i in range(count))))
            cpu_opened = await idle_cpu_seconds(endpoint.pid)
            start = asyncio.Event()
            tasks = [
                asyncio.create_task(
                    _paced_session(conn, start, i / count * ramp_s, request, delay_ms, messages)
                )
                for i, conn in enumerate(conns)
            ]
            began = time.perf_counter()
            start.set()
            results = await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - began
            cpu_ran = await idle_cpu_seconds(endpoint.pid)
        finally:
            await asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)
        cpu_closed = await idle_cpu_seconds(endpoint.pid)
    return _Load(
        runs=list(results),
        events=sum(len(r.gaps_ms) + 1 for r in results),
        elapsed_s=elapsed,
        open_cpu_s=cpu_opened - cpu_start,
        run_cpu_s=cpu_ran - cpu_opened,
        close_cpu_s=cpu_closed - cpu_ran,
    )


def _paced_figures(runs: Sequence[_PacedRun]) -> dict[str, Any]:
    return {
        "event_latency_ms": summary([x for run in runs for x in run.late_ms]),
        "created_ms": summary([run.created_ms for run in runs]),
        "jitter_ms": summary([g for run in runs for g in run.gaps_ms]),
    }


def _load_figures(load: _Load, baseline: Sequence[_PacedRun], sessions: int) -> dict[str, Any]:
    """The figures of a loaded run beside its single-session baseline."""
    return {
        "achieved_events_per_s": load.events / load.elapsed_s,
        "server_cpu_utilisation": load.run_cpu_s / load.elapsed_s,
        # The runs' CPU over their events: the cost of one paced event, request handling and
        # run set-up included, connection set-up not (that is per connection, below).
        "run_cpu_us_per_event": load.run_cpu_s / load.events * 1e6,
        # Opening (handshake) and closing one connection.
        "connection_cpu_us": (load.open_cpu_s + load.close_cpu_s) / sessions * 1e6,
        "open_cpu_us": load.open_cpu_s / sessions * 1e6,
        "close_cpu_us": load.close_cpu_s / sessions * 1e6,
        # Everything over the events, connections included (the figure of earlier reports).
        "server_cpu_us_per_event": (load.open_cpu_s + load.run_cpu_s + load.close_cpu_s)
        / load.events
        * 1e6,
        "loaded": _paced_figures(load.runs),
        "baseline": _paced_figures(baseline),
    }


def _paced_request(deltas: int, delay_ms: int) -> str:
    return json.dumps(
        {
            "type": "response.create",
            "model": fixture.MODEL,
            "store": False,
            "input": f"rws:delay ms={delay_ms}\nrws:text length={deltas * 4} chunks={deltas}",
        },
        separators=(",", ":"),
    )


#: The events of a paced run of ``rws:text`` besides its deltas (created, in_progress, item
#: and part added and done, text done, completed).
_RUN_EVENTS_BESIDES_DELTAS = 8
#: The size of each message of the echo server's paced stream: a delta event's.
_PACED_FLOOR_BYTES = 150


async def _concurrency(endpoint: Endpoint, settings: BenchSettings, log: Log) -> dict[str, Any]:
    deltas, delay = settings.session_deltas, settings.session_delay_ms
    request = _paced_request(deltas, delay)
    log("  concurrency: 1 session (baseline)")
    baseline: list[_PacedRun] = []
    for _ in range(2):
        baseline.extend((await _sessions(endpoint, 1, request, delay, 0.0)).runs)
    log(f"  concurrency: {settings.sessions} sessions")
    client_cpu = time.process_time()
    load = await _sessions(endpoint, settings.sessions, request, delay, settings.session_ramp_s)
    return {
        "sessions": settings.sessions,
        "events_per_session": deltas + _RUN_EVENTS_BESIDES_DELTAS,
        "pacing_ms": delay,
        "ramp_s": settings.session_ramp_s,
        "offered_events_per_s": settings.sessions * 1000 / delay,
        "client_cpu_utilisation": (time.process_time() - client_cpu) / load.elapsed_s,
        **_load_figures(load, baseline, settings.sessions),
    }


async def _paced_floor(endpoint: Endpoint, settings: BenchSettings, log: Log) -> dict[str, Any]:
    """The concurrency figure's sessions against the echo server's paced stream."""
    messages = settings.session_deltas + _RUN_EVENTS_BESIDES_DELTAS
    delay = settings.session_delay_ms
    request = stream_request(messages, delay, _PACED_FLOOR_BYTES)
    baseline: list[_PacedRun] = []
    for _ in range(2):
        baseline.extend((await _sessions(endpoint, 1, request, delay, 0.0, messages)).runs)
    log(f"  paced stream: {settings.sessions} sessions")
    load = await _sessions(
        endpoint, settings.sessions, request, delay, settings.session_ramp_s, messages
    )
    return {
        "sessions": settings.sessions,
        "messages_per_session": messages,
        "message_bytes": _PACED_FLOOR_BYTES,
        "pacing_ms": delay,
        **_load_figures(load, baseline, settings.sessions),
    }


# --- checker and suite -----------------------------------------------------------------------


async def _record_transcript(endpoint: Endpoint, settings: BenchSettings) -> list[dict[str, Any]]:
    """A transcript of a tool loop and a long text stream on one connection."""
    transcript: list[dict[str, Any]] = []
    origin = time.perf_counter()
    await _tool_loop(endpoint, "a", settings.turns, transcript, origin)
    conn = await Connection.open(
        endpoint.url, endpoint.api_key, name="c2", transcript=transcript, origin=origin
    )
    try:
        event = {
            "type": "response.create",
            "model": fixture.MODEL,
            "store": False,
            "input": f"rws:text length={settings.checker_deltas * 4} "
            f"chunks={settings.checker_deltas}",
        }
        await run_turn(conn, event)
    finally:
        await conn.close()
    return transcript


def _check_transcript(transcript: list[dict[str, Any]]) -> dict[str, Any]:
    """Check the transcript cold (schemas compiled on first use), then warm three times (the
    best pass counts: other programs on the machine only ever slow a pass down); and the
    synthetic transcript of ``python -m conformance.checker.bench`` (short runs on two lanes,
    a request per run), whose per-run work weighs more."""
    from conformance.checker import Checker, CheckerConfig
    from conformance.checker import bench as checker_bench

    config = CheckerConfig.make(profiles=("core", "conformance-model"))
    timings = []
    cpus = []
    for _ in range(4):
        began = time.perf_counter()
        checker = Checker(config)
        setup = time.perf_counter() - began
        began = time.perf_counter()
        cpu = time.process_time()
        report = checker.feed_all(transcript)
        timings.append((setup, time.perf_counter() - began))
        cpus.append(time.process_time() - cpu)
    events = sum(1 for r in transcript if r.get("kind") == "text" and r.get("dir") == "s2c")
    failed = sorted(
        {f.requirement or "transcript" for f in report.findings if f.verdict.value == "FAILED"}
    )
    cold_setup, cold = timings[0]
    warm = min(t for _, t in timings[1:])
    setup = min(s for s, _ in timings[1:])
    cpu = min(cpus[1:])
    synthetic = checker_bench.build_transcript(10_000)
    synthetic_events = sum(1 for r in synthetic if r.dir == "s2c")
    return {
        "records": len(transcript),
        "server_events": events,
        "seconds": warm,
        "setup_seconds": setup,
        "records_per_s": len(transcript) / warm,
        "events_per_s": events / warm,
        "cpu_seconds": cpu,
        "events_per_cpu_s": events / cpu,
        "cold_seconds": cold + cold_setup,
        "cold_events_per_s": events / (cold + cold_setup),
        "failed_requirements": failed,
        "synthetic_server_events": synthetic_events,
        "synthetic_events_per_cpu_s": checker_bench.measure(synthetic, repeat=3),
    }


_SUMMARY = re.compile(
    r"FAILED (\d+)\s+WARNING (\d+)\s+PASSED (\d+)\s+INFORMATIONAL (\d+)\s+SKIPPED (\d+)"
)


def _suite(io: str) -> dict[str, Any]:
    """Time ``responses-ws check --spawn-reference`` against the ``io`` driver."""
    argv = [
        sys.executable,
        "-m",
        "conformance.cli",
        "check",
        "--spawn-reference",
        "--reference-arg=--io",
        f"--reference-arg={io}",
    ]
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - began
    match = _SUMMARY.search(done.stdout)
    counts = dict(
        zip(
            ("failed", "warning", "passed", "informational", "skipped"),
            (int(g) for g in match.groups()) if match else (),
            strict=False,
        )
    )
    failed = re.findall(r"^\s{2}(\S+) \[", done.stdout.partition("FAILED:")[2], re.MULTILINE)
    return {"seconds": elapsed, "exit_status": done.returncode, **counts, "failed_checks": failed}


# --- the whole run ---------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "websockets": importlib.metadata.version("websockets"),
        "load_average_start": list(os.getloadavg()),
    }


async def _driver(io: str, settings: BenchSettings, log: Log) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with reference_server(io) as endpoint:
        log(f"[{io}] cost model off")
        loops = {"cost_off": await _tool_loops(endpoint, settings, log, f"{io}/cost off")}
        out["overhead"] = await _overhead(endpoint, settings, log)
        out["throughput"] = await _throughput(endpoint, settings, log)
        out["concurrency"] = await _concurrency(endpoint, settings, log)
    with reference_server(io, settings.cost) as endpoint:
        log(f"[{io}] cost model on")
        loops["cost_on"] = await _tool_loops(endpoint, settings, log, f"{io}/cost on")
    out["tool_loop"] = loops
    if settings.run_suite:
        log(f"[{io}] conformance suite")
        out["suite"] = _suite(io)
    return out


async def _bench(settings: BenchSettings, log: Log) -> dict[str, Any]:
    report: dict[str, Any] = {
        "format": "responses-ws-bench/1",
        "quick": settings.quick,
        "machine": _machine(),
        "settings": asdict(settings),
    }
    # The transcript the checker is timed on, recorded first: one of its continuation turns
    # gives the shape of the loop-shaped floor.
    log("[floor] recording a tool loop (asyncio reference server)")
    with reference_server("asyncio") as endpoint:
        transcript = await _record_transcript(endpoint, settings)
    shape = turn_shape(transcript)
    floor: dict[str, Any] = {}
    request_size = len(
        json.dumps(
            fixture.create_event(
                "a", 2, "resp_" + "0" * 32, [fixture.tool_output(1, "call_" + "0" * 24)]
            ),
            separators=(",", ":"),
        )
    )
    for io in ("asyncio", "trio"):
        log(f"[floor] websockets {io} echo")
        with echo_server(io) as endpoint:
            floor[io] = {
                # The hot floor: round trips back to back.
                "request": await echo_round_trips(
                    endpoint, request_size, settings.echo_round_trips
                ),
                # The floor of the continuation-overhead target (the module docstring).
                "request_loop_shaped": await echo_loop_shaped(
                    endpoint, shape, settings.echo_round_trips
                ),
                "delta": await echo_round_trips(endpoint, 150, settings.echo_round_trips),
                "paced": await _paced_floor(endpoint, settings, log),
            }
    report["floor"] = floor
    report["drivers"] = {io: await _driver(io, settings, log) for io in settings.drivers}
    report["checker"] = _check_transcript(transcript)
    # The proxy's cost, beside direct figures of its own (conformance.bench.proxy).
    report["proxy"] = await measure_proxy(settings, log)
    # WebSocket mode against HTTP on the same tool loop (issue 17, conformance.bench.http_loop).
    log("[http] WebSocket against HTTP")
    report["http_baseline"] = await measure_http_baseline(
        settings.turns, settings.loop_reps, settings.cost, log
    )
    # Other programs on the machine inflate wall times (not CPU times): say how busy it was.
    report["machine"]["load_average_end"] = list(os.getloadavg())
    return report


def run_bench(settings: BenchSettings, log: Log | None = None) -> dict[str, Any]:
    """Measure everything; return the raw report (without targets, see ``report.finish``)."""
    return asyncio.run(_bench(settings, log or (lambda _line: None)))
