"""The latency monitor: a second client, in a process of its own, that times the server.

While a probe loads the server, the question is what *another* client sees. On a 2-core
machine a client that shares the probe's process would be starved by the probe's own
sending and parsing, and its figures would measure the prober. So the monitor is a separate
program (``python -m conformance.stress.monitor``) with its own connection:

* every ``interval`` seconds it sends one small ``response.create`` (the smallest run of the
  model, ``store: false``) and records the time from just before the send to the arrival of
  its ``response.created`` (a ``created`` sample), then waits for the run's terminal event;
* every ``handshake_every``-th sample it also opens a fresh connection and records the time
  from the TCP connect to the ``101`` (a ``handshake`` sample), then closes it;
* a request without ``response.created`` within ``timeout`` is a lost sample, and so is one
  answered with an error or a close; the connection is then opened anew.

Each sample is one JSON line on stdout, stamped with ``time.monotonic()`` (the same clock in
every process of the machine), so the probe attributes samples to its phases. The monitor
ends when its stdin closes (the parent is done or gone) or after ``--max-seconds``.

:class:`LatencyMonitor` is the parent's side: it starts the program, collects its samples
and stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import trio

from conformance.stress.messages import TERMINAL_EVENTS, small_request
from conformance.stress.wire import ConnectFailed, RawConnection, Received

__all__ = ["API_KEY_ENV", "LatencyMonitor", "LatencySample", "main"]

#: The monitor takes the API key from this variable, never from its command line (which
#: every user of the machine can read).
API_KEY_ENV = "RWS_STRESS_API_KEY"
_MAX_SAMPLES = 200_000
_STDERR_TAIL = 4096


@dataclass(frozen=True, slots=True)
class LatencySample:
    """One measurement of the monitor."""

    kind: str  # "created" or "handshake"
    t: float  # time.monotonic() just before the send (or the connect)
    elapsed: float  # seconds until the answer, or until the monitor gave up
    outcome: str  # "ok", "timeout", "error <code>", "closed <code>", "refused ..."

    @property
    def ok(self) -> bool:
        """Whether the awaited answer came."""
        return self.outcome == "ok"

    @property
    def latency(self) -> float | None:
        """Seconds to the answer; None for a lost sample."""
        return self.elapsed if self.ok else None

    @property
    def end(self) -> float:
        """When the sample ended."""
        return self.t + self.elapsed


def _emit(kind: str, t: float, outcome: str, elapsed: float | None = None) -> None:
    if elapsed is None:
        elapsed = time.monotonic() - t
    line = {"kind": kind, "t": t, "elapsed": elapsed, "outcome": outcome}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def _wait(conn: RawConnection, wanted: frozenset[str], until: float) -> Received | None:
    """Read until a message whose type is in ``wanted``, an error event, a close or EOF;
    None at ``until`` (time.monotonic())."""
    with trio.move_on_after(max(0.0, until - time.monotonic())):
        while (message := await conn.next_message()) is not None:
            if message.kind == "close" or message.event_type in wanted:
                return message
            if message.event_type == "error" and not message.in_run:
                return message
        return Received("close", 0, time.monotonic(), close_code=None)
    return None


def _failure(message: Received | None) -> str:
    if message is None:
        return "timeout"
    if message.kind == "close":
        return f"closed {message.close_code}" if message.close_code else "connection ended"
    return message.describe()


async def _handshake(url: str, api_key: str | None, bound: float) -> RawConnection | None:
    t0 = time.monotonic()
    try:
        conn = await RawConnection.open(url, api_key=api_key, timeout=bound)
    except ConnectFailed as exc:
        outcome = f"refused HTTP {exc.status}" if exc.status else f"failed: {exc}"
        _emit("handshake", t0, outcome)
        return None
    _emit("handshake", t0, "ok")
    return conn


class _Poke:
    """A line on stdin: the parent starts a load now, so the next request goes at once
    rather than at the end of the interval (a load shorter than the interval still has a
    request in flight)."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def set(self) -> None:
        self.event.set()

    async def sleep(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self.event.wait()
        self.event = trio.Event()


async def _sample_loop(args: argparse.Namespace, api_key: str | None, poke: _Poke) -> None:
    request = small_request(args.model)
    conn: RawConnection | None = None
    count = 0
    ready = False
    while True:
        count += 1
        if conn is None:
            conn = await _handshake(args.url, api_key, args.timeout)
        elif args.handshake_every and count % args.handshake_every == 0:
            extra = await _handshake(args.url, api_key, args.timeout)
            if extra is not None:
                await extra.close(timeout=1.0)
        if not ready:
            _emit("ready", time.monotonic(), "ok" if conn is not None else "no connection")
            ready = True
        if conn is not None:
            t0 = time.monotonic()
            try:
                await conn.send_message(request)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                _emit("created", t0, "connection broken")
                await conn.abort()
                conn = None
            if conn is not None:
                first = await _wait(conn, frozenset({"response.created"}), t0 + args.timeout)
                if first is not None and first.event_type == "response.created":
                    # Timed at the read that completed the message, not when this line runs.
                    _emit("created", t0, "ok", first.at - t0)
                    end = await _wait(conn, TERMINAL_EVENTS, time.monotonic() + args.timeout)
                    done = end is not None and end.event_type in TERMINAL_EVENTS
                else:
                    _emit("created", t0, _failure(first))
                    done = False
                if not done:
                    # The connection is in an unknown state: the next sample starts afresh.
                    await conn.abort()
                    conn = None
        await poke.sleep(args.interval)


async def _watch_stdin(cancel: trio.CancelScope, poke: _Poke) -> None:
    """Poke the sampler on each line; cancel the monitor once stdin ends (the parent closed
    it, or is gone)."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stream:
        while await stream.receive_some(1024):
            poke.set()
    cancel.cancel()


async def _main(args: argparse.Namespace) -> None:
    api_key = os.environ.get(API_KEY_ENV) or None
    with trio.move_on_after(args.max_seconds) as scope:
        async with trio.open_nursery() as nursery:
            poke = _Poke()
            nursery.start_soon(_watch_stdin, scope, poke)
            nursery.start_soon(_sample_loop, args, api_key, poke)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the monitor (the command line of ``python -m conformance.stress.monitor``)."""
    parser = argparse.ArgumentParser(description="time a server from a second connection")
    parser.add_argument("url")
    parser.add_argument("model")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--handshake-every", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    try:
        trio.run(_main, args)
    except KeyboardInterrupt:
        return 0
    return 0


class LatencyMonitor:
    """The parent's side of the monitor (module docstring)."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        *,
        interval: float,
        timeout: float,
        handshake_every: int,
        max_seconds: float,
    ) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "conformance.stress.monitor",
            url,
            model,
            "--interval",
            str(interval),
            "--timeout",
            str(timeout),
            "--handshake-every",
            str(handshake_every),
            "--max-seconds",
            str(max_seconds),
        ]
        self.api_key = api_key
        self.timeout = timeout
        self.samples: list[LatencySample] = []
        self.ready: LatencySample | None = None
        self.stderr_tail = b""
        self.pid: int | None = None
        self._process: trio.Process | None = None
        self._changed = trio.Event()
        self._poking = trio.Lock()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the program and collect its samples until cancelled (then stop it)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.api_key is not None:
            env[API_KEY_ENV] = self.api_key
        process = await trio.lowlevel.open_process(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._process = process
        self.pid = process.pid
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_stderr, process)
                await self._read_samples(process)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._stop(process)

    async def _stop(self, process: trio.Process) -> None:
        if process.stdin is not None:
            await process.stdin.aclose()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()

    async def _read_samples(self, process: trio.Process) -> None:
        assert process.stdout is not None
        buffer = b""
        while True:
            data = await process.stdout.receive_some(65536)
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self._take(line)
            self._changed.set()
            self._changed = trio.Event()
        self._changed.set()

    async def _read_stderr(self, process: trio.Process) -> None:
        assert process.stderr is not None
        while data := await process.stderr.receive_some(65536):
            self.stderr_tail = (self.stderr_tail + data)[-_STDERR_TAIL:]

    def _take(self, line: bytes) -> None:
        try:
            raw = json.loads(line)
            sample = LatencySample(
                str(raw["kind"]), float(raw["t"]), float(raw["elapsed"]), str(raw["outcome"])
            )
        except (ValueError, KeyError, TypeError):
            return
        if sample.kind == "ready":
            self.ready = sample
        elif len(self.samples) < _MAX_SAMPLES:
            self.samples.append(sample)

    async def poke(self) -> None:
        """Ask for a request now (a load starts)."""
        process = self._process
        if process is None or process.stdin is None or self.exited:
            return
        if self._poking.locked():
            return  # a poke on its way asks for the same request
        async with self._poking:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await process.stdin.send_all(b"\n")

    @property
    def exited(self) -> bool:
        """Whether the program has ended (it should not before it is stopped)."""
        return self._process is not None and self._process.returncode is not None

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the monitor's first connection attempt; whether it connected."""
        with trio.move_on_after(timeout):
            while self.ready is None and not self.exited:
                await self._wait_change()
        return self.ready is not None and self.ready.outcome == "ok"

    async def _wait_change(self) -> None:
        with trio.move_on_after(0.5):  # also notices the program's exit
            await self._changed.wait()

    async def wait_past(self, t: float) -> None:
        """Wait until the monitor has finished a request it sent after ``t`` (so that every
        request sent before ``t`` is finished and recorded), at most the monitor's timeout
        plus its next handshake."""
        limit = time.monotonic() + 2 * self.timeout + 1.0
        while time.monotonic() < limit and not self.exited:
            if any(s.t >= t and s.kind == "created" for s in reversed(self.samples[-50:])):
                return
            await self._wait_change()

    def window(self, t0: float, t1: float, kind: str = "created") -> list[LatencySample]:
        """The samples of ``kind`` whose time in flight overlaps ``t0``..``t1``: a request
        sent before a load that is only answered during it counts for the load."""
        return [s for s in self.samples if s.kind == kind and s.t <= t1 and s.end >= t0]


if __name__ == "__main__":
    raise SystemExit(main())
