"""Runs that last, and whether the wire shows that one was in flight (lanes and limits checks).

A busy lane, two overlapping lanes, a run spanning the connection-age limit or the
idle-timeout: each needs a run still in flight when a later message reaches the server.
``conformance-1`` can be told how long to run (``rws:delay``); a real model cannot. With such
a model the checks ask for a long answer (:func:`long_turn`) and then read from the
transcript's timestamps whether the run was still in flight when a later message arrived
(:func:`in_flight_when`). A run that had ended too early is no evidence either way: the check
tries again or says "not reached" for that part, never FAILED because a model was fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES
from conformance.harness.wire import Connection, Message
from conformance.scenarios._common import ANSWER_CAP_TOKENS

__all__ = [
    "ATTEMPTS",
    "LONG_ANSWER_TOKENS",
    "Span",
    "in_flight_when",
    "long_turn",
    "opened_at",
    "sent_at",
    "span_of",
]

# Long answers a real model takes seconds to write; one prompt per attempt, so that a model
# seeded by its input does not draw the same short answer again.
_LONG_PROMPTS = (
    "Describe a lighthouse on a rocky coast and the keeper's day there, in about 200 words.",
    "Explain how a river shapes the valley it runs through, in about 200 words.",
    "Tell the story of a long journey by train across a continent, in about 200 words.",
)
# Long enough to keep a real model busy for a second or more, short enough that it ends well
# within the suite's timeout (the answer asked for is longer: such a run ends incomplete,
# which is a finished run like any other).
LONG_ANSWER_TOKENS = 2 * ANSWER_CAP_TOKENS
# How often a check asks again when the run it needed in flight had already ended.
ATTEMPTS = len(_LONG_PROMPTS)


def long_turn(
    ctx: ScenarioContext, directive: str, attempt: int = 0, **fields: Any
) -> dict[str, Any]:
    """A ``response.create`` for a run that lasts: ``directive`` for conformance-1, else a
    request for a long answer (the ``attempt``-th prompt), capped at LONG_ANSWER_TOKENS."""
    if ctx.config.scripted:
        return ctx.create(directive, **fields)
    prompt = _LONG_PROMPTS[attempt % len(_LONG_PROMPTS)]
    return ctx.create(prompt, **{"max_output_tokens": LONG_ANSWER_TOKENS, **fields})


def _records_of(ctx: ScenarioContext, conn: Connection) -> list[Mapping[str, Any]]:
    return [record for record in ctx.recorder.records if record.get("conn") == conn.name]


def sent_at(ctx: ScenarioContext, conn: Connection) -> float:
    """The transcript time (``ts``) of the latest message the suite sent on ``conn``."""
    sent = [r for r in _records_of(ctx, conn) if r.get("dir") == "c2s" and r["kind"] == "text"]
    return float(sent[-1]["ts"]) if sent else 0.0


def opened_at(ctx: ScenarioContext, conn: Connection) -> float:
    """The transcript time (``ts``) at which the upgrade of ``conn`` completed."""
    opened = [r for r in _records_of(ctx, conn) if r["kind"] == "open"]
    return float(opened[0]["ts"]) if opened else 0.0


def _response_id(message: Message) -> str | None:
    response = (message.event or {}).get("response")
    value = response.get("id") if isinstance(response, Mapping) else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Span:
    """When a run's request was sent, its ``response.created`` and terminal event received.

    Times are transcript times (``ts``); None: not received.
    """

    response_id: str | None
    sent: float
    created: float | None
    ended: float | None

    @property
    def latency(self) -> float | None:
        """From the request to its ``response.created``: at least one round trip."""
        return None if self.created is None else self.created - self.sent


def span_of(conn: Connection, response_id: str | None, sent: float) -> Span:
    """The :class:`Span` of the run ``response_id`` whose request was sent at ``sent``."""
    created: float | None = None
    ended: float | None = None
    for message in conn.messages:
        if response_id is None or _response_id(message) != response_id:
            continue
        if message.type == "response.created" and created is None:
            created = message.ts
        elif message.type in TERMINAL_TYPES and ended is None:
            ended = message.ts
    return Span(response_id, sent, created, ended)


def in_flight_when(span: Span, later: float, slack: float) -> bool:
    """Whether the run was still in flight when a message sent at ``later`` reached the server.

    It was when its terminal event came back more than one round trip after ``later``: the
    server sent the terminal event after the message arrived. The run's own latency (request
    to ``response.created``) bounds the round trip from above, whatever the network; ``slack``
    (the suite's quiet period) covers events a server generated at once but had not written
    yet, and the time the suite takes to read a burst of them.
    """
    latency = span.latency
    if latency is None or span.ended is None:
        return False
    return span.ended - later > latency + slack
