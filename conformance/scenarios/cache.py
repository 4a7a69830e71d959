"""Scenarios of the connection-scoped cache and continuation (RWS-CACHE-*, RWS-MODEL-3).

Whether a continuation is served or answered ``previous_response_not_found`` does not depend
on the model, so every check here runs with any model: it sends ordinary prompts, caps the
answers (``max_output_tokens``) and judges hits, misses and evictions by the outcome, a run
or an error code. With the conformance model the checks also prove the exact parts: its
``rws:context`` directive answers with the number of context items and their digest, so the
suite can tell exactly which context a continuation was served with (appendix A.1) and how
many tokens came from the cache (RWS-MODEL-3), and ``rws:fail`` makes a run fail on request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, Rejected
from conformance.scenarios._common import (
    INVALID_PARAMETER,
    Usage,
    context_evidence,
    describe,
    evicts,
    expect_error,
    expect_run_status,
    expect_served,
    not_scripted,
    setup_run,
    turn,
)
from conformance.scenarios._model import context_text, normalise_input, tokens, tokens_of

__all__: list[str] = []

_FIRST = "rws:text length=24 chunks=3"
# The any-model paths' prompts (conformance-1 gets the directives above and 'rws:context').
_ASK = "Name three colours, in one short sentence."
_ASK_MORE = (
    "Now name three animals, in one short sentence.",
    "And three cities, in one short sentence?",
)


def _flag(store: bool | None) -> str:
    return "store absent" if store is None else f"store:{str(store).lower()}"


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
    store: bool | None,
    what: str,
    stream_id: str | None = None,
    prompt: str = _ASK_MORE[0],
    **extra: Any,
) -> Outcome:
    """Continue ``previous`` and return the outcome.

    conformance-1 gets ``rws:context``; another model the ordinary ``prompt``, its answer
    capped. ``store`` None leaves the field out.
    """
    fields: dict[str, Any] = {"previous_response_id": previous.response_id, **extra}
    if store is not None:
        fields["store"] = store
    if stream_id is not None:
        fields["stream_id"] = stream_id
    return await ctx.request(conn, turn(ctx, "rws:context", prompt, **fields), what=what)


async def _same_connection(ctx: ScenarioContext, store: bool) -> None:
    conn = await ctx.connect()
    first = await setup_run(ctx, conn, _FIRST, _ASK, store=store, what="the first run")
    if not ctx.config.scripted:
        await _chain(ctx, conn, first, store)
        return
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


async def _chain(ctx: ScenarioContext, conn: Connection, first: Outcome, store: bool) -> None:
    """Any model: two continuations on the first run's connection must each be served."""
    previous = first
    readings: list[dict[str, Any]] = []
    for number, prompt in enumerate(_ASK_MORE, start=2):
        what = (
            f"response {previous.response_id} ({_flag(store)}) ended {previous.status} on this "
            f"connection; run {number} continued it on the same connection "
            "(previous_response_id, only the new input)"
        )
        follow = await continue_with_context(
            ctx, conn, previous, store=store, prompt=prompt, what=f"run {number}"
        )
        # RWS-CACHE-1: the ended response became the lane's entry; RWS-CACHE-2: the entry is
        # served. A miss (previous_response_not_found) breaks one of them; which one, the
        # wire does not tell.
        served = expect_served(ctx, follow, "RWS-CACHE-2", what=what)
        ctx.expect(
            "RWS-CACHE-1",
            served,
            f"{what}: got {describe(follow)}; a response that ended {previous.status} must "
            "become the lane's cached entry",
        )
        if not served:
            break
        # RWS-CACHE-2 (data): what the continuation's usage says about its context.
        readings.append(context_evidence(previous, follow))
        previous = follow
    ctx.note("context_evidence", readings)
    if store:
        ctx.note(
            "served_from",
            "not told apart: with a model other than conformance-1 a continuation served "
            "from the cache and one hydrated from storage look alike on the wire",
        )
    not_scripted(ctx, "RWS-MODEL-3", "the exact cached_tokens of a continuation")


