"""The programs a benchmark measures: reference servers and echo servers, as subprocesses.

``conformance`` never imports ``reference_impl``: the reference server runs as
``python -m reference_impl serve --io IO ...`` (through the suite's own spawner), the echo
floor as ``python -m conformance.bench.echo --io IO``. Each yields its URL once listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.harness.spawn import drain_output, read_listening_url, spawn_reference

__all__ = [
    "CostModel",
    "Endpoint",
    "busy_threads",
    "cpu_seconds",
    "echo_server",
    "idle_cpu_seconds",
    "reference_server",
]


@dataclass(frozen=True)
class CostModel:
    """The server's simulated compute (``--prefill-us-per-token``, ``--decode-us-per-token``)."""

    prefill_us_per_token: float = 0.0
    decode_us_per_token: float = 0.0

    @property
    def on(self) -> bool:
        """Whether any cost is simulated."""
        return bool(self.prefill_us_per_token or self.decode_us_per_token)

    def args(self) -> list[str]:
        """The server arguments that set this cost model."""
        return [
            "--prefill-us-per-token",
            repr(self.prefill_us_per_token),
            "--decode-us-per-token",
            repr(self.decode_us_per_token),
        ]


@dataclass(frozen=True)
class Endpoint:
    """A running server: where to connect and with which key."""

    url: str
    api_key: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """CPU time the process ``pid`` has used so far, all threads (Linux ``schedstat``).

    CPU time, unlike wall time, barely moves when other programs share the machine, so the
    report gives it beside wall time. Returns NaN where ``/proc`` has no ``schedstat``.

    The process's CPU-time clock (``clock_getcpuclockid``, Linux's clock id for another
    process) is read first: it includes the time slice a thread is running right now, which
    ``schedstat`` does not count until the thread is next scheduled - a server that sends
    ``response.created`` and keeps running would otherwise seem to have spent nothing.
    """
    with contextlib.suppress(OSError, OverflowError, AttributeError):
        # Linux: CPUCLOCK_SCHED (2) of the whole process, encoded as ~pid << 3.
        return time.clock_gettime((~pid << 3) | 2)
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return math.nan
    return total / 1e9


def busy_threads(pid: int) -> int:
    """The number of threads of ``pid`` that are running or runnable (state R), 0 if unknown."""
    busy = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                # The state follows the parenthesised command name, which may hold spaces.
                state = (task / "stat").read_text().rpartition(")")[2].split()[0]
                busy += state == "R"
    return busy


async def idle_cpu_seconds(pid: int, *, patience: int = 200) -> float:
    """:func:`cpu_seconds` of ``pid`` once it has stopped running (up to ``patience`` polls).

    A thread's CPU time is only brought up to date when it stops running, so a reading taken
    while the server is still busy (finishing a run after its last event went out) misses
    that work; reading once no thread is runnable counts it all.
    """
    for _ in range(patience):
        if not busy_threads(pid):
            break
        await asyncio.sleep(0.0002)
    return cpu_seconds(pid)


@contextlib.contextmanager
def reference_server(io: str, cost: CostModel = CostModel()) -> Iterator[Endpoint]:
    """Run ``python -m reference_impl serve --io IO`` with ``cost`` for the block."""
    with spawn_reference(["--io", io, *cost.args()]) as spawned:
        yield Endpoint(spawned.url, spawned.api_keys[0], spawned.process.pid)


@contextlib.contextmanager
def echo_server(io: str) -> Iterator[Endpoint]:
    """Run ``python -m conformance.bench.echo --io IO`` for the block."""
    argv: Sequence[str] = [sys.executable, "-m", "conformance.bench.echo", "--io", io]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = read_listening_url(process, 20.0)
        threading.Thread(target=drain_output, args=(process,), daemon=True).start()
        yield Endpoint(url, "", process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung echo server
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
