"""Scenarios of ``response.steer`` against a server without the steering profile."""

from __future__ import annotations

from collections.abc import Mapping

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.registry import scenario
from conformance.harness.wire import ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import expect_run_status
from conformance.scenarios._model import pattern

__all__: list[str] = []


def _steering_declared(config: SuiteConfig) -> str | None:
    if "steering" in config.profiles:
        return "the server declares the steering profile; RWS-STEER-1 applies only without it"
    return None


# RWS-STEER-1: response.steer -> response.steer.failed steering_not_supported, target intact.
@scenario(
    "steering.not-supported",
    "response.steer on a core server fails with steering_not_supported; the run is unaffected",
    requirements=("RWS-STEER-1", "RWS-SEQ-5"),
    drives="a slow run; response.steer targeting it while it runs",
    skip_if=_steering_declared,
)
async def not_supported(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    prompt = "rws:delay ms=40\nrws:text length=20 chunks=4"
    index = await ctx.send_create(conn, ctx.create(prompt, store=False))

    def created(message: Message) -> bool:
        return message.type == "response.created"

    first = await conn.expect_within(created, ctx.config.timeout, what="response.created")
    response = (first.event or {}).get("response")
    target = response.get("id") if isinstance(response, Mapping) else None
    steer_input = [{"role": "user", "content": "also mention the weather"}]
    since = len(conn.messages)
    await conn.send_json(
        {"type": "response.steer", "previous_response_id": target, "input": steer_input}
    )

    def steer_failed(message: Message) -> bool:
        return message.type == "response.steer.failed"

    try:
        answer = await conn.expect_within(steer_failed, ctx.config.timeout, since=since)
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail("RWS-STEER-1", f"no response.steer.failed: {exc}") from exc
    event = answer.event or {}
    error = event.get("error")
    steer = event.get("steer")
    code = error.get("code") if isinstance(error, Mapping) else None
    ctx.expect("RWS-STEER-1", code == "steering_not_supported", f"error.code {code!r}")
    echoed = isinstance(steer, Mapping) and steer.get("previous_response_id") == target
    ctx.expect("RWS-STEER-1", echoed, f"steer does not echo previous_response_id: {steer!r}")
    ctx.expect(
        "RWS-STEER-1",
        isinstance(steer, Mapping) and "id" not in steer,
        f"the steer of a refused submission carries an id: {steer!r}",
    )
    run = await ctx.outcome(conn, index, what="the steered run")
    if expect_run_status(ctx, run, "completed", "RWS-STEER-1", what="the target run"):
        ctx.expect(
            "RWS-STEER-1",
            run.output_texts() == [pattern(20)],
            f"the target's output changed: {run.output_texts()!r}",
        )
