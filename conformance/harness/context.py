"""What a scenario sees: connections, request helpers and the expectations it records.

A scenario states its wire-level expectations through :meth:`ScenarioContext.expect`
("this request was sent, a response must arrive within T", "the continuation must succeed").
The requirement's level in the registry decides what a broken expectation means: FAILED for
MUST/MUST NOT, WARNING for SHOULD/SHOULD NOT, INFORMATIONAL for MAY. Rules of the data
(ordering, deltas, sequence numbers, schemas) are NOT checked here: the sans-I/O checker
judges the transcript afterwards.

A step also declares what it relies on (``relies_on=``, :meth:`ScenarioContext.rely_on`): every
conclusion drawn after it - expectations, checker findings on later records, a prerequisite
that could not be set up - carries those requirements, and is BLOCKED by them when the run sees
one violated (:func:`conformance.results.resolve`). The helpers declare what is inherently
theirs: a setup run relies on the run lifecycle, a continuation of a response this connection
saw complete relies on the connection cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from conformance.harness.config import SuiteConfig
from conformance.harness.lanes import Outcome, missing_outcome, outcomes
from conformance.harness.wire import (
    Connection,
    ConnectionClosedError,
    ExpectationTimeout,
    Recorder,
    Rejected,
    open_connection,
)
from conformance.requirements import Requirement
from conformance.results import Verdict
from conformance.transport_http import open_http_connection

__all__ = [
    "CheckFailure",
    "Expectation",
    "PrerequisiteFailed",
    "ScenarioContext",
    "level_verdict",
]

_DEFAULT_KEY: Any = object()


def level_verdict(level: str) -> Verdict:
    """The verdict of a broken requirement of this level."""
    if level.startswith("MUST"):
        return Verdict.FAILED
    if level.startswith("SHOULD"):
        return Verdict.WARNING
    return Verdict.INFORMATIONAL


# RWS-CREATE-12, RWS-ORDER-1, RWS-ORDER-2: a setup run is answered by one run that starts
# with response.created and ends with one terminal event; what the scenario concludes after
# it relies on that lifecycle.
RUN_LIFECYCLE: tuple[str, ...] = ("RWS-CREATE-12", "RWS-ORDER-1", "RWS-ORDER-2")
# RWS-CACHE-1, RWS-CACHE-2: a response that ended completed or incomplete is the cached entry
# of its lane, and a continuation of an entry of the same connection is served from it.
CONTINUATION: tuple[str, ...] = ("RWS-CACHE-1", "RWS-CACHE-2")
# RWS-CACHE-10: a response produced with generate: false (no output) is a cached entry too.
GENERATED = "RWS-CACHE-10"
_CONTINUABLE_ENDS = ("response.completed", "response.incomplete")


@dataclass(frozen=True)
class Expectation:
    """One scenario-level expectation about one requirement, and whether it held."""

    requirement: str
    held: bool
    message: str
    # Where it was concluded (the number of wire records at that moment) and what the steps
    # before it relied on.
    position: int = 0
    relies_on: tuple[str, ...] = ()


class CheckFailure(Exception):
    """A broken expectation that makes going on pointless (the scenario stops here)."""

    def __init__(self, requirement: str, message: str, *, relies_on: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.requirement = requirement
        self.message = message
        # What concluding the violation relied on (e.g. finding the outcome by its lane).
        self.relies_on = relies_on


class PrerequisiteFailed(Exception):
    """The scenario could not set up what it needs; the check is FAILED, not skipped."""


class ScenarioContext:
    """The toolbox of one running scenario."""

    def __init__(
        self,
        config: SuiteConfig,
        nursery: trio.Nursery,
        recorder: Recorder,
        requirements: Mapping[str, Requirement],
    ) -> None:
        self.config = config
        self.nursery = nursery
        self.recorder = recorder
        self.requirements = requirements
        self.expectations: list[Expectation] = []
        # Requirements of the scenario that do not apply to this server, with the reason.
        self.skipped: dict[str, str] = {}
        self.details: dict[str, Any] = {}
        self.connections: list[Connection] = []
        self._sent: dict[tuple[str, str | None], int] = {}
        # (wire position, requirements) of every step that declared what it relies on.
        self.reliance: list[tuple[int, tuple[str, ...]]] = []

    # --- what the scenario relies on ---------------------------------------------------

    def rely_on(self, *requirements: str) -> None:
        """Declare that what the scenario concludes from here on relies on ``requirements``."""
        if requirements:
            self.reliance.append((len(self.recorder.records), tuple(requirements)))

    def relied_on(self, requirement: str, position: int | None = None) -> tuple[str, ...]:
        """What a conclusion about ``requirement`` at ``position`` (default: now) relies on.

        A step that relies on ``requirement`` itself is about it: its other requirements do
        not block a conclusion about ``requirement`` (a continuation that relies on
        RWS-CACHE-1 and RWS-CACHE-2 is direct evidence about either).
        """
        at = len(self.recorder.records) if position is None else position
        found: dict[str, None] = {}
        for start, requirements in self.reliance:
            if start <= at and requirement not in requirements:
                found.update(dict.fromkeys(requirements))
        return tuple(found)

    # --- connections -------------------------------------------------------------------

    async def try_connect(
        self,
        *,
        api_key: str | None = _DEFAULT_KEY,
        headers: Mapping[str, str] | None = None,
        compression: str | None = None,
        url: str | None = None,
        websocket: bool = False,
    ) -> Connection | Rejected:
        """Open a connection; return the :class:`Rejected` outcome instead of raising.

        Over the HTTP transport the connection sends each request as ``POST /v1/responses``
        unless ``websocket`` asks for a WebSocket (a check comparing the two).
        """
        key = self.config.api_key if api_key is _DEFAULT_KEY else api_key
        http = self.config.transport == "http" and not websocket
        if http and not headers and compression is None:
            # Spec section 13: each request one POST /v1/responses on the same base URL.
            try:
                over_http = await open_http_connection(
                    self.nursery,
                    self.recorder,
                    url or self.config.url,
                    api_key=key,
                    timeout=self.config.timeout,
                )
            except Rejected as rejected:
                return rejected
            self.connections.append(over_http)
            return over_http
        try:
            connection = await open_connection(
                self.nursery,
                self.recorder,
                url or self.config.url,
                api_key=key,
                headers=headers,
                compression=compression,
                open_timeout=self.config.timeout,
            )
        except Rejected as rejected:
            return rejected
        self.connections.append(connection)
        return connection

    async def connect(
        self,
        *,
        api_key: str | None = _DEFAULT_KEY,
        headers: Mapping[str, str] | None = None,
        compression: str | None = None,
        url: str | None = None,
        websocket: bool = False,
    ) -> Connection:
        """Open a connection the scenario needs; a refusal is a failed prerequisite."""
        result = await self.try_connect(
            api_key=api_key, headers=headers, compression=compression, url=url, websocket=websocket
        )
        if isinstance(result, Rejected):
            raise PrerequisiteFailed(f"could not open a WebSocket to {self.config.url}: {result}")
        return result

    # --- requests ----------------------------------------------------------------------

    def create(self, input: Any = "hello", **fields: Any) -> dict[str, Any]:
        """A ``response.create`` event for the configured model (fields override)."""
        event: dict[str, Any] = {"type": "response.create", "model": self.config.model}
        event["input"] = input
        event.update(fields)
        return event

    async def send_create(
        self,
        conn: Connection,
        event: Mapping[str, Any],
        note: str | None = None,
        *,
        relies_on: tuple[str, ...] = (),
    ) -> int:
        """Send a ``response.create``; return the index of its outcome on its lane.

        ``relies_on``: what the scenario's conclusions from here on rely on (besides what
        the request itself implies: see :meth:`implied_reliance`).
        """
        lane = event.get("stream_id")
        key = (conn.name, lane if isinstance(lane, str) else None)
        index = self._sent.get(key, 0)
        self._sent[key] = index + 1
        self.rely_on(*dict.fromkeys((*relies_on, *self.implied_reliance(conn, event))))
        await conn.send_json(event, note=note)
        return index

    def implied_reliance(self, conn: Connection, event: Mapping[str, Any]) -> tuple[str, ...]:
        """What a request relies on by its nature: a continuation of a response that this
        connection saw end completed or incomplete relies on the connection cache."""
        previous = event.get("previous_response_id")
        if not isinstance(previous, str):
            return ()
        for seen in conn.events:
            response = seen.get("response")
            if (
                seen.get("type") in _CONTINUABLE_ENDS
                and isinstance(response, Mapping)
                and response.get("id") == previous
            ):
                # RWS-CACHE-10: a response without output (generate: false) is an entry by
                # that rule too, so the continuation is direct evidence about it.
                return CONTINUATION if response.get("output") else (*CONTINUATION, GENERATED)
        return ()

    def resync(self, conn: Connection, lane: str | None = None) -> None:
        """Count the outcomes seen so far on a lane as the requests sent on it.

        For scenarios that send raw messages which may or may not count as requests (a
        malformed create may be answered as a frame error or as a request error).
        """
        self._sent[(conn.name, lane)] = len(outcomes(conn.events, lane))

    async def outcome(
        self,
        conn: Connection,
        index: int,
        lane: str | None = None,
        *,
        what: str = "the request",
        requirement: str | None = None,
    ) -> Outcome:
        """Wait for the ``index``-th outcome of ``lane`` to be complete and return it.

        No outcome within the timeout breaks RWS-CREATE-12 (exactly one outcome per request);
        a run without a terminal event breaks RWS-ORDER-2. ``requirement`` overrides both.
        """

        def ready() -> bool:
            found = outcomes(conn.events, lane)
            return len(found) > index and found[index].complete

        try:
            await conn.wait_until(ready, self.config.timeout, what=what)
        except (ExpectationTimeout, ConnectionClosedError) as exc:
            found = outcomes(conn.events, lane)
            started = len(found) > index
            default = "RWS-ORDER-2" if started else "RWS-CREATE-12"
            sent = {ln: n for (name, ln), n in self._sent.items() if name == conn.name}
            state = missing_outcome(conn.events, lane, index, sent)
            if isinstance(exc, ConnectionClosedError):
                state = f"{state}; then {exc.detail}"
            else:
                state = f"after {self.config.timeout:g} s, {state}"
            raise CheckFailure(requirement or default, f"{what}: {state}") from exc
        return outcomes(conn.events, lane)[index]

    async def request(
        self,
        conn: Connection,
        event: Mapping[str, Any],
        *,
        what: str = "the request",
        requirement: str | None = None,
        relies_on: tuple[str, ...] = (),
    ) -> Outcome:
        """Send a ``response.create`` and wait for its complete outcome (``relies_on``: as
        :meth:`send_create`)."""
        lane = event.get("stream_id")
        index = await self.send_create(conn, event, note=what, relies_on=relies_on)
        return await self.outcome(
            conn,
            index,
            lane if isinstance(lane, str) else None,
            what=what,
            requirement=requirement,
        )

    async def completed(
        self,
        conn: Connection,
        event: Mapping[str, Any],
        *,
        what: str = "the setup run",
        incomplete_ok: bool = False,
        relies_on: tuple[str, ...] = (),
    ) -> Outcome:
        """Run a request the scenario needs to succeed; anything else fails the prerequisite.

        ``incomplete_ok``: an ``incomplete`` run serves too (a real model may reach
        ``max_output_tokens``; such a response is cached and stored like a completed one).
        What follows relies on ``relies_on``, and on the run lifecycle (:data:`RUN_LIFECYCLE`)
        when the run did not complete.
        """
        result = await self.request(conn, event, what=what, relies_on=relies_on)
        ended = ("completed", "incomplete") if incomplete_ok else ("completed",)
        if result.status not in ended or result.response_id is None:
            # Only a setup run that did not go as relied on makes what follows rely on the
            # lifecycle: one that completed must not let an unrelated violation block the
            # scenario's own conclusions.
            self.rely_on(*RUN_LIFECYCLE)
            raise PrerequisiteFailed(f"{what} did not complete: got {result.describe()}")
        return result

    # --- expectations ------------------------------------------------------------------

    def expect(
        self, requirement: str, held: bool, message: str, *, relies_on: tuple[str, ...] = ()
    ) -> bool:
        """Record an expectation about ``requirement``; return whether it held.

        ``message`` says what was expected and what was observed (kept only when it broke);
        ``relies_on``: what this expectation alone relies on, besides the steps before it.
        """
        position = len(self.recorder.records)
        relied = tuple(
            dict.fromkeys(
                (
                    *self.relied_on(requirement, position),
                    *(r for r in relies_on if r != requirement),
                )
            )
        )
        self.expectations.append(
            Expectation(requirement, bool(held), "" if held else message, position, relied)
        )
        return bool(held)

    def not_applicable(self, requirement: str, reason: str) -> None:
        """Record that ``requirement`` does not apply under the declared configuration."""
        self.skipped[requirement] = reason

    def fail(self, requirement: str, message: str) -> CheckFailure:
        """Build the exception that stops the scenario with a broken expectation."""
        return CheckFailure(requirement, message)

    def note(self, key: str, value: Any) -> None:
        """Keep an observation (reported as data in the check's details)."""
        self.details[key] = value
