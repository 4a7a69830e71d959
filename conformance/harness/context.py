"""What a scenario sees: connections, request helpers and the expectations it records.

A scenario states its wire-level expectations through :meth:`ScenarioContext.expect`
("this request was sent, a response must arrive within T", "the continuation must succeed").
The requirement's level in the registry decides what a broken expectation means: FAILED for
MUST/MUST NOT, WARNING for SHOULD/SHOULD NOT, INFORMATIONAL for MAY. Rules of the data
(ordering, deltas, sequence numbers, schemas) are NOT checked here: the sans-I/O checker
judges the transcript afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from conformance.harness.config import SuiteConfig
from conformance.harness.lanes import Outcome, outcomes
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


@dataclass(frozen=True)
class Expectation:
    """One scenario-level expectation about one requirement, and whether it held."""

    requirement: str
    held: bool
    message: str


class CheckFailure(Exception):
    """A broken expectation that makes going on pointless (the scenario stops here)."""

    def __init__(self, requirement: str, message: str) -> None:
        super().__init__(message)
        self.requirement = requirement
        self.message = message


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

    # --- connections -------------------------------------------------------------------

    async def try_connect(
        self,
        *,
        api_key: str | None = _DEFAULT_KEY,
        headers: Mapping[str, str] | None = None,
        compression: str | None = None,
        url: str | None = None,
    ) -> Connection | Rejected:
        """Open a connection; return the :class:`Rejected` outcome instead of raising."""
        key = self.config.api_key if api_key is _DEFAULT_KEY else api_key
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
    ) -> Connection:
        """Open a connection the scenario needs; a refusal is a failed prerequisite."""
        result = await self.try_connect(
            api_key=api_key, headers=headers, compression=compression, url=url
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
        self, conn: Connection, event: Mapping[str, Any], note: str | None = None
    ) -> int:
        """Send a ``response.create``; return the index of its outcome on its lane."""
        lane = event.get("stream_id")
        key = (conn.name, lane if isinstance(lane, str) else None)
        index = self._sent.get(key, 0)
        self._sent[key] = index + 1
        await conn.send_json(event, note=note)
        return index

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
            state = (
                f"run {found[index].response_id} started but has no terminal event"
                if started
                else "neither response.created nor a request-scoped error arrived"
            )
            if isinstance(exc, ConnectionClosedError):
                state += f"; the connection closed (code {exc.code})"
            else:
                state += f" within {self.config.timeout:g} s"
            raise CheckFailure(requirement or default, f"{what}: {state}") from exc
        return outcomes(conn.events, lane)[index]

    async def request(
        self,
        conn: Connection,
        event: Mapping[str, Any],
        *,
        what: str = "the request",
        requirement: str | None = None,
    ) -> Outcome:
        """Send a ``response.create`` and wait for its complete outcome."""
        lane = event.get("stream_id")
        index = await self.send_create(conn, event, note=what)
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
    ) -> Outcome:
        """Run a request the scenario needs to succeed; anything else fails the prerequisite.

        ``incomplete_ok``: an ``incomplete`` run serves too (a real model may reach
        ``max_output_tokens``; such a response is cached and stored like a completed one).
        """
        result = await self.request(conn, event, what=what)
        ended = ("completed", "incomplete") if incomplete_ok else ("completed",)
        if result.status not in ended or result.response_id is None:
            detail = result.code or result.status
            raise PrerequisiteFailed(f"{what} did not complete (got {detail})")
        return result

    # --- expectations ------------------------------------------------------------------

    def expect(self, requirement: str, held: bool, message: str) -> bool:
        """Record an expectation about ``requirement``; return whether it held.

        ``message`` says what was expected and what was observed (kept only when it broke).
        """
        self.expectations.append(Expectation(requirement, bool(held), "" if held else message))
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
