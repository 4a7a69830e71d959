"""Scenarios of the opening handshake and WebSocket transport (RWS-TRANS-*)."""

from __future__ import annotations

from conformance.harness.context import ScenarioContext
from conformance.harness.registry import scenario
from conformance.harness.wire import Rejected, http_get_status
from conformance.scenarios._common import expect_run_status

__all__: list[str] = []


# RWS-TRANS-1, RWS-TRANS-3: a bare upgrade (no subprotocol, no beta header) must succeed
# with 101.
@scenario(
    "handshake.upgrade-101",
    "upgrade without subprotocol or beta header gets 101",
    requirements=("RWS-TRANS-1", "RWS-TRANS-3"),
    drives="one upgrade carrying Authorization and the RFC 6455 headers only",
    needs_model=False,
)
async def upgrade_101(ctx: ScenarioContext) -> None:
    result = await ctx.try_connect()
    status = result.status if isinstance(result, Rejected) else 101
    ctx.expect("RWS-TRANS-1", status == 101, f"expected HTTP 101, got {status}")
    ctx.expect("RWS-TRANS-3", status == 101, f"a bare upgrade was refused with HTTP {status}")


# RWS-TRANS-13, RWS-TRANS-15: unknown headers and query parameters are ignored.
@scenario(
    "handshake.unknown-header-and-query",
    "upgrade with an unknown header and an unknown query parameter gets 101",
    requirements=("RWS-TRANS-13", "RWS-TRANS-15"),
    drives="one upgrade with X-Rws-Unknown-Header and ?x_rws_unknown=1 on the URL",
    needs_model=False,
)
async def unknown_header_and_query(ctx: ScenarioContext) -> None:
    result = await ctx.try_connect(headers={"X-Rws-Unknown-Header": "ignore-me"})
    status = result.status if isinstance(result, Rejected) else 101
    ctx.expect("RWS-TRANS-13", status == 101, f"unknown header: HTTP {status}, expected 101")
    separator = "&" if "?" in ctx.config.url else "?"
    result = await ctx.try_connect(url=f"{ctx.config.url}{separator}x_rws_unknown=1")
    status = result.status if isinstance(result, Rejected) else 101
    ctx.expect("RWS-TRANS-15", status == 101, f"unknown query: HTTP {status}, expected 101")


def _refused_for_credentials(ctx: ScenarioContext, status: int | None, what: str) -> None:
    """RWS-TRANS-2/12 (MUST): a 4xx and no WebSocket; RWS-TRANS-20 (SHOULD): 401 (D1)."""
    answer = (
        "the WebSocket was opened (101)"
        if status == 101
        else "no HTTP answer"
        if status is None
        else f"HTTP {status}"
    )
    client_error = status is not None and 400 <= status <= 499
    ctx.expect(
        "RWS-TRANS-2",
        client_error,
        f"{what}: expected a refusal with a 4xx status and no WebSocket, got {answer}",
    )
    ctx.expect(
        "RWS-TRANS-12",
        status is not None and status >= 400,
        f"{what}: expected a refusal with a status of 400 or above, got {answer}",
    )
    if client_error:
        ctx.expect("RWS-TRANS-20", status == 401, f"{what}: refused with {status}, not 401")


# RWS-TRANS-2, RWS-TRANS-12, RWS-TRANS-20: no credentials -> a 4xx (401 recommended) before the
# upgrade.
@scenario(
    "handshake.no-credentials-401",
    "upgrade without Authorization is refused with a 4xx status (401 recommended)",
    requirements=("RWS-TRANS-2", "RWS-TRANS-12", "RWS-TRANS-20"),
    drives="one upgrade without an Authorization header",
    needs_model=False,
)
async def no_credentials(ctx: ScenarioContext) -> None:
    result = await ctx.try_connect(api_key=None)
    status = result.status if isinstance(result, Rejected) else 101
    _refused_for_credentials(ctx, status, "an upgrade without Authorization")


