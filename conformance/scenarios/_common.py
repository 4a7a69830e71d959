"""Small helpers the scenario modules share (no rules of the data: those are the checker's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.checker.rules import load_rules
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome, error_code, error_registry
from conformance.harness.wire import Connection, Message
from conformance.wording import value_text

__all__ = [
    "ANSWER_CAP_TOKENS",
    "INVALID_PARAMETER",
    "Usage",
    "context_evidence",
    "continuable",
    "describe",
    "evicts",
    "expect_error",
    "expect_run_status",
    "expect_served",
    "first_index",
    "follow_up",
    "is_error",
    "not_reached",
    "not_scripted",
    "output_items",
    "quiet_after",
    "setup_run",
    "short_answer",
    "turn",
]

# The any-model paths. A model other than conformance-1 follows no directive, so those paths
# send ordinary prompts and cap each answer, to keep setup runs short. A real model may reach
# the cap: such a run ends `incomplete`, and an incomplete response is cached and stored like
# a completed one (RWS-CACHE-1, D6), so the paths accept it wherever they need a response.
ANSWER_CAP_TOKENS = 64


def describe(outcome: Outcome) -> str:
    """What came back, for failure messages: the error event with its code, type and status
    as received, or the run with its response id, lane and ending (:meth:`Outcome.describe`).
    """
    return outcome.describe()


def _field_received(label: str, value: Any, *, present: bool) -> str:
    """``"came without `status`"`` or ``"carried status 500"``: a field of an error event."""
    if not present:
        return f"came without `{label}`"
    return f"carried `{label}` {value_text(value)}" if value is not None else f"had `{label}` null"


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
        f"{what}: expected an `error` event with code `{code}`, got {describe(outcome)}",
    ):
        return False
    entry = error_registry().get(code, {})
    status = outcome.first.get("status")
    inner = outcome.first.get("error")
    wanted_status = entry.get("status")
    held = ctx.expect(
        requirement,
        status == wanted_status,
        f"{what}: the `error` event `{code}` "
        f"{_field_received('status', status, present='status' in outcome.first)}"
        f" (the error registry gives status {wanted_status} for this code)",
    )
    if param is not None:
        got_param = inner.get("param") if isinstance(inner, Mapping) else None
        where = (
            _field_received("error.param", got_param, present="param" in inner)
            if isinstance(inner, Mapping)
            else "came without an `error` object (flat shape), so without `error.param`"
        )
        held = (
            ctx.expect(
                requirement,
                got_param == param,
                f"{what}: the `error` event `{code}` {where} (expected `{param}`)",
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
        f"{what}: expected a run that ends with `response.{status}`, got {describe(outcome)}",
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


def turn(ctx: ScenarioContext, directive: str, prompt: str, **fields: Any) -> dict[str, Any]:
    """A ``response.create``: ``directive`` for conformance-1, else the ordinary ``prompt``.

    For a model other than conformance-1 the answer is capped at :data:`ANSWER_CAP_TOKENS`
    (``max_output_tokens``) unless ``fields`` say otherwise; ``fields`` override.
    """
    if ctx.config.scripted:
        return ctx.create(directive, **fields)
    return ctx.create(prompt, **{"max_output_tokens": ANSWER_CAP_TOKENS, **fields})


def continuable(ctx: ScenarioContext) -> tuple[str, ...]:
    """The run endings the suite accepts for a response it continues.

    conformance-1 plays its directive to the end (``completed``); another model may reach
    ``max_output_tokens`` (``incomplete``, which is continuable too: RWS-CACHE-1, D6).
    """
    return ("completed",) if ctx.config.scripted else ("completed", "incomplete")


async def setup_run(
    ctx: ScenarioContext,
    conn: Connection,
    directive: str,
    prompt: str,
    *,
    what: str = "the setup run",
    **fields: Any,
) -> Outcome:
    """Run :func:`turn`'s request; a run that does not end continuably fails the prerequisite."""
    return await ctx.completed(
        conn,
        turn(ctx, directive, prompt, **fields),
        what=what,
        incomplete_ok=not ctx.config.scripted,
    )


def expect_served(ctx: ScenarioContext, outcome: Outcome, requirement: str, *, what: str) -> bool:
    """Expect ``outcome`` to be a run that ended continuably (see :func:`continuable`).

    ``what`` says what was sent ("continuing resp_1 (store:false) on the same connection");
    the message adds what came back.
    """
    ended = continuable(ctx)
    return ctx.expect(
        requirement,
        outcome.kind == "run" and outcome.status in ended,
        f"{what}: expected a run that ends with "
        f"{' or '.join(f'`response.{e}`' for e in ended)}, got {describe(outcome)}",
    )


def evicts(code: str | None) -> bool | str:
    """Whether a request-scoped error ``code`` evicts the entry its request continues.

    RWS-CACHE-5, RWS-CACHE-13: from ``evicts`` in schemas/rules/errors.json (True, False or
    ``"may"``); a code the registry does not list takes its ``unregistered`` row.
    """
    return load_rules().evicts(code or "")


