"""Scenarios of error reporting (RWS-ERR-*): shapes come from the checker, the rest from here."""

from __future__ import annotations

from collections.abc import Mapping

from conformance.harness.context import ScenarioContext
from conformance.harness.registry import scenario
from conformance.scenarios._common import describe, expect_served, follow_up, setup_run

__all__: list[str] = []


# RWS-ERR-1, RWS-ERR-2, RWS-ERR-10, RWS-ERR-5, RWS-SEQ-4: several errors, judged by the checker
# for shape and registry agreement; here for what only the suite knows (its API key, no
# internals).
@scenario(
    "errors.shape-and-registry",
    "request and frame errors are wrapped, match the registry and leak nothing",
    requirements=("RWS-ERR-1", "RWS-ERR-2", "RWS-ERR-10", "RWS-ERR-5", "RWS-SEQ-4"),
    deliberate=("RWS-TRANS-6",),
    drives="unknown previous_response_id, invalid input type, invalid JSON, unknown type",
    needs_model=False,
)
async def shape(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    await ctx.request(conn, ctx.create("hi", previous_response_id="resp_rws_never_issued_1"))
    await ctx.request(conn, ctx.create(12345))
    for text in ("{not json", '{"type":"response.nope"}'):
        since = len(conn.messages)
        await conn.send_text(text)
        await conn.expect_within(lambda m: m.type == "error", ctx.config.timeout, since=since)
    errors = [e for e in conn.events if e.get("type") == "error"]
    ctx.expect("RWS-ERR-1", len(errors) == 4, f"expected 4 error events, got {len(errors)}")
    secret = ctx.config.api_key or "\0"
    for event in errors:
        inner = event.get("error")
        message = str(inner.get("message", "")) if isinstance(inner, Mapping) else ""
        leaked = [
            marker
            for marker in ("Traceback (most recent call last)", 'File "', secret)
            if marker in message
        ]
        ctx.expect("RWS-ERR-5", not leaked, f"error.message leaks {leaked}: {message[:200]!r}")


# RWS-ERR-3: after request-scoped errors the connection and its cache stay usable. Runs with
# any model: the outcome (a run, not an error or a close) is what is judged.
@scenario(
    "errors.connection-usable-after-error",
    "after a request-scoped error the connection and its cached entry stay usable",
    requirements=("RWS-ERR-3",),
    drives="run 1 store:false; new invalid request (input 12345); continue run 1",
    needs_model=False,
)
async def usable(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await setup_run(
        ctx, conn, "rws:text length=10", "Say hello in five words.", store=False
    )
    invalid = await ctx.request(conn, ctx.create(12345), what="the invalid request")
    follow = await follow_up(
        ctx, conn, first, what="the request after the error", requirement="RWS-ERR-3"
    )
    expect_served(
        ctx,
        follow,
        "RWS-ERR-3",
        what=f"response {first.response_id} (store:false) ended {first.status}; a new request "
        f"with input 12345 got {describe(invalid)}; continuing {first.response_id} on the same "
        "connection",
    )
    ctx.expect("RWS-ERR-3", not conn.closed.is_set(), "the connection closed after the error")
