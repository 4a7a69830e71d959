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
from functools import cache, partial
from types import MappingProxyType
from typing import Any, Protocol

from conformance.checker.cache import Knowledge
from conformance.checker.connection import Connection
from conformance.checker.findings import Recorder, Report
from conformance.checker.ordering import short
from conformance.checker.rules import Rules, load_rules
from conformance.checker.sse import HttpFraming
from conformance.harness.config import DEFAULT_PARAMETERS
from conformance.requirements import Requirement, load_requirements
from conformance.transcript import Record, parse_line, parse_record
from conformance.wording import not_utf8, value_text

__all__ = ["PROFILES", "ROLES", "Checker", "CheckerConfig", "EventValidator"]

PROFILES: tuple[str, ...] = ("core", "multiplex", "steering", "conformance-model", "http")
ROLES: tuple[str, ...] = ("server", "client")
_PER_MESSAGE = ("RWS-TRANS-5", "RWS-EVENT-2", "RWS-EVENT-1")
_PER_UNKNOWN = _PER_MESSAGE[:2]
# The recorder folds what the hot path appended into its counts every this many records
# (a power of two minus one: a mask), so that the backlog stays bounded on a long stream.
_COMPACT_MASK = 4095


class EventValidator(Protocol):
    """What the checker needs of :mod:`conformance.schemas` (a ``SchemaSet`` fits)."""

    def is_valid(self, event: object, *, direction: Any = None) -> bool:
        """Fast yes/no."""

    def errors(self, event: object, *, direction: Any = None) -> list[Any]:
        """Readable reasons, best first (each printable)."""

    def server_event_types(self) -> frozenset[str]:
        """The type of every server event."""


