"""The proxy's I/O: accept clients, reach the upstream, relay bytes both ways (asyncio).

Thin glue over the sans-I/O parts, written as asyncio protocols: a protocol's callback forwards
each read as it returns, which is the cheapest way through Python for a relay (a hop costs
about what an echo does). The opening handshakes go through
:class:`~conformance.proxy.handshake.Handshake`; after them each side's bytes are written to
the other side unchanged, then told to the judge (:mod:`.tap`), which reads its copy: no
parsing, recording or checking ever holds a message up. A side's end of stream is passed on as
the other side's (a half close where the transport has one), so that each side sees the other
end the connection the way it did.

Everything is bounded: the client's request and the upstream's answer wait ``open_timeout``,
the rest of a connection ``close_timeout`` once a side ended its stream; a side is not read
while the other side's write buffer is full, nor while the judge is behind
(:meth:`ProxyServer.pause_reading`); past ``max_connections`` a new connection waits, unread,
for a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import Protocol

from conformance.proxy.addresses import Listen
from conformance.proxy.handshake import Handshake, HandshakeError
from conformance.proxy.session import Settings
from conformance.proxy.tap import Event

__all__ = ["ProxyServer", "Tap"]

_CLIENT = "c2s"
_UPSTREAM = "s2c"


class Tap(Protocol):
    """Where the I/O side tells what it did: a :class:`~conformance.proxy.tap.LocalTap`, or
    the worker's pipe (:class:`~conformance.proxy.worker.PipeTap`)."""

    def tell(self, event: Event) -> None:
        """Note one event, in order."""

    def flush(self) -> None:
        """Pass what was told on to the judge (the bytes have been forwarded)."""


