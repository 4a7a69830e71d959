"""A run in flight and the events it sends: what a generated run becomes on the wire.

:class:`Run` is the session's record of one run. The functions here turn a model's
:class:`~reference_impl.model.GeneratedRun` into the events the session sends - the response
skeleton the model fills in, the wait before each event (the model's delay plus the cost
model), the numbering with ``sequence_number`` and ``stream_id``, and the text encoding. They
read and change nothing of the session but the run they are given, so the fault switches that
break numbering or the event list are applied here, each next to the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_impl import model
from reference_impl.fault_hooks import break_events
from reference_impl.faults import Faults
from reference_impl.limits import CostModel
from reference_impl.model import jsontext
from reference_impl.steering import Submission
from reference_impl.validation import CreateRequest

__all__ = ["ECHOED", "PlannedEvents", "Run", "dumps", "failed_run", "plan", "skeleton", "stamp"]

#: A run's events in sending order, each with the wait before it; None is a dropped event.
PlannedEvents = list[tuple[float, dict[str, Any] | None]]


@dataclass(slots=True)
class Run:
    """A run in flight: its events (numbered as they go out) and where it is."""

    run_id: int
    lane: str | None
    request: CreateRequest
    response_id: str
    context: Sequence[Mapping[str, Any]]
    # The model's run, or None while it is not generated yet (response.created went out
    # first; the first step generates the rest, see SessionRuns._start_run).
    generated: model.GeneratedRun | None
    prepared: model.PreparedRun
    # (wait before, event without sequence_number) in sending order; None: a dropped event
    events: PlannedEvents
    terminal_at: int  # index in events of the (first) terminal event
    parent_own_lane: bool  # continues the cached entry of its own lane (RWS-CACHE-5)
    counter: int  # the next sequence_number
    restored_items: int = 0  # leading context items restored from the cache (RWS-MODEL-3)
    numbered: int = 0  # events numbered so far
    cursor: int = 0
    waited: bool = False
    persisted: bool = False
    ended: bool = False
    # Accepted steering input not yet committed (RWS-STEER-4): the run stops at its next safe
    # point, and a successor continues it with this input.
    steers: list[Submission] = field(default_factory=list)


def dumps(event: Mapping[str, Any]) -> str:
    """Encode one server event as the text of one message: compact, non-ASCII characters as
    they are, exactly as the ``json`` module writes it (fast, see
    :mod:`reference_impl.model.jsontext`)."""
    return jsontext.compact(event)


#: The request fields the response echoes as sent (when the request has them).
ECHOED = (
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "text",
    "reasoning",
    "max_tool_calls",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "user",
)


def skeleton(
    create: CreateRequest, response_id: str, wall_clock: Callable[[], float]
) -> dict[str, Any]:
    """Return the ``response`` object of a new run, before the model fills it in."""
    event = create.event
    tool_choice = event.get("tool_choice")
    truncation = event.get("truncation")
    parallel = event.get("parallel_tool_calls")
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": int(wall_clock()),
        "status": "in_progress",
        "model": create.model,
        "output": [],
        "previous_response_id": create.previous_response_id,
        "store": create.store,
        "metadata": event.get("metadata") or {},
        "tools": event.get("tools") or [],
        "tool_choice": tool_choice if isinstance(tool_choice, str | dict) else "auto",
        "parallel_tool_calls": parallel if isinstance(parallel, bool) else True,
        "truncation": truncation if truncation in ("auto", "disabled") else "disabled",
        "usage": None,
        "error": None,
        "incomplete_details": None,
    }
    for name in ECHOED:
        if event.get(name) is not None:
            response[name] = event[name]
    response.setdefault("instructions", None)
    return response


def failed_run(created: Mapping[str, Any]) -> model.GeneratedRun:
    """A run that fails right after ``response.created``: the server could not generate it."""
    response = {
        **created["response"],
        "status": "failed",
        "error": {"code": "server_error", "message": "The server failed to generate the response."},
    }
    events = (dict(created), {"type": "response.failed", "response": response})
    return model.GeneratedRun(events, 0.0, "failed", response, ())


def plan(
    generated: model.GeneratedRun,
    faults: Faults,
    ids: Callable[[str], str],
    cost: CostModel,
) -> tuple[PlannedEvents, int]:
    """Return the run's events with their waits, and the index of its terminal event."""
    events = break_events(list(generated.events), faults, ids)
    planned: PlannedEvents = list(zip(_waits(events, generated, cost), events, strict=True))
    terminal_at = len(planned) - 1
    if faults.active("duplicate-terminal"):
        planned.append((0.0, events[-1]))
    if faults.active("drop-terminal"):
        planned[terminal_at] = (planned[terminal_at][0], None)
    return planned, terminal_at


def _waits(
    events: Sequence[Mapping[str, Any]],
    generated: model.GeneratedRun,
    cost: CostModel,
) -> list[float]:
    """Return the wait before each event: the model's delay plus the cost model."""
    waits = [0.0] + [generated.delay_s] * (len(events) - 1)
    if cost.prefill_us_per_token and len(events) > 1:
        usage = generated.response.get("usage") or {}
        uncached = usage.get("input_tokens", 0) - usage.get("input_tokens_details", {}).get(
            "cached_tokens", 0
        )
        waits[1] += max(uncached, 0) * cost.prefill_us_per_token / 1e6
    if cost.decode_us_per_token:
        for index, event in enumerate(events):
            delta = event.get("delta")
            if isinstance(delta, str):
                waits[index] += model.tokens(delta) * cost.decode_us_per_token / 1e6
    return waits


def stamp(run: Run, event: Mapping[str, Any], faults: Faults) -> str:
    """Number one event of ``run`` (or a steering event for it) and encode it."""
    # RWS-SEQ-2, RWS-SEQ-3: per run, from 0, each event the previous number plus one.
    if faults.active("sequence-repeat") and run.numbered == 2:
        number = run.counter - 1
    else:
        number = run.counter
        run.counter += 1
    run.numbered += 1
    stamped = {**event, "sequence_number": number}
    if faults.active("delta-no-sequence") and str(event.get("type")).endswith(".delta"):
        del stamped["sequence_number"]  # Fault: RWS-SEQ-1, every run event is numbered.
    # RWS-EVENT-4 / RWS-EVENT-5: named lanes carry stream_id, the default lane never.
    after_created = run.numbered > 1 and faults.active("no-stream-id-after-created")
    if run.lane is not None and not faults.active("no-stream-id") and not after_created:
        stamped["stream_id"] = run.lane
    elif run.lane is None and faults.active("stream-id-on-default"):
        stamped["stream_id"] = "default"
    return dumps(stamped)