# RWS-CACHE-1, RWS-CACHE-2, RWS-MODEL-3 with store false.
@scenario(
    "cache.continue-store-false",
    "a store:false response is continued on the same connection with the right context",
    requirements=("RWS-CACHE-1", "RWS-CACHE-2", "RWS-MODEL-3"),
    drives="run 1 store:false; run 2 previous_response_id=run 1 with 'rws:context' "
    "(another model: runs 2 and 3 continue the chain with ordinary prompts)",
    needs_model=False,
)
async def continue_store_false(ctx: ScenarioContext) -> None:
    await _same_connection(ctx, store=False)


# RWS-CACHE-1, RWS-CACHE-2, RWS-MODEL-3 with store true.
@scenario(
    "cache.continue-store-true",
    "a store:true response is continued on the same connection from the cache",
    requirements=("RWS-CACHE-1", "RWS-CACHE-2", "RWS-MODEL-3"),
    drives="run 1 store:true; run 2 previous_response_id=run 1 with 'rws:context' "
    "(another model: runs 2 and 3 continue the chain with ordinary prompts)",
    needs_model=False,
)
async def continue_store_true(ctx: ScenarioContext) -> None:
    await _same_connection(ctx, store=True)


# RWS-CACHE-8, RWS-CACHE-4: a store:false response is not served on another connection,
# neither while its connection is open nor after it closed (the miss after a reconnect).
@scenario(
    "cache.store-false-miss-on-other-connection",
    "a store:false response cannot be continued from another connection",
    requirements=("RWS-CACHE-8", "RWS-CACHE-4"),
    drives="run 1 store:false on c1; continue it on c2 (c1 open) and on c3 (c1 closed)",
    needs_model=False,
)
async def store_false_other_connection(ctx: ScenarioContext) -> None:
    first_conn = await ctx.connect()
    first = await setup_run(ctx, first_conn, _FIRST, _ASK, store=False)
    for label in ("while its connection is open", "after its connection closed"):
        if label.startswith("after"):
            await first_conn.close()
        other = await ctx.connect()
        what = (
            f"response {first.response_id} (store:false) ended {first.status} on c1; "
            f"continuing it on a new connection {label}"
        )
        outcome = await continue_with_context(ctx, other, first, store=False, what=label)
        ctx.expect(
            "RWS-CACHE-8",
            outcome.kind == "error",
            f"{what} got {describe(outcome)}: a store:false response exists only in the cache "
            "of its own connection",
        )
        expect_error(
            ctx,
            outcome,
            "previous_response_not_found",
            "RWS-CACHE-4",
            what=what,
            param="previous_response_id",
        )


async def _hydrated(ctx: ScenarioContext, store: bool | None) -> None:
    """A stored response (``store`` true or absent) continued on a new connection."""
    fields: dict[str, Any] = {} if store is None else {"store": store}
    first_conn = await ctx.connect()
    first = await setup_run(ctx, first_conn, _FIRST, _ASK, what="the first run", **fields)
    await first_conn.close()
    conn = await ctx.connect()
    what = (
        f"response {first.response_id} ({_flag(store)}) ended {first.status} on c1, which was "
        "then closed; continuing it on a new connection c2 with the same API key"
    )
    second = await continue_with_context(ctx, conn, first, store=store, what="hydration")
    if ctx.config.parameter("storage") == "none":
        reason = "the server declares storage=none: nothing is hydrated (D24)"
        for requirement in ("RWS-CACHE-3", "RWS-CACHE-11", "RWS-MODEL-3"):
            ctx.not_applicable(requirement, reason)
        expect_error(
            ctx,
            second,
            "previous_response_not_found",
            "RWS-CACHE-4",
            what=f"{what}, on a server that declares storage=none",
            param="previous_response_id",
        )
        return
    ctx.not_applicable("RWS-CACHE-4", "the server declares storage=durable: it hydrates")
    if not ctx.config.scripted:
        not_scripted(ctx, "RWS-MODEL-3", "cached_tokens 0 for a hydrated run")
    # RWS-CACHE-3: hydrated and served; RWS-CACHE-11: it was persisted to be hydrated.
    if not expect_served(ctx, second, "RWS-CACHE-3", what=what):
        ctx.expect(
            "RWS-CACHE-11",
            False,
            f"{what}: a stored response that ended {first.status} could not be hydrated",
        )
        return
    ctx.expect("RWS-CACHE-11", True, "")
    if not ctx.config.scripted:
        return
    restored = normalise_input(_FIRST) + done_items(first)
    expect_context(
        ctx, second, [*restored, *normalise_input("rws:context")], "RWS-CACHE-3", "hydration"
    )
    got = cached_tokens(second)
    ctx.expect("RWS-MODEL-3", got == 0, f"hydrated run reports cached_tokens {got!r}, expected 0")


