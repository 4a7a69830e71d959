"""A synchronous driver for the sans-I/O HTTP front (:mod:`reference_impl.http_routes`).

It plays the I/O layer without sockets: it feeds request bytes, performs every action - runs
stepped to their end, lookups answered from an in-memory :class:`ResponseStore` - and reads the
answers back with an h11 client, so a test sees what a client on the wire would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import h11

from reference_impl.actions import LoadStored, Persist, RunDone, StartRun, Wait
from reference_impl.faults import NO_FAULTS, Faults
from reference_impl.http_exchange import ExchangeSettings
from reference_impl.http_routes import (
    CloseTransport,
    HandOff,
    HttpConnection,
    HttpSettings,
    LoadResponse,
    SendBytes,
)
from reference_impl.limits import DEFAULT_LIMITS, NO_COST, CostModel, Limits
from reference_impl.store import ResponseStore
from tests.reference_impl.driver import counter_ids

__all__ = ["Answer", "HttpDriver", "parse_sse", "post", "request_bytes"]

KEY = "key-a"


def request_bytes(
    method: str,
    target: str,
    body: bytes = b"",
    *,
    api_key: str | None = KEY,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """One HTTP/1.1 request, written by an h11 client."""
    client = h11.Connection(h11.CLIENT)
    all_headers = [("host", "test")]
    if api_key is not None:
        all_headers.append(("authorization", f"Bearer {api_key}"))
    all_headers += list((headers or {}).items())
    if method != "GET" or body:
        all_headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
    data = client.send(h11.Request(method=method, target=target, headers=all_headers)) or b""
    if body:
        data += client.send(h11.Data(data=body)) or b""
    return data + (client.send(h11.EndOfMessage()) or b"")


def post(body: Mapping[str, Any], **kwargs: Any) -> bytes:
    """``POST /v1/responses`` with ``body`` as JSON."""
    return request_bytes("POST", "/v1/responses", json.dumps(body).encode(), **kwargs)


@dataclass
class Answer:
    """One HTTP answer as a client reads it."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def sse(self) -> list[tuple[str | None, str]]:
        return parse_sse(self.body)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The JSON objects of a streamed answer, in order."""
        return [json.loads(data) for _, data in self.sse]


def parse_sse(body: bytes) -> list[tuple[str | None, str]]:
    """The (event, data) of every server-sent event (one data line each, as the server sends)."""
    found: list[tuple[str | None, str]] = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            field_name, _, value = line.partition(": ")
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)
        found.append((name, "\n".join(data)))
    return found


@dataclass
class HttpDriver:
    """One connection of the front, driven to quiescence after every input."""

    faults: Faults = NO_FAULTS
    limits: Limits = DEFAULT_LIMITS
    cost: CostModel = NO_COST
    store: ResponseStore = field(default_factory=lambda: ResponseStore(None))
    api_keys: frozenset[str] = frozenset({KEY, "key-b"})
    ids: Any = None

    def __post_init__(self) -> None:
        self.now = 0.0
        settings = HttpSettings(
            api_keys=self.api_keys,
            exchange=ExchangeSettings(
                limits=self.limits,
                cost=self.cost,
                faults=self.faults,
                ids=self.ids or counter_ids(),
                wall_clock=lambda: 1_800_000_000.0,
            ),
        )
        self.front = HttpConnection(settings)
        self.sent = bytearray()
        self.handed_off: bytes | None = None
        self.closed = False
        self.waits: list[float] = []
        self._client = h11.Connection(h11.CLIENT)
        self._runs: list[int] = []

    def feed(self, data: bytes) -> None:
        """Bytes from the client; every action is performed until nothing moves."""
        self.front.receive_data(data, self.now)
        self._settle()

    def exchange(self, data: bytes) -> Answer:
        """Send one request and read its answer."""
        self.feed(data)
        answers = self.answers()
        assert len(answers) == 1, answers
        return answers[0]

    def answers(self) -> list[Answer]:
        """Every complete answer sent since the last call, as an h11 client reads them."""
        self._client.receive_data(bytes(self.sent))
        self.sent.clear()
        found: list[Answer] = []
        current: Answer | None = None
        while True:
            if self._client.our_state is h11.IDLE:
                # h11 reads an answer only to a request it sent: it "sends" the one answered.
                self._client.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
                self._client.send(h11.EndOfMessage())
            event = self._client.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.Response):
                headers = {k.decode(): v.decode() for k, v in event.headers}
                current = Answer(event.status_code, headers)
            elif isinstance(event, h11.Data) and current is not None:
                current.body += event.data
            elif isinstance(event, h11.EndOfMessage) and current is not None:
                found.append(current)
                current = None
                if self._client.our_state is h11.DONE and self._client.their_state is h11.DONE:
                    self._client.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                break
        return found

    def open_body(self) -> bytes:
        """What a streamed answer sent so far without ending its body."""
        data = bytes(self.sent)
        return data.partition(b"\r\n\r\n")[2]

    def _settle(self) -> None:
        while True:
            actions = self.front.actions()
            for action in actions:
                self._perform(action)
            if not actions and not self._runs:
                return
            for run_id in list(self._runs):
                self._step(run_id)

    def _perform(self, action: object) -> None:
        match action:
            case SendBytes(data):
                assert not self.closed
                self.sent += data
            case HandOff(data):
                self.handed_off = data
            case CloseTransport():
                self.closed = True
            case StartRun(run_id):
                self._runs.append(run_id)
            case LoadStored(ticket, response_id, api_key):
                record = self.store.load(response_id, api_key)
                self.front.stored_loaded(ticket, record, self.now)
            case LoadResponse(response_id, api_key):
                self.front.response_loaded(self.store.load(response_id, api_key), self.now)
            case _:
                raise AssertionError(f"unknown action {action!r}")

    def _step(self, run_id: int) -> None:
        step = self.front.step(run_id, self.now)
        match step:
            case Wait(seconds):
                self.waits.append(seconds)
                self.now += seconds
            case Persist(record, api_key):
                self.store.save(record, api_key)
            case RunDone():
                self._runs.remove(run_id)
