"""The client suite's scenarios: what the scripted server does and what the client must do.

A :class:`ClientScenario` is data: the task the adapter performs (``conversation``,
``lanes`` or ``steer``, see docs/client-adapters.md), its inputs, the faults the scripted
server injects (keyed by the number of the ``response.create`` or of the connection, counted
from 1 over the whole scenario; a warm-up, a ``response.create`` with ``generate: false``, is
not counted: the faults address the conversation's turns, whether or not the client warms up
each connection) and the requirements it exercises. :func:`expected_texts` is what a
conforming client prints: the scripted model's answer for a correct context.

The ``steer`` task (profile ``steering``) is the conversation task with steering: the client
steers the first response of each prompt that has a steering input (``steers``) as soon as its
``response.created`` arrives, and follows what the server does with the input
(``steer_replies``): a successor that commits it, ``response.steer.pending`` and its commit by
the client's next request, or a refusal or late failure that gives it back, after which the
client carries it into its next request. The scripted model's answer counts the user messages
of its context, so a client that loses the input, or sends it a second time, prints another
text. What RWS-STEER-7 counts as resending accepted input is in
:mod:`conformance.checker.client_steering`.

Scenario ids are stable (reports and expected-failures files name them); never rename one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HISTORY",
    "NOT_COVERED",
    "SCENARIOS",
    "TOOL_NAME",
    "ClientScenario",
    "expected_texts",
    "reply_text",
    "scenario_by_id",
    "tool_result",
]

TOOL_NAME = "lookup"

# An earlier conversation the resume scenario hands the client (RWS_HISTORY).
HISTORY: tuple[dict[str, Any], ...] = (
    {"type": "message", "role": "user", "content": "earlier question"},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "earlier answer", "annotations": []}],
    },
)


def tool_result(q: str) -> str:
    """What the contract's ``lookup`` tool returns for the argument ``q``."""
    return f"result:{q}"


def reply_text(users: int, outputs: int, last: str, pad: int = 0) -> str:
    """The scripted model's final answer: it names what the context held, so a client that
    loses or duplicates context prints a different text than expected."""
    text = f"reply {users}.{outputs}: {last}"
    return text + (" " + "x" * pad if pad else "")


@dataclass(frozen=True)
class ClientScenario:
    """One client scenario."""

    id: str
    title: str
    description: str
    requirements: tuple[str, ...]
    # Requirements a wrong or missing result of the task breaks (the client failed the task).
    task_requirements: tuple[str, ...]
    prompts: tuple[str, ...] = ("first question", "second question", "third question")
    profile: str = "core"
    task: str = "conversation"
    store: bool = False
    calls: int = 0  # tool calls the model asks for per prompt before answering
    history: tuple[dict[str, Any], ...] = ()
    previous_response_id: str | None = None
    # create number (warm-ups not counted) -> fault: close-after:<code>, close-mid:<code>,
    # error-untyped, run-error, limit
    faults: Mapping[int, str] = field(default_factory=dict)
    connect_faults: Mapping[int, int] = field(default_factory=dict)  # connection -> close code
    unknown: bool = False  # foreign events and unknown fields (RWS-EVENT-3)
    chunks: int = 3
    delay: float = 0.0  # seconds between deltas
    ping: bool = False  # the server pings mid-run and waits for the pong (RWS-CLIENT-9)
    pad: int = 0  # characters appended to each answer (large messages)
    completes: bool = True  # a conforming client finishes the task
    timeout: float = 25.0
    min_reconnects: int = 0  # connections a conforming client opens after the first
    exclusive: bool = False  # timing-sensitive: runs alone, after the others
    # Server requirements the scripted server deliberately breaks in this scenario (what
    # the client must cope with); everything else it sends conforms (tests check both).
    server_deviations: tuple[str, ...] = ()
    # steer task: per prompt, the steering input (a user message's text) the client sends as
    # soon as the prompt's first response is created; None: that prompt is not steered.
    steers: tuple[str | None, ...] = ()
    # steer number (the valid response.steer events that reach a running target, counted
    # from 1 over the scenario) -> the scripted server's answer: "interrupt" (accepted; the
    # target ends incomplete, reason steered, and a successor follows), "finish" (accepted;
    # the target completes, then a successor follows), "late-fail" (accepted; the target
    # completes, then response.steer.failed with the steer's id gives the input back),
    # "pending" (accepted; the target completes with a tool call, then
    # response.steer.pending; the client's next request continuing it commits the input) or
    # "refuse:<code>" (response.steer.failed without an id). Unlisted steers are refused
    # with too_many_pending_steers.
    steer_replies: Mapping[int, str] = field(default_factory=dict)