@dataclass(frozen=True)
class Usage:
    """The token counts a run's terminal ``response.usage`` reports (None: not reported)."""

    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    reasoning_tokens: int | None

    @classmethod
    def of(cls, outcome: Outcome) -> Usage:
        """The usage of a finished run (every count None when the server reports none)."""
        usage = outcome.response.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        details_in = usage.get("input_tokens_details")
        details_out = usage.get("output_tokens_details")
        return cls(
            input_tokens=_count(usage.get("input_tokens")),
            output_tokens=_count(usage.get("output_tokens")),
            cached_tokens=_count(
                details_in.get("cached_tokens") if isinstance(details_in, Mapping) else None
            ),
            reasoning_tokens=_count(
                details_out.get("reasoning_tokens") if isinstance(details_out, Mapping) else None
            ),
        )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def context_evidence(previous: Outcome, follow: Outcome) -> dict[str, Any]:
    """What ``follow``'s usage says about the context it continued ``previous`` with.

    RWS-CACHE-2 asks that a continuation's context be the previous context, its output, then
    the new input; so its input is at least the previous input plus the previous visible
    output (reasoning tokens excluded: a server need not carry reasoning over). A server that
    reports no cached tokens counts the whole context in ``input_tokens``; when that count is
    smaller, the context lost something. The specification says nothing about the usage a
    model other than conformance-1 reports, so this is data (INFORMATIONAL), never a verdict.
    With cached tokens reported, ``input_tokens`` may count only the uncached part: a smaller
    count is then not read as lost context.
    """
    before, after = Usage.of(previous), Usage.of(follow)
    reading: dict[str, Any] = {
        "previous_response": previous.response_id,
        "response": follow.response_id,
        "previous_input_tokens": before.input_tokens,
        "previous_output_tokens": before.output_tokens,
        "previous_reasoning_tokens": before.reasoning_tokens,
        "input_tokens": after.input_tokens,
        "cached_tokens": after.cached_tokens,
    }
    if before.input_tokens is None or before.output_tokens is None or after.input_tokens is None:
        reading["reading"] = "not judged: the server does not report input and output tokens"
        return reading
    floor = before.input_tokens + before.output_tokens - (before.reasoning_tokens or 0)
    if after.input_tokens >= floor:
        reading["lost_context"] = False
        reading["reading"] = (
            f"consistent: {after.input_tokens} input tokens, at least the {floor} of the "
            "previous response's input and visible output"
        )
    elif after.cached_tokens:
        reading["reading"] = (
            f"not judged: {after.input_tokens} input tokens, fewer than the {floor} of the "
            f"previous response's input and visible output, but {after.cached_tokens} are "
            "reported cached, and input_tokens may then count only the uncached part"
        )
    else:
        reading["lost_context"] = True
        reading["reading"] = (
            f"evidence of lost context: the continuation reports {after.input_tokens} input "
            f"tokens, none cached, fewer than the {floor} of the previous response's input and "
            "visible output it continues"
        )
    return reading


def not_reached(ctx: ScenarioContext, requirement: str, why: str) -> None:
    """Record that ``requirement`` was not reached with the configured model, and why.

    For what a model other than conformance-1 may or may not produce (a refusal, reasoning,
    a call, an ``incomplete`` run): judged when it comes, never forced, SKIPPED otherwise.
    """
    ctx.not_applicable(requirement, f"not reached with model {ctx.config.model!r}: {why}")


def not_scripted(ctx: ScenarioContext, requirement: str, what: str) -> None:
    """Record that the conformance-1 part about ``requirement`` did not run, and why."""
    ctx.not_applicable(
        requirement,
        f"{what} is predicted for the model conformance-1 only; the suite runs with model "
        f"{ctx.config.model!r}",
    )


# The cap of another model's turn whose answer matters only as a cached entry: a short cap
# keeps such turns quick on a server that paces its output like a real model (an incomplete
# response is continuable like a completed one, RWS-CACHE-1).
SHORT_ANSWER_TOKENS = 16

# The invalid value a check sends to make a continuation fail with any model: a string where
# the schema of response.create asks for a number, which any server refuses whatever the
# model (RWS-CREATE-5: invalid_type or invalid_value; the registry marks both as evicting).
INVALID_PARAMETER = ("temperature", "hot")


def short_answer(ctx: ScenarioContext) -> dict[str, Any]:
    """``turn`` fields capping another model's answer at :data:`SHORT_ANSWER_TOKENS`."""
    return {} if ctx.config.scripted else {"max_output_tokens": SHORT_ANSWER_TOKENS}


async def follow_up(
    ctx: ScenarioContext,
    conn: Connection,
    previous: Outcome,
    *,
    what: str,
    requirement: str,
    **fields: Any,
) -> Outcome:
    """Continue ``previous`` (store:false) on ``conn`` with a short ordinary turn.

    conformance-1 gets ``rws:text length=5``, another model a one-line prompt capped at
    :data:`SHORT_ANSWER_TOKENS`; ``requirement`` is charged when no outcome comes.
    """
    return await ctx.request(
        conn,
        turn(
            ctx,
            "rws:text length=5",
            "Now say goodbye in five words.",
            store=False,
            previous_response_id=previous.response_id,
            **{**short_answer(ctx), **fields},
        ),
        what=what,
        requirement=requirement,
    )
