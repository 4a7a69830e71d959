"""Scenarios of the connection-scoped cache and continuation (RWS-CACHE-*, RWS-MODEL-3).

The conformance model's ``rws:context`` directive answers with the number of context items
and their digest, so the suite can tell exactly which context a continuation was served
with (appendix A.1) and how many tokens came from the cache (RWS-MODEL-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, Rejected
from conformance.scenarios._common import describe, expect_error, expect_run_status
from conformance.scenarios._model import context_text, normalise_input, tokens_of

__all__: list[str] = []

_FIRST = "rws:text length=24 chunks=3"


def done_items(run: Outcome) -> list[Any]:
    """The items of a run's ``response.output_item.done`` events, in output_index order."""
    done = run.of_type("response.output_item.done")
    ordered = sorted(done, key=lambda e: int(e.get("output_index", 0) or 0))
    return [e.get("item") for e in ordered]


def cached_tokens(run: Outcome) -> Any:
    """``usage.input_tokens_details.cached_tokens`` of a run (None when absent)."""
    usage = run.response.get("usage")
    details = usage.get("input_tokens_details") if isinstance(usage, Mapping) else None
    return details.get("cached_tokens") if isinstance(details, Mapping) else None


def expect_context(
    ctx: ScenarioContext, run: Outcome, context: list[Any], requirement: str, what: str
) -> bool:
    """Expect the ``rws:context`` answer of ``run`` to describe exactly ``context``."""
    want = context_text(context)
    got = run.output_texts()
    return ctx.expect(
        requirement,
        got == [want],
        f"{what}: the model saw another context: answered {got!r}, expected [{want!r}]",
    )


async def continue_with_context(
    ctx: ScenarioContext,
    conn: Connection,
    previous: Outcome,
    *,
    store: bool,
    what: str,
    stream_id: str | None = None,
) -> Outcome:
    """Continue ``previous`` with ``rws:context`` and return the outcome."""
    fields: dict[str, Any] = {"store": store, "previous_response_id": previous.response_id}
    if stream_id is not None:
        fields["stream_id"] = stream_id
    return await ctx.request(conn, ctx.create("rws:context", **fields), what=what)


async def _same_connection(ctx: ScenarioContext, store: bool) -> None:
    conn = await ctx.connect()
    first = await ctx.completed(conn, ctx.create(_FIRST, store=store), what="the first run")
    second = await continue_with_context(ctx, conn, first, store=store, what="the continuation")
    if not expect_run_status(ctx, second, "completed", "RWS-CACHE-2", what="continuation"):
        return
    ctx.expect("RWS-CACHE-1", True, "")
    restored = normalise_input(_FIRST) + done_items(first)
    expect_context(
        ctx, second, [*restored, *normalise_input("rws:context")], "RWS-CACHE-2", "continuation"
    )
    want = tokens_of(restored)
    got = cached_tokens(second)
    ctx.expect("RWS-MODEL-3", got == want, f"cached_tokens {got!r}, expected {want}")
    ctx.expect(
        "RWS-MODEL-3",
        cached_tokens(first) == 0,
        f"the first run reports cached_tokens {cached_tokens(first)!r}, expected 0",
    )


# RWS-CACHE-1, RWS-CACHE-2, RWS-MODEL-3 with store false.
@scenario(
    "cache.continue-store-false",
    "a store:false response is continued on the same connection with the right context",
    requirements=("RWS-CACHE-1", "RWS-CACHE-2", "RWS-MODEL-3"),
    drives="run 1 store:false; run 2 previous_response_id=run 1 with 'rws:context'",
)
async def continue_store_false(ctx: ScenarioContext) -> None:
    await _same_connection(ctx, store=False)


# RWS-CACHE-1, RWS-CACHE-2, RWS-MODEL-3 with store true.
@scenario(
    "cache.continue-store-true",
    "a store:true response is continued on the same connection from the cache",
    requirements=("RWS-CACHE-1", "RWS-CACHE-2", "RWS-MODEL-3"),
    drives="run 1 store:true; run 2 previous_response_id=run 1 with 'rws:context'",
)
async def continue_store_true(ctx: ScenarioContext) -> None:
    await _same_connection(ctx, store=True)


