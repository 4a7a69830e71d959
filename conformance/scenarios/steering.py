"""Scenarios of ``response.steer`` against a server without the steering profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.config import SuiteConfig, responses_url
from conformance.harness.context import ScenarioContext
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import continuable, describe, expect_run_status
from conformance.scenarios._inflight import ATTEMPTS, long_turn
from conformance.scenarios._model import pattern
from conformance.scenarios._stream import set_aside_unexercised

__all__: list[str] = []


def _steering_declared(config: SuiteConfig) -> str | None:
    if "steering" in config.profiles and config.no_steering_url is None:
        return (
            "the server declares the steering profile; RWS-STEER-1 applies only without it "
            "(give an instance without steering with --no-steering-url URL)"
        )
    return None


def _plain_url(config: SuiteConfig) -> str | None:
    """Where RWS-STEER-1 is tested: the server, or its instance without steering."""
    if "steering" in config.profiles and config.no_steering_url is not None:
        return responses_url(config.no_steering_url)
    return None


async def _steer_refused(ctx: ScenarioContext, conn: Connection) -> tuple[Any, Message, int, str]:
    """Steer the run just requested, after its response.created; return the target's id,
    the response.steer.failed that answered, where the steer was sent and its description."""

    def created(message: Message) -> bool:
        return message.type == "response.created"

    sent = len(conn.messages)
    first = await conn.expect_within(
        created, ctx.config.timeout, since=sent, what="response.created"
    )
    response = (first.event or {}).get("response")
    target = response.get("id") if isinstance(response, Mapping) else None
    steer_input = [{"role": "user", "content": "also mention the weather"}]
    since = len(conn.messages)
    await conn.send_json(
        {"type": "response.steer", "previous_response_id": target, "input": steer_input}
    )

    def steer_failed(message: Message) -> bool:
        return message.type == "response.steer.failed"

    what = (
        f"a response.steer targeting run {target} (sent after its response.created, on a "
        "server that does not declare the steering profile)"
    )
    try:
        answer = await conn.expect_within(steer_failed, ctx.config.timeout, since=since)
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        ctx.not_applicable("RWS-SEQ-5", "no steering event came to be numbered")
        raise ctx.fail("RWS-STEER-1", f"{what}: no response.steer.failed: {exc}") from exc
    return target, answer, since, what


# RWS-STEER-1: response.steer -> response.steer.failed steering_not_supported, target intact.
# Refusing steering does not depend on the model, so this runs with any model; only the
# target's exact output is predicted for conformance-1.
@scenario(
    "steering.not-supported",
    "response.steer on a core server fails with steering_not_supported; the run is unaffected",
    requirements=("RWS-STEER-1", "RWS-SEQ-5"),
    drives="a slow run; response.steer targeting it while it runs (another model: a request "
    "for a long answer, steered after its response.created, asked again up to 3 times when "
    "the answer ended before the steer was answered)",
    skip_if=_steering_declared,
    needs_model=False,
)
async def not_supported(ctx: ScenarioContext) -> None:
    conn = await ctx.connect(url=_plain_url(ctx.config))
    # Another model may finish before the steer is answered: a reply numbered 0 then shows
    # nothing of RWS-SEQ-5, so the check asks again for a long answer, up to ATTEMPTS times.
    attempts = 1 if ctx.config.scripted else ATTEMPTS
    for attempt in range(attempts):
        event = long_turn(ctx, "rws:delay ms=40\nrws:text length=20 chunks=4", attempt, store=False)
        index = await ctx.send_create(conn, event)
        target, answer, since, what = await _steer_refused(ctx, conn)
        ran_past = (answer.event or {}).get("sequence_number") != 0
        if ctx.config.scripted or ran_past or attempt == attempts - 1:
            break
        await ctx.outcome(conn, index, what="the steered run")
    event_in = answer.event or {}
    error = event_in.get("error")
    steer = event_in.get("steer")
    code = error.get("code") if isinstance(error, Mapping) else None
    ctx.expect(
        "RWS-STEER-1",
        code == "steering_not_supported",
        f"{what}: response.steer.failed carries error.code {code!r}, expected "
        "'steering_not_supported'",
    )
    echoed = isinstance(steer, Mapping) and steer.get("previous_response_id") == target
    ctx.expect("RWS-STEER-1", echoed, f"steer does not echo previous_response_id: {steer!r}")
    ctx.expect(
        "RWS-STEER-1",
        isinstance(steer, Mapping) and "id" not in steer,
        f"the steer of a refused submission carries an id: {steer!r}",
    )
    run = await ctx.outcome(conn, index, what="the steered run")
    # Any other steering answer (pending, accepted) means the refused steer was taken up.
    accepted = [
        m.type
        for m in conn.messages[since:]
        if (m.type or "").startswith("response.steer.") and m.type != "response.steer.failed"
    ]
    ctx.expect(
        "RWS-STEER-1",
        not accepted,
        f"{what}: the server refused the steer and also sent {accepted}",
    )
    if not ctx.config.scripted:
        # Unaffected: the target ends as any run does, not cut for a successor (reason
        # 'steered'); its text is the model's own and cannot be predicted.
        details = run.response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        ctx.expect(
            "RWS-STEER-1",
            run.kind == "run" and run.status in continuable(ctx) and reason != "steered",
            f"{what}: the target run then ended {describe(run)}"
            + (f" (reason {reason!r})" if reason else ""),
        )
        ctx.note("steered_run", describe(run))
        # RWS-SEQ-5 numbers a reply for a running target from the target's sequence: a model
        # that finished before the steer was answered leaves only the reply numbered 0.
        set_aside_unexercised(
            ctx,
            ("RWS-SEQ-5",),
            f"the target run ended before the steer was answered ({describe(run)}, then "
            "response.steer.failed), so no steering event was sent while it ran",
        )
        return
    if expect_run_status(ctx, run, "completed", "RWS-STEER-1", what="the target run"):
        ctx.expect(
            "RWS-STEER-1",
            run.output_texts() == [pattern(20)],
            f"the target's output changed: {run.output_texts()!r}",
        )
