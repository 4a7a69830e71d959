"""The HTTP baseline of the benchmark: WebSocket mode against HTTP on the same tool loop.

OpenAI reports agent loops with many tool calls up to about 40 % faster over WebSocket than
over HTTP, without saying which HTTP (spec decision D26). This measures four ways to run the
same N-turn tool loop (the fixture of :mod:`conformance.bench.fixture`) against one reference
server (the default asyncio driver, which serves both transports on one port), in one run,
interleaved, with the cost model off and on:

* ``ws`` (a): one WebSocket, each turn ``previous_response_id`` plus the new items, continued
  from the connection cache (``store: false``, as Codex and OpenAI's demo run it);
* ``http_chain`` (b): one keep-alive HTTP connection, each turn ``previous_response_id`` plus
  the new items; over HTTP only a stored response can be continued (spec 13.2), so
  ``store: true`` and every turn is hydrated from storage;
* ``http_resend`` (c): one keep-alive HTTP connection, each turn the whole history
  (``store: false``);
* ``http_new`` (d): a new TCP connection per turn, the whole history (``store: false``).

Every turn resends ``instructions`` and ``tools`` (they are not carried over, RWS-CACHE-14), and
every request streams (``stream: true``). Per loop: wall time (the first request sent to the
last terminal event received, connections opened inside it), client bytes sent and received on
the wire (HTTP heads, chunked and SSE framing, WebSocket frame headers and the upgrade; no
TCP/IP), the server's CPU time, and time to first token (a request sent to its first
``*.delta`` event).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

from conformance.bench import fixture
from conformance.bench.client import BenchError, Connection
from conformance.bench.servers import CostModel, Endpoint, cpu_seconds, reference_server
from conformance.bench.stats import median
from conformance.checker.sse import SseDecoder

__all__ = ["HTTP_MODES", "measure_http_baseline", "render_http_baseline"]

#: The four ways to run the loop, in the issue's order (a) to (d).
HTTP_MODES: tuple[str, ...] = ("ws", "http_chain", "http_resend", "http_new")
_LABELS = {
    "ws": "(a) WebSocket, continuation from the connection cache",
    "http_chain": "(b) HTTP keep-alive, previous_response_id (stored, hydrated)",
    "http_resend": "(c) HTTP keep-alive, full history resent",
    "http_new": "(d) HTTP, new connection per turn, full history resent",
}
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_READ = 64 * 1024

Log = Callable[[str], None]


@dataclass(slots=True)
class _Turn:
    """One request and its run, as the client saw them."""

    sent: float
    first_token: float
    done: float
    response_id: str
    output: list[dict[str, Any]]
    c2s: int  # bytes on the wire
    s2c: int


@dataclass(slots=True)
class _Loop:
    wall_s: float
    cpu_s: float
    c2s: int
    s2c: int
    ttft_s: list[float]


def _server_frame(size: int) -> int:
    """An unmasked (server-to-client) WebSocket frame's header size (RFC 6455 5.2)."""
    return 2 + (0 if size < 126 else 2 if size < 65536 else 8)


def _request(mode: str, previous: str | None, items: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": fixture.MODEL,
        "instructions": fixture.INSTRUCTIONS,
        "tools": fixture.TOOLS,
        "store": mode == "http_chain",
        "input": items,
    }
    if previous is not None and mode in ("ws", "http_chain"):
        body["previous_response_id"] = previous
    if mode != "ws":
        body["stream"] = True
    return body


class _Run:
    """Reads one run's events, whatever carried them."""

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.first_token = 0.0
        self.output: list[dict[str, Any]] = []
        self.terminal: dict[str, Any] | None = None

    def event(self, text: str) -> None:
        data = json.loads(text)
        kind = str(data.get("type"))
        if not self.first_token and kind.endswith(".delta"):
            self.first_token = time.perf_counter()
        if kind == "response.output_item.done":
            self.output.append(data["item"])
        elif kind == "error":
            raise BenchError(f"the server answered an error: {text[:300]}")
        elif kind in _TERMINAL:
            self.terminal = data["response"]

    def turn(self, c2s: int, s2c: int) -> _Turn:
        if self.terminal is None:
            raise BenchError("the run ended without its terminal event")
        done = time.perf_counter()
        return _Turn(
            self.sent, self.first_token or done, done, self.terminal["id"], self.output, c2s, s2c
        )


