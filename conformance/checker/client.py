"""Client obligations that need the whole transcript, judged from ``schemas/rules/client.json``.

The per-message client rules (``stream_id: null``, ``background: true``, a second create on a
busy lane, the same ``previous_response_id`` after ``previous_response_not_found``, frames)
live in :mod:`conformance.checker.connection` and ``requests.json``. This module adds what
only the conversation as a whole shows: whether continuations send only new input
(RWS-CLIENT-1), whether a retry after ``previous_response_not_found`` and a continuation on a
new connection carry the full context (RWS-CLIENT-2, RWS-CLIENT-5), which closes the client
reconnected after and with what backoff (RWS-ERR-7, RWS-ERR-9), ``stream`` fields
(RWS-CREATE-13), and whether accepted steering input is sent again (RWS-STEER-7, judged by
:mod:`conformance.checker.client_steering`).

A request's context is judged as its *effective context*: its input, preceded, when its
``previous_response_id`` names a response of the same connection, by that response's
effective context and output. A *warm-up* (``warm_up`` in ``client.json``: a request that asks
for no output, ``generate: false``) is not a turn: the context rules skip it and judge the
request that continues it, whose effective context holds the warm-up's input (a warm-up has no
output, RWS-CREATE-6). Steering input is part of it where the server places it: a steering
successor (a ``response.created`` that continues a target with accepted input and answers no
request, RWS-STEER-4) has the target's context and output, then that input; a request
continuing a target whose accepted input is still uncommitted has that input before its own
(spec 9.3).

Items are compared by their *essence* (:func:`essence`): what a model sees of them, without
ids and statuses, so that a client may resend an output item in any of the shapes the SDKs
produce. Sans-I/O and synchronous like the rest of the checker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson

from conformance._paths import schemas_dir
from conformance.checker.client_steering import SteerLedger
from conformance.checker.core import CheckerConfig
from conformance.checker.findings import Finding, Recorder, Report
from conformance.checker.model import normalize_input
from conformance.requirements import Requirement, load_requirements
from conformance.transcript import Record, parse_record

__all__ = [
    "ClientRules",
    "ClientTraffic",
    "CreateContext",
    "check_client_traffic",
    "create_contexts",
    "essence",
    "load_client_rules",
    "merge_reports",
]

_RUN_END = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _loads(text: str) -> Any:
    """A message's JSON: orjson (several times faster on the large events a run ends with),
    the standard parser for what orjson refuses (integers beyond 64 bits, NaN); both raise
    ValueError (or RecursionError) on what is no JSON."""
    try:
        return orjson.loads(text)
    except ValueError:
        return json.loads(text)


@dataclass(frozen=True)
class ClientRules:
    """``schemas/rules/client.json``, loaded."""

    create_fields: tuple[tuple[str, tuple[str, ...]], ...]
    reconnect_after: frozenset[int]
    reconnect_requirements: tuple[str, ...]
    no_reconnect_after: frozenset[int]
    no_reconnect_requirements: tuple[str, ...]
    growth: float
    tolerance: float
    min_seconds: float
    cap_seconds: float
    continue_close_codes: frozenset[int]
    continue_error_codes: frozenset[str]
    continue_requirements: tuple[str, ...]
    incremental_requirements: tuple[str, ...]
    retry_code: str
    retry_requirements: tuple[str, ...]
    # RWS-TRANS-19: the header and scheme of the upgrade's credential
    credential_header: str
    credential_scheme: str
    credential_requirements: tuple[str, ...]
    # A response.create whose members have these values is a warm-up (generate: false).
    warm_up: tuple[tuple[str, Any], ...] = ()

    def is_warm_up(self, body: Mapping[str, Any]) -> bool:
        """Whether a ``response.create`` body is a warm-up: it asks for no output."""
        return bool(self.warm_up) and all(
            name in body and type(body[name]) is type(value) and body[name] == value
            for name, value in self.warm_up
        )


@cache
def load_client_rules() -> ClientRules:
    """Read ``schemas/rules/client.json``."""
    data = json.loads((schemas_dir() / "rules" / "client.json").read_text(encoding="utf-8"))
    return ClientRules(
        create_fields=tuple(
            (str(r["field"]), tuple(r["requirements"])) for r in data["create_fields"]
        ),
        reconnect_after=frozenset(data["reconnect"]["after"]),
        reconnect_requirements=tuple(data["reconnect"]["requirements"]),
        no_reconnect_after=frozenset(data["no_reconnect"]["after"]),
        no_reconnect_requirements=tuple(data["no_reconnect"]["requirements"]),
        growth=float(data["backoff"]["growth"]),
        tolerance=float(data["backoff"]["tolerance_seconds"]),
        min_seconds=float(data["backoff"]["min_seconds"]),
        cap_seconds=float(data["backoff"]["cap_seconds"]),
        continue_close_codes=frozenset(data["continue_after"]["close_codes"]),
        continue_error_codes=frozenset(data["continue_after"]["error_codes"]),
        continue_requirements=tuple(data["continue_after"]["requirements"]),
        incremental_requirements=tuple(data["incremental"]["requirements"]),
        retry_code=str(data["retry_full_context"]["code"]),
        retry_requirements=tuple(data["retry_full_context"]["requirements"]),
        credential_header=str(data["upgrade_credential"]["header"]),
        credential_scheme=str(data["upgrade_credential"]["scheme"]),
        credential_requirements=tuple(data["upgrade_credential"]["requirements"]),
        warm_up=tuple(data["warm_up"]["request"].items()),
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return json.dumps(content, sort_keys=True)


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def essence(item: Any) -> tuple[str, ...]:
    """What a model sees of a context item, independent of ids, statuses and part shapes."""
    if not isinstance(item, Mapping):
        return ("?", json.dumps(item, sort_keys=True, default=str))
    kind = item.get("type") or ("message" if "role" in item else "?")
    if kind == "message":
        return ("message", str(item.get("role")), _text(item.get("content")))
    if kind == "function_call":
        return (
            "function_call",
            str(item.get("call_id")),
            str(item.get("name")),
            _arguments(item.get("arguments")),
        )
    if kind == "function_call_output":
        return ("function_call_output", str(item.get("call_id")), _text(item.get("output")))
    rest = {k: v for k, v in item.items() if k not in ("id", "status")}
    return (str(kind), json.dumps(rest, sort_keys=True, default=str))


def _essences(items: Iterable[Any]) -> list[tuple[str, ...]]:
    return [essence(i) for i in items]


@dataclass
class _Resp:
    """A response the transcript shows being created, with its context as the client built it."""

    id: str
    conn: str
    lane: str | None
    store: bool
    context: list[tuple[str, ...]] | None  # None: built on a response we never saw
    warm_up: bool = False
    output: list[tuple[str, ...]] = field(default_factory=list)
    status: str = "in_progress"

    def full(self) -> list[tuple[str, ...]] | None:
        return None if self.context is None else self.context + self.output


@dataclass
class _Req:
    index: int
    conn: str
    lane: str | None
    previous: str | None
    store: bool
    input: list[tuple[str, ...]]
    warm_up: bool = False


@dataclass(frozen=True)
class _Owed:
    """RWS-CLIENT-5: a store=false context the server ended the connection of; the lane's
    first request on a new connection that is not a warm-up owes it in full."""

    conn: str
    context: list[tuple[str, ...]]
    ended: str  # how the server ended the connection, in words


@dataclass(frozen=True)
class CreateContext:
    """A ``response.create`` of a transcript with its effective context (see the module)."""

    index: int  # the record's index
    conn: str
    previous: str | None
    warm_up: bool
    input: tuple[tuple[str, ...], ...]
    # input preceded by the previous response's context and output when that response is of
    # the same connection; None when the previous response is not known (another connection,
    # never seen, or not ended when the request was sent)
    context: tuple[tuple[str, ...], ...] | None


class _Traffic:
    """Walks a transcript and judges the client rules."""

    def __init__(self, rules: ClientRules, recorder: Recorder) -> None:
        self.rules = rules
        self.rec = recorder
        self.responses: dict[str, _Resp] = {}
        self.pending: dict[tuple[str, str | None], list[_Req]] = {}
        self.running: dict[tuple[str, str | None], _Resp] = {}
        # per lane: the last response that completed, warm-ups included (RWS-CLIENT-1)
        self.last_done: dict[str | None, _Resp] = {}
        # per lane: the last completed response that is not a warm-up: the conversation
        self.history: dict[str | None, _Resp] = {}
        # per lane: a store=false context a new connection owes (RWS-CLIENT-5)
        self.owed: dict[str | None, _Owed] = {}
        # per lane: a request answered previous_response_not_found, not yet retried
        self.not_found: dict[str | None, _Req] = {}
        self.opened: list[tuple[str, float]] = []
        self.last_close: tuple[int | None, float, int] | None = None
        self.gaps: list[tuple[float, int]] = []  # (wait before a reconnection, open record)
        self.client_closed: set[str] = set()  # connections whose client sent a close first
        self.contexts: list[CreateContext] = []
        # RWS-STEER-7: the client's steering submissions and what became of them
        self.steering = SteerLedger(recorder, essence)

    # --- records -----------------------------------------------------------------------------

    def feed(self, record: Record) -> None:
        if record.kind == "open":
            self._open(record)
        elif record.kind == "close":
            self._close(record)
        elif record.kind == "text" and record.utf8:
            # A text message that is not UTF-8 is no event of either side (RWS-TRANS-5/6 are
            # the transcript checker's): the server never reads it as a request.
            if record.dir == "c2s":
                self._client(record)
            elif record.dir == "s2c":
                self._server(record)

    def _open(self, record: Record) -> None:
        ts = record.ts or 0.0
        self.opened.append((record.conn, ts))
        if self.last_close is None:
            return
        code, closed_at, close_index = self.last_close
        self.last_close = None
        rules = self.rules
        # RWS-ERR-9 / RWS-ERR-7: which server closes the client reconnects after.
        if code in rules.no_reconnect_after:
            self.rec.exercise(rules.no_reconnect_requirements)
            self.rec.report(
                rules.no_reconnect_requirements,
                f"expected no automatic reconnection after close code {code} / actual a new "
                f"connection {ts - closed_at:.2f} s later",
                record.conn,
                (close_index, record.index),
            )
            return
        self.rec.exercise(rules.reconnect_requirements)
        if code not in rules.reconnect_after:
            self.rec.report(
                rules.reconnect_requirements,
                f"expected automatic reconnection only after close codes "
                f"{sorted(rules.reconnect_after)} / actual after {code}",
                record.conn,
                (close_index, record.index),
            )
            return
        self.gaps.append((ts - closed_at, record.index))
        self._backoff()

    def _backoff(self) -> None:
        # RWS-ERR-7: consecutive reconnections wait exponentially longer.
        rules = self.rules
        if len(self.gaps) < 2:
            return
        (before, _), (after, index) = self.gaps[-2], self.gaps[-1]
        if before >= rules.cap_seconds:
            return
        if after < rules.min_seconds or after < before * rules.growth - rules.tolerance:
            self.rec.report(
                rules.reconnect_requirements,
                f"expected exponential backoff (each wait >= {rules.growth} x the previous) / "
                f"actual waits {before:.3f} s then {after:.3f} s",
                None,
                (index,),
            )

    def _close(self, record: Record) -> None:
        self.steering.closed(record.conn)
        for key in [k for k in self.pending if k[0] == record.conn]:
            del self.pending[key]
        for key in [k for k in self.running if k[0] == record.conn]:
            del self.running[key]
        if record.dir == "c2s":
            self.client_closed.add(record.conn)
        if record.dir != "s2c" or record.conn in self.client_closed:
            # Only a close the server started is one a client reconnects after: the server's
            # answer to the client's own close (a recording of both sides has it) is not.
            return
        self.last_close = (record.code, record.ts or 0.0, record.index)
        if record.code not in self.rules.continue_close_codes:
            return
        # RWS-CLIENT-5: the store=false conversations of the connection are owed in full.
        for lane, done in self.history.items():
            owed = self.owed.get(lane)
            if owed is not None and owed.conn == record.conn:
                continue  # owed since the limit error on this connection
            if done.conn != record.conn or done.store:
                continue
            context = done.full()
            if context is not None:
                self.owed[lane] = _Owed(record.conn, context, f" with close code {record.code}")

    # --- client to server --------------------------------------------------------------------

    def _client(self, record: Record) -> None:
        try:
            body = _loads(record.text or "")
        except (ValueError, RecursionError):
            return
        if isinstance(body, dict) and body.get("type") == "response.steer":
            self.steering.steer(record.index, record.conn, body)
            return
        if not isinstance(body, dict) or body.get("type") != "response.create":
            return
        # A successful request resets the backoff sequence only when it gets an answer.
        for fname, requirements in self.rules.create_fields:
            # RWS-CREATE-13: no stream or stream_options in response.create.
            self.rec.exercise(requirements)
            if fname in body:
                self.rec.report(
                    requirements,
                    f"expected no {fname} in response.create / actual {fname}: "
                    f"{json.dumps(body[fname])[:40]}",
                    record.conn,
                    (record.index,),
                )
        sid = body.get("stream_id")
        lane = sid if isinstance(sid, str) else None
        prev = body.get("previous_response_id")
        items = normalize_input(body.get("input")) or []
        req = _Req(
            record.index,
            record.conn,
            lane,
            prev if isinstance(prev, str) else None,
            body.get("store") is not False,
            _essences(items),
            self.rules.is_warm_up(body),
        )
        effective = self._effective(req)
        self.contexts.append(
            CreateContext(
                req.index,
                req.conn,
                req.previous,
                req.warm_up,
                tuple(req.input),
                None if effective is None else tuple(effective),
            )
        )
        self._judge_context(req, effective)
        # RWS-STEER-7: accepted steering input is not in it again.
        self.steering.create(req.index, req.conn, req.previous, req.input, self._full_of)
        self.pending.setdefault((record.conn, lane), []).append(req)

    def _full_of(self, response_id: str) -> list[tuple[str, ...]] | None:
        """The context then output of a response the transcript shows, when known."""
        known = self.responses.get(response_id)
        return None if known is None else known.full()

    def _effective(self, req: _Req) -> list[tuple[str, ...]] | None:
        """The request's effective context, None when the transcript does not show it."""
        if req.previous is None:
            return list(req.input)
        base = self.responses.get(req.previous)
        if base is None or base.conn != req.conn or base.status == "in_progress":
            return None
        full = base.full()
        # Spec 9.3: uncommitted steering input for the response goes before the input.
        held = self.steering.held_for(req.conn, req.previous)
        return None if full is None else full + held + req.input

    def _judge_context(self, req: _Req, effective: list[tuple[str, ...]] | None) -> None:
        if req.warm_up:
            # Not a turn: the request that continues it is judged, with its context.
            return
        rules = self.rules
        nf = self.not_found.pop(req.lane, None)
        if nf is not None and req.previous != nf.previous and nf.previous in self.responses:
            # RWS-CLIENT-2: the retry carries the full context of the lost response.
            wanted = self.responses[nf.previous].full()
            if wanted is not None and effective is not None:
                self.rec.exercise(rules.retry_requirements)
                if effective[: len(wanted)] != wanted:
                    self._missing(
                        rules.retry_requirements,
                        req,
                        wanted,
                        effective,
                        f"after {rules.retry_code}",
                    )
            return
        owed = self.owed.get(req.lane)
        if owed is not None and owed.conn != req.conn:
            del self.owed[req.lane]
            self._continued(req, owed, effective)
        last = self.last_done.get(req.lane)
        wanted = last.full() if last is not None else None
        if last is None or last.conn != req.conn or wanted is None:
            return
        # RWS-CLIENT-1: on the same connection, previous_response_id plus only new items.
        self.rec.exercise(rules.incremental_requirements)
        if req.previous == last.id:
            repeated = [e for e in req.input if e in wanted]
            if repeated:
                self.rec.report(
                    rules.incremental_requirements,
                    f"expected only items new since {last.id} / actual {len(repeated)} item(s) "
                    f"of its context resent",
                    req.conn,
                    (req.index,),
                )
        elif wanted and effective is not None and effective[: len(wanted)] == wanted:
            how = (
                "without previous_response_id"
                if req.previous is None
                else f"after previous_response_id {req.previous}"
            )
            self.rec.report(
                rules.incremental_requirements,
                f"expected previous_response_id {last.id} and only the new items / actual the "
                f"whole context ({len(effective)} items) resent {how}",
                req.conn,
                (req.index,),
            )

    def _continued(self, req: _Req, owed: _Owed, effective: list[tuple[str, ...]] | None) -> None:
        # RWS-CLIENT-5: a store=false chain continues on the new connection with its full
        # context, never with a previous_response_id another connection held.
        rules = self.rules
        held = self.responses.get(req.previous or "")
        if held is not None and held.conn != req.conn and not held.store:
            self.rec.exercise(rules.continue_requirements)
            ended = f", which the server ended{owed.ended}" if held.conn == owed.conn else ""
            self.rec.report(
                rules.continue_requirements,
                f"expected the full context of the store=false chain on the new connection "
                f"/ actual previous_response_id {req.previous} of connection {held.conn}"
                f"{ended}",
                req.conn,
                (req.index,),
            )
        elif effective is not None:
            self.rec.exercise(rules.continue_requirements)
            if effective[: len(owed.context)] != owed.context:
                self._missing(
                    rules.continue_requirements,
                    req,
                    owed.context,
                    effective,
                    "on the new connection",
                )

    def _missing(
        self,
        requirements: tuple[str, ...],
        req: _Req,
        wanted: list[tuple[str, ...]],
        sent: list[tuple[str, ...]],
        when: str,
    ) -> None:
        got = sent[: len(wanted)]
        first = next((i for i, (a, b) in enumerate(zip(got, wanted, strict=False)) if a != b), None)
        where = f"item {first} differs" if first is not None else f"{len(sent)} items sent"
        if req.previous is not None:
            items = "item" if len(req.input) == 1 else "items"
            where += (
                f" (its context: the context and output of {req.previous}, of this connection, "
                f"then {len(req.input)} input {items})"
            )
        self.rec.report(
            requirements,
            f"expected the full context ({len(wanted)} items, then the new input) {when} / "
            f"actual {where}",
            req.conn,
            (req.index,),
        )

    # --- server to client --------------------------------------------------------------------

    def _server(self, record: Record) -> None:
        try:
            event = _loads(record.text or "")
        except (ValueError, RecursionError):
            return
        if not isinstance(event, dict):
            return
        etype = event.get("type")
        sid = event.get("stream_id")
        lane = sid if isinstance(sid, str) else None
        key = (record.conn, lane)
        if etype == "response.created":
            self._created(event, key)
        elif isinstance(etype, str) and etype.startswith("response.steer."):
            self.steering.server(record.index, record.conn, event)
        elif etype in _RUN_END:
            run = self.running.pop(key, None)
            response = event.get("response")
            if run is not None and isinstance(response, Mapping):
                run.status = str(response.get("status"))
                run.output = _essences(response.get("output") or [])
                if etype != "response.failed":
                    self.last_done[lane] = run
                    if not run.warm_up:
                        self.history[lane] = run
                    self.gaps.clear()
        elif etype == "error":
            self._error(event, key, record)

    def _created(self, event: Mapping[str, Any], key: tuple[str, str | None]) -> None:
        response = event.get("response")
        rid = response.get("id") if isinstance(response, Mapping) else None
        parent = response.get("previous_response_id") if isinstance(response, Mapping) else None
        queue = self.pending.get(key)
        if (
            isinstance(rid, str)
            and isinstance(parent, str)
            and self.steering.successor_due(key[0], parent)
            and not (queue and queue[0].previous == parent)
        ):
            self._successor(rid, parent, key)
            return
        if not queue:
            return
        req = queue.pop(0)
        if not isinstance(rid, str):
            return
        context: list[tuple[str, ...]] | None = list(req.input)
        if req.previous is not None:
            base = self.responses.get(req.previous)
            full = base.full() if base is not None else None
            # Spec 9.3: its response.created commits the target's uncommitted steering
            # input, placed before the request's own.
            held = self.steering.commit(req.conn, req.previous)
            context = None if full is None else full + held + req.input
        run = _Resp(rid, req.conn, req.lane, req.store, context, req.warm_up)
        self.responses[rid] = run
        self.running[key] = run
        self.steering.lineage(rid, req.previous)

    def _successor(self, rid: str, parent: str, key: tuple[str, str | None]) -> None:
        """RWS-STEER-4: a steering successor answers no request; it continues its target with
        the accepted input, which its response.created commits."""
        committed = self.steering.commit(key[0], parent)
        base = self.responses.get(parent)
        full = base.full() if base is not None else None
        store = base.store if base is not None else True
        run = _Resp(rid, key[0], key[1], store, None if full is None else full + committed)
        self.responses[rid] = run
        self.running[key] = run
        self.steering.lineage(rid, parent)

    def _error(self, event: Mapping[str, Any], key: tuple[str, str | None], record: Record) -> None:
        error = event.get("error")
        code = error.get("code") if isinstance(error, Mapping) else None
        lane = key[1]
        if code in self.rules.continue_error_codes:
            # RWS-CLIENT-5: the connection ends; the lane's store=false conversation, which
            # the refused request continued (whichever connection it was built on: a client
            # may carry it over from a warm-up), is owed in full on a new connection.
            refused = self.pending[key].pop(0) if self.pending.get(key) else None
            done = self.history.get(lane)
            context = done.full() if done is not None else None
            mine = refused is not None or (done is not None and done.conn == record.conn)
            if done is not None and not done.store and context and mine:
                self.owed[lane] = _Owed(record.conn, context, f" ({code})")
            return
        if "sequence_number" in event and key in self.running:
            # RWS-CLIENT-4: the run ended; it is not continuable, and the server evicted the
            # response it continued (RWS-CACHE-5): a full resend is right.
            failed = self.running.pop(key)
            self._evicted(lane, failed.context is not None)
            return
        queue = self.pending.get(key)
        if queue:
            req = queue.pop(0)
            if code == self.rules.retry_code and req.previous is not None:
                self.not_found[req.lane] = req
            last = self.last_done.get(lane)
            if last is not None and req.previous == last.id:
                self._evicted(lane, True)

    def _evicted(self, lane: str | None, evicted: bool) -> None:
        if evicted:
            self.last_done.pop(lane, None)


