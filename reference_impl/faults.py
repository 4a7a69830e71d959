"""The fault switches of the reference server: deliberate, named violations of single rules.

They exist so that the conformance suite can prove each of its checks fails against a server
that breaks the rule it checks. Every fault is off by default, is switched on with
``responses-ws serve --fault NAME`` (repeatable) and is listed by ``--fault help``.

The table below is the one place that names them. The code that implements a rule carries a
small ``if faults.active("name")`` hook right where the rule is implemented, so that the
correct behaviour and its broken twin sit side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FAULTS", "NO_FAULTS", "Fault", "Faults", "UnknownFaultError", "describe"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault switch: its name, what it does and the requirement it breaks."""

    name: str
    description: str
    requirement: str


def _table(*rows: tuple[str, str, str]) -> dict[str, Fault]:
    return {name: Fault(name, description, requirement) for name, requirement, description in rows}


#: Every fault switch, by name. The names are a contract with the conformance suite.
FAULTS: dict[str, Fault] = _table(
    # Ordering grammar of one run.
    ("drop-terminal", "RWS-ORDER-2", "runs end without their terminal event"),
    ("duplicate-terminal", "RWS-ORDER-2", "the terminal event of every run is sent twice"),
    ("created-not-first", "RWS-ORDER-1", "response.in_progress is sent before response.created"),
    ("no-item-added", "RWS-ORDER-5", "response.output_item.added events are not sent"),
    ("wrong-item-id", "RWS-ORDER-8", "the first delta of a run names a different item_id"),
    ("empty-terminal-output", "RWS-ORDER-9", "the terminal response lists no output items"),
    ("wrong-response-id", "RWS-EVENT-6", "the terminal response carries a different id"),
    # Sequence numbers.
    ("sequence-repeat", "RWS-SEQ-2", "the third event of a run reuses the previous number"),
    ("sequence-start-1", "RWS-SEQ-3", "sequence numbers of a run start at 1"),
    # Deltas.
    ("delta-mismatch", "RWS-DELTA-1", "output_text.done text differs from the deltas"),
    # Cache.
    ("shared-cache", "RWS-CACHE-8", "one cache serves all connections"),
    ("no-cache", "RWS-CACHE-2", "continuations miss the cache unless they can be hydrated"),
    ("context-drop-output", "RWS-CACHE-2", "a continuation's context omits the previous output"),
    ("no-persist", "RWS-CACHE-3", "store=true responses are not persisted"),
    (
        "persist-on-close",
        "RWS-CACHE-11",
        "store=true responses are persisted only once their connection has closed",
    ),
    ("no-evict", "RWS-CACHE-5", "a failed continuation does not evict its lane's entry"),
    ("cache-failed", "RWS-CACHE-7", "failed runs become cached entries"),
    ("wrong-cached-tokens", "RWS-MODEL-3", "usage reports every input token as cached"),
    # Errors.
    ("flat-error", "RWS-ERR-1", "errors use the flat HTTP-streaming shape"),
    ("error-no-status", "RWS-ERR-2", "error events carry no status"),
    (
        "close-on-error",
        "RWS-ERR-3",
        "the connection closes after a request-scoped or frame-scoped error",
    ),
    # Lanes.
    ("no-stream-id", "RWS-EVENT-4", "events of named lanes carry no stream_id"),
    ("stream-id-on-default", "RWS-EVENT-5", "events of the default lane carry a stream_id"),
    ("lane-overlap", "RWS-LANE-1", "runs on one lane run concurrently"),
    (
        "named-lane-overlap",
        "RWS-LANE-1",
        "runs on one named lane run concurrently (the default lane still queues)",
    ),
    ("lane-limit-off", "RWS-LANE-5", "the named-lane limit is never enforced"),
    (
        "lane-limit-counts-default",
        "RWS-LANE-5",
        "a busy default lane counts toward max-named-lanes",
    ),
    ("accept-bad-stream-id", "RWS-LANE-3", "any string is accepted as stream_id"),
    # Transport, limits, steering.
    ("no-auth", "RWS-TRANS-2", "the upgrade is accepted without valid credentials"),
    ("auth-403", "RWS-TRANS-20", "missing or rejected credentials are refused with 403, not 401"),
    (
        "split-large-event",
        "RWS-TRANS-5",
        "run events longer than 65536 characters are sent as two text messages",
    ),
    (
        "shrunk-message-limit",
        "RWS-TRANS-7",
        "messages above 90% of max-message-size close the connection with 1009",
    ),
    ("binary-crash", "RWS-CREATE-10", "a binary message closes the connection with 1011"),
    ("binary-close-1003", "RWS-CREATE-22", "a binary message closes the connection with 1003"),
    (
        "refuse-stream-false-invalid-value",
        "RWS-CREATE-18",
        "stream: false and background: true are refused with invalid_value",
    ),
    ("error-no-type", "RWS-ERR-10", "error events carry no error.type"),
    ("ignore-age-limit", "RWS-LIMIT-1", "the connection-age limit is never enforced"),
    (
        "start-queued-at-age-limit",
        "RWS-LIMIT-12",
        "requests queued when the age limit is reached still start",
    ),
    (
        "age-error-stream-id",
        "RWS-EVENT-5",
        "the age-limit error answering a request on a named lane carries its stream_id",
    ),
    ("idle-during-run", "RWS-LIMIT-4", "the idle timeout also counts time with a run in flight"),
    ("steer-ignored", "RWS-STEER-1", "response.steer gets no reply"),
    ("cross-key", "RWS-LIMIT-5", "stored responses are served to any API key"),
    ("crash-on-deep-input", "RWS-LIMIT-6", "deeply nested input crashes the connection handler"),
    (
        "no-idle-timeout",
        "RWS-LIMIT-4",
        "the idle timeout is never enforced: an idle connection stays open",
    ),
    (
        "short-connection-age",
        "RWS-LIMIT-3",
        "connections are limited to (and advertise) a max-connection-age of 5 minutes",
    ),
    ("limit-close-1000", "RWS-ERR-6", "the age and idle limits close with 1000, not 1001"),
    (
        "keep-runs-after-close",
        "RWS-LIMIT-10",
        "a store=true run cut short by the client's close is stored as if it had ended",
    ),
    # Parts, items and event types of a run.
    ("part-added-not-empty", "RWS-DELTA-2", "response.content_part.added carries text already"),
    ("refusal-delta-mismatch", "RWS-DELTA-3", "response.refusal.done differs from the deltas"),
    (
        "reasoning-delta-mismatch",
        "RWS-DELTA-6",
        "response.reasoning_summary_text.done differs from the deltas",
    ),
    (
        "custom-input-mismatch",
        "RWS-DELTA-5",
        "response.custom_tool_call_input.done differs from the deltas",
    ),
    (
        "mcp-arguments-mismatch",
        "RWS-DELTA-5",
        "response.mcp_call_arguments.done differs from the deltas",
    ),
    (
        "code-delta-mismatch",
        "RWS-DELTA-5",
        "response.code_interpreter_call_code.done differs from the deltas",
    ),
    (
        "annotation-mismatch",
        "RWS-DELTA-7",
        "response.output_text.annotation.added names an annotation the final part does not "
        "list at its index",
    ),
    (
        "item-done-in-progress",
        "RWS-DELTA-8",
        "response.output_item.done carries its item with status in_progress",
    ),
    (
        "created-missing-object",
        "RWS-EVENT-1",
        "the response in response.created lacks its required 'object' member",
    ),
    ("undefined-event", "RWS-EVENT-2", "every run sends response.debug, an undefined event"),
    ("terminal-in-progress", "RWS-ORDER-3", "the terminal response keeps status in_progress"),
    ("no-part-added", "RWS-ORDER-6", "response.content_part.added events are not sent"),
    ("in-progress-twice", "RWS-ORDER-4", "response.in_progress is sent twice"),
    (
        "incomplete-ends-completed",
        "RWS-ORDER-11",
        "a run whose item is incomplete ends with response.completed",
    ),
    (
        "failed-ends-error",
        "RWS-ORDER-12",
        "a run that fails sends an error event, then response.completed, not response.failed",
    ),
    ("delta-no-sequence", "RWS-SEQ-1", "delta events carry no sequence_number"),
    ("reuse-response-id", "RWS-EVENT-7", "every run of a connection reuses its first run's id"),
    (
        "no-stream-id-after-created",
        "RWS-EVENT-4",
        "named-lane events after response.created carry no stream_id",
    ),
    # Requests, errors and steering.
    (
        "reject-unknown-field",
        "RWS-CREATE-4",
        "an unknown top-level field of response.create is refused with invalid_value",
    ),
    ("refuse-stream-options", "RWS-CREATE-14", "stream_options is refused with invalid_value"),
    (
        "schema-error-no-param",
        "RWS-CREATE-5",
        "the error refusing an invalid response.create names no param",
    ),
    ("generate-false-output", "RWS-CREATE-6", "generate: false runs produce output anyway"),
    (
        "unknown-model-served",
        "RWS-CREATE-16",
        "a request for an unknown model is served with the connection's previous model",
    ),
    (
        "invalid-json-as-unknown-type",
        "RWS-CREATE-9",
        "a message that is not JSON is answered with unknown_event_type",
    ),
    (
        "unknown-type-as-invalid-json",
        "RWS-CREATE-11",
        "an unknown event type is answered with invalid_json",
    ),
    ("request-error-numbered", "RWS-SEQ-4", "request-scoped errors carry sequence_number 0"),
    ("error-leaks-trace", "RWS-ERR-5", "error messages carry a Python traceback"),
    (
        "steer-numbered-0",
        "RWS-SEQ-5",
        "a steering event for a running target carries sequence_number 0",
    ),
    # Steering (the steering profile).
    (
        "steer-double-reply",
        "RWS-STEER-2",
        "an accepted response.steer is also answered with response.steer.failed",
    ),
    ("steer-no-stream-id", "RWS-STEER-3", "steering events never carry stream_id"),
    (
        "successor-wrong-parent",
        "RWS-STEER-4",
        "the successor of a steered response has no previous_response_id",
    ),
    (
        "successor-after-queued",
        "RWS-STEER-4",
        "the successor of a steered response runs after the requests queued on its lane",
    ),
    (
        "successor-drops-input",
        "RWS-STEER-4",
        "the successor commits only the latest accepted steering input",
    ),
    (
        "steer-accepts-anything",
        "RWS-STEER-5",
        "response.steer with stream_id, unknown fields or non-user items is accepted",
    ),
    ("pending-twice", "RWS-STEER-6", "response.steer.pending is sent twice per submission"),
    (
        "steer-failure-silent",
        "RWS-STEER-10",
        "accepted steering input of a target that failed is never given back",
    ),
    # Cache.
    (
        "miss-runs-without-history",
        "RWS-CACHE-4",
        "a continuation that misses runs without the history (no cached tokens) instead of "
        "previous_response_not_found",
    ),
    (
        "generate-false-not-cached",
        "RWS-CACHE-10",
        "a generate: false response does not become a cached entry",
    ),
    (
        "instructions-carried-over",
        "RWS-CACHE-14",
        "a continuation sent without instructions is served with the previous request's",
    ),
    # Lanes.
    ("lanes-not-concurrent", "RWS-LANE-4", "runs of different lanes never run at once"),
    (
        "lane-error-disturbs-others",
        "RWS-LANE-6",
        "a request-scoped error on one lane ends the runs in flight on other lanes failed",
    ),
    (
        "fork-serialised",
        "RWS-LANE-7",
        "a fork and its source lane wait for each other instead of running concurrently",
    ),
    (
        "busy-lane-rejected",
        "RWS-LANE-2",
        "a request on a busy lane is refused although busy-lane is queue",
    ),
    (
        "core-only-serves-lanes",
        "RWS-LANE-12",
        "with --no-multiplex a stream_id is served on a lane instead of refused",
    ),
    # The opening handshake and the transport.
    ("require-beta-header", "RWS-TRANS-3", "upgrades without OpenAI-Beta are refused with 400"),
    (
        "reject-unknown-header",
        "RWS-TRANS-13",
        "upgrades carrying an X- header the server does not know are refused with 400",
    ),
    (
        "reject-unknown-query",
        "RWS-TRANS-15",
        "upgrades whose URL carries a query parameter are refused with 400",
    ),
    ("plain-get-200", "RWS-TRANS-12", "a plain GET on the WebSocket path is answered 200"),
    (
        "refuse-deflate",
        "RWS-TRANS-8",
        "upgrades offering permessage-deflate are refused with 400",
    ),
    ("no-pong", "RWS-TRANS-9", "WebSocket pings are not answered"),
    # The HTTP transport (profile http).
    ("http-off", "RWS-HTTP-1", "every request goes to the WebSocket server: no HTTP is served"),
    (
        "http-keeps-cache",
        "RWS-HTTP-2",
        "HTTP requests share one cache, so store=false responses are continued over HTTP",
    ),
    (
        "sse-content-type-json",
        "RWS-HTTP-3",
        "streamed answers are labelled application/json, not text/event-stream",
    ),
    ("sse-no-event-field", "RWS-HTTP-4", "server-sent events carry no event field"),
    ("sse-event-mismatch", "RWS-HTTP-5", "the event field of every server-sent event is message"),
    (
        "sse-open-after-terminal",
        "RWS-HTTP-7",
        "streamed answers do not end their body: the connection drops after the terminal event",
    ),
    (
        "http-error-in-stream",
        "RWS-HTTP-8",
        "request errors over HTTP are answered 200 with an error event in a stream",
    ),
    (
        "http-nonstream-created",
        "RWS-HTTP-9",
        "answers without streaming carry response.created's response (in progress)",
    ),
    (
        "http-get-any-key",
        "RWS-HTTP-10",
        "GET /v1/responses/{id} also finds responses stored by other API keys",
    ),
    ("http-no-auth", "RWS-HTTP-11", "HTTP requests are served without valid credentials"),
    # The conformance model.
    (
        "model-stops-early",
        "RWS-MODEL-1",
        "conformance-1 stops after 2 output tokens (response.incomplete) unless the request "
        "sets max_output_tokens",
    ),
)


