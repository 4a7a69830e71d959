"""A synchronous driver for the sans-I/O :class:`~reference_impl.session.Session`.

It plays the I/O layer without sockets, tasks or clocks: it collects what the session sends,
answers storage lookups from an in-memory :class:`ResponseStore`, and steps runs - one step
per run in turn, so that runs of different lanes interleave as they would on a socket.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from reference_impl.cache import ResponseCache
from reference_impl.faults import NO_FAULTS, Faults
from reference_impl.session import (
    DEFAULT_LIMITS,
    CloseConnection,
    CostModel,
    Limits,
    LoadStored,
    Persist,
    RunDone,
    SendText,
    Session,
    StartRun,
    Wait,
)
from reference_impl.store import ResponseStore

__all__ = ["TERMINAL_TYPES", "Driver", "counter_ids", "create", "of_lane", "terminal"]

NO_COST = CostModel()
TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


def counter_ids() -> Any:
    """Return an ``ids`` function with readable, deterministic ids: ``resp_1``, ``msg_2``..."""
    numbers = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(numbers)}"


def create(input: Any = "hi", **fields: Any) -> dict[str, Any]:
    """Return a ``response.create`` for the conformance model."""
    return {"type": "response.create", "model": "conformance-1", "input": input, **fields}


class Driver:
    """Drives one session: ``send`` messages, ``settle`` runs, read ``events``."""

    def __init__(
        self,
        *,
        api_key: str = "key-a",
        limits: Limits = DEFAULT_LIMITS,
        faults: Faults = NO_FAULTS,
        cost: CostModel = NO_COST,
        store: ResponseStore | None = None,
        cache: ResponseCache | None = None,
        ids: Any = None,
        multiplex: bool = True,
        steering: bool = True,
    ) -> None:
        self.now = 0.0
        self.store = ResponseStore(None) if store is None else store
        self.session = Session(
            api_key=api_key,
            now=self.now,
            limits=limits,
            faults=faults,
            cost=cost,
            cache=cache,
            ids=ids or counter_ids(),
            wall_clock=lambda: 1_800_000_000.0,
            multiplex=multiplex,
            steering=steering,
        )
        self.events: list[dict[str, Any]] = []
        self.closed: CloseConnection | None = None
        self.runs: list[int] = []
        self.loads: list[LoadStored] = []
        self.waits: dict[int, list[float]] = {}
        self.persisted: list[tuple[int, int]] = []  # (run id, events sent before persisting)

    # --- inputs -----------------------------------------------------------------------------

    def send(self, event: Mapping[str, Any] | str) -> None:
        """Send one text message (an event, or raw text)."""
        text = event if isinstance(event, str) else json.dumps(event)
        self.session.receive_text(text, self.now)
        self._perform()

    def send_binary(self, data: bytes) -> None:
        self.session.receive_binary(data, self.now)
        self._perform()

    def advance(self, seconds: float) -> None:
        """Let time pass and fire the timers that are due."""
        self.now += seconds
        deadline = self.session.next_deadline()
        if deadline is not None and self.now >= deadline:
            self.session.tick(self.now)
            self._perform()

    # --- running ------------------------------------------------------------------------------

    def answer_loads(self) -> None:
        """Answer every pending storage lookup."""
        loads, self.loads = self.loads, []
        for load in loads:
            record = self.store.load(load.response_id, load.api_key)
            self.session.stored_loaded(load.ticket, record, self.now)
            self._perform()

    def step_one(self, run_id: int) -> None:
        """Step one run once."""
        step = self.session.step(run_id, self.now)
        self._perform()
        match step:
            case Wait(seconds):
                self.waits.setdefault(run_id, []).append(seconds)
            case Persist(record, api_key):
                try:
                    self.store.save(record, api_key)
                except sqlite3.Error:
                    # As the I/O layer does: the run ends failed, nothing else changes.
                    self.session.persist_failed(run_id)
                    self._perform()
                else:
                    self.persisted.append((run_id, len(self.events)))
            case RunDone():
                self.runs.remove(run_id)

    def step_all(self) -> bool:
        """Answer pending lookups and step every run once; return whether anything moved."""
        moved = bool(self.loads or self.runs)
        self.answer_loads()
        for run_id in list(self.runs):
            self.step_one(run_id)
        return moved

    def settle(self) -> list[dict[str, Any]]:
        """Run everything to the end; return and forget the events sent meanwhile."""
        while self.step_all():
            pass
        return self.take()

    def take(self) -> list[dict[str, Any]]:
        """Return and forget the events sent so far."""
        events, self.events = self.events, []
        return events

    def step_until(self, done: Callable[[], bool]) -> None:
        """Step runs until ``done()`` holds (the events sent meanwhile are kept)."""
        while not done():
            assert self.step_all(), "nothing moves any more"

    def close(self) -> None:
        """The client closes the connection: end it as the I/O layer does.

        Every run task is cancelled (a response :meth:`Session.run_cancelled` names is
        deleted from storage), then the records the session held back are saved.
        """
        runs, self.runs = self.runs, []
        for run_id in runs:
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                self.store.delete(unfinished)
        for held in self.session.held_records():
            self.store.save(held.record, held.api_key)

    def turn(self, event: Mapping[str, Any] | str) -> list[dict[str, Any]]:
        """Send one event and settle: the events of its outcome (and anything else)."""
        self.send(event)
        return self.settle()

    def _perform(self) -> None:
        for action in self.session.actions():
            match action:
                case SendText(text):
                    self.events.append(json.loads(text))
                case StartRun(run_id):
                    self.runs.append(run_id)
                case LoadStored():
                    self.loads.append(action)
                case CloseConnection():
                    assert self.closed is None, "the session closed twice"
                    self.closed = action


def terminal(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the one terminal event among ``events``."""
    found = [e for e in events if e["type"] in TERMINAL_TYPES]
    assert len(found) == 1, [e["type"] for e in events]
    return found[0]


def of_lane(events: list[dict[str, Any]], lane: str | None) -> Iterator[dict[str, Any]]:
    """Return the events of one lane (``None``: the default lane)."""
    return (e for e in events if e.get("stream_id") == lane)