# RWS-CACHE-3, RWS-CACHE-11, RWS-MODEL-3: a stored response is hydrated on a new connection;
# RWS-CACHE-4 (D24): on a server that declares storage=none, it is previous_response_not_found.
@scenario(
    "cache.store-true-hydrated-after-reconnect",
    "a store:true response is hydrated on a new connection with the same context "
    "(not found on a server declaring storage=none)",
    requirements=("RWS-CACHE-3", "RWS-CACHE-11", "RWS-MODEL-3", "RWS-CACHE-4"),
    drives="run 1 store:true on c1, close c1; continue it on c2 with 'rws:context' "
    "(another model: an ordinary prompt)",
    needs_model=False,
)
async def hydrated(ctx: ScenarioContext) -> None:
    await _hydrated(ctx, True)


# RWS-CACHE-3, RWS-CACHE-11, RWS-MODEL-3, RWS-CACHE-4: the same with store absent, which
# means true (spec 7.3: "store absent or true").
@scenario(
    "cache.store-absent-hydrated-after-reconnect",
    "a response sent without store (stored, like store:true) is hydrated on a new connection "
    "(not found on a server declaring storage=none)",
    requirements=("RWS-CACHE-3", "RWS-CACHE-11", "RWS-MODEL-3", "RWS-CACHE-4"),
    drives="run 1 without store on c1, close c1; continue it (without store) on c2 with "
    "'rws:context' (another model: an ordinary prompt)",
    needs_model=False,
)
async def hydrated_store_absent(ctx: ScenarioContext) -> None:
    await _hydrated(ctx, None)


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


async def _evict_after_failed_run(ctx: ScenarioContext) -> None:
    """conformance-1: a continuation that ends response.failed evicts the entry."""
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
        what=f"response {first.response_id} (store:false) was continued by a run that ended "
        f"response.failed; continuing {first.response_id} again",
        param="previous_response_id",
    )


async def _evict_after_request_error(ctx: ScenarioContext) -> None:
    """Any model: a continuation refused with an evicting error evicts the entry."""
    conn = await ctx.connect()
    first = await setup_run(ctx, conn, _FIRST, _ASK, store=False, what="run 1")
    name, value = INVALID_PARAMETER
    sent = (
        f"response {first.response_id} (store:false) ended {first.status}; a continuation of "
        f"it on the same connection with {name} {value!r} (a string where a number is "
        "required)"
    )
    refused = await continue_with_context(
        ctx, conn, first, store=False, what="the invalid continuation", **{name: value}
    )
    if refused.kind != "error":
        raise PrerequisiteFailed(
            f"{sent} started {describe(refused)} instead of being refused with a request-scoped "
            "error (RWS-CREATE-5); without a failed continuation eviction cannot be tested"
        )
    if evicts(refused.code) is not True:
        raise PrerequisiteFailed(
            f"{sent} was refused with {describe(refused)}, a code the error registry does not "
            "mark as evicting; eviction cannot be tested with it"
        )
    again = await continue_with_context(
        ctx, conn, first, store=False, prompt=_ASK_MORE[1], what="after the refusal"
    )
    expect_error(
        ctx,
        again,
        "previous_response_not_found",
        "RWS-CACHE-5",
        what=f"{sent} was refused with {refused.code!r}, an error that evicts the entry it "
        f"continues; continuing {first.response_id} again (valid request)",
        param="previous_response_id",
    )