class ProxyServer:
    """Serves every client connection to the listening address."""

    def __init__(
        self,
        settings: Settings,
        tap: Tap,
        tls: ssl.SSLContext | None = None,
        notice: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.settings = settings
        self.tap = tap
        self.tls = tls
        self.notice = notice
        self.url = ""
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._waiting: deque[_Connection] = deque()
        self._count = 0
        self._origin = 0.0
        self._clock: Callable[[], float] = lambda: 0.0  # the loop's clock, once started
        self._idle = asyncio.Event()
        self._idle.set()
        self._judge_behind = False

    def now(self) -> float:
        """Seconds since the proxy started, as events carry them."""
        return round(self._clock() - self._origin, 6)

    @staticmethod
    def bind(listen: Listen) -> socket.socket:
        """The listening socket (OSError when the address cannot be had)."""
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        return socket.create_server((listen.host, listen.port), family=family)

    async def start(self, listen: Listen | socket.socket) -> str:
        """Listen (on ``listen``, or on a socket :meth:`bind` made); return the URL clients
        connect to."""
        loop = asyncio.get_running_loop()
        self._origin = loop.time()
        self._clock = loop.time
        sock = listen if isinstance(listen, socket.socket) else self.bind(listen)
        self._server = await loop.create_server(
            lambda: _Side(self._connection(), _CLIENT), sock=sock
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"ws://{shown}:{port}"
        return self.url

    async def close(self) -> None:
        """Stop accepting, drop the connections still open, and wait for their ends."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort(None)
        await self.idle()
        if self._server is not None:
            await self._server.wait_closed()

    async def idle(self) -> None:
        """Return once no connection is being served (each told to its end)."""
        await self._idle.wait()

    def pause_reading(self) -> None:
        """The judge is behind: no connection is read until :meth:`resume_reading`."""
        self._judge_behind = True
        for connection in self._connections:
            connection.pause("judge")

    def resume_reading(self) -> None:
        """The judge caught up."""
        self._judge_behind = False
        for connection in self._connections:
            connection.resume("judge")

    # --- bookkeeping -------------------------------------------------------------------------

    def _connection(self) -> _Connection:
        self._count += 1
        connection = _Connection(self, self._count)
        self._connections.add(connection)
        self._idle.clear()
        if len(self._connections) > self.settings.max_connections:
            connection.pause("slot")
            self._waiting.append(connection)
        elif self._judge_behind:
            connection.pause("judge")
        return connection

    def _ended(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        with contextlib.suppress(ValueError):
            self._waiting.remove(connection)
        while self._waiting and len(self._connections) - len(self._waiting) < (
            self.settings.max_connections
        ):
            self._waiting.popleft().resume("slot")
        if not self._connections:
            self._idle.set()


class _Side(asyncio.Protocol):
    """One TCP connection of a proxied connection, the client's or the upstream's; named by
    the direction of what it sends."""

    def __init__(self, connection: _Connection, direction: str) -> None:
        self.connection = connection
        self.direction = direction
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # No Nagle: a message goes out when it is written, not when the peer's delayed ACK
        # comes back (asyncio sets this only on the sockets it makes itself).
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.made(self)

    def data_received(self, data: bytes) -> None:
        self.connection.received(self, data)

    def eof_received(self) -> bool:
        return self.connection.eof(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.lost(self)

    def pause_writing(self) -> None:
        # This side's write buffer is full: the other side is not read until it drains.
        self.connection.pause("full", _other(self.direction))

    def resume_writing(self) -> None:
        self.connection.resume("full", _other(self.direction))


def _other(direction: str) -> str:
    return _UPSTREAM if direction == _CLIENT else _CLIENT


class _Connection:
    """One client connection: its handshakes, then the relay of its bytes."""

    def __init__(self, proxy: ProxyServer, number: int) -> None:
        self.proxy = proxy
        self.number = number
        settings = proxy.settings
        self.handshake = Handshake(settings.upstream, compression=settings.compression)
        self.sides: dict[str, _Side] = {}
        self.phase = "request"  # request, connecting, relay, over
        self._paused: dict[str, set[str]] = {_CLIENT: set(), _UPSTREAM: set()}
        self._eof: set[str] = set()
        self._lost: set[str] = set()
        self._answer: asyncio.Future[None] | None = None
        self._dropped = False  # the proxy dropped it: what follows is no peer's doing
        self._info: dict[str, object] = {}
        self._relayed = False
        loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = loop.call_later(
            settings.open_timeout, self._too_slow
        )
        self._task: asyncio.Task[None] | None = None

    # --- the sides ---------------------------------------------------------------------------

    def made(self, side: _Side) -> None:
        self.sides[side.direction] = side
        if self._paused[side.direction] and side.transport is not None:
            side.transport.pause_reading()

    def pause(self, reason: str, direction: str | None = None) -> None:
        """Stop reading a side (both when ``direction`` is None) for ``reason``."""
        for name in (direction,) if direction else (_CLIENT, _UPSTREAM):
            reasons = self._paused[name]
            if not reasons:
                side = self.sides.get(name)
                if side is not None and side.transport is not None:
                    with contextlib.suppress(RuntimeError):
                        side.transport.pause_reading()
            reasons.add(reason)

    def resume(self, reason: str, direction: str | None = None) -> None:
        """Read a side again once no reason to pause it is left."""
        for name in (direction,) if direction else (_CLIENT, _UPSTREAM):
            reasons = self._paused[name]
            if reason not in reasons:
                continue
            reasons.discard(reason)
            side = self.sides.get(name)
            if not reasons and side is not None and side.transport is not None:
                with contextlib.suppress(RuntimeError):
                    side.transport.resume_reading()

    def received(self, side: _Side, data: bytes) -> None:
        if self.phase == "relay":
            # Forwarded first (nothing else stands between a read and its write), then told
            # to the judge, in the order read.
            transport = self.sides[_other(side.direction)].transport
            if transport is not None:
                transport.write(data)
            proxy = self.proxy
            tap = proxy.tap
            tap.tell(Event("data", self.number, proxy.now(), side.direction, data))
            tap.flush()
        elif side.direction == _CLIENT:
            if self.phase == "request":
                self._request(data)
            else:  # bytes behind the request, before the upstream answered: kept for it
                self.handshake.early[_CLIENT] += data
        elif self.handshake.response is None:
            try:
                self.handshake.from_upstream(data)
            except HandshakeError as exc:
                self._answered(exc)
                return
            if self.handshake.response is not None:
                self._answered(None)
        else:  # frames behind the upstream's 101, before the relay started
            self.handshake.early[_UPSTREAM] += data

    def eof(self, side: _Side) -> bool:
        if self.phase != "relay":
            if side.direction == _UPSTREAM:
                self.handshake.upstream_eof()
                self._answered(None)
            return False
        self._eof.add(side.direction)
        self.proxy.tap.tell(Event("eof", self.number, self.proxy.now(), side.direction))
        self.proxy.tap.flush()
        other = self.sides[_other(side.direction)]
        transport = other.transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()
        if len(self._eof) == 2:
            self._close_both()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            timeout = self.proxy.settings.close_timeout
            self._timer = loop.call_later(
                timeout,
                self.abort,
                f"one side ended its stream, the other not within {timeout:g} s",
            )
        # Keep this side open for the other side's last bytes (TLS has no half close).
        return side.transport is not None and side.transport.get_extra_info("sslcontext") is None

    def lost(self, side: _Side) -> None:
        self._lost.add(side.direction)
        if self.phase == "relay" and side.direction not in self._eof and not self._dropped:
            # A reset, or a TLS stream that ended: an end of stream as well.
            self._eof.add(side.direction)
            self.proxy.tap.tell(Event("eof", self.number, self.proxy.now(), side.direction))
            self.proxy.tap.flush()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)
        other = self.sides.get(_other(side.direction))
        if other is not None and other.transport is not None and not other.transport.is_closing():
            other.transport.close()  # after what is still buffered for it
        if all(name in self._lost for name in self.sides) and self._task is None:
            self._over()

    def abort(self, why: str | None) -> None:
        """Drop both sides now: the proxy stops (``why`` None), or a connection outlived its
        deadline (``why`` says so). Either is the proxy's doing, not a peer's: the judge is told
        no end of stream for it, only the end of the connection."""
        if why is not None:
            self.proxy.notice(f"c{self.number}: {why}: the proxy dropped the connection")
        self._dropped = True
        for side in self.sides.values():
            if side.transport is not None:
                side.transport.abort()
        if not self.sides:
            self._over()

    def _close_both(self) -> None:
        for side in self.sides.values():
            if side.transport is not None and not side.transport.is_closing():
                side.transport.close()

    def _over(self) -> None:
        if self.phase == "over":
            return
        if self._relayed:
            self.proxy.tap.tell(Event("end", self.number, self.proxy.now()))
            self.proxy.tap.flush()
        self.phase = "over"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.proxy._ended(self)

    def _too_slow(self) -> None:
        self._timer = None
        if self.phase == "request":
            self.abort(None)  # no request in time: nothing to forward or judge

    # --- the handshakes ----------------------------------------------------------------------

    def _request(self, data: bytes) -> None:
        handshake = self.handshake
        client = self.sides[_CLIENT]
        assert client.transport is not None
        try:
            request = handshake.from_client(data)
        except HandshakeError:
            client.transport.close()
            return
        if handshake.client_unreadable:
            client.transport.write(handshake.client_bytes())
            client.transport.close()
            return
        if request is None:
            return
        self.pause("handshake", _CLIENT)
        self._info = {
            "target": request.path,
            "headers": [list(item) for item in request.headers.raw_items()],
            "authorization": list(request.headers.get_all("Authorization")),
        }
        refusal = handshake.refusal()
        if refusal is not None:
            status = handshake.response.status_code if handshake.response else 400
            client.transport.write(refusal)
            client.transport.close()
            self._opened(status, f"the client's request is no WebSocket upgrade: {status}")
            return
        self.phase = "connecting"
        self._task = asyncio.get_running_loop().create_task(self._connect())

    def _answered(self, problem: Exception | None) -> None:
        if self._answer is not None and not self._answer.done():
            if problem is None:
                self._answer.set_result(None)
            else:
                self._answer.set_exception(problem)

    async def _connect(self) -> None:
        settings = self.proxy.settings
        upstream = settings.upstream
        handshake = self.handshake
        loop = asyncio.get_running_loop()
        try:
            try:
                async with asyncio.timeout(settings.open_timeout):
                    await loop.create_connection(
                        lambda: _Side(self, _UPSTREAM),
                        upstream.host,
                        upstream.port,
                        ssl=self.proxy.tls,
                        server_hostname=upstream.host if self.proxy.tls else None,
                    )
            except (OSError, TimeoutError) as exc:
                why = f"cannot reach the upstream {upstream}: {_reason(exc)}"
                self._refuse(handshake.bad_gateway(why), 502, why + " (the proxy answered 502)")
                return
            problem = await self._upstream_answer()
            if problem is not None:
                self._refuse(handshake.bad_gateway(problem), 502, f"{problem} (the proxy "
                             "answered 502)")  # fmt: skip
                return
            response = handshake.response
            assert response is not None
            answer = handshake.answer()
            if not handshake.open:
                self._refuse(
                    answer,
                    response.status_code,
                    f"the upstream refused the upgrade with HTTP {response.status_code} "
                    f"{response.reason_phrase} (passed on to the client)",
                )
                return
            self._start_relay(answer)
        finally:
            self._task = None
            if self._lost and all(name in self._lost for name in self.sides):
                self._over()

    async def _upstream_answer(self) -> str | None:
        """Send the upgrade and wait for the answer; why the upstream is unusable, or None."""
        settings = self.proxy.settings
        upstream = self.sides.get(_UPSTREAM)
        if upstream is None or upstream.transport is None:
            return f"the upstream {settings.upstream} closed the connection at once"
        self._answer = asyncio.get_running_loop().create_future()
        upstream.transport.write(self.handshake.upstream_request())
        try:
            async with asyncio.timeout(settings.open_timeout):
                await self._answer
        except TimeoutError:
            return (
                f"the upstream {settings.upstream} did not answer the upgrade within "
                f"{settings.open_timeout:g} s"
            )
        except HandshakeError as exc:
            return f"the upstream's answer is no HTTP response: {exc}"
        return self.handshake.upstream_problem

    def _refuse(self, answer: bytes, status: int, note: str) -> None:
        client = self.sides[_CLIENT]
        if client.transport is not None:
            client.transport.write(answer)
            client.transport.close()
        upstream = self.sides.get(_UPSTREAM)
        if upstream is not None and upstream.transport is not None:
            upstream.transport.close()
        self._opened(status, note)

    def _opened(self, status: int, note: str | None) -> None:
        extensions = self.handshake.negotiated if status == 101 else None
        info = {**self._info, "status": status, "note": note, "extensions": extensions}
        self.proxy.tap.tell(Event("open", self.number, self.proxy.now(), info=info))
        self.proxy.tap.flush()

    def _start_relay(self, answer: bytes) -> None:
        client = self.sides[_CLIENT]
        upstream = self.sides[_UPSTREAM]
        assert client.transport is not None
        assert upstream.transport is not None
        client.transport.write(answer)
        self._opened(101, None)
        self.phase = "relay"
        self._relayed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tap = self.proxy.tap
        for direction, sink in ((_CLIENT, upstream), (_UPSTREAM, client)):
            early = self.handshake.early[direction]
            if early:
                tap.tell(Event("data", self.number, self.proxy.now(), direction, early))
                assert sink.transport is not None
                sink.transport.write(early)
        tap.flush()
        self.resume("handshake", _CLIENT)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no connection within the open timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); see --upstream-ca"
    return str(exc) or type(exc).__name__