class UnknownFaultError(ValueError):
    """A fault name that is not in :data:`FAULTS`."""


class Faults:
    """The set of fault switches that are on; empty (a correct server) by default."""

    __slots__ = ("_names",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = frozenset(names)
        unknown = sorted(names - FAULTS.keys())
        if unknown:
            raise UnknownFaultError(f"unknown fault {', '.join(unknown)}")
        self._names = names

    def active(self, name: str) -> bool:
        """Return whether fault ``name`` is on."""
        # A typo in a hook would silently disable the fault: fail loudly instead.
        assert name in FAULTS, name
        return name in self._names

    @property
    def names(self) -> frozenset[str]:
        """The names of the faults that are on."""
        return self._names

    def __bool__(self) -> bool:
        return bool(self._names)

    def __repr__(self) -> str:
        return f"Faults({sorted(self._names)!r})"


#: A correct server: no fault switch on.
NO_FAULTS = Faults()


def describe() -> str:
    """Return the ``--fault help`` text: one line per fault."""
    width = max(map(len, FAULTS))
    lines = ["fault switches (repeat --fault NAME to combine; all are off by default):"]
    for fault in FAULTS.values():
        lines.append(f"  {fault.name:<{width}}  {fault.requirement:<13} {fault.description}")
    return "\n".join(lines)