# A validator may also offer ``fast_checks(direction)``: a mapping from each event type of
# that direction to a compiled yes/no check of it (a ``SchemaSet`` does), which spares the
# hot path the dispatch on ``type`` that ``is_valid`` repeats.
FastChecks = Mapping[str, Callable[[Any], bool]]


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
        self._checks = _fast_checks(self.validator, self.server_types)
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
        self._http: HttpFraming | None = None  # made for the first HTTP record

    # --- driver ----------------------------------------------------------------------------

    def feed(self, record: Record | Mapping[str, Any] | str | bytes) -> None:
        """Check one transcript record; never raises."""
        index = self.count
        self.count = index + 1
        if not index & _COMPACT_MASK:
            self.recorder.compact()
        try:
            if record.__class__ is dict:
                # A server message as a record dict (a harness's transcript): checked without
                # building a Record, when parse_record would find nothing wrong with it.
                assert isinstance(record, dict)
                # An HTTP answer's record (spec section 13) goes through the HTTP layer first.
                if (
                    record.get("kind") == "text"
                    and record.get("dir") == "s2c"
                    and "http" not in record
                    and "utf8" not in record
                ):
                    conn = record.get("conn")
                    text = record.get("text")
                    if conn.__class__ is str and conn and text.__class__ is str:
                        connection = self.connections.get(conn)
                        if connection is not None and not connection.closed:
                            ts = record.get("ts")
                            if ts.__class__ is not float:
                                ts = float(ts) if ts.__class__ is int else None
                            self._server_text(connection, text, conn, index, ts)
                            return
            if record.__class__ is not Record:
                if isinstance(record, str | bytes):
                    record = parse_line(record, index)
                elif not isinstance(record, Record):
                    record = parse_record(record, index)
            assert isinstance(record, Record)
            # The common case first: a server message on an open connection.
            if (
                record.kind == "text"
                and record.dir == "s2c"
                and record.utf8
                and "http" not in record.extra
            ):
                connection = self.connections.get(record.conn)
                if connection is not None and not connection.closed:
                    self._server_text(
                        connection, record.text or "", record.conn, record.index, record.ts
                    )
                    return
            self._feed(record)
        except Exception as exc:  # the checker must report, never raise
            self._crashed(exc, index, record)

    def feed_text(self, conn: str, direction: str, text: str, ts: float | None = None) -> None:
        """Check one text message, as :meth:`feed` checks its record; never raises.

        The same judgement without building a :class:`Record` for a server message on an open
        connection (a live recorder's hot path); the record's index is the count so far.
        """
        index = self.count
        if direction == "s2c":
            connection = self.connections.get(conn)
            if connection is not None and not connection.closed:
                self.count = index + 1
                if not index & _COMPACT_MASK:
                    self.recorder.compact()
                try:
                    self._server_text(connection, text, conn, index, ts)
                except Exception as exc:  # the checker must report, never raise
                    self._crashed(exc, index, conn)
                return
        self.feed(Record(index=index, kind="text", conn=conn, ts=ts, dir=direction, text=text))

    def _crashed(self, exc: Exception, index: int, where: object) -> None:
        conn = where.conn if isinstance(where, Record) else where
        self.recorder.transcript_problem(
            f"checker error on record {index}: {type(exc).__name__}: {exc}",
            conn if isinstance(conn, str) else None,
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

    def end(self, conn: str) -> None:
        """Connection ``conn`` will have no more records (its TCP connection is gone): judge
        what its end leaves owed, as :meth:`finish` does, and let go of its state (a live
        recorder's session may see many connections). What other connections may need of it
        (its responses, for the cache rules) is kept."""
        connection = self.connections.pop(conn, None)
        if connection is None or not connection.closed:
            return
        try:
            connection.unanswered(None, None)
        except Exception as exc:  # the checker must report, never raise
            self._crashed(exc, self.count, conn)

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
                if "http" in record.extra:
                    self._http_layer().opened(record)
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
        elif "http" in record.extra:
            # Spec section 13: the HTTP framing, then the event it carries, checked as usual.
            text = self._http_layer().server_record(record)
            if text is not None:
                self._server_text(connection, text, record.conn, record.index, record.ts)
        elif not record.utf8:
            # RWS-TRANS-5: an event is JSON text, which is UTF-8 (spec section 2.3); a message
            # that is not is no event, and is judged no further.
            self.recorder.exercise1("RWS-TRANS-5")
            self.recorder.report(
                ("RWS-TRANS-5",),
                f"expected one JSON object in UTF-8 per server message / actual "
                f"{not_utf8(record.data)}",
                record.conn,
                (record.index,),
            )
        else:
            self._server_text(connection, record.text or "", record.conn, record.index, record.ts)

    def _http_layer(self) -> HttpFraming:
        if self._http is None:
            self._http = HttpFraming(self.recorder, self.rules.errors.get)
        return self._http

    def _server_text(
        self, connection: Connection, text: str, conn: str, index: int, ts: float | None
    ) -> None:
        recorder = self.recorder
        try:
            event = _fast_loads(text)
        except ValueError:
            # orjson is stricter than the standard library (integers beyond 64 bits, NaN):
            # the standard parser decides what the message is.
            event = _json_loads(text)
        if event.__class__ is not dict:
            recorder.exercise1("RWS-TRANS-5")
            recorder.report(
                ("RWS-TRANS-5",),
                f"expected one JSON object per server message / actual {short(text, 60)}",
                conn,
                (index,),
            )
            return
        etype: Any = event.get("type")
        # RWS-TRANS-5 (a JSON object per message), RWS-EVENT-2 (a defined type or a vendor
        # type) and RWS-EVENT-1 (its schema) are evaluated on every server message.
        try:
            check = self._checks[etype]
        except (KeyError, TypeError):  # not a server event type (or not even hashable)
            recorder.exercise(_PER_UNKNOWN)
            if not _vendor(etype):
                recorder.report(
                    ("RWS-EVENT-2",),
                    f"expected a server event type of the specification or a vendor type / "
                    f"actual {short(etype)}",
                    conn,
                    (index,),
                )
            return
        recorder.exercise(_PER_MESSAGE)
        # RWS-EVENT-1: the event validates against its schema (fast path first).
        if not check(event):
            problems = self.validator.errors(event, direction="server")
            first = str(problems[0]) if problems else "does not validate"
            recorder.report(
                ("RWS-EVENT-1",),
                f"expected {_named(event, etype)} to validate against its schema "
                f"(events/server/{etype}.json) / actual {first}",
                conn,
                (index,),
            )
        connection.server_event(event, etype, index, ts)


def _json_loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _fast_json() -> Callable[[str], Any]:
    # The JSON parser is a quarter of the per-event cost: use orjson when it is installed
    # (an optional speed-up; the checker's results do not depend on it). Both raise
    # ValueError on what they cannot read, which the caller hands to _json_loads.
    try:
        orjson = importlib.import_module("orjson")
    except ImportError:  # pragma: no cover - depends on the environment
        return _json_loads
    fast: Callable[[str], Any] = orjson.loads
    return fast


_fast_loads = _fast_json()


def _fast_checks(validator: EventValidator, types: frozenset[str]) -> FastChecks:
    """Per server event type, the yes/no check of its schema: the validator's compiled ones
    when it offers them, else its ``is_valid``."""
    offer = getattr(validator, "fast_checks", None)
    if offer is not None:
        checks: FastChecks = offer("server")
        return checks
    slow = partial(validator.is_valid, direction="server")
    return dict.fromkeys(types, slow)


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
