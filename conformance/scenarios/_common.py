"""Small helpers the scenario modules share (no rules of the data: those are the checker's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome, error_code, error_registry
from conformance.harness.wire import Connection, Message

__all__ = [
    "describe",
    "expect_error",
    "expect_run_status",
    "first_index",
    "is_error",
    "output_items",
    "quiet_after",
]


def describe(outcome: Outcome) -> str:
    """A short description of an outcome for failure messages."""
    if outcome.kind == "error":
        return f"error {outcome.code!r} (status {outcome.first.get('status')!r})"
    return f"run {outcome.response_id} ending {outcome.status}" + (
        f" ({outcome.code})" if outcome.status == "failed" else ""
    )


def expect_error(
    ctx: ScenarioContext,
    outcome: Outcome,
    code: str,
    requirement: str,
    *,
    what: str,
    param: str | None = None,
) -> bool:
    """Expect ``outcome`` to be the request-scoped error ``code`` with its registry status."""
    if not ctx.expect(
        requirement,
        outcome.kind == "error" and outcome.code == code,
        f"{what}: expected the error {code!r}, got {describe(outcome)}",
    ):
        return False
    entry = error_registry().get(code, {})
    status = outcome.first.get("status")
    inner = outcome.first.get("error")
    got_param = inner.get("param") if isinstance(inner, Mapping) else None
    held = ctx.expect(
        requirement,
        status == entry.get("status"),
        f"{what}: {code} must carry status {entry.get('status')}, got {status!r}",
    )
    if param is not None:
        held = (
            ctx.expect(
                requirement,
                got_param == param,
                f"{what}: {code} must name param {param!r}, got {got_param!r}",
            )
            and held
        )
    return held


def expect_run_status(
    ctx: ScenarioContext, outcome: Outcome, status: str, requirement: str, *, what: str
) -> bool:
    """Expect ``outcome`` to be a run that ended with ``status``."""
    return ctx.expect(
        requirement,
        outcome.kind == "run" and outcome.status == status,
        f"{what}: expected a run ending {status}, got {describe(outcome)}",
    )


def output_items(outcome: Outcome) -> list[Mapping[str, Any]]:
    """The items of the terminal response's ``output``."""
    return [item for item in outcome.response.get("output") or [] if isinstance(item, Mapping)]


def first_index(conn: Connection, event_type: str, response_id: str | None = None) -> int | None:
    """The message index of the first event of a type (of one response, when given)."""
    for message in conn.messages:
        event = message.event
        if event is None or event.get("type") != event_type:
            continue
        response = event.get("response")
        if response_id is None or (
            isinstance(response, Mapping) and response.get("id") == response_id
        ):
            return message.index
    return None


def is_error(code: str) -> Any:
    """A message predicate: an ``error`` event with this code."""

    def predicate(message: Message) -> bool:
        return (
            message.event is not None
            and message.type == "error"
            and error_code(message.event) == code
        )

    return predicate


async def quiet_after(ctx: ScenarioContext, conn: Connection, since: int) -> Message | None:
    """Watch the quiet period for any event after message ``since``; return it, or None."""
    return await conn.expect_nothing_during(
        lambda m: m.event is not None, ctx.config.quiet_period, since=since
    )
