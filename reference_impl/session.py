"""The sans-I/O core of the reference server: one :class:`Session` per WebSocket connection.

The session holds everything about a connection - its lanes and their FIFO queues, the
connection-scoped cache, the runs in flight, the limits - and does no I/O, reads no clock
and starts no task. The I/O layer (:mod:`reference_impl.server`) drives it:

1. Feed every input: :meth:`Session.receive_text`, :meth:`Session.receive_binary`,
   :meth:`Session.tick` (when :meth:`Session.next_deadline` passes) and
   :meth:`Session.stored_loaded` (the answer to a :class:`LoadStored` action).
2. After every call, including every :meth:`Session.step`, call
   :meth:`Session.actions` and perform what it returns, in order: :class:`SendText` (send
   one text message), :class:`StartRun` (start a task that drives the run),
   :class:`LoadStored` (look a stored response up, off the event loop) and
   :class:`CloseConnection` (send the pending messages, then close).
3. A run task calls :meth:`Session.step` until it returns :class:`RunDone`: :class:`Wait`
   asks it to sleep (``Wait(0)`` after about ``STEP_CHARACTERS`` of events: a step sends a
   bounded amount, and the I/O layer steps the run again only once its connection has
   written it, RWS-LIMIT-13), :class:`Persist` to save a record durably before the next step
   (when saving fails, it calls :meth:`Session.persist_failed` before that step). When
   the task ends, for whatever reason, it calls :meth:`Session.run_cancelled`; a response
   id it returns must be deleted from storage (the run was cut off after persisting).
4. Once the connection has closed, save what :meth:`Session.held_records` returns (only the
   ``persist-on-close`` fault holds records back).

The session is not thread-safe, but it shares no state with other sessions (only the
``shared-cache`` fault gives them one cache): the I/O layer may hand one call to a worker
thread (a large message) as long as it makes no other call on that session until it returns.

Every failure becomes the error event of :mod:`reference_impl.errors`; nothing a client
sends raises out of the session (RWS-LIMIT-6) - except the ``crash-on-deep-input`` fault.

The session is built in layers, one job each, every one on top of the one before:
:mod:`reference_impl.session_state` (the connection's state and shared outputs),
:mod:`reference_impl.session_limits` (the age and idle timers),
:mod:`reference_impl.session_lanes` (the lanes' queues and scheduling),
:mod:`reference_impl.session_runs` (a run from acceptance to terminal event, with its events
built by :mod:`reference_impl.run_events`) and :mod:`reference_impl.session_requests` (what the
client sends). This module puts them together and is the one the I/O layer imports.
"""

from __future__ import annotations

from reference_impl.actions import (
    Action,
    CloseConnection,
    LoadStored,
    Persist,
    RunDone,
    RunStep,
    SendText,
    StartRun,
    Wait,
)
from reference_impl.errors import RequestError
from reference_impl.lanes import LANE_TRANSITIONS, LaneEvent, LaneState
from reference_impl.limits import DEFAULT_LIMITS, CostModel, Limits
from reference_impl.session_requests import SessionRequests

# The session is the entry point of the core: its inputs and outputs are re-exported here.
__all__ = [
    "DEFAULT_LIMITS",
    "LANE_TRANSITIONS",
    "Action",
    "CloseConnection",
    "CostModel",
    "LaneEvent",
    "LaneState",
    "Limits",
    "LoadStored",
    "Persist",
    "RunDone",
    "RunStep",
    "SendText",
    "Session",
    "StartRun",
    "Wait",
]


class Session(SessionRequests):
    """The state of one connection, driven by the I/O layer (see the module docstring)."""

    def _check_context_size(self, input_tokens: int) -> None:
        # Looked up here, at call time, so that MAX_CONTEXT_BYTES stays this module's to set.
        _check_context_size(input_tokens)


#: The largest context a run may have, in bytes of canonical JSON: a chain of continuations
#: grows its context turn by turn, and each lane's latest one stays in memory.
MAX_CONTEXT_BYTES = 64 * 1024 * 1024


def _check_context_size(input_tokens: int) -> None:
    # A.2: input_tokens is a quarter of the context's canonical JSON bytes (rounded up).
    if 4 * input_tokens > MAX_CONTEXT_BYTES:
        raise RequestError(
            "invalid_value",
            f"The context of a response is limited to {MAX_CONTEXT_BYTES} bytes.",
            param="input",
        )