async def _ws_turn(conn: Connection, body: dict[str, Any]) -> _Turn:
    wire_before = conn.count.wire
    sent = await conn.send_event({"type": "response.create", **body})
    run = _Run(sent)
    s2c = 0
    while run.terminal is None:
        text = await conn.recv_text()
        size = len(text.encode())
        s2c += size + _server_frame(size)
        run.event(text)
    return run.turn(conn.count.wire - wire_before, s2c)


class _HttpClient:
    """A keep-alive HTTP/1.1 client (h11 over asyncio streams) that counts its bytes."""

    def __init__(self, url: str, api_key: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.target = parts.path
        self.auth = f"Bearer {api_key}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.h11 = h11.Connection(h11.CLIENT)

    async def turn(self, body: dict[str, Any]) -> _Turn:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.h11 = h11.Connection(h11.CLIENT)
        assert self.reader is not None
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            ("host", f"{self.host}:{self.port}"),
            ("authorization", self.auth),
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
        ]
        out = self.h11.send(h11.Request(method="POST", target=self.target, headers=headers))
        out = (out or b"") + (self.h11.send(h11.Data(data=data)) or b"")
        out += self.h11.send(h11.EndOfMessage()) or b""
        sent = time.perf_counter()
        self.writer.write(out)
        run = _Run(sent)
        decoder = SseDecoder()
        s2c = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                chunk = await self.reader.read(_READ)
                s2c += len(chunk)
                self.h11.receive_data(chunk)
                continue
            if isinstance(event, h11.Response) and event.status_code != 200:
                raise BenchError(f"the server answered {event.status_code}")
            if isinstance(event, h11.Data):
                for sse in decoder.feed(event.data):
                    run.event(sse.data)
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            await self.close()
        return run.turn(len(out), s2c)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
        self.reader = self.writer = None


async def _loop(endpoint: Endpoint, mode: str, turns: int) -> _Loop:
    """One N-turn tool loop in ``mode``."""
    calls = turns - 1
    history: list[dict[str, Any]] = [fixture.first_user_message(calls)]
    new_items: list[dict[str, Any]] = list(history)
    previous: str | None = None
    cpu_before = cpu_seconds(endpoint.pid)
    http_url = "http" + endpoint.url.removeprefix("ws")
    client = _HttpClient(http_url, endpoint.api_key)
    ws: Connection | None = None
    upgrade = 0
    done: list[_Turn] = []
    start = time.perf_counter()
    try:
        for turn in range(1, turns + 1):
            items = history if mode in ("http_resend", "http_new") else new_items
            body = _request(mode, previous, items)
            if mode == "ws":
                if ws is None:
                    ws = await Connection.open(endpoint.url, endpoint.api_key)
                    upgrade = ws.count.wire
                result = await _ws_turn(ws, body)
            else:
                result = await client.turn(body)
                if mode == "http_new":
                    await client.close()
            done.append(result)
            if turn == turns:
                break
            call = next((i for i in result.output if i.get("type") == "function_call"), None)
            if call is None:
                raise BenchError(f"turn {turn} ended without a function_call")
            output = fixture.tool_output(turn, str(call["call_id"]))
            history += [*result.output, output]
            new_items = [output]
            previous = result.response_id
        wall = done[-1].done - start
    finally:
        if ws is not None:
            await ws.close()
        await client.close()
    if mode == "ws" and ws is not None and ws.ws.response is not None:
        # The upgrade's answer, as the HTTP modes count their answers' heads.
        done[0].s2c += len(ws.ws.response.serialize())
    texts = [p.get("text") for i in done[-1].output for p in i.get("content") or []]
    if f"loop done after {calls} calls" not in texts:
        raise BenchError(f"the tool loop did not finish: {texts!r}")
    return _Loop(
        wall_s=wall,
        cpu_s=cpu_seconds(endpoint.pid) - cpu_before,
        c2s=upgrade + sum(t.c2s for t in done),
        s2c=sum(t.s2c for t in done),
        ttft_s=[t.first_token - t.sent for t in done],
    )


