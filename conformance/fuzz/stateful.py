"""The stateful fuzzer: a Hypothesis ``RuleBasedStateMachine`` over whole sessions.

Rules: connect (reconnect; with a second API key when the target has one), create (a new
conversation), continue (``previous_response_id`` plus only the new input, on the
response's lane, forked onto another lane with ``multiplex``, or on another connection;
``generate: false`` is a warm-up), pipeline (several creates at once on the same or other
lanes), retry after a failed continuation, steer, disconnect and bad frame (a mutation that
starts no run). The machine keeps its own small model of the connection-scoped cache
(RWS-CACHE-1..10, RWS-LIMIT-5) and of every response's context (appendix A.1):

* a continuation whose previous response is a lane's entry on the same connection, or was
  stored by the same key, must run (RWS-CACHE-2/3); a ``store: false`` response from
  another connection, an evicted one, or any response of another API key must be
  ``previous_response_not_found`` (RWS-CACHE-8, RWS-CACHE-5, RWS-LIMIT-5); an older
  ``store: false`` response of the same connection may go either way (RWS-CACHE-9);
* every generating run asks ``conformance-1`` for ``rws:context``, and the digest the model
  reports must equal the digest of the context the machine expects: the previous response's
  context, then its output items, then the new input, normalised (RWS-CACHE-2, RWS-MODEL-1);
* after every step the checker, fed the session's transcript so far, has no FAILED finding.

Everything runs on blocking connections; one example is one session.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.fuzz.client import Closed, Tape, Target, WireClient
from conformance.fuzz.mutations import Mutation, mutations
from conformance.fuzz.oracle import TERMINAL_TYPES, FuzzFailure, TapeChecker, answer
from conformance.fuzz.profiles import stateful_settings
from conformance.fuzz.result import FuzzReport, KnownFailures, conclude
from conformance.fuzz.strategies import directive_lines

__all__ = [
    "LIGHT_MUTATIONS",
    "ConversationModel",
    "ServerMachine",
    "context_digest",
    "machine_for",
    "normalise_input",
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
_REPORTED = re.compile(r"context items=(\d+) digest=([0-9a-f]{64})")


def normalise_input(value: Any) -> list[Any]:
    """Appendix A.1, step 2: the request's ``input`` as context items."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        return []
    out: list[Any] = []
    for item in value:
        if isinstance(item, dict) and "role" in item and "type" not in item:
            item = {**item, "type": "message"}
        out.append(item)
    return out


def context_digest(context: list[Any]) -> str:
    """Appendix A.1: the SHA-256 of the context's canonical JSON."""
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Response:
    """What the machine knows of one response the server produced."""

    id: str
    context: list[Any]
    output: list[Any]
    store: bool
    status: str  # completed / incomplete / failed
    conn: int  # the serial of the connection it ran on
    key: int  # which API key created it (0: api_key, 1: api_key2)
    lane: str | None


@dataclass
class Conn:
    """One open connection and its cache as the spec says it must be."""

    serial: int
    client: WireClient
    key: int  # which API key the connection was opened with
    # RWS-CACHE-1: each lane's latest completed or incomplete response
    entries: dict[str | None, str] = field(default_factory=dict)
    # RWS-CACHE-5: entries evicted by a failed continuation (never served again from cache)
    evicted: set[str] = field(default_factory=set)


@dataclass
class ConversationModel:
    """The machine's model of every response and every connection's cache."""

    responses: dict[str, Response] = field(default_factory=dict)
    conns: list[Conn] = field(default_factory=list)
    serials: int = 0

    def cached(self, conn: Conn, response_id: str) -> bool:
        """Whether ``response_id`` is a lane's entry on ``conn`` (RWS-CACHE-2)."""
        return response_id in conn.entries.values()

    def predict(self, conn: Conn, previous: Response) -> str:
        """``"run"``, ``"not_found"`` or ``"either"`` for a continuation of ``previous``."""
        if previous.key != conn.key:
            return "not_found"  # RWS-LIMIT-5: never served to another API key
        if self.cached(conn, previous.id):
            return "run"  # RWS-CACHE-2
        if previous.store and previous.status != "failed":
            return "run"  # RWS-CACHE-3: hydrated from storage
        if previous.store:
            return "either"  # whether a failed stored response is hydratable is left open
        if previous.id in conn.evicted:
            return "not_found"  # RWS-CACHE-5: evicted, and not stored
        if previous.conn != conn.serial:
            return "not_found"  # RWS-CACHE-8: never from another connection
        return "either"  # RWS-CACHE-9: a server may keep older entries


