"""One connection of a transcript: client messages, lanes, request outcomes, errors, the cache.

The client's ``response.create`` messages queue per lane (FIFO); each server event is routed to
a lane by its ``stream_id`` and either starts the outcome of the lane's oldest waiting request
(``response.created`` or a request-scoped ``error``, RWS-CREATE-12) or belongs to the lane's
running run. Expectations come from the rule tables: ``requests.json`` for what a message must
be answered with, ``cache.json`` for continuations, ``errors.json`` for error scopes and shapes.

:class:`Connection` is made of one judge per kind of traffic, each in its own module and all
over the state of :mod:`~conformance.checker.lanes` (the lanes and their waiting requests):

- :mod:`~conformance.checker.client_messages`: what the client sends, what each message is owed;
- :mod:`~conformance.checker.runs`: the runs, from ``response.created`` to the terminal event;
- :mod:`~conformance.checker.steering`: the server's steering events;
- :mod:`~conformance.checker.error_events`: error events and what each one answers;
- :mod:`~conformance.checker.outcomes`: a request's outcome against its expectation or the
  cache prediction (:mod:`~conformance.checker.cache`);
- :mod:`~conformance.checker.limits`: what max-connection-age changes about an outcome;
- :mod:`~conformance.checker.closing`: pings and the close.

The judges are classes over that one state, joined by inheritance, rather than objects handing
the state around: they call one another (the start of a run judges the outcome of the request
it answers, an error event may belong to a run), and each builds only on the judges it calls,
so the modules import one another in one direction and none of them imports this one.
"""

from __future__ import annotations

from typing import Any

from conformance.checker.client_messages import ClientMessages
from conformance.checker.closing import Closing
from conformance.checker.error_events import ErrorEvents
from conformance.checker.steering import Steering

__all__ = ["Connection"]


class Connection(ClientMessages, Steering, ErrorEvents, Closing):
    """The checker's state for one connection."""

    def server_event(
        self, event: dict[str, Any], etype: str, index: int, ts: float | None = None
    ) -> None:
        """A server event that is a JSON object with a known type (``ts``: when it came)."""
        if etype == "error":
            self._error(event, index)
        elif etype.startswith("response.steer."):
            self._steer_event(event, etype, index)
        else:
            self._run_event(event, etype, index, ts)