def _summary(loops: Sequence[_Loop]) -> dict[str, Any]:
    ttft = [value * 1e3 for loop in loops for value in loop.ttft_s]
    return {
        "reps": len(loops),
        "wall_ms_per_loop": median([loop.wall_s * 1e3 for loop in loops]),
        "server_cpu_ms_per_loop": median([loop.cpu_s * 1e3 for loop in loops]),
        "c2s_bytes_per_loop": median([loop.c2s for loop in loops]),
        "s2c_bytes_per_loop": median([loop.s2c for loop in loops]),
        "ttft_ms_median": median(ttft),
        "ttft_ms_last_turn": median([loop.ttft_s[-1] * 1e3 for loop in loops]),
    }


def _savings(modes: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """How much less (a) takes than each HTTP mode: 1 - a/x, as the 40 % claim is phrased."""
    base = modes["ws"]
    out: dict[str, dict[str, float]] = {}
    for mode in HTTP_MODES[1:]:
        other = modes[mode]
        out[mode] = {
            name: round(1 - base[name] / other[name], 3) if other[name] else 0.0
            for name in ("wall_ms_per_loop", "server_cpu_ms_per_loop", "c2s_bytes_per_loop")
        }
    return out


async def measure_http_baseline(
    turns: int, reps: int, cost: CostModel, log: Log, io: str = "asyncio"
) -> dict[str, Any]:
    """Every mode ``reps`` times, interleaved, cost model off then on (see the docstring)."""
    out: dict[str, Any] = {"driver": io, "turns": turns, "reps": reps}
    for name, model in (("cost_off", CostModel()), ("cost_on", cost)):
        with reference_server(io, model) as endpoint:
            for mode in HTTP_MODES:
                await _loop(endpoint, mode, 3)  # warm-up: imports, caches, first connections
            loops: dict[str, list[_Loop]] = {mode: [] for mode in HTTP_MODES}
            for rep in range(reps):
                log(f"  http baseline {name}: rep {rep + 1}/{reps}")
                for mode in HTTP_MODES:
                    loops[mode].append(await _loop(endpoint, mode, turns))
        modes = {mode: _summary(found) for mode, found in loops.items()}
        out[name] = {"modes": modes, "ws_saves": _savings(modes)}
    out["cost"] = {
        "prefill_us_per_token": cost.prefill_us_per_token,
        "decode_us_per_token": cost.decode_us_per_token,
    }
    return out


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def render_http_baseline(raw: dict[str, Any]) -> list[str]:
    """The Markdown table of the HTTP baseline, cost model off and on."""
    lines = [
        f"Driver {raw['driver']}, {raw['turns']} turns, median of {raw['reps']} loops per mode "
        f"(modes interleaved); cost model on: {raw['cost']['prefill_us_per_token']:g} µs per "
        f"uncached input token, {raw['cost']['decode_us_per_token']:g} µs per output token.",
        "",
        "| Cost model | Mode | Wall per loop (ms) | Server CPU per loop (ms) | Client sent "
        "(KB) | Client received (KB) | TTFT median (ms) | TTFT turn N (ms) | (a) saves: wall |"
        " CPU | bytes sent |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("cost_off", "cost_on"):
        block = raw[name]
        for mode in HTTP_MODES:
            m = block["modes"][mode]
            saves = block["ws_saves"].get(mode)
            tail = (
                " | ".join(
                    _pct(saves[k])
                    for k in ("wall_ms_per_loop", "server_cpu_ms_per_loop", "c2s_bytes_per_loop")
                )
                if saves
                else "- | - | -"
            )
            lines.append(
                f"| {name.replace('_', ' ')} | {_LABELS[mode]} | {m['wall_ms_per_loop']:.1f} | "
                f"{m['server_cpu_ms_per_loop']:.1f} | {m['c2s_bytes_per_loop'] / 1000:.1f} | "
                f"{m['s2c_bytes_per_loop'] / 1000:.1f} | {m['ttft_ms_median']:.2f} | "
                f"{m['ttft_ms_last_turn']:.2f} | {tail} |"
            )
    return lines


def main() -> None:  # pragma: no cover - a command-line entry for a run of this part alone
    """``python -m conformance.bench.http_loop [REPS]``: print the raw figures as JSON."""
    import sys

    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    raw = asyncio.run(
        measure_http_baseline(
            20, reps, CostModel(2.0, 20.0), lambda line: print(line, file=sys.stderr)
        )
    )
    print(json.dumps(raw, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