def _user_input(text: str, shape: int) -> Any:
    if shape == 0:
        return text
    if shape == 1:
        return [{"role": "user", "content": text}]
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


directive_tails = st.lists(directive_lines(), max_size=2)
shapes = st.integers(min_value=0, max_value=2)
picks = st.integers(min_value=0, max_value=15)


class ServerMachine(RuleBasedStateMachine):
    """One session against the server; subclassed per target by :func:`machine_for`."""

    target: ClassVar[Target]
    # the tape of the session being run, for the runner to write out on failure
    last_tape: ClassVar[list[Tape]] = []
    sessions: ClassVar[list[int]] = [0]
    # known findings to tolerate (regular expressions of failure messages)
    known: ClassVar[KnownFailures] = KnownFailures(())

    responses = Bundle("responses")

    def __init__(self) -> None:
        super().__init__()
        self.tape = Tape()
        type(self).last_tape[:] = [self.tape]
        type(self).sessions[0] += 1
        self.checker = TapeChecker(
            self.target.profiles, [p for p, _ in self.known.patterns], self.target.busy_lane
        )
        self.model = ConversationModel()
        self.multiplex = "multiplex" in self.target.profiles
        self.digests = (
            "conformance-model" in self.target.profiles and self.target.model == "conformance-1"
        )

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

    def _open(self, second_key: bool = False) -> None:
        self.model.serials += 1
        client = WireClient(self.target, self.tape, second_key=second_key)
        self.model.conns.append(Conn(self.model.serials, client, int(second_key)))

    def _drop(self, conn: Conn) -> None:
        # RWS-CACHE-8: the cache disappears with the connection.
        self.model.conns.remove(conn)

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
            self._drop(conn)
            raise self._fail(
                f"expected an outcome / actual the server closed the connection (code {exc.code})"
            ) from None
        return None, run

    def _record(
        self,
        conn: Conn,
        lane: str | None,
        run: list[dict[str, Any]],
        context: list[Any],
        store: bool,
        check_digest: bool,
    ) -> Response:
        created = run[0].get("response") or {}
        terminal = run[-1]
        status = {
            "response.completed": "completed",
            "response.incomplete": "incomplete",
        }.get(str(terminal.get("type")), "failed")
        items: dict[int, Any] = {}
        for event in run:
            if event.get("type") == "response.output_item.done":
                index = event.get("output_index")
                if isinstance(index, int):
                    items[index] = event.get("item")
        output = [items[i] for i in sorted(items)]
        response = Response(
            id=str(created.get("id")),
            context=context,
            output=output,
            store=store,
            status=status,
            conn=conn.serial,
            key=conn.key,
            lane=lane,
        )
        self.model.responses[response.id] = response
        if status != "failed":
            # RWS-CACHE-1 / RWS-CACHE-7: completed and incomplete runs replace the entry.
            conn.entries[lane] = response.id
        if check_digest and self.digests and output:
            self._check_digest(output[0], context)
        return response

    def _check_digest(self, item: Any, context: list[Any]) -> None:
        # RWS-CACHE-2, RWS-MODEL-1: the context the model reports is the expected one.
        text = ""
        if isinstance(item, dict):
            parts = item.get("content")
            if isinstance(parts, list) and parts and isinstance(parts[0], dict):
                text = str(parts[0].get("text", ""))
        match = _REPORTED.fullmatch(text)
        expected = f"context items={len(context)} digest={context_digest(context)}"
        if match is None or text != expected:
            raise self._fail(
                f"RWS-CACHE-2/RWS-MODEL-1: expected the model to report {expected!r} "
                f"(context {json.dumps(context)[:400]}) / actual {text[:200]!r}"
            )

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
        self._drop(conn)

    @precondition(_has_conn)
    @rule(
        target=responses,
        pick=picks,
        lane_pick=picks,
        tail=directive_tails,
        shape=shapes,
        store=st.booleans(),
    )
    def create(self, pick: int, lane_pick: int, tail: list[str], shape: int, store: bool) -> Any:
        """A new conversation; the model reports its context."""
        conn = self._conn(pick)
        lane = self._lane(lane_pick)
        new = _user_input("\n".join(["rws:context", *tail]), shape)
        body: dict[str, Any] = {
            "type": "response.create",
            "model": self.target.model,
            "input": new,
            "store": store,
        }
        if lane is not None:
            body["stream_id"] = lane
        error, run = self._request(conn, body)
        if error is not None:
            raise self._fail(f"expected a run for a new conversation / actual error {error}")
        return self._record(conn, lane, run, normalise_input(new), store, True).id

    @precondition(_has_conn)
    @rule(
        target=responses,
        previous_id=responses,
        pick=picks,
        lane_pick=picks,
        tail=directive_tails,
        shape=shapes,
        store=st.booleans(),
        generate=st.sampled_from([True, True, True, False]),
    )
    def continue_(
        self,
        previous_id: str,
        pick: int,
        lane_pick: int,
        tail: list[str],
        shape: int,
        store: bool,
        generate: bool,
    ) -> Any:
        """Continue a response with only the new input: on its lane, another lane (a fork,
        with multiplex) or another connection; ``generate: false`` is a warm-up."""
        conn = self._conn(pick)
        previous = self.model.responses[previous_id]
        lane = self._lane(lane_pick)
        new = _user_input("\n".join(["rws:context", *tail]), shape)
        body: dict[str, Any] = {
            "type": "response.create",
            "model": self.target.model,
            "input": new,
            "store": store,
            "previous_response_id": previous_id,
        }
        if not generate:
            body["generate"] = False
        if lane is not None:
            body["stream_id"] = lane
        prediction = self.model.predict(conn, previous)
        own_entry = conn.entries.get(lane) == previous_id
        error, run = self._request(conn, body)
        failed = error is not None or run[-1].get("type") == "response.failed"
        if failed and own_entry:
            # RWS-CACHE-5: a failed continuation of its own lane's entry evicts it.
            conn.entries.pop(lane, None)
            conn.evicted.add(previous_id)
        if error is not None:
            code = (error.get("error") or {}).get("code")
            if prediction == "run" or code != "previous_response_not_found":
                raise self._fail(
                    f"expected a run continuing {previous_id} ({prediction}) / actual error "
                    f"{code!r}"
                )
            return multiple()
        if prediction == "not_found":
            raise self._fail(
                f"RWS-CACHE-8: expected previous_response_not_found for the store=false "
                f"response {previous_id} of another connection / actual a run"
            )
        context = [*previous.context, *previous.output, *normalise_input(new)]
        response = self._record(conn, lane, run, context, store, generate)
        if not generate and response.output:
            raise self._fail(
                f"RWS-CREATE-6: expected no output for generate: false / actual {response.output}"
            )
        return response.id

    @precondition(_has_conn)
    @rule(
        target=responses,
        pick=picks,
        lane_picks=st.lists(picks, min_size=2, max_size=4),
        tails=st.lists(directive_tails, min_size=4, max_size=4),
        paced=st.booleans(),
    )
    def pipeline(
        self, pick: int, lane_picks: list[int], tails: list[list[str]], paced: bool
    ) -> Any:
        """Several new conversations sent at once, on the same or different lanes.

        Runs of one lane answer in order (RWS-LANE-1, RWS-LANE-2 ``queue``); lanes may
        interleave (multiplex). Each run still reports its own context. ``paced`` runs wait
        1 ms before each event (``rws:delay``), so that runs overlap in time.
        """
        conn = self._conn(pick)
        sent: list[tuple[str | None, list[Any]]] = []
        try:
            lanes = [self._lane(p) for p in lane_picks]
            if self.target.busy_lane != "queue":
                # RWS-LANE-2 reject: one request per lane, or the second is refused.
                lanes = list(dict.fromkeys(lanes))
            for lane, tail in zip(lanes, tails, strict=False):
                lines = ["rws:context", *tail, *(["rws:delay ms=1"] if paced else [])]
                new = _user_input("\n".join(lines), 0)
                body: dict[str, Any] = {
                    "type": "response.create",
                    "model": self.target.model,
                    "input": new,
                    "store": False,
                }
                if lane is not None:
                    body["stream_id"] = lane
                conn.client.send_event(body, note="fuzz: stateful pipeline")
                sent.append((lane, normalise_input(new)))
            outcomes = 0
            events: list[dict[str, Any]] = []

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
            self._drop(conn)
            raise self._fail(
                f"expected outcomes for pipelined requests / actual close (code {exc.code})"
            ) from None
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
            contexts = [context for key, context in sent if key == lane]
            runs = by_lane.get(lane, [])
            if len(runs) != len(contexts):
                raise self._fail(
                    f"RWS-CREATE-12: expected {len(contexts)} outcomes on lane {lane!r} / "
                    f"actual {len(runs)}"
                )
            for run, context in zip(runs, contexts, strict=True):
                if run[0].get("type") == "error":
                    raise self._fail(f"expected a run for a new conversation / actual {run[0]}")
                ids.append(self._record(conn, lane, run, context, False, True).id)
        return multiple(*ids)

    @precondition(_has_conn)
    @rule(previous_id=responses, pick=picks, store=st.booleans())
    def retry_after_failure(self, previous_id: str, pick: int, store: bool) -> None:
        """A continuation that fails (``rws:fail``), then the same continuation again.

        When the failed request continued its own lane's entry, the entry is evicted
        (RWS-CACHE-5): the retry of a ``store: false`` parent is ``previous_response_not_found``.
        """
        conn = self._conn(pick)
        lanes = [lane for lane, rid in conn.entries.items() if rid == previous_id]
        lane_pick = self._pick_for(lanes[0] if lanes else None)
        self.continue_(previous_id, pick, lane_pick, ["rws:fail after=2"], 0, store, True)
        if conn in self.model.conns:
            self.continue_(previous_id, pick, lane_pick, [], 0, store, True)

    def _pick_for(self, lane: str | None) -> int:
        # the inverse of _lane
        if lane is None:
            return 0
        return 2 if lane == _LANES[0] else 1

    @precondition(_has_conn)
    @rule(previous_id=responses, pick=picks)
    def steer(self, previous_id: str, pick: int) -> None:
        """``response.steer`` at a response: without ``steering``, ``steering_not_supported``."""
        if "steering" in self.target.profiles:
            return  # the machine does not model accepted steering input
        conn = self._conn(pick)
        body = {"type": "response.steer", "previous_response_id": previous_id, "input": "more"}
        try:
            conn.client.send_event(body, note="fuzz: stateful")
            reply = conn.client.receive_until(
                lambda e: str(e.get("type", "")).startswith("response.steer.")
            )[-1]
        except (TimeoutError, Closed) as exc:
            raise self._fail(
                f"RWS-STEER-1: expected response.steer.failed / actual {exc!r}"
            ) from None
        code = (reply.get("error") or {}).get("code")
        if reply.get("type") != "response.steer.failed" or code != "steering_not_supported":
            raise self._fail(
                f"RWS-STEER-1: expected response.steer.failed steering_not_supported / actual "
                f"{reply.get('type')} {code!r}"
            )

    @precondition(_has_conn)
    @rule(pick=picks, mutation=mutations("conformance-1", LIGHT_MUTATIONS))
    def bad_frame(self, pick: int, mutation: Mutation) -> None:
        """A frame that is no valid event: the specified answer, and the cache untouched
        (RWS-ERR-3); a frame that closes the connection takes its cache with it."""
        conn = self._conn(pick)
        with self.known:
            answer(conn.client, mutation)
        if conn.client.closed:
            self._drop(conn)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def checker_finds_nothing(self) -> None:
        """The checker, fed the transcript so far, has no FAILED server requirement."""
        self.checker.assert_clean(self.tape)

    def teardown(self) -> None:
        """Close what is still open; the whole session must still check clean."""
        for conn in list(self.model.conns):
            conn.client.close()
        self.model.conns.clear()
        self.checker.assert_clean(self.tape)
        for pattern, n in self.checker.hits.items():
            self.known.hits[pattern] += n


def machine_for(target: Target, known: Sequence[str] = ()) -> type[ServerMachine]:
    """A machine class bound to ``target`` (Hypothesis instantiates it per session)."""
    return type(
        "ServerMachineFor",
        (ServerMachine,),
        {"target": target, "last_tape": [], "sessions": [0], "known": KnownFailures(known)},
    )


def run_stateful(
    target: Target,
    profile: str,
    out_dir: Path,
    *,
    max_sessions: int | None = None,
    seed: int | None = None,
    known: Sequence[str] = (),
) -> FuzzReport:
    """Fuzz ``target`` with whole sessions; return the report (a transcript on failure).

    ``known``: regular expressions of failure messages to tolerate (see ``run_stateless``).
    """
    machine = machine_for(target, known)
    config = stateful_settings(profile, max_sessions, seed)
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
        machine.sessions[0],
        time.monotonic() - started,
        error,
        out_dir,
        machine.last_tape[0] if machine.last_tape else None,
        machine.known.hits,
    )