class ClientTraffic:
    """The whole-transcript client rules fed one record at a time, as traffic is seen.

    :func:`check_client_traffic` over a transcript and a live recorder feeding the same records
    here reach the same report; :attr:`findings` grows as the rules find something, so that a
    live recorder can tell each finding as it happens. Records must come in transcript order,
    each with its index in the transcript.
    """

    def __init__(
        self,
        config: CheckerConfig | None = None,
        *,
        rules: ClientRules | None = None,
        requirements: Mapping[str, Requirement] | None = None,
    ) -> None:
        config = config or CheckerConfig()
        reqs = requirements if requirements is not None else load_requirements()
        self.recorder = Recorder(reqs, config.profiles, config.roles)
        self._traffic = _Traffic(rules or load_client_rules(), self.recorder)
        self.count = 0

    @property
    def findings(self) -> Sequence[Finding]:
        """Everything found so far, in the order found."""
        return self.recorder.findings

    @property
    def contexts(self) -> list[CreateContext]:
        """Every ``response.create`` fed so far, with its effective context."""
        return self._traffic.contexts

    def feed(self, record: Record) -> None:
        """Judge one record (its ``index`` is its place in the transcript)."""
        self.count += 1
        self._traffic.feed(record)

    @staticmethod
    def concerns(text: str) -> bool:
        """Whether a server message may matter to these rules: only a ``response.created``,
        a terminal event or an ``error`` does (a JSON escape in the text may hide its type, so
        a text with one is read too). A live recorder skips building the record of every other
        server message, most of a stream."""
        return _SERVER_NEEDLES.search(text) is not None

    def finish(self) -> Report:
        """The report on everything fed so far."""
        return self.recorder.build(self.count)


