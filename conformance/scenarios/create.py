"""Scenarios of ``response.create`` validation and parameters (RWS-CREATE-*)."""

from __future__ import annotations

from conformance.harness.context import ScenarioContext
from conformance.harness.registry import scenario
from conformance.scenarios._common import (
    describe,
    expect_error,
    expect_run_status,
    expect_served,
    follow_up,
    output_items,
    quiet_after,
    setup_run,
    short_answer,
)

__all__: list[str] = []


# RWS-CREATE-18/19/20 (D4): stream absent/null/true is accepted; stream:false and
# background:true are either served as ordinary streamed runs of the connection or refused
# with unsupported_parameter naming the parameter - which one is recorded as data.
@scenario(
    "create.stream-and-background",
    "stream absent/null/true is accepted; stream:false and background:true are served as "
    "streamed runs or refused with unsupported_parameter",
    requirements=("RWS-CREATE-18", "RWS-CREATE-19", "RWS-CREATE-12", "RWS-CREATE-14"),
    deliberate=("RWS-CREATE-2",),
    drives="generate:false requests with stream null, true, stream_options; requests with "
    "stream false and background true",
    needs_model=False,
)
async def stream_and_background(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    for fields in ({}, {"stream": None}, {"stream": True}):
        what = f"request with {fields or 'no stream field'}"
        run = await ctx.request(conn, ctx.create("hi", generate=False, **fields), what=what)
        expect_run_status(ctx, run, "completed", "RWS-CREATE-18", what=what)
    # RWS-CREATE-14: stream_options is accepted (and has no effect).
    options = {"stream_options": {"include_obfuscation": False}}
    run = await ctx.request(conn, ctx.create("hi", generate=False, **options), what="options")
    expect_run_status(ctx, run, "completed", "RWS-CREATE-14", what="request with stream_options")
    answers: dict[str, str] = {}
    for name, value, requirement in (
        ("stream", False, "RWS-CREATE-18"),
        ("background", True, "RWS-CREATE-19"),
    ):
        what = f"request with {name}: {str(value).lower()}"
        since = len(conn.messages)
        outcome = await ctx.request(conn, ctx.create("hi", **{name: value}), what=what)
        if outcome.kind == "run":
            # Served: it must be an ordinary run of this connection that streams to its
            # terminal event on the request's lane (the checker judges its events).
            answers[name] = f"served as a run ending {outcome.status}"
            expect_run_status(ctx, outcome, "completed", requirement, what=what)
            continue
        # RWS-CREATE-20: the one permitted refusal, naming the parameter.
        answers[name] = f"refused with {outcome.code}"
        expect_error(ctx, outcome, "unsupported_parameter", requirement, what=what, param=name)
        extra = await quiet_after(ctx, conn, since + 1)
        ctx.expect(
            "RWS-CREATE-12",
            extra is None,
            f"{what}: after its error the server sent {extra.type if extra else ''!r}",
        )
    ctx.note("stream_false_and_background_answers", answers)


# RWS-CREATE-4 (SHOULD): unknown top-level fields are ignored (MAY: unknown_parameter).
@scenario(
    "create.unknown-field-ignored",
    "an unknown top-level field of response.create is ignored",
    requirements=("RWS-CREATE-4",),
    drives="one generate:false request with the extra field x_rws_unknown_field",
    needs_model=False,
)
async def unknown_field(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    outcome = await ctx.request(
        conn, ctx.create("hi", generate=False, x_rws_unknown_field=1), what="unknown field"
    )
    if outcome.kind == "error" and outcome.code == "unknown_parameter":
        # The MAY alternative: permitted, reported as data.
        ctx.note("unknown_field_answer", "unknown_parameter (permitted alternative)")
        ctx.expect("RWS-CREATE-4", True, "")
        return
    expect_run_status(ctx, outcome, "completed", "RWS-CREATE-4", what="unknown field ignored")


# RWS-CREATE-5, RWS-CREATE-12: a request that does not validate gets exactly one error
# naming the field, and no run. RWS-ERR-3: sent after a completed turn whose entry is cached,
# the errors leave the connection usable and the entry in place (they continue nothing, so
# RWS-CACHE-5 evicts nothing). Runs with any model.
@scenario(
    "create.invalid-request",
    "an invalid response.create gets one error naming the field and starts no run; the "
    "connection and its cached entry stay usable",
    requirements=("RWS-CREATE-5", "RWS-CREATE-12", "RWS-ERR-3"),
    drives="turn 1 store:false; input of type number; temperature as a string; each followed "
    "by the quiet period; continue turn 1",
    needs_model=False,
)
async def invalid_request(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await setup_run(
        ctx,
        conn,
        "rws:text length=10",
        "Say hello in five words.",
        store=False,
        what="turn 1 (store:false, cached on this connection)",
        **short_answer(ctx),
    )
    cases = (("input", ctx.create(12345)), ("temperature", ctx.create("hi", temperature="hot")))
    allowed = ("invalid_type", "invalid_value", "missing_required_parameter")
    answers: list[str] = []
    for param, event in cases:
        what = f"request with an invalid {param}"
        since = len(conn.messages)
        outcome = await ctx.request(conn, event, what=what, requirement="RWS-CREATE-5")
        answers.append(f"{what}: {describe(outcome)}")
        ok = outcome.kind == "error" and outcome.code in allowed
        ctx.expect(
            "RWS-CREATE-5", ok, f"{what}: expected one of {allowed}, got {describe(outcome)}"
        )
        if ok:
            inner = outcome.first.get("error")
            got = inner.get("param") if isinstance(inner, dict) else None
            ctx.expect("RWS-CREATE-5", got == param, f"{what}: param {got!r}, expected {param!r}")
        extra = await quiet_after(ctx, conn, since + 1)
        ctx.expect(
            "RWS-CREATE-12",
            extra is None,
            f"{what}: a second answer {extra.type if extra else ''!r} followed the first",
        )
        if conn.closed.is_set():
            raise ctx.fail(
                "RWS-ERR-3",
                f"response {first.response_id} (store:false) was cached on this connection; "
                f"{'; '.join(answers)}; then the server closed the connection (code "
                f"{conn.close_code}), losing the cached entry",
            )
    sent = "; ".join(answers)
    follow = await follow_up(
        ctx,
        conn,
        first,
        what="continuing turn 1 after the invalid requests",
        requirement="RWS-ERR-3",
    )
    expect_served(
        ctx,
        follow,
        "RWS-ERR-3",
        what=f"response {first.response_id} (store:false) ended {first.status} and is cached "
        f"on this connection; new requests (not continuations) were refused ({sent}); then a "
        f"continuation of {first.response_id} on the same connection",
    )


# RWS-CREATE-6: generate:false runs a response with no output and output_tokens 0, usable
# as previous_response_id.
@scenario(
    "create.generate-false",
    "generate:false completes with empty output and 0 output tokens, and can be continued",
    requirements=("RWS-CREATE-6",),
    drives="a generate:false request, then a generate:false continuation of it",
    needs_model=False,
)
async def generate_false(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("warm up", generate=False, store=False))
    if not expect_run_status(ctx, run, "completed", "RWS-CREATE-6", what="generate:false"):
        return
    usage = run.response.get("usage") or {}
    ctx.expect("RWS-CREATE-6", output_items(run) == [], "generate:false produced output items")
    ctx.expect(
        "RWS-CREATE-6",
        usage.get("output_tokens") == 0,
        f"usage.output_tokens is {usage.get('output_tokens')!r}, expected 0",
    )
    follow = await ctx.request(
        conn,
        ctx.create("next", generate=False, store=False, previous_response_id=run.response_id),
        what="continuation of the generate:false response",
    )
    expect_run_status(ctx, follow, "completed", "RWS-CREATE-6", what="continuing generate:false")


# RWS-CREATE-7: "stream_id": null is the default lane.
@scenario(
    "create.null-stream-id",
    '"stream_id": null is treated as the default lane',
    requirements=("RWS-CREATE-7", "RWS-EVENT-5"),
    deliberate=("RWS-CREATE-8",),
    drives='one generate:false request with "stream_id": null',
    needs_model=False,
)
async def null_stream_id(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("hi", generate=False, stream_id=None))
    expect_run_status(ctx, run, "completed", "RWS-CREATE-7", what='"stream_id": null')
    carried = [e.get("type") for e in run.events if "stream_id" in e]
    ctx.expect("RWS-EVENT-5", not carried, f"default-lane events carry stream_id: {carried}")


# RWS-CREATE-16 (SHOULD): each request is served with the model it names, not with the model
# of an earlier request on the connection.
@scenario(
    "create.model-per-request",
    "a request naming an unknown model is not served with the connection's earlier model",
    requirements=("RWS-CREATE-16",),
    drives="a generate:false request with the configured model, then one naming "
    "'rws-no-such-model'",
    needs_model=False,
)
async def model_per_request(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    await ctx.completed(conn, ctx.create("hi", generate=False))
    outcome = await ctx.request(
        conn, ctx.create("hi", generate=False, model="rws-no-such-model"), what="unknown model"
    )
    served = outcome.response.get("model") if outcome.kind == "run" else None
    ctx.expect(
        "RWS-CREATE-16",
        outcome.kind == "error" or served == "rws-no-such-model",
        f"a request for 'rws-no-such-model' was served by {served!r}",
    )
    ctx.note("unknown_model_answer", describe(outcome))