# RWS-CACHE-8, RWS-CACHE-4: a store:false response is not served on another connection,
# neither while its connection is open nor after it closed.
@scenario(
    "cache.store-false-miss-on-other-connection",
    "a store:false response cannot be continued from another connection",
    requirements=("RWS-CACHE-8", "RWS-CACHE-4"),
    drives="run 1 store:false on c1; continue it on c2 (c1 open) and on c3 (c1 closed)",
)
async def store_false_other_connection(ctx: ScenarioContext) -> None:
    first_conn = await ctx.connect()
    first = await ctx.completed(first_conn, ctx.create(_FIRST, store=False))
    for label in ("while its connection is open", "after its connection closed"):
        if label.startswith("after"):
            await first_conn.close()
        other = await ctx.connect()
        outcome = await continue_with_context(ctx, other, first, store=False, what=label)
        ctx.expect(
            "RWS-CACHE-8",
            outcome.kind == "error",
            f"continuing a store:false response {label}: got {describe(outcome)}",
        )
        expect_error(
            ctx,
            outcome,
            "previous_response_not_found",
            "RWS-CACHE-4",
            what=f"continuation {label}",
            param="previous_response_id",
        )


# RWS-CACHE-3, RWS-CACHE-11, RWS-MODEL-3: a stored response is hydrated on a new connection;
# RWS-CACHE-4 (D24): on a server that declares storage=none, it is previous_response_not_found.
@scenario(
    "cache.store-true-hydrated-after-reconnect",
    "a store:true response is hydrated on a new connection with the same context "
    "(not found on a server declaring storage=none)",
    requirements=("RWS-CACHE-3", "RWS-CACHE-11", "RWS-MODEL-3", "RWS-CACHE-4"),
    drives="run 1 store:true on c1, close c1; continue it on c2 with 'rws:context'",
)
async def hydrated(ctx: ScenarioContext) -> None:
    first_conn = await ctx.connect()
    first = await ctx.completed(first_conn, ctx.create(_FIRST, store=True))
    await first_conn.close()
    conn = await ctx.connect()
    second = await continue_with_context(ctx, conn, first, store=True, what="hydration")
    if ctx.config.parameter("storage") == "none":
        reason = "the server declares storage=none: nothing is hydrated (D24)"
        for requirement in ("RWS-CACHE-3", "RWS-CACHE-11", "RWS-MODEL-3"):
            ctx.not_applicable(requirement, reason)
        expect_error(
            ctx,
            second,
            "previous_response_not_found",
            "RWS-CACHE-4",
            what="continuing a store:true response on a new connection with storage=none",
            param="previous_response_id",
        )
        return
    ctx.not_applicable("RWS-CACHE-4", "the server declares storage=durable: it hydrates")
    if not expect_run_status(ctx, second, "completed", "RWS-CACHE-3", what="hydrated run"):
        ctx.expect("RWS-CACHE-11", False, "a stored, completed response could not be hydrated")
        return
    ctx.expect("RWS-CACHE-11", True, "")
    restored = normalise_input(_FIRST) + done_items(first)
    expect_context(
        ctx, second, [*restored, *normalise_input("rws:context")], "RWS-CACHE-3", "hydration"
    )
    got = cached_tokens(second)
    ctx.expect("RWS-MODEL-3", got == 0, f"hydrated run reports cached_tokens {got!r}, expected 0")


