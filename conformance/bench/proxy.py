"""What ``responses-ws proxy`` costs, measured in ``responses-ws bench`` beside the direct figures.

One reference server (its default driver, asyncio) and one proxy program in front of it
(``python -m conformance.cli proxy``, checking both roles and writing transcripts, as a user
runs it). In the same run, alternately direct and through the proxy:

* **added latency**: ``response.create`` sent to ``response.created`` received, turns 1..N of a
  tool loop on one connection (mode ``a``); the p50 through the proxy minus the p50 direct, set
  against the echo floor the bench's other latency target uses (``floor.asyncio.request``);
* **throughput**: ``output_text.delta`` events per second on one connection through the proxy,
  first delta to last, with the direct figure beside it.

CPU time is reported beside wall time: the proxy's CPU (its I/O process and its judge, a
process of its own) per tool-loop turn and per delta event (the machine may be shared and
noisy; CPU time barely moves with its load). The judge checks every event; when it falls
behind, the proxy stops reading until it catches up, so the rate through the proxy is the
rate the judge checks at, once its bounded queue is full.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conformance.bench.client import Connection
from conformance.bench.servers import Endpoint, cpu_seconds, idle_cpu_seconds, reference_server
from conformance.bench.stats import median

__all__ = [
    "PROXY_TARGETS",
    "family_cpu_seconds",
    "measure_proxy",
    "proxy_program",
    "proxy_targets",
    "render_proxy",
]

Log = Callable[[str], None]

#: The proxy's targets: id -> (what, comparison, bound).
PROXY_TARGETS: dict[str, tuple[str, str, float]] = {
    "proxy_added_created_over_floor": (
        "proxy: added create->created p50 / echo floor",
        "<=",
        1.5,
    ),
    "proxy_delta_events_per_s": ("proxy: delta events/s through it, checking on", ">=", 50_000.0),
}

_LISTENING = re.compile(r"listening on (ws://\S+)")
#: The reference server's driver behind the proxy (the default of ``serve``).
_UPSTREAM_DRIVER = "asyncio"


@contextlib.contextmanager
def proxy_program(upstream: Endpoint, *, startup_timeout: float = 30.0) -> Iterator[Endpoint]:
    """``responses-ws proxy`` in front of ``upstream`` for the block, as a user runs it in
    front of a server of their own (its default declarations: the core profile, both roles
    judged); its reports go to a temporary folder. The endpoint's ``pid`` is the proxy's."""
    with tempfile.TemporaryDirectory(prefix="rws-bench-proxy-") as folder:
        argv = [
            sys.executable, "-m", "conformance.cli", "proxy", "--listen", "127.0.0.1:0",
            "--upstream", upstream.url, "--report-dir", folder,
        ]  # fmt: skip
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            url = _listening(process, startup_timeout)
            threading.Thread(target=_drain, args=(process,), daemon=True).start()
            yield Endpoint(url + "/v1/responses", upstream.api_key, process.pid)
        finally:
            # SIGINT ends the session as a user would (summary, reports), then it exits.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung proxy
                process.kill()
                process.wait()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def family_cpu_seconds(pid: int) -> float:
    """CPU time of the process ``pid`` and of its children (the proxy and its judge)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in _children(pid))


