"""The checker: feed it transcript records, then ask for the report.

Driver contract (sans-I/O, synchronous, never raises on input)::

    checker = Checker(CheckerConfig(profiles={"core", "multiplex"}))
    for record in read_jsonl(path):
        checker.feed(record)
    report = checker.finish()

``feed`` accepts a :class:`~conformance.transcript.Record`, a record dict, or a transcript line.
Whatever it is given, it reports problems as findings; an exception inside the checker
itself is caught and reported as a transcript-level finding naming the record, so that one
bad record cannot hide the rest of a recording.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Protocol

from conformance.checker.cache import Knowledge
from conformance.checker.connection import Connection
from conformance.checker.findings import Recorder, Report
from conformance.checker.ordering import short
from conformance.checker.rules import Rules, load_rules
from conformance.harness.config import DEFAULT_PARAMETERS
from conformance.requirements import Requirement, load_requirements
from conformance.transcript import Record, parse_line, parse_record
from conformance.wording import value_text

__all__ = ["PROFILES", "ROLES", "Checker", "CheckerConfig", "EventValidator"]

PROFILES: tuple[str, ...] = ("core", "multiplex", "steering", "conformance-model")
ROLES: tuple[str, ...] = ("server", "client")
_PER_MESSAGE = ("RWS-TRANS-5", "RWS-EVENT-2", "RWS-EVENT-1")


class EventValidator(Protocol):
    """What the checker needs of :mod:`conformance.schemas` (a ``SchemaSet`` fits)."""

    def is_valid(self, event: object, *, direction: Any = None) -> bool:
        """Fast yes/no."""

    def errors(self, event: object, *, direction: Any = None) -> list[Any]:
        """Readable reasons, best first (each printable)."""

    def server_event_types(self) -> frozenset[str]:
        """The type of every server event."""


@dataclass(frozen=True)
class CheckerConfig:
    """What the server under test declares, and which roles are judged."""

    profiles: frozenset[str] = frozenset({"core"})
    parameters: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    roles: frozenset[str] = frozenset(ROLES)

    @classmethod
    def make(
        cls,
        profiles: Iterable[str] = ("core",),
        roles: Iterable[str] = ROLES,
        **parameters: str,
    ) -> CheckerConfig:
        """A config with parameters given as keywords (``busy_lane="reject"``)."""
        merged = dict(DEFAULT_PARAMETERS)
        merged.update({k.replace("_", "-"): v for k, v in parameters.items()})
        return cls(frozenset(profiles), merged, frozenset(roles))


def _default_validator() -> EventValidator:
    from conformance.schemas import default_schema_set

    return default_schema_set()


class Checker:
    """Checks a transcript against the requirements, from the rule tables."""

    def __init__(
        self,
        config: CheckerConfig | None = None,
        *,
        validator: EventValidator | None = None,
        rules: Rules | None = None,
        requirements: Mapping[str, Requirement] | None = None,
    ) -> None:
        self.config = config or CheckerConfig()
        self.rules = rules or load_rules()
        self.validator = validator or _default_validator()
        self.server_types = self.validator.server_event_types()
        reqs = requirements if requirements is not None else _default_requirements()
        self.recorder = Recorder(reqs, self.config.profiles, self.config.roles)
        self.knowledge = Knowledge()
        # The event types the response machine accepts: the steering events part of a run.
        response = self.rules.ordering.machines[
            self.rules.ordering.scopes["response"].machines["*"]
        ]
        self.run_tokens = frozenset(token for _, token in response.table)
        self.connections: dict[str, Connection] = {}
        self.count = 0

    # --- driver ----------------------------------------------------------------------------

    def feed(self, record: Record | Mapping[str, Any] | str | bytes) -> None:
        """Check one transcript record; never raises."""
        index = self.count
        self.count += 1
        try:
            if isinstance(record, str | bytes):
                record = parse_line(record, index)
            elif not isinstance(record, Record):
                record = parse_record(record, index)
            self._feed(record)
        except Exception as exc:  # the checker must report, never raise
            self.recorder.transcript_problem(
                f"checker error on record {index}: {type(exc).__name__}: {exc}",
                getattr(record, "conn", None) if isinstance(record, Record) else None,
                (index,),
            )

    def feed_all(self, records: Iterable[Record | Mapping[str, Any] | str | bytes]) -> Report:
        """Feed every record and return the report."""
        for record in records:
            self.feed(record)
        return self.finish()

    def finish(self) -> Report:
        """The report on everything fed so far."""
        for connection in self.connections.values():
            if connection.closed:
                # Pings still owed a pong when the transcript ends after a close (a recorder
                # that writes one close record, after the closing handshake).
                connection.unanswered(None, None)
        return self.recorder.build(self.count)

    # --- dispatch --------------------------------------------------------------------------

    def _feed(self, record: Record) -> None:
        if record.kind == "malformed":
            self.recorder.transcript_problem(
                f"record {record.index}: {record.problem}", record.conn or None, (record.index,)
            )
            return
        if record.kind == "rejected":
            return
        connection = self.connections.get(record.conn)
        if record.kind == "open" or connection is None:
            if connection is not None and not connection.closed:
                self.recorder.transcript_problem(
                    f"record {record.index}: connection {record.conn!r} opened twice",
                    record.conn,
                    (record.index,),
                )
            connection = Connection(self, record.conn, _principal(record), record.ts)
            self.connections[record.conn] = connection
            if record.kind == "open":
                return
        if connection.closed:
            # RFC 6455 section 5.5.1: an endpoint sends nothing after its own close frame, but
            # may send until it receives the other's: what the other side sends (in flight, or
            # its answering close) is checked as usual.
            closed_by = connection.closed_by
            side = record.dir
            if side is None or side in closed_by or len(closed_by) == 2:
                what = _after_close(side, closed_by)
                # One problem per connection and kind, not one per late record.
                if what not in connection.late:
                    connection.late.add(what)
                    self.recorder.transcript_problem(
                        f"record {record.index}: {what} on connection {record.conn!r}",
                        record.conn,
                        (record.index,),
                    )
                return
            if record.kind == "close":
                closed_by.add(side)
                connection.unanswered(side, record.index)
                return
        if record.kind == "close":
            connection.close(record)
        elif record.kind in ("ping", "pong"):
            connection.control(record)
        elif record.dir == "c2s":
            if record.kind == "binary":
                connection.client_binary(record)
            else:
                connection.client_text(record)
        elif record.kind == "binary":
            # RWS-TRANS-5: the server sends no binary messages.
            self.recorder.exercise1("RWS-TRANS-5")
            self.recorder.report(
                ("RWS-TRANS-5",),
                "expected only text messages from the server / actual a binary message",
                record.conn,
                (record.index,),
            )
        else:
            self._server_text(connection, record)

    def _server_text(self, connection: Connection, record: Record) -> None:
        recorder = self.recorder
        event = _loads(record.text or "")
        if not isinstance(event, dict):
            recorder.exercise1("RWS-TRANS-5")
            recorder.report(
                ("RWS-TRANS-5",),
                f"expected one JSON object per server message / actual {short(record.text, 60)}",
                record.conn,
                (record.index,),
            )
            return
        etype = event.get("type")
        # RWS-TRANS-5 (a JSON object per message), RWS-EVENT-2 (a defined type or a vendor
        # type) and RWS-EVENT-1 (its schema) are evaluated on every server message.
        if not isinstance(etype, str) or etype not in self.server_types:
            recorder.exercise(_PER_MESSAGE[:2])
            if not _vendor(etype):
                recorder.report(
                    ("RWS-EVENT-2",),
                    f"expected a server event type of the specification or a vendor type / "
                    f"actual {short(etype)}",
                    record.conn,
                    (record.index,),
                )
            return
        recorder.exercise(_PER_MESSAGE)
        # RWS-EVENT-1: the event validates against its schema (fast path first).
        if not self.validator.is_valid(event, direction="server"):
            problems = self.validator.errors(event, direction="server")
            first = str(problems[0]) if problems else "does not validate"
            recorder.report(
                ("RWS-EVENT-1",),
                f"expected {_named(event, etype)} to validate against its schema "
                f"(events/server/{etype}.json) / actual {first}",
                record.conn,
                (record.index,),
            )
        connection.server_event(event, etype, record.index, record.ts)


def _json_loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _fast_json() -> Callable[[str], Any]:
    # The JSON parser is a quarter of the per-event cost: use orjson when it is installed
    # (an optional speed-up; the checker's results do not depend on it).
    try:
        orjson = importlib.import_module("orjson")
    except ImportError:  # pragma: no cover - depends on the environment
        return _json_loads
    fast: Callable[[str], Any] = orjson.loads

    def loads(text: str) -> Any:  # pragma: no cover - depends on the environment
        try:
            return fast(text)
        except ValueError:
            # orjson is stricter than the standard library (integers beyond 64 bits, NaN):
            # let the standard parser decide what the message is.
            return _json_loads(text)

    return loads


_loads = _fast_json()


@cache
def _default_requirements() -> Mapping[str, Requirement]:
    # Read once per process: a suite builds one checker per scenario.
    return MappingProxyType(load_requirements())


def _after_close(side: str | None, closed_by: set[str]) -> str:
    if side is None or len(closed_by) == 2:
        return "traffic after the closing handshake"
    if side == "s2c":
        return "server traffic after the server's close frame"
    return "client traffic after the client's close frame"


def _vendor(etype: Any) -> bool:
    if not isinstance(etype, str) or "." not in etype:
        return False
    prefix = etype.split(".", 1)[0]
    return bool(prefix) and prefix not in ("response", "error") and not etype.endswith(".")


def _principal(record: Record) -> str | None:
    if record.principal:
        return record.principal
    auth = record.headers.get("authorization")
    if auth:
        # Only a fingerprint is kept: the checker compares credentials, never shows them.
        return "sha256:" + hashlib.sha256(auth.encode("utf-8")).hexdigest()[:16]
    return None


def _named(event: Mapping[str, Any], etype: str) -> str:
    """``the `response.created` event``, or for an error ``the `error` event `invalid_type```
    (its code, when it has one, tells apart the error events of one check)."""
    body = event.get("error")
    code = body.get("code") if isinstance(body, Mapping) else event.get("code")
    named = f" {value_text(code)}" if etype == "error" and isinstance(code, str) else ""
    return f"the `{etype}` event{named}"