# RWS-CACHE-4: an id nobody produced.
@scenario(
    "cache.unknown-previous-response",
    "an unknown previous_response_id gets previous_response_not_found and no run",
    requirements=("RWS-CACHE-4",),
    drives="one request with previous_response_id 'resp_rws_never_issued_0'",
    needs_model=False,
)
async def unknown_previous(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    outcome = await ctx.request(
        conn, ctx.create("hi", previous_response_id="resp_rws_never_issued_0")
    )
    expect_error(
        ctx,
        outcome,
        "previous_response_not_found",
        "RWS-CACHE-4",
        what="unknown previous_response_id",
        param="previous_response_id",
    )


# RWS-CACHE-5: a failed continuation of the lane's entry evicts it.
@scenario(
    "cache.evict-after-failed-continuation",
    "a continuation that fails evicts the lane's cached entry",
    requirements=("RWS-CACHE-5",),
    drives="run 1 store:false; run 2 continues it with 'rws:fail after=2'; run 3 continues run 1",
)
async def evict(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await ctx.completed(conn, ctx.create(_FIRST, store=False))
    failing = await ctx.request(
        conn,
        ctx.create("rws:fail after=2", store=False, previous_response_id=first.response_id),
        what="the failing continuation",
    )
    if failing.status != "failed":
        raise ctx.fail(
            "RWS-CACHE-5", f"prerequisite: expected a failed run, got {describe(failing)}"
        )
    again = await continue_with_context(ctx, conn, first, store=False, what="after the failure")
    expect_error(
        ctx,
        again,
        "previous_response_not_found",
        "RWS-CACHE-5",
        what="continuing the evicted entry",
        param="previous_response_id",
    )


# RWS-CACHE-7: a failed run is not cached, and the lane keeps its previous entry.
@scenario(
    "cache.failed-run-not-cached",
    "a failed run cannot be continued; the lane keeps its previous entry",
    requirements=("RWS-CACHE-7",),
    drives="run 1 store:false; run 2 (new, 'rws:fail after=3'); continue run 2; continue run 1",
)
async def failed_not_cached(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await ctx.completed(conn, ctx.create(_FIRST, store=False))
    failing = await ctx.request(conn, ctx.create("rws:fail after=3", store=False))
    if failing.status != "failed":
        raise ctx.fail(
            "RWS-CACHE-7", f"prerequisite: expected a failed run, got {describe(failing)}"
        )
    from_failed = await continue_with_context(ctx, conn, failing, store=False, what="from failed")
    expect_error(
        ctx,
        from_failed,
        "previous_response_not_found",
        "RWS-CACHE-7",
        what="continuing the failed run",
        param="previous_response_id",
    )
    kept = await continue_with_context(ctx, conn, first, store=False, what="the kept entry")
    expect_run_status(ctx, kept, "completed", "RWS-CACHE-7", what="continuing the kept entry")


# RWS-CACHE-10: a generate:false response is a cached entry whose context is its input.
@scenario(
    "cache.generate-false-chainable",
    "a generate:false response is cached and its context is exactly its input",
    requirements=("RWS-CACHE-10",),
    drives="generate:false store:false with a two-message input; continue it with 'rws:context'",
)
async def generate_false_chain(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    warm = [
        {"role": "user", "content": "remember the number 7"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ok"}]},
    ]
    first = await ctx.completed(conn, ctx.create(warm, store=False, generate=False))
    second = await continue_with_context(ctx, conn, first, store=False, what="the continuation")
    if expect_run_status(ctx, second, "completed", "RWS-CACHE-10", what="continuation"):
        context = [*normalise_input(warm), *normalise_input("rws:context")]
        expect_context(ctx, second, context, "RWS-CACHE-10", "continuing generate:false")


def _single_key(config: Any) -> str | None:
    if config.api_key2 is None and config.single_key:
        return "the user declared that only one API key is available (--single-key)"
    return None


# RWS-LIMIT-5: another API key cannot continue a stored response.
@scenario(
    "cache.other-api-key-not-found",
    "a stored response cannot be continued by a connection with another API key",
    requirements=("RWS-LIMIT-5",),
    drives="run 1 store:true with key 1; continue it on a connection with key 2",
    skip_if=_single_key,
)
async def other_key(ctx: ScenarioContext) -> None:
    if ctx.config.api_key2 is None:
        raise ctx.fail(
            "RWS-LIMIT-5",
            "prerequisite missing: a second API key (--api-key2); pass --single-key to skip",
        )
    conn = await ctx.connect()
    first = await ctx.completed(conn, ctx.create(_FIRST, store=True))
    other = await ctx.try_connect(api_key=ctx.config.api_key2)
    if isinstance(other, Rejected):
        raise ctx.fail("RWS-LIMIT-5", f"prerequisite: the second API key was refused: {other}")
    outcome = await continue_with_context(ctx, other, first, store=True, what="other key")
    expect_error(
        ctx,
        outcome,
        "previous_response_not_found",
        "RWS-LIMIT-5",
        what="continuing with another API key",
        param="previous_response_id",
    )


# RWS-CACHE-9 (MAY): an older entry of the lane may or may not still be continuable.
@scenario(
    "cache.older-entry-continuation",
    "whether a store:false response older than the lane's latest can be continued (data)",
    requirements=("RWS-CACHE-9",),
    drives="run 1, run 2 (store:false, new conversations); continue run 1",
)
async def older_entry(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await ctx.completed(conn, ctx.create(_FIRST, store=False))
    await ctx.completed(conn, ctx.create(_FIRST, store=False))
    outcome = await continue_with_context(ctx, conn, first, store=False, what="older entry")
    ctx.note("older_entry_continuation", describe(outcome))
    ctx.expect("RWS-CACHE-9", True, "")


# RWS-CACHE-11: a store:true response is durable by the time its terminal event is sent, not
# only once its connection has closed: a second connection of the same key hydrates it while
# the first is still open. Runnable with any model; conformance-1 also proves the context.
@scenario(
    "cache.store-true-hydrated-while-open",
    "a store:true response is hydrated on a second connection while its own is still open",
    requirements=("RWS-CACHE-11", "RWS-CACHE-4"),
    drives="run 1 store:true on c1; with c1 still open, continue it on c2 (same API key)",
    needs_model=False,
)
async def hydrated_while_open(ctx: ScenarioContext) -> None:
    scripted = ctx.config.scripted
    fields: dict[str, Any] = (
        {"store": True} if scripted else {"store": True, "max_output_tokens": 64}
    )
    prompt = _FIRST if scripted else "Say hello in five words."
    first_conn = await ctx.connect()
    first = await ctx.completed(
        first_conn, ctx.create(prompt, **fields), incomplete_ok=not scripted
    )
    conn = await ctx.connect()
    follow = "rws:context" if scripted else "Now say goodbye in five words."
    what = "continuing it on c2 while c1 is open"
    second = await ctx.request(
        conn,
        ctx.create(follow, previous_response_id=first.response_id, **fields),
        what=what,
    )
    if first_conn.closed.is_set():
        raise PrerequisiteFailed(
            f"c1 closed (code {first_conn.close_code}) before the continuation on c2 was "
            "answered; the check needs it open"
        )
    if ctx.config.parameter("storage") == "none":
        # D24: nothing outlives its connection's cache, and c2 has none of c1's entries.
        ctx.not_applicable("RWS-CACHE-11", "the server declares storage=none (D24)")
        expect_error(
            ctx,
            second,
            "previous_response_not_found",
            "RWS-CACHE-4",
            what=f"{what} with storage=none",
            param="previous_response_id",
        )
        return
    ctx.not_applicable("RWS-CACHE-4", "the server declares storage=durable: it hydrates")
    hydrated = second.kind == "run" and second.status in ("completed", "incomplete")
    ctx.expect(
        "RWS-CACHE-11",
        hydrated,
        f"response {first.response_id} (store:true) sent response.completed on c1, which is "
        f"still open; continuing it on c2 with the same API key got {describe(second)}: a "
        "store:true response must be persisted before its terminal event is sent, not when "
        "its connection closes",
    )
    if hydrated and scripted:
        restored = normalise_input(_FIRST) + done_items(first)
        expect_context(
            ctx, second, [*restored, *normalise_input("rws:context")], "RWS-CACHE-11", what
        )