def _listening(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = _LISTENING.search(line)
        if found:
            return found.group(1)
    raise RuntimeError("the proxy did not start: " + "".join(seen[-10:]))


def _drain(process: subprocess.Popen[str]) -> None:
    stream = process.stdout
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            for _line in stream:
                pass


async def measure_proxy(settings: Any, log: Log) -> dict[str, Any]:
    """The proxy's figures and the direct ones of the same run (see the module)."""
    from conformance.bench import measure

    direct_created: list[float] = []
    proxied_created: list[float] = []
    direct_runs: list[dict[str, float]] = []
    proxied_runs: list[dict[str, float]] = []
    proxy_cpu_turns = 0.0
    turns = 0
    proxy_cpu_stream = 0.0
    deltas = 0
    with reference_server(_UPSTREAM_DRIVER) as server, proxy_program(server) as proxy:
        await measure._tool_loop(server, "a", 3)  # warm-up: imports, caches, schemas
        await measure._tool_loop(proxy, "a", 3)
        # The judge starts with the session (imports, the registry, schemas on first use):
        # measured once it has caught up, as it runs in a session of any length.
        for pid in (proxy.pid, *_children(proxy.pid)):
            await idle_cpu_seconds(pid, patience=20_000)
        for rep in range(max(2, settings.overhead_reps)):
            log(f"  proxy: continuation overhead, rep {rep + 1}")
            samples = await measure._tool_loop(server, "a", settings.overhead_turns)
            direct_created += [s.created_s * 1e6 for s in samples]
            before = family_cpu_seconds(proxy.pid)
            samples = await measure._tool_loop(proxy, "a", settings.overhead_turns)
            proxy_cpu_turns += family_cpu_seconds(proxy.pid) - before
            turns += len(samples)
            proxied_created += [s.created_s * 1e6 for s in samples]
        for rep in range(settings.stream_reps):
            log(f"  proxy: throughput, rep {rep + 1}")
            for endpoint, runs in ((server, direct_runs), (proxy, proxied_runs)):
                conn = await Connection.open(endpoint.url, endpoint.api_key)
                try:
                    before = family_cpu_seconds(proxy.pid)
                    runs.append(
                        await measure._stream_once(
                            conn, settings.stream_length, settings.stream_chunks, server.pid
                        )
                    )
                    if endpoint is proxy:
                        proxy_cpu_stream += family_cpu_seconds(proxy.pid) - before
                        deltas += settings.stream_chunks
                finally:
                    await conn.close()
    direct_p50 = median(direct_created)
    proxied_p50 = median(proxied_created)
    return {
        "upstream_driver": _UPSTREAM_DRIVER,
        "turns": turns,
        "created_direct_p50_us": direct_p50,
        "created_proxied_p50_us": proxied_p50,
        "added_created_p50_us": proxied_p50 - direct_p50,
        "proxy_cpu_us_per_turn": proxy_cpu_turns / turns * 1e6,
        "stream_chunks": settings.stream_chunks,
        "direct_stream_events_per_s": median([r["stream_events_per_s"] for r in direct_runs]),
        "proxied_stream_events_per_s": median([r["stream_events_per_s"] for r in proxied_runs]),
        "proxied_end_to_end_events_per_s": median(
            [r["end_to_end_events_per_s"] for r in proxied_runs]
        ),
        "proxy_cpu_us_per_delta": proxy_cpu_stream / deltas * 1e6,
        "events_per_proxy_cpu_s": deltas / proxy_cpu_stream if proxy_cpu_stream else 0.0,
    }


def proxy_targets(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The proxy's targets, from the report's ``proxy`` and ``floor`` figures."""
    figures = raw.get("proxy")
    if not figures:
        return []
    floor = raw["floor"]["asyncio"]["request"]
    figures["added_created_over_floor"] = figures["added_created_p50_us"] / floor["p50_us"]
    # The same in CPU time: the proxy's CPU for one message each way (half a turn's worth of
    # forwarded events is far more; a turn's CPU over its events is the per-message cost)
    # against the echo server's CPU per echo.
    measured = {
        "proxy_added_created_over_floor": (
            figures["added_created_over_floor"],
            {"added_us": figures["added_created_p50_us"], "floor_us": floor["p50_us"]},
        ),
        "proxy_delta_events_per_s": (
            figures["proxied_stream_events_per_s"],
            {
                "direct": figures["direct_stream_events_per_s"],
                "server_cpu": figures["events_per_proxy_cpu_s"],
            },
        ),
    }
    out = []
    for name, (value, context) in measured.items():
        what, op, bound = PROXY_TARGETS[name]
        met = value <= bound if op == "<=" else value >= bound
        out.append(
            {"id": name, "what": what, "op": op, "target": bound, "measured": value, "met": met}
            | context
        )
    return out


def render_proxy(raw: dict[str, Any]) -> list[str]:
    """The proxy's lines of the text summary."""
    p = raw.get("proxy")
    if not p:
        return []
    return [
        "",
        f"Proxy (in front of the {p['upstream_driver']} reference server, checking on): "
        f"create->created p50 {p['created_proxied_p50_us']:,.0f} us through it, "
        f"{p['created_direct_p50_us']:,.0f} us direct (added {p['added_created_p50_us']:,.0f} "
        f"us over {p['turns']} turns); proxy CPU {p['proxy_cpu_us_per_turn']:,.0f} us per turn",
        f"  delta events/s: {p['proxied_stream_events_per_s']:,.0f} through it, "
        f"{p['direct_stream_events_per_s']:,.0f} direct ({p['stream_chunks']} deltas); "
        f"proxy CPU {p['proxy_cpu_us_per_delta']:.1f} us per delta "
        f"({p['events_per_proxy_cpu_s']:,.0f} per proxy CPU second)",
    ]