# RWS-CACHE-5: a failed continuation of the lane's entry evicts it - a continuation refused
# with an evicting request-scoped error (any model), and one whose run ends response.failed
# (conformance-1 only: 'rws:fail' forces it).
@scenario(
    "cache.evict-after-failed-continuation",
    "a continuation that fails evicts the lane's cached entry",
    requirements=("RWS-CACHE-5",),
    drives="run 1 store:false; run 2 continues it with temperature 'hot' (refused); run 3 "
    "continues run 1. conformance-1 also: run 2 'rws:fail after=2' (failed); run 3 continues "
    "run 1",
    needs_model=False,
)
async def evict(ctx: ScenarioContext) -> None:
    if ctx.config.scripted:
        await _evict_after_failed_run(ctx)
    else:
        ctx.note(
            "failed_run_eviction",
            f"not tested: a run ending response.failed is not reached with model "
            f"{ctx.config.model!r} (only conformance-1's 'rws:fail' forces one); the eviction "
            "after a refused continuation is tested instead",
        )
    await _evict_after_request_error(ctx)


def _needs_failed_run(config: Any) -> str | None:
    if config.scripted:
        return None
    return (
        f"not reached with model {config.model!r}: the check needs a run that ends "
        "response.failed, which only conformance-1's 'rws:fail' directive forces (a real model "
        "cannot be made to fail on request)"
    )