# RWS-TRANS-2, RWS-TRANS-20: credentials the server does not accept -> a 4xx (401 recommended).
@scenario(
    "handshake.bad-credentials-401",
    "upgrade with an unknown API key is refused with a 4xx status (401 recommended)",
    requirements=("RWS-TRANS-2", "RWS-TRANS-12", "RWS-TRANS-20"),
    drives="one upgrade with Authorization: Bearer <a key nobody issued>",
    needs_model=False,
)
async def bad_credentials(ctx: ScenarioContext) -> None:
    result = await ctx.try_connect(api_key="rws-conformance-not-a-valid-key-0000")
    status = result.status if isinstance(result, Rejected) else 101
    _refused_for_credentials(ctx, status, "an upgrade with a key nobody issued")


# RWS-TRANS-4 (SHOULD): a plain GET on the WebSocket path gets 426.
@scenario(
    "handshake.plain-get-426",
    "plain HTTP GET without upgrade headers is answered 426",
    requirements=("RWS-TRANS-4", "RWS-TRANS-12"),
    drives="one HTTP/1.1 GET /v1/responses without Upgrade/Connection: Upgrade",
    needs_model=False,
)
async def plain_get(ctx: ScenarioContext) -> None:
    status = await http_get_status(
        ctx.recorder, ctx.config.url, api_key=ctx.config.api_key, within=ctx.config.timeout
    )
    ctx.expect("RWS-TRANS-4", status == 426, f"expected HTTP 426, got {status}")
    # RWS-TRANS-12: whatever the status, a refusal is 400 or above.
    ctx.expect(
        "RWS-TRANS-12",
        status is not None and status >= 400,
        f"a plain GET was answered {status}, expected a status of 400 or above",
    )


# RWS-TRANS-8: the handshake completes with and without a permessage-deflate offer.
@scenario(
    "handshake.permessage-deflate",
    "handshake succeeds with and without a permessage-deflate offer",
    requirements=("RWS-TRANS-8",),
    drives="two upgrades: one offering permessage-deflate, one not; a generate:false run on each",
    needs_model=False,
)
async def deflate(ctx: ScenarioContext) -> None:
    for compression in ("deflate", None):
        label = "with" if compression else "without"
        result = await ctx.try_connect(compression=compression)
        if isinstance(result, Rejected):
            ctx.expect(
                "RWS-TRANS-8", False, f"upgrade {label} permessage-deflate refused: {result}"
            )
            continue
        ctx.note(f"deflate_{label}", result.response_headers.get("Sec-WebSocket-Extensions"))
        run = await ctx.request(result, ctx.create("hello", generate=False), what=f"run {label}")
        expect_run_status(ctx, run, "completed", "RWS-TRANS-8", what=f"run {label} deflate")


# RWS-TRANS-9: pings are answered with pongs. The transcript records each ping and pong with
# its payload; the checker judges that every ping got a pong with the same payload before the
# connection closed, the scenario that it came within the timeout.
@scenario(
    "handshake.ping-answered",
    "a WebSocket ping is answered with a pong",
    requirements=("RWS-TRANS-9",),
    drives="two ping frames on an idle connection, one with an empty payload",
    needs_model=False,
)
async def ping(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    answered = [await conn.ping(ctx.config.timeout, payload) for payload in (b"rws-ping", b"")]
    ctx.note("pongs_received", answered)
    ctx.expect("RWS-TRANS-9", all(answered), f"no pong within {ctx.config.timeout:g} s")


# RWS-TRANS-7: a client message of 1 MiB is accepted (here: a generate:false request whose
# input is just over 1 MiB, so that no model has to read it).
@scenario(
    "handshake.one-mebibyte-message",
    "a response.create message larger than 1 MiB is accepted",
    requirements=("RWS-TRANS-7",),
    drives="one response.create with generate:false and 1 MiB of input text",
    needs_model=False,
)
async def large_message(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    text = "x" * (1024 * 1024)
    run = await ctx.request(
        conn,
        ctx.create(text, generate=False, store=False),
        what="the 1 MiB request",
        requirement="RWS-TRANS-7",
    )
    expect_run_status(ctx, run, "completed", "RWS-TRANS-7", what="the 1 MiB request")