SCENARIOS: tuple[ClientScenario, ...] = (
    ClientScenario(
        id="incremental-input",
        title="A three-turn conversation continues with previous_response_id and new input only",
        description="Three user turns on one connection with store=false. Each continuation "
        "must carry the previous response's id and only the new user message; every create "
        "is flat, without stream, background or stream_id null, and waits for the run's "
        "terminal event (the server pauses before it). Every upgrade request carries the key "
        "as Authorization: Bearer (judged in every scenario).",
        requirements=(
            "RWS-CLIENT-1",
            "RWS-CREATE-1",
            "RWS-CREATE-2",
            "RWS-CREATE-8",
            "RWS-CREATE-13",
            "RWS-TRANS-6",
            "RWS-CLIENT-3",
            "RWS-TRANS-19",
        ),
        task_requirements=("RWS-CLIENT-1",),
    ),
    ClientScenario(
        id="tool-loop",
        title="A tool loop runs to its final text, chaining function_call_output items",
        description="The model calls the lookup tool twice per prompt before answering. The "
        "client executes each call and continues with previous_response_id and only the "
        "function_call_output; the final text comes from the authoritative items. The server "
        "pauses between the function_call item and the run's terminal event: a tool output "
        "sent before the run has ended is a second create on a busy lane.",
        requirements=("RWS-CLIENT-1", "RWS-CLIENT-4", "RWS-CLIENT-7", "RWS-CLIENT-3"),
        task_requirements=("RWS-CLIENT-7",),
        prompts=("look it up",),
        calls=2,
    ),
    ClientScenario(
        id="resume-not-found",
        title="previous_response_not_found is recovered by resending the full context",
        description="The client resumes an earlier conversation (RWS_HISTORY) from a response "
        "id the server does not have. The server answers previous_response_not_found; the "
        "client must retry with the history plus the new input and no previous_response_id.",
        requirements=("RWS-CLIENT-2", "RWS-ERR-8"),
        task_requirements=("RWS-CLIENT-2",),
        prompts=("follow-up question", "another follow-up"),
        history=HISTORY,
        previous_response_id="resp_from_an_earlier_session",
    ),
    ClientScenario(
        id="error-mid-chain",
        title="An error event without error.type mid-chain is the outcome of its request",
        description="The second turn's create is answered with a request-scoped server_error "
        "whose error object has no type (as deployed servers send). The server evicts the "
        "chain (RWS-CACHE-5). The client must take the error as that request's outcome, "
        "retry the turn (with the full context, or with the old id and then recover from "
        "previous_response_not_found) and finish the conversation.",
        requirements=("RWS-ERR-4", "RWS-ERR-8", "RWS-CLIENT-2"),
        task_requirements=("RWS-ERR-4", "RWS-ERR-8"),
        faults={2: "error-untyped"},
        server_deviations=("RWS-ERR-10", "RWS-ERR-2", "RWS-EVENT-1"),
    ),
    ClientScenario(
        id="error-mid-run",
        title="An error carrying the run's sequence_number ends the run",
        description="The first run is cut by an error event with a sequence_number after two "
        "deltas. The client must treat it as the end of the run (not wait for "
        "response.completed), retry the turn and finish the conversation.",
        requirements=("RWS-CLIENT-4",),
        task_requirements=("RWS-CLIENT-4",),
        prompts=("first question", "second question"),
        faults={1: "run-error"},
    ),
    ClientScenario(
        id="reconnect-store-false",
        title="After a 1001 close, a store=false chain continues on a new connection with "
        "its full context",
        description="After the first turn the server closes with 1001 (going away). The "
        "client must continue on a new connection and, the chain being store=false, resend "
        "the full context without the old previous_response_id.",
        requirements=("RWS-CLIENT-5", "RWS-ERR-7"),
        task_requirements=("RWS-CLIENT-5",),
        prompts=("first question", "second question"),
        faults={1: "close-after:1001"},
        min_reconnects=1,
        # A client that retries after previous_response_not_found (the Agents SDK) opens
        # connections and runs turns beyond the plain three: 25 s was too short for it on a
        # loaded machine. A client that completes ends the scenario at once.
        timeout=40.0,
        # A request the client sends while the 1001 close is on its way stays unanswered.
        server_deviations=("RWS-CREATE-12",),
    ),
    ClientScenario(
        id="reconnect-store-true",
        title="After a 1001 close, a store=true chain continues on a new connection",
        description="As reconnect-store-false with store=true: the server hydrates stored "
        "responses, so the client may continue with previous_response_id or resend the "
        "full context.",
        requirements=("RWS-CLIENT-5", "RWS-ERR-7"),
        task_requirements=("RWS-CLIENT-5",),
        prompts=("first question", "second question"),
        store=True,
        faults={1: "close-after:1001"},
        min_reconnects=1,
        # A client that retries after previous_response_not_found (the Agents SDK) opens
        # connections and runs turns beyond the plain three: 25 s was too short for it on a
        # loaded machine. A client that completes ends the scenario at once.
        timeout=40.0,
        # A request the client sends while the 1001 close is on its way stays unanswered.
        server_deviations=("RWS-CREATE-12",),
    ),
    ClientScenario(
        id="connection-age-limit",
        title="websocket_connection_limit_reached: continue on a new connection",
        description="The second turn's create meets the connection-age limit: the server "
        "answers websocket_connection_limit_reached and closes with 1001. The client must "
        "send the turn again on a new connection with the full store=false context.",
        requirements=("RWS-CLIENT-5", "RWS-ERR-7"),
        task_requirements=("RWS-CLIENT-5",),
        prompts=("first question", "second question"),
        faults={2: "limit"},
        min_reconnects=1,
    ),
    ClientScenario(
        id="reconnect-backoff",
        title="Reconnection after 1011 closes uses exponential backoff",
        description="The first run is cut by a 1011 close; the next two connections are "
        "closed with 1011 as soon as they open. The client should reconnect with "
        "exponentially growing waits and resend the turn with its full context.",
        requirements=("RWS-ERR-7",),
        task_requirements=("RWS-ERR-7",),
        prompts=("first question",),
        faults={1: "close-mid:1011"},
        connect_faults={2: 1011, 3: 1011},
        min_reconnects=3,
        timeout=40.0,
        exclusive=True,
        # A server that fails (1011) cannot end the run or answer the requests it got.
        server_deviations=("RWS-ORDER-2", "RWS-CREATE-12"),
    ),
    ClientScenario(
        id="no-reconnect-1008",
        title="No automatic reconnection after a 1008 close",
        description="The first run is cut by a 1008 (policy violation) close. The client "
        "should not reconnect automatically; it reports the failure and exits.",
        requirements=("RWS-ERR-9", "RWS-ERR-7"),
        task_requirements=(),
        prompts=("first question",),
        faults={1: "close-mid:1008"},
        completes=False,
        # The policy close (credentials revoked) cuts the run.
        server_deviations=("RWS-ORDER-2", "RWS-CREATE-12"),
        timeout=8.0,
    ),
    ClientScenario(
        id="no-reconnect-1005",
        title="No automatic reconnection after a close without a status code",
        description="The first run is cut by a close frame without a status code (the client "
        "sees 1005). RWS-ERR-7 names the codes a client reconnects after (1001, 1006, 1011, "
        "1012, 1013); 1005 is not one of them, so the client should report the failure.",
        requirements=("RWS-ERR-7",),
        task_requirements=(),
        prompts=("first question",),
        faults={1: "close-mid:1005"},
        completes=False,
        timeout=8.0,
        # A close without a status code is not in the close-code registry (RWS-ERR-6).
        server_deviations=("RWS-ORDER-2", "RWS-CREATE-12", "RWS-ERR-6"),
    ),
    ClientScenario(
        id="tolerate-unknown",
        title="Unknown event types, vendor events and unknown fields are ignored",
        description="Every run carries an event of a future type, a vendor event and unknown "
        "fields on every event, response and item. The client must ignore them and finish.",
        requirements=("RWS-EVENT-3",),
        task_requirements=("RWS-EVENT-3",),
        prompts=("first question", "second question"),
        calls=1,
        unknown=True,
        server_deviations=("RWS-EVENT-2",),
    ),
    ClientScenario(
        id="slow-stream",
        title="A slow stream with a pause and a ping mid-run",
        description="Deltas arrive 60 ms apart and the server pings the client mid-run; the "
        "client must answer the ping and assemble the whole text.",
        requirements=("RWS-CLIENT-9", "RWS-CLIENT-7"),
        task_requirements=("RWS-CLIENT-7",),
        prompts=("a slow question",),
        chunks=20,
        delay=0.06,
        ping=True,
    ),
    ClientScenario(
        id="bursty-stream",
        title="A burst of 3000 deltas in one go",
        description="One answer streamed as 3000 one-character deltas sent back to back; the "
        "client must keep up and assemble the text from the authoritative items.",
        requirements=("RWS-CLIENT-7",),
        task_requirements=("RWS-CLIENT-7",),
        prompts=("a bursty question",),
        chunks=3000,
        pad=3000,
    ),
    ClientScenario(
        id="large-messages",
        title="Server messages near 16 MiB are accepted",
        description="The answer is 15 MiB of text, so output_text.done, output_item.done and "
        "response.completed are each a single message of about 15 MiB.",
        requirements=("RWS-TRANS-10",),
        task_requirements=("RWS-TRANS-10",),
        prompts=("a large question",),
        chunks=4,
        pad=15 * 1024 * 1024,
        timeout=40.0,
    ),
    ClientScenario(
        id="lanes-interleaved",
        title="Runs on three lanes arrive interleaved and are routed by stream_id",
        description="The client starts one run on each of three named lanes at once; the "
        "server interleaves their events event by event. The client must route each event "
        "by stream_id and print each lane's text.",
        requirements=("RWS-CLIENT-6", "RWS-CLIENT-3"),
        task_requirements=("RWS-CLIENT-6",),
        profile="multiplex",
        task="lanes",
        prompts=("lane one question", "lane two question", "lane three question"),
    ),
    ClientScenario(
        id="steer-successor",
        title="A steered run ends steered and its successor carries the accepted input",
        description="The client steers the first prompt's response as soon as it is created. "
        "The server accepts the input (response.steer.accepted, numbered from the target's "
        "counter), cuts the target at the next delta (response.incomplete, reason steered) "
        "and starts the successor, whose previous_response_id is the target, in the same "
        "write. The client must send no stream_id in response.steer, follow the successor "
        "as the continuation, and continue the second prompt from the successor with only "
        "the new input: the accepted input is the server's, never sent again.",
        requirements=("RWS-STEER-9", "RWS-STEER-7", "RWS-CLIENT-1", "RWS-CLIENT-3"),
        task_requirements=(),
        profile="steering",
        task="steer",
        prompts=("a long question", "a follow-up question"),
        steers=("steer: answer briefly", None),
        steer_replies={1: "interrupt"},
        chunks=20,
        delay=0.05,
    ),
    ClientScenario(
        id="steer-pending",
        title="Steering input pending behind a tool call is committed by the tool output alone",
        description="The client steers a response that ends with a lookup call. The server "
        "accepts the input, completes the target with its function_call and then sends "
        "response.steer.pending with the call in required_input. The client must continue "
        "the target with only the function_call_output: the server places the pending input "
        "before it, so sending that input again is a resend of accepted input.",
        requirements=("RWS-STEER-9", "RWS-STEER-7", "RWS-CLIENT-1", "RWS-CLIENT-3"),
        task_requirements=(),
        profile="steering",
        task="steer",
        prompts=("look it up",),
        steers=("steer: also give the date",),
        steer_replies={1: "pending"},
        calls=1,
    ),
    ClientScenario(
        id="steer-returned",
        title="Steering input that is refused or fails late is the client's to send again",
        description="The first prompt's steer is refused (response.steer.failed without an "
        "id, response_not_active); the second prompt's steer is accepted, the target "
        "completes, and the input comes back in response.steer.failed with the accepted "
        "steer.id (successor_creation_failed, RWS-STEER-8). Both times the client owns the "
        "input again: it continues the ended target with it as new input, which is no resend "
        "of accepted input.",
        requirements=("RWS-STEER-9", "RWS-STEER-7"),
        task_requirements=(),
        profile="steering",
        task="steer",
        prompts=("first long question", "second long question"),
        steers=("steer: first words", "steer: second words"),
        steer_replies={1: "refuse:response_not_active", 2: "late-fail"},
        chunks=20,
        delay=0.05,
    ),
)


