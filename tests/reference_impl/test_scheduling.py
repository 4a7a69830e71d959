"""Stateful test of the scheduler: random requests on random lanes, runs stepped in random
order, against a model of what the client may observe.

Invariants after every step (RWS-LANE-1, RWS-LANE-4, RWS-LANE-9, RWS-CREATE-12, RWS-SEQ-2/3):

* each lane's outcomes - runs and request-scoped errors - answer its requests in order;
* no run starts on a lane before the lane's previous run has ended;
* at most ``max-active-responses`` runs are in flight;
* every run's sequence numbers go 0, 1, 2... without gaps;
* every request is eventually answered exactly once.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reference_impl.session import Limits
from tests.reference_impl.driver import TERMINAL_TYPES, Driver, create

__all__: list[str] = []

pytestmark = pytest.mark.slow

LANES = (None, "a", "b")
MAX_ACTIVE = 2
DIRECTIVES = (
    "hi",
    "rws:text length=12 chunks=3\nrws:delay ms=1",
    "rws:text length=6 chunks=2\nrws:fail after=3\nrws:delay ms=1",
    "rws:reasoning summary=4 text=4 chunks=2\nrws:delay ms=1",
)


class Scheduling(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.driver = Driver(limits=Limits(max_active_responses=MAX_ACTIVE))
        self.waiting: dict[str | None, deque[int]] = {lane: deque() for lane in LANES}
        self.running: dict[str | None, str | None] = dict.fromkeys(LANES)
        self.numbers: dict[str, int] = {}
        self.answered: list[int] = []
        self.sent = 0
        self.known_ids: list[str] = []

    @rule(
        lane=st.sampled_from(LANES),
        directive=st.sampled_from(DIRECTIVES),
        store=st.booleans(),
        continue_from=st.integers(min_value=-1, max_value=20),
        invalid=st.booleans(),
    )
    def send_create(
        self, lane: str | None, directive: str, store: bool, continue_from: int, invalid: bool
    ) -> None:
        fields: dict[str, Any] = {"store": store}
        if lane is not None:
            fields["stream_id"] = lane
        if 0 <= continue_from < len(self.known_ids):
            fields["previous_response_id"] = self.known_ids[continue_from]
        if invalid:
            fields["temperature"] = "hot"
        self.waiting[lane].append(self.sent)
        self.sent += 1
        self.driver.send(create(directive, **fields))
        self.observe()

    @precondition(lambda self: bool(self.driver.runs))
    @rule(pick=st.integers(min_value=0, max_value=10))
    def step_a_run(self, pick: int) -> None:
        self.driver.step_one(self.driver.runs[pick % len(self.driver.runs)])
        self.observe()

    @precondition(lambda self: bool(self.driver.loads))
    @rule()
    def answer_lookups(self) -> None:
        self.driver.answer_loads()
        self.observe()

    def observe(self, events: list[dict[str, Any]] | None = None) -> None:
        for event in self.driver.take() if events is None else events:
            lane = event.get("stream_id")
            kind = event["type"]
            if kind == "error":
                # RWS-LANE-9: a request's error never overtakes the lane's running run.
                assert self.running[lane] is None, event
                assert "sequence_number" not in event
                self.answered.append(self.waiting[lane].popleft())
                continue
            response_id = event["response"]["id"] if "response" in event else None
            if kind == "response.created":
                # RWS-LANE-1: one run at a time per lane.
                assert self.running[lane] is None
                assert self.waiting[lane], "a run nobody asked for"
                assert isinstance(response_id, str)
                assert response_id not in self.numbers
                self.running[lane] = response_id
                self.numbers[response_id] = -1
            run = self.running[lane]
            assert isinstance(run, str), event
            # RWS-SEQ-2/3: per run, 0, 1, 2...
            assert event["sequence_number"] == self.numbers[run] + 1
            self.numbers[run] = event["sequence_number"]
            if kind in TERMINAL_TYPES:
                assert response_id == run
                self.running[lane] = None
                self.answered.append(self.waiting[lane].popleft())
                self.known_ids.append(run)

    @invariant()
    def active_runs_within_the_limit(self) -> None:
        # RWS-LANE-4
        assert sum(run is not None for run in self.running.values()) <= MAX_ACTIVE
        assert len(self.driver.runs) + len(self.driver.loads) <= MAX_ACTIVE

    def teardown(self) -> None:
        # RWS-CREATE-12: in the end every request has exactly one outcome.
        self.observe(self.driver.settle())
        assert sorted(self.answered) == list(range(self.sent))


Scheduling.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestScheduling = Scheduling.TestCase