# RWS-CACHE-7: a failed run is not cached, and the lane keeps its previous entry.
@scenario(
    "cache.failed-run-not-cached",
    "a failed run cannot be continued; the lane keeps its previous entry",
    requirements=("RWS-CACHE-7",),
    drives="run 1 store:false; run 2 (new, 'rws:fail after=3'); continue run 2; continue run 1",
    needs_model=False,
    skip_if=_needs_failed_run,
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
    drives="generate:false store:false with a two-message input; continue it with 'rws:context' "
    "(another model: an ordinary prompt)",
    needs_model=False,
)
async def generate_false_chain(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    warm = [
        {"role": "user", "content": "remember the number 7"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ok"}]},
    ]
    # RWS-CREATE-6: a generate:false response ends completed, whatever the model.
    first = await ctx.completed(conn, ctx.create(warm, store=False, generate=False))
    second = await continue_with_context(
        ctx,
        conn,
        first,
        store=False,
        prompt="Which number did I ask you to remember?",
        what="the continuation",
    )
    what = (
        f"response {first.response_id} (generate:false, store:false) ended completed; "
        "continuing it on the same connection"
    )
    if not ctx.config.scripted:
        expect_served(ctx, second, "RWS-CACHE-10", what=what)
        return
    if expect_run_status(ctx, second, "completed", "RWS-CACHE-10", what="continuation"):
        context = [*normalise_input(warm), *normalise_input("rws:context")]
        expect_context(ctx, second, context, "RWS-CACHE-10", "continuing generate:false")


def _single_key(config: Any) -> str | None:
    if config.api_key2 is None and config.single_key:
        return "the user declared that only one API key is available (--single-key)"
    return None


# RWS-LIMIT-5: another API key can neither continue a stored response while it is cached on
# its own connection nor hydrate it once that connection has closed.
@scenario(
    "cache.other-api-key-not-found",
    "a stored response cannot be continued by a connection with another API key",
    requirements=("RWS-LIMIT-5",),
    drives="run 1 store:true with key 1 on c1; continue it on c2 with key 2 (c1 open), close "
    "c1, continue it on c3 with key 2",
    skip_if=_single_key,
    needs_model=False,
)
async def other_key(ctx: ScenarioContext) -> None:
    key2 = ctx.config.api_key2
    if key2 is None:
        raise ctx.fail(
            "RWS-LIMIT-5",
            "prerequisite missing: a second API key (--api-key2); pass --single-key to skip",
        )
    conn = await ctx.connect()
    first = await setup_run(ctx, conn, _FIRST, _ASK, store=True)
    for label in ("while its connection is open", "after its connection closed"):
        if label.startswith("after"):
            await conn.close()
        other = await ctx.try_connect(api_key=key2)
        if isinstance(other, Rejected):
            raise ctx.fail("RWS-LIMIT-5", f"prerequisite: the second API key was refused: {other}")
        outcome = await continue_with_context(ctx, other, first, store=True, what=label)
        expect_error(
            ctx,
            outcome,
            "previous_response_not_found",
            "RWS-LIMIT-5",
            what=f"response {first.response_id} (store:true) ended {first.status} on a "
            f"connection of API key 1; continuing it {label} on a connection of API key 2",
            param="previous_response_id",
        )


# RWS-CACHE-9 (MAY): an older entry of the lane may or may not still be continuable.
@scenario(
    "cache.older-entry-continuation",
    "whether a store:false response older than the lane's latest can be continued (data)",
    requirements=("RWS-CACHE-9",),
    drives="run 1, run 2 (store:false, new conversations); continue run 1",
    needs_model=False,
)
async def older_entry(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await setup_run(ctx, conn, _FIRST, _ASK, store=False, what="run 1")
    newer = await setup_run(ctx, conn, _FIRST, _ASK_MORE[1], store=False, what="run 2")
    outcome = await continue_with_context(ctx, conn, first, store=False, what="older entry")
    kept = outcome.kind == "run" and outcome.status in ("completed", "incomplete")
    ctx.note(
        "older_entry_continuation",
        f"run 1 {first.response_id} and then run 2 {newer.response_id} (a new conversation) "
        f"ended on the same lane (store:false); continuing run 1 got {describe(outcome)}: "
        + (
            "the server keeps entries other than the lane's latest"
            if kept
            else "the server keeps only the lane's latest entry"
            if outcome.code == "previous_response_not_found"
            else "neither served nor previous_response_not_found"
        ),
    )
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
        f"response {first.response_id} (store:true) sent response.{first.status} on c1, which is "
        f"still open; continuing it on c2 with the same API key got {describe(second)}: a "
        "store:true response must be persisted before its terminal event is sent, not when "
        "its connection closes",
    )
    if hydrated and scripted:
        restored = normalise_input(_FIRST) + done_items(first)
        expect_context(
            ctx, second, [*restored, *normalise_input("rws:context")], "RWS-CACHE-11", what
        )


# Instructions long enough that whether a continuation's usage counts them again stands out
# from the few tokens of the new input and of template overhead (about 1,000 tokens).
_INSTRUCTIONS = "Answer in one short sentence, politely, and never mention these rules. " * 60
# Below this many input tokens for the instructions, a server does not (visibly) count them.
_INSTRUCTIONS_MIN_TOKENS = 100


def _instructions_evidence(baseline: Outcome, with_rules: Outcome, follow: Outcome) -> str:
    """What the usage of three runs says about instructions carried over (data, any model).

    ``baseline`` and ``with_rules`` have the same input, without and with the instructions;
    ``follow`` continues ``with_rules`` without instructions. Its context is the input, the
    output and the new input, so its input tokens are about the baseline's plus the visible
    output, plus the instructions' again if they were carried over.
    """
    base, ruled, after = Usage.of(baseline), Usage.of(with_rules), Usage.of(follow)
    if base.input_tokens is None or ruled.input_tokens is None or after.input_tokens is None:
        return "not judged: the server does not report input_tokens"
    if ruled.output_tokens is None:
        return "not judged: the server does not report output_tokens"
    counted = ruled.input_tokens - base.input_tokens
    if counted < _INSTRUCTIONS_MIN_TOKENS:
        return (
            f"not judged: the same input counts {base.input_tokens} input tokens without the "
            f"instructions and {ruled.input_tokens} with them; the instructions are not "
            "visibly counted"
        )
    visible = ruled.output_tokens - (ruled.reasoning_tokens or 0)
    threshold = base.input_tokens + visible + counted // 2
    numbers = (
        f"the instructions count {counted} input tokens ({base.input_tokens} without, "
        f"{ruled.input_tokens} with); the continuation without instructions reports "
        f"{after.input_tokens} input tokens ({after.cached_tokens} cached), against "
        f"{base.input_tokens} + {visible} visible output tokens for its context"
    )
    if after.input_tokens >= threshold:
        return f"the instructions appear carried over: {numbers}"
    if after.cached_tokens:
        return (
            f"consistent with instructions not carried over: {numbers} (cached tokens reported: "
            "input_tokens may count only the uncached part)"
        )
    return f"instructions not carried over: {numbers}"


# RWS-CACHE-2: the context of a continuation is the previous context, its output and the new
# input; RWS-CACHE-14: the previous request's instructions are not carried over to it.
# conformance-1: its answer names the exact context, and its input_tokens count the request's
# own instructions only (appendix A.1, A.2). Any model: the continuation is served, and its
# usage is read as data (the specification says nothing about a real model's usage).
@scenario(
    "cache.instructions-not-carried-over",
    "a continuation sent without instructions does not inherit the previous request's",
    requirements=("RWS-CACHE-2", "RWS-CACHE-14", "RWS-MODEL-2"),
    drives="run 1 store:false with long instructions; run 2 continues it without instructions "
    "and with 'rws:context' (another model: run 0, the same input without instructions, "
    "measures what the instructions count)",
    needs_model=False,
)
async def instructions_not_carried(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    baseline: Outcome | None = None
    if not ctx.config.scripted:
        baseline = await setup_run(
            ctx, conn, _FIRST, _ASK, store=False, what="run 0 (without instructions)"
        )
    first = await setup_run(
        ctx,
        conn,
        _FIRST,
        _ASK,
        store=False,
        instructions=_INSTRUCTIONS,
        what="run 1 (with instructions)",
    )
    second = await continue_with_context(ctx, conn, first, store=False, what="run 2")
    what = (
        f"response {first.response_id} (store:false, with instructions of "
        f"{len(_INSTRUCTIONS)} characters) ended {first.status}; run 2 continued it on the "
        "same connection without instructions"
    )
    if not expect_served(ctx, second, "RWS-CACHE-2", what=what):
        return
    if baseline is not None:
        ctx.note("instructions_evidence", _instructions_evidence(baseline, first, second))
        not_scripted(ctx, "RWS-MODEL-2", "the exact input_tokens of a continuation")
        # A real model's usage is evidence, not a measure the specification defines: what
        # it says is in instructions_evidence; the verdict needs conformance-1's counts.
        not_scripted(
            ctx,
            "RWS-CACHE-14",
            "run 2's exact input_tokens, which tell whether run 1's instructions were carried "
            "over (here read as evidence in instructions_evidence),",
        )
        return
    context = [*normalise_input(_FIRST), *done_items(first), *normalise_input("rws:context")]
    expect_context(ctx, second, context, "RWS-CACHE-2", what)
    # Appendix A.2: input_tokens = tokens(context) + tokens(the request's instructions).
    got = Usage.of(second).input_tokens
    want = tokens_of(context)
    carried = want + tokens(_INSTRUCTIONS)
    ctx.expect(
        "RWS-CACHE-14",
        got != carried,
        f"{what}: it reports input_tokens {got!r}, which is its context's {want} plus the "
        f"{carried - want} of run 1's instructions: they were carried over",
    )
    ctx.expect(
        "RWS-MODEL-2",
        got == want,
        f"{what}: it reports input_tokens {got!r}, expected {want} (the tokens of its context "
        "and no instructions, appendix A.2)",
    )