# What a server message these rules read contains (see _Traffic._server: response.created, a
# terminal event, a steering event, an error), literally or behind an escape.
_SERVER_NEEDLES = re.compile(
    "|".join(
        re.escape(n)
        for n in ("response.created", *sorted(_RUN_END), "response.steer", "error", "\\u")
    )
)


def _traffic(
    records: Iterable[Record | Mapping[str, Any]],
    config: CheckerConfig | None,
    rules: ClientRules | None,
    requirements: Mapping[str, Requirement] | None,
) -> tuple[ClientTraffic, int]:
    traffic = ClientTraffic(config, rules=rules, requirements=requirements)
    for index, raw in enumerate(records):
        traffic.feed(raw if isinstance(raw, Record) else parse_record(raw, index))
    return traffic, traffic.count


def check_client_traffic(
    records: Iterable[Record | Mapping[str, Any]],
    config: CheckerConfig | None = None,
    *,
    rules: ClientRules | None = None,
    requirements: Mapping[str, Requirement] | None = None,
) -> Report:
    """Judge the whole-transcript client rules over ``records``."""
    traffic, _ = _traffic(records, config, rules, requirements)
    return traffic.finish()


def create_contexts(
    records: Iterable[Record | Mapping[str, Any]], *, rules: ClientRules | None = None
) -> list[CreateContext]:
    """Every ``response.create`` of ``records`` in order, with its effective context as the
    transcript shows it when the request is sent."""
    traffic, _ = _traffic(records, None, rules, None)
    return traffic.contexts


def merge_reports(reports: Sequence[Report]) -> Report:
    """One report from several checkers' reports over the same transcript."""
    exercised: dict[str, int] = {}
    for report in reports:
        for rid, n in report.exercised.items():
            exercised[rid] = exercised.get(rid, 0) + n
    excluded = frozenset().union(*(r.excluded for r in reports)) if reports else frozenset()
    return Report(
        tuple(f for r in reports for f in r.findings),
        exercised,
        max((r.records for r in reports), default=0),
        excluded,
    )