# Client requirements of the registry no scenario exercises yet, and why (the coverage test
# holds every client requirement to be covered or listed here).
NOT_COVERED: Mapping[str, str] = {
    "RWS-CLIENT-8": "needs a task that forks a store=false response onto another lane",
}


def scenario_by_id(scenario_id: str) -> ClientScenario:
    """The scenario with this id (KeyError if none)."""
    for scenario in SCENARIOS:
        if scenario.id == scenario_id:
            return scenario
    raise KeyError(scenario_id)


def expected_texts(scenario: ClientScenario) -> tuple[str, ...]:
    """What a conforming client prints: the answer to each prompt (lanes) or the final
    answer of the last prompt (conversation), as the scripted model gives it for a correct
    context."""
    if scenario.task == "lanes":
        return tuple(reply_text(1, 0, p, scenario.pad) for p in scenario.prompts)
    users = sum(1 for item in scenario.history if item.get("role") == "user")
    k = len(scenario.prompts)
    if scenario.task == "steer":
        # Every steering input ends up in the context exactly once, whichever way the server
        # answered it (committed by a successor or a continuation, or given back and sent
        # with the client's next request); the last prompt's input is the last user message
        # when it is steered.
        steered = [s for s in scenario.steers if s is not None]
        last = scenario.steers[k - 1] if len(scenario.steers) >= k else None
        return (
            reply_text(
                users + k + len(steered),
                scenario.calls * k,
                last if last is not None else scenario.prompts[-1],
                scenario.pad,
            ),
        )
    return (reply_text(users + k, scenario.calls * k, scenario.prompts[-1], scenario.pad),)
