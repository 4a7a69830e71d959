"""The stateful fuzzer: a Hypothesis ``RuleBasedStateMachine`` over whole sessions.

Rules: connect (reconnect; with a second API key when the target has one), create (a new
conversation), continue (``previous_response_id`` plus only the new input, on the
response's lane, forked onto another lane with ``multiplex``, or on another connection;
``generate: false`` is a warm-up), pipeline (several creates at once on the same or other
lanes), retry after a failed continuation, steer (a response that is not running: refused;
with the ``steering`` profile also a run that lasts, steered, and its successor followed),
disconnect and bad frame (a mutation that starts no run). The machine keeps its own model of
every connection's cache (:mod:`conformance.fuzz.cache_model`, which executes
``schemas/rules/cache.json``); a successor continues its steered run on its lane and becomes
that lane's entry, with the run's context, its output and the accepted input in order:

* every continuation's outcome kind - a run, or ``previous_response_not_found`` - must be
  the one the prediction table gives (hits, hydration, misses on another connection or for
  another API key, eviction after a failed continuation); this needs no particular model;
* with ``conformance-1`` every generating run asks for ``rws:context``, and the digest the
  model reports must equal the digest of the context the machine expects: the previous
  response's context, then its output items, then the new input, normalised (RWS-CACHE-2,
  RWS-MODEL-1). Any other model gets ordinary prompts with its answers capped at
  ``max_output_tokens``, and a failed continuation is driven by an invalid parameter value;
* after every step the checker, fed the session's transcript so far, has no FAILED finding.

Everything runs on blocking connections; one example is one session. A
:class:`~conformance.fuzz.progress.Progress` reports what the run does and bounds shrinking.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import reject
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.checker.cache import ResponseFacts
from conformance.checker.model import CONTEXT_REPLY, MODEL_ID, digest, normalize_input
from conformance.fuzz.cache_model import Conn, ConversationModel, judge
from conformance.fuzz.client import Closed, Tape, Target, WireClient
from conformance.fuzz.mutations import codes_for, mutations
from conformance.fuzz.oracle import (
    TERMINAL_TYPES,
    FuzzFailure,
    TapeChecker,
    allowed_request_codes,
    answer,
)
from conformance.fuzz.profiles import stateful_settings
from conformance.fuzz.progress import Progress, Reporter
from conformance.fuzz.result import FuzzReport, KnownFailures, conclude, failure_message
from conformance.fuzz.strategies import directive_lines, prompts
from conformance.scenarios._common import INVALID_PARAMETER

__all__ = [
    "LIGHT_MUTATIONS",
    "ServerMachine",
    "SteeringMachine",
    "machine_for",
    "run_stateful",
]

#: Mutations that start no run, so the machine's cache model is unaffected by them.
LIGHT_MUTATIONS: tuple[str, ...] = (
    "malformed_json",
    "non_object_json",
    "concatenated",
    "split",
    "binary",
    "invalid_utf8",
    "unknown_type",
    "bad_stream_id",
    "wrong_type",
    "bad_value",
    "wrapped",
    "stream_false",
    "missing_required",
)

_LANES: tuple[str, ...] = ("a", "b")

# RWS-CREATE-5: a failing continuation carries the suite's invalid parameter value, refused
# whatever the model; the error registry marks the codes that answer it as evicting
# (RWS-CACHE-5).
_BAD_FIELD = INVALID_PARAMETER
_NOT_FOUND = "previous_response_not_found"


def _user_input(text: str, shape: int) -> Any:
    if shape == 0:
        return text
    if shape == 1:
        return [{"role": "user", "content": text}]
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


directive_tails = st.lists(directive_lines(), max_size=2)
shapes = st.integers(min_value=0, max_value=2)
picks = st.integers(min_value=0, max_value=15)
# Which earlier response a rule continues: an index taken modulo the number of responses the
# session has, not a draw from a Hypothesis Bundle. How many responses a session has depends on
# the server's answers (a pipelined request refused under load, a steered run with or without a
# successor), and a Bundle's draw is bounded by that number: two sessions with the same choices
# but answers timed differently then draw with different bounds, which Hypothesis rejects as
# FlakyStrategyDefinition. A fixed range keeps every draw the same whatever the server did.
earlier = st.integers(min_value=0, max_value=63)
# What a message says depends on the model: the machine (Hypothesis's runner) knows it.
texts: st.SearchStrategy[str] = st.runner().flatmap(lambda machine: machine.texts)
light_mutations: st.SearchStrategy[Any] = st.runner().flatmap(lambda machine: machine.mutations)


def _code(event: dict[str, Any] | None) -> str | None:
    error = (event or {}).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


# A conformance-1 run that lasts: steered after its response.created, it stops at its next
# safe point (appendix A.6), usually before its first item.
_STEERED_TARGET = (
    "rws:delay ms=20\nrws:context\nrws:text length=20 chunks=2\nrws:text length=20 chunks=2"
)


def _response_id(event: dict[str, Any]) -> str | None:
    response = event.get("response")
    value = response.get("id") if isinstance(response, dict) else None
    return value if isinstance(value, str) else None


def _is_item_event(event: dict[str, Any]) -> bool:
    return "output_index" in event


class _SteerState:
    """What the steer rule waits for: a reply per steer, the steered run's end, and then the
    successor's end (when input was accepted) or every accepted input given back."""

    def __init__(self, target: str, steers: int) -> None:
        self.target = target
        self.steers = steers
        self.replies = 0
        self.accepted: dict[str, int] = {}  # steer id -> position of its input
        self.accepted_order: list[int] = []
        self.given_back: set[str] = set()
        self.target_status: str | None = None
        self.successor: str | None = None
        self.successor_at = 0
        self.successor_ended = False
        self.seen = 0

    def done(self, event: dict[str, Any]) -> bool:
        self.seen += 1
        etype = str(event.get("type"))
        steer = event.get("steer") if isinstance(event.get("steer"), dict) else {}
        assert isinstance(steer, dict)
        if etype == "response.steer.accepted" or (
            etype == "response.steer.failed" and "id" not in steer
        ):
            if etype == "response.steer.accepted":
                self.accepted[str(steer.get("id"))] = self.replies
                self.accepted_order.append(self.replies)
            self.replies += 1
        elif etype == "response.steer.failed":
            self.given_back.add(str(steer.get("id")))
        elif etype in TERMINAL_TYPES and _response_id(event) == self.target:
            self.target_status = etype
        elif (
            etype == "response.created"
            and (event.get("response") or {}).get("previous_response_id") == self.target
        ):
            self.successor = _response_id(event)
            self.successor_at = self.seen - 1  # its index among the events received
        elif etype in TERMINAL_TYPES and self.successor is not None:
            self.successor_ended = _response_id(event) == self.successor
        if self.replies < self.steers or self.target_status is None:
            return False
        owed = set(self.accepted) - self.given_back
        if not owed:
            return True
        return self.successor_ended


class ServerMachine(RuleBasedStateMachine):
    """One session against the server; subclassed per target by :func:`machine_for`."""

    target: ClassVar[Target]
    # the tape of the session being run, for the runner to write out on failure
    last_tape: ClassVar[list[Tape]] = []
    # known findings to tolerate (regular expressions of failure messages)
    known: ClassVar[KnownFailures] = KnownFailures(())
    progress: ClassVar[Progress]
    # the model's messages, and the mutations it gets (their events name the target's model)
    texts: ClassVar[st.SearchStrategy[str]]
    mutations: ClassVar[st.SearchStrategy[Any]]

    def __init__(self) -> None:
        if not self.progress.started(current_build_context().is_final):
            reject()  # the shrink budget is spent: Hypothesis keeps the smallest failure
        super().__init__()
        self.tape = Tape()
        type(self).last_tape[:] = [self.tape]
        self.checker = TapeChecker(
            self.target.profiles, [p for p, _ in self.known.patterns], self.target.busy_lane
        )
        self.model = ConversationModel(parameters={"storage": self.target.storage})
        self.multiplex = "multiplex" in self.target.profiles
        self.scripted = self.target.model == MODEL_ID
        self.digests = self.scripted and "conformance-model" in self.target.profiles
        # The ids of the responses made so far, for the rules that continue one (``earlier``).
        self.responses: list[str] = []

    # --- helpers ---------------------------------------------------------------------------

    def _fail(self, message: str) -> FuzzFailure:
        return FuzzFailure(message, self.tape)

    def _conn(self, pick: int) -> Conn:
        return self.model.conns[pick % len(self.model.conns)]

    def _lane(self, pick: int) -> str | None:
        if not self.multiplex or pick % 3 == 0:
            return None
        return _LANES[pick % 2]

    def _has_conn(self) -> bool:
        return bool(self.model.conns)

    def _has_response(self) -> bool:
        return bool(self.model.conns) and bool(self.responses)

    def _earlier(self, pick: int) -> str:
        return self.responses[pick % len(self.responses)]

    def _made(self, *ids: str) -> None:
        self.responses.extend(ids)

    def _open(self, second_key: bool = False) -> None:
        client = WireClient(self.target, self.tape, second_key=second_key)
        self.model.conns.append(Conn(client, int(second_key)))

    def _body(self, new: Any, store: bool, lane: str | None, **fields: Any) -> dict[str, Any]:
        """A response.create; a model other than conformance-1 gets its answer capped."""
        body: dict[str, Any] = {
            "type": "response.create",
            "model": self.target.model,
            "input": new,
            "store": store,
        }
        if not self.scripted:
            body["max_output_tokens"] = self.target.max_output_tokens
        if lane is not None:
            body["stream_id"] = lane
        body.update(fields)
        return body

    def _other_codes(self, body: dict[str, Any]) -> frozenset[str]:
        """Codes that may answer a valid request whatever the cache holds (a declared rate
        limit); ``previous_response_not_found`` is the cache model's to judge."""
        return allowed_request_codes(body, self.target) - {_NOT_FOUND}

    def _request(
        self, conn: Conn, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Send a create; return (error event or None, the run's events)."""
        try:
            conn.client.send_event(body, note="fuzz: stateful")
            events = conn.client.receive_until(
                lambda e: e.get("type") in ("error", "response.created")
            )
            if events[-1].get("type") == "error":
                return events[-1], []
            run = events[-1:] + conn.client.receive_until(lambda e: e.get("type") in TERMINAL_TYPES)
        except TimeoutError:
            raise self._fail(
                f"expected an outcome for {body.get('input')!r} / actual nothing within "
                f"{self.target.timeout} s"
            ) from None
        except Closed as exc:
            self.model.closed(conn)
            raise self._fail(
                f"expected an outcome / actual the server closed the connection (code {exc.code})"
            ) from None
        return None, run

    def _record(
        self,
        conn: Conn,
        lane: str | None,
        body: dict[str, Any],
        run: list[dict[str, Any]],
        context: list[Any],
        *,
        check_digest: bool = True,
    ) -> ResponseFacts:
        created = run[0].get("response") or {}
        status = {
            "response.completed": "completed",
            "response.incomplete": "incomplete",
        }.get(str(run[-1].get("type")), "failed")
        items: dict[int, Any] = {}
        for event in run:
            if event.get("type") == "response.output_item.done":
                index = event.get("output_index")
                if isinstance(index, int):
                    items[index] = event.get("item")
        response = ResponseFacts(
            id=str(created.get("id")),
            conn=conn.name,
            principal=conn.principal,
            store=body.get("store") is not False,
            lane=lane,
            status=status,
            context=context,
            output=[items[i] for i in sorted(items)],
        )
        # RWS-CACHE-1/5/7/10: the transition table updates the lane's entry.
        self.model.run_ended(conn, lane, body, response)
        generated = body.get("generate") is not False
        if self.digests and check_digest and generated and response.output:
            self._check_digest(response.output[0], context)
        return response

    def _check_digest(self, item: Any, context: list[Any]) -> None:
        # RWS-CACHE-2, RWS-MODEL-1: the context the model reports is the expected one.
        text = ""
        if isinstance(item, dict):
            parts = item.get("content")
            if isinstance(parts, list) and parts and isinstance(parts[0], dict):
                text = str(parts[0].get("text", ""))
        expected = f"context items={len(context)} digest={digest(context)}"
        if CONTEXT_REPLY.fullmatch(text) is None or text != expected:
            raise self._fail(
                f"RWS-CACHE-2/RWS-MODEL-1: expected the model to report {expected!r} "
                f"(context {json.dumps(context)[:400]}) / actual {text[:200]!r}"
            )

    def _continue(
        self,
        conn: Conn,
        previous_id: str,
        lane: str | None,
        new: Any,
        store: bool,
        *,
        generate: bool = True,
        invalid: bool = False,
    ) -> str | None:
        """Continue ``previous_id``; judge the outcome kind by the cache model. Return the new
        response's id (None when the request was answered with an error).

        ``invalid``: the request carries :data:`_BAD_FIELD`, so it must be refused
        (RWS-CREATE-5) - a failed continuation with any model.
        """
        fields: dict[str, Any] = {"previous_response_id": previous_id}
        if not generate:
            fields["generate"] = False
        if invalid:
            fields[_BAD_FIELD[0]] = _BAD_FIELD[1]
        body = self._body(new, store, lane, **fields)
        prediction = self.model.predict(conn, previous_id, lane)
        error, run = self._request(conn, body)
        code = _code(error) if error is not None else None
        refusals = codes_for("RWS-CREATE-5") if invalid else frozenset()
        sent = (
            f"a response.create on {conn.name} lane {lane or 'default'} (store {store}"
            + (", generate false" if not generate else "")
            + (f", {_BAD_FIELD[0]} {_BAD_FIELD[1]!r}" if invalid else "")
            + ")"
        )
        message = judge(prediction, previous_id, code, sent, refusals | self._other_codes(body))
        if error is not None:
            # RWS-CACHE-5/13: an evicting error continuing the lane's own entry evicts it.
            self.model.request_error(conn, lane, body, code)
            if message is not None:
                raise self._fail(message)
            return None
        previous = self.model.response(previous_id)
        context = [*(previous.context or []), *previous.output, *(normalize_input(new) or [])]
        response = self._record(conn, lane, body, run, context)
        if message is not None:
            raise self._fail(message)
        if invalid:
            raise self._fail(
                f"RWS-CREATE-5: expected a request-scoped error (one of {sorted(refusals)}) for "
                f"{sent} / actual a run ({response.id})"
            )
        if not generate and response.output:
            raise self._fail(
                f"RWS-CREATE-6: expected no output for generate: false / actual {response.output}"
            )
        return response.id

    def _pick_for(self, lane: str | None) -> int:
        # the inverse of _lane
        if lane is None:
            return 0
        return 2 if lane == _LANES[0] else 1

    # --- rules -----------------------------------------------------------------------------

    @initialize()
    def first_connection(self) -> None:
        """Every session starts connected."""
        self._open()

    @precondition(lambda self: len(self.model.conns) < 3)
    @rule(other_key=st.booleans())
    def connect(self, other_key: bool) -> None:
        """Open another connection (a reconnect after a disconnect), with the second API
        key when the target has one."""
        self._open(other_key and self.target.api_key2 is not None)

    @precondition(_has_conn)
    @rule(pick=picks)
    def disconnect(self, pick: int) -> None:
        """Close a connection; its cache entries are gone (RWS-CACHE-8)."""
        conn = self._conn(pick)
        conn.client.close()
        self.model.closed(conn)

    @precondition(_has_conn)
    @rule(pick=picks, lane_pick=picks, text=texts, shape=shapes, store=st.booleans())
    def create(self, pick: int, lane_pick: int, text: str, shape: int, store: bool) -> None:
        """A new conversation (with conformance-1 the model reports its context)."""
        conn = self._conn(pick)
        lane = self._lane(lane_pick)
        new = _user_input(text, shape)
        body = self._body(new, store, lane)
        error, run = self._request(conn, body)
        if error is not None:
            self.model.request_error(conn, lane, body, _code(error))
            if _code(error) in self._other_codes(body):
                return
            raise self._fail(f"expected a run for a new conversation / actual error {error}")
        self._made(self._record(conn, lane, body, run, normalize_input(new) or []).id)

    @precondition(_has_response)
    @rule(
        previous=earlier,
        pick=picks,
        lane_pick=picks,
        text=texts,
        shape=shapes,
        store=st.booleans(),
        generate=st.sampled_from([True, True, True, False]),
    )
    def continue_(
        self,
        previous: int,
        pick: int,
        lane_pick: int,
        text: str,
        shape: int,
        store: bool,
        generate: bool,
    ) -> None:
        """Continue a response with only the new input: on its lane, another lane (a fork,
        with multiplex) or another connection; ``generate: false`` is a warm-up."""
        conn = self._conn(pick)
        new = _user_input(text, shape)
        made = self._continue(
            conn, self._earlier(previous), self._lane(lane_pick), new, store, generate=generate
        )
        if made is not None:
            self._made(made)

    @precondition(_has_conn)
    @rule(
        pick=picks,
        lane_picks=st.lists(picks, min_size=2, max_size=4),
        messages=st.lists(texts, min_size=4, max_size=4),
        paced=st.booleans(),
    )
    def pipeline(self, pick: int, lane_picks: list[int], messages: list[str], paced: bool) -> None:
        """Several new conversations sent at once, on the same or different lanes.

        Runs of one lane answer in order (RWS-LANE-1, RWS-LANE-2 ``queue``); lanes may
        interleave (multiplex). With conformance-1 each run still reports its own context,
        and ``paced`` runs wait 1 ms before each event (``rws:delay``), so that runs overlap.
        """
        conn = self._conn(pick)
        sent: list[tuple[str | None, dict[str, Any]]] = []
        try:
            lanes = [self._lane(p) for p in lane_picks]
            if self.target.busy_lane != "queue":
                # RWS-LANE-2 reject: one request per lane, or the second is refused.
                lanes = list(dict.fromkeys(lanes))
            for lane, text in zip(lanes, messages, strict=False):
                if self.scripted and paced:
                    text = f"{text}\nrws:delay ms=1"
                body = self._body(_user_input(text, 0), False, lane)
                conn.client.send_event(body, note="fuzz: stateful pipeline")
                sent.append((lane, body))
            outcomes = 0

            def counted(event: dict[str, Any]) -> bool:
                nonlocal outcomes
                if event.get("type") == "error" or event.get("type") in TERMINAL_TYPES:
                    outcomes += 1
                return outcomes == len(sent)

            events = conn.client.receive_until(counted)
        except TimeoutError:
            raise self._fail(
                f"expected {len(sent)} outcomes for pipelined requests / actual fewer within "
                f"{self.target.timeout} s"
            ) from None
        except Closed as exc:
            self.model.closed(conn)
            raise self._fail(
                f"expected outcomes for pipelined requests / actual close (code {exc.code})"
            ) from None
        # The checker judges the wire first: runs that overlap on one lane (RWS-LANE-1) would
        # otherwise be routed to the wrong requests below and show up as wrong contexts.
        self.checker.assert_clean(self.tape)
        # Route the events to lanes, then to the lane's requests in order (FIFO).
        by_lane: dict[str | None, list[list[dict[str, Any]]]] = {}
        for event in events:
            lane_key = event.get("stream_id")
            key = lane_key if isinstance(lane_key, str) else None
            runs = by_lane.setdefault(key, [])
            if event.get("type") in ("response.created", "error") or not runs:
                runs.append([])
            runs[-1].append(event)
        ids: list[str] = []
        for lane in dict.fromkeys(lane for lane, _ in sent):
            bodies = [body for key, body in sent if key == lane]
            runs = by_lane.get(lane, [])
            if len(runs) != len(bodies):
                raise self._fail(
                    f"RWS-CREATE-12: expected {len(bodies)} outcomes on lane {lane!r} / "
                    f"actual {len(runs)}"
                )
            for run, body in zip(runs, bodies, strict=True):
                if run[0].get("type") == "error":
                    self.model.request_error(conn, lane, body, _code(run[0]))
                    if _code(run[0]) in self._other_codes(body):
                        continue
                    raise self._fail(f"expected a run for a new conversation / actual {run[0]}")
                context = normalize_input(body["input"]) or []
                ids.append(self._record(conn, lane, body, run, context).id)
        self._made(*ids)

    @precondition(_has_response)
    @rule(previous=earlier, pick=picks, store=st.booleans(), fail_run=st.booleans())
    def retry_after_failure(self, previous: int, pick: int, store: bool, fail_run: bool) -> None:
        """A continuation that fails, then the same continuation again.

        It fails by carrying an invalid parameter value (any model: a request-scoped error,
        RWS-CREATE-5) or, with conformance-1 and ``fail_run``, by ``rws:fail`` (a run that ends
        ``response.failed``). When it continued its own lane's entry, the entry is evicted
        (RWS-CACHE-5): the retry of a ``store: false`` parent is then
        ``previous_response_not_found``.
        """
        conn = self._conn(pick)
        previous_id = self._earlier(previous)
        lanes = [lane for lane, (rid, _) in conn.cache.entries.items() if rid == previous_id]
        lane = self._lane(self._pick_for(lanes[0] if lanes else None))
        if self.scripted and fail_run:
            self._continue(conn, previous_id, lane, "rws:context\nrws:fail after=2", store)
        else:
            text = "rws:context" if self.scripted else "Say it again."
            self._continue(conn, previous_id, lane, text, store, invalid=True)
        if conn in self.model.conns:
            text = "rws:context" if self.scripted else "Say it once more."
            self._continue(conn, previous_id, lane, text, store)

    @precondition(_has_response)
    @rule(previous=earlier, pick=picks)
    def steer(self, previous: int, pick: int) -> None:
        """``response.steer`` at a response that is not running (every run of the machine has
        ended): without ``steering``, ``steering_not_supported`` (RWS-STEER-1); with it, a
        refusal without ``steer.id`` (RWS-STEER-2)."""
        conn = self._conn(pick)
        previous_id = self._earlier(previous)
        body = {"type": "response.steer", "previous_response_id": previous_id, "input": "more"}
        reply = self._steer_reply(conn, body)
        code = (reply.get("error") or {}).get("code")
        steer = reply.get("steer") or {}
        if "steering" in self.target.profiles:
            if reply.get("type") != "response.steer.failed" or "id" in steer:
                raise self._fail(
                    f"RWS-STEER-2: expected response.steer.failed without steer.id for a "
                    f"response that is not running / actual {reply.get('type')} {code!r}"
                )
        elif reply.get("type") != "response.steer.failed" or code != "steering_not_supported":
            raise self._fail(
                f"RWS-STEER-1: expected response.steer.failed steering_not_supported / actual "
                f"{reply.get('type')} {code!r}"
            )

    def _steer_reply(self, conn: Conn, body: dict[str, Any]) -> dict[str, Any]:
        try:
            conn.client.send_event(body, note="fuzz: stateful")
            return conn.client.receive_until(
                lambda e: str(e.get("type", "")).startswith("response.steer.")
            )[-1]
        except (TimeoutError, Closed) as exc:
            if isinstance(exc, Closed):
                self.model.closed(conn)
            raise self._fail(
                f"RWS-STEER-2: expected a reply to response.steer / actual {exc!r}"
            ) from None

    @precondition(_has_conn)
    @rule(pick=picks, mutation=light_mutations)
    def bad_frame(self, pick: int, mutation: Any) -> None:
        """A frame that is no valid event: the specified answer, and the cache untouched
        (RWS-ERR-3); a frame that closes the connection takes its cache with it."""
        conn = self._conn(pick)
        with self.known:
            answer(conn.client, mutation)
        if conn.client.closed:
            self.model.closed(conn)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def checker_finds_nothing(self) -> None:
        """The checker, fed the transcript so far, has no FAILED server requirement."""
        self.checker.assert_clean(self.tape)

    def teardown(self) -> None:
        """Close what is still open; the whole session must still check clean."""
        # Hypothesis calls teardown in a ``finally``: the step that failed, if one did, is
        # the exception in flight.
        error = sys.exc_info()[1]
        failure = failure_message(error)
        try:
            for conn in list(self.model.conns):
                conn.client.close()
                self.model.closed(conn)
            self.checker.assert_clean(self.tape)
        except Exception as exc:
            if failure is None:
                failure, error = failure_message(exc), exc
            raise
        finally:
            for pattern, n in self.checker.hits.items():
                self.known.hits[pattern] += n
            self.progress.ended(failure, len(self.tape.records), error if failure else None)


class SteeringMachine(ServerMachine):
    """The machine for a server with the ``steering`` profile: it also steers runs that last.

    A class of its own, so that the machine of a server without steering has exactly the
    rules it had before (Hypothesis draws and shrinks over the rules a class has).
    """

    @precondition(ServerMachine._has_conn)
    @rule(pick=picks, lane_pick=picks, steers=st.integers(min_value=1, max_value=2))
    def steer_running(self, pick: int, lane_pick: int, steers: int) -> None:
        """A run that lasts, steered after its ``response.created``: each steer answered
        once; accepted input ends in a successor that continues the run on its lane (or comes
        back with its id). The cache model follows: the run, then its successor, is the
        lane's entry, and the successor's context is the run's context, its output and the
        accepted input in order (RWS-STEER-4; with conformance-1 judged by rws:context)."""
        conn = self._conn(pick)
        lane = self._lane(lane_pick)
        text = _STEERED_TARGET if self.scripted else "Tell a long story about a lighthouse."
        body = self._body(text, False, lane)
        inputs = [f"steer {n}" for n in range(steers - 1)]
        inputs.append("rws:context" if self.scripted else "Be brief.")
        events: list[dict[str, Any]] = []
        try:
            conn.client.send_event(body, note="fuzz: stateful")
            events += conn.client.receive_until(
                lambda e: e.get("type") in ("error", "response.created")
            )
            if events[-1].get("type") == "error":
                return  # refused (a declared rate limit): nothing to steer
            target = str((events[-1].get("response") or {}).get("id"))
            for steer_input in inputs:
                conn.client.send_event(
                    {
                        "type": "response.steer",
                        "previous_response_id": target,
                        "input": steer_input,
                    },
                    note="fuzz: stateful",
                )
            state = _SteerState(target, len(inputs))
            offset = len(events)
            events += conn.client.receive_until(state.done)
        except TimeoutError:
            raise self._fail(
                "RWS-STEER-2/RWS-STEER-4: expected each steer answered, the steered run to "
                f"end and its successor (if any input was accepted) / actual nothing within "
                f"{self.target.timeout} s"
            ) from None
        except Closed as exc:
            self.model.closed(conn)
            raise self._fail(
                f"expected the steered run and its successor / actual the server closed the "
                f"connection (code {exc.code})"
            ) from None
        run = [e for e in events if _response_id(e) == target or _is_item_event(e)]
        run = run[: next(i for i, e in enumerate(run) if e.get("type") in TERMINAL_TYPES) + 1]
        self._record(conn, lane, body, run, normalize_input(text) or [])
        if state.successor is None:
            self._made(target)
            return
        previous = self.model.response(target)
        accepted = [inputs[i] for i in state.accepted_order]
        items = [item for value in accepted for item in normalize_input(value) or []]
        successor_body = {**body, "previous_response_id": target, "input": items}
        after = events[offset + state.successor_at :]
        context = [*(previous.context or []), *previous.output, *items]
        # Its directives are those of the last accepted input: rws:context only when that one
        # is the last steer (an earlier one alone answers with no directive).
        last = bool(accepted) and accepted[-1] == inputs[-1]
        self._record(conn, lane, successor_body, after, context, check_digest=last)
        self._made(target, state.successor)


def machine_for(
    target: Target, known: Sequence[str] = (), progress: Progress | None = None
) -> type[ServerMachine]:
    """A machine class bound to ``target`` (Hypothesis instantiates it per session)."""
    scripted = target.model == MODEL_ID
    base = SteeringMachine if "steering" in target.profiles else ServerMachine
    return type(
        "ServerMachineFor",
        (base,),
        {
            "target": target,
            "last_tape": [],
            "known": KnownFailures(known),
            "progress": progress or Progress("stateful", 0),
            "texts": (
                directive_tails.map(lambda tail: "\n".join(["rws:context", *tail]))
                if scripted
                else prompts()
            ),
            "mutations": mutations(target.model, LIGHT_MUTATIONS),
        },
    )


def run_stateful(
    target: Target,
    profile: str,
    out_dir: Path,
    *,
    max_sessions: int | None = None,
    seed: int | None = None,
    known: Sequence[str] = (),
    report: Reporter | None = None,
    interval: float = 5.0,
) -> FuzzReport:
    """Fuzz ``target`` with whole sessions; return the report (a transcript on failure).

    ``known``: regular expressions of failure messages to tolerate (see ``run_stateless``).
    ``report`` receives a line of progress at each phase change and at most every
    ``interval`` seconds otherwise; shrinking stops after the profile's ``shrink_seconds``.
    """
    config = stateful_settings(profile, max_sessions, seed)
    progress = Progress.of_profile("stateful", profile, config.max_examples, report, interval)
    machine = machine_for(target, known, progress)
    # @seed on the machine class is how Hypothesis seeds a state machine.
    factory: Any = machine if seed is None else hypothesis_seed(seed)(machine)
    started = time.monotonic()
    error: BaseException | None = None
    try:
        run_state_machine_as_test(factory, settings=config)
    except Exception as exc:  # Hypothesis re-raises the minimal session's failure
        error = exc
    return conclude(
        "stateful",
        profile,
        progress.examples,
        time.monotonic() - started,
        error,
        out_dir,
        machine.last_tape[0] if machine.last_tape else None,
        machine.known.hits,
        progress.smallest_error,
    )
