"""Ask a server whether it serves a model, before a run chooses its model."""

from __future__ import annotations

import trio

from conformance.harness.config import SuiteConfig
from conformance.harness.lanes import outcomes
from conformance.harness.wire import (
    ConnectionClosedError,
    ExpectationTimeout,
    Recorder,
    Rejected,
    open_connection,
)

__all__ = ["offers_model"]


async def offers_model(config: SuiteConfig, model: str) -> bool:
    """Whether a ``generate: false`` request for ``model`` completes on the server.

    Raises :class:`Rejected` when the server cannot be reached or refuses the upgrade, so
    that the caller can say so instead of blaming the model.
    """
    recorder = Recorder()
    refused: Rejected | None = None
    offered = False
    async with trio.open_nursery() as nursery:
        try:
            conn = await open_connection(
                nursery, recorder, config.url, api_key=config.api_key, open_timeout=config.timeout
            )
        except Rejected as exc:
            # Re-raised outside the nursery: the caller gets it, not an exception group.
            refused = exc
        else:
            request = {
                "type": "response.create",
                "model": model,
                "input": "probe",
                "generate": False,
                "store": False,
            }
            await conn.send_json(request)

            def answered() -> bool:
                found = outcomes(conn.events, None)
                return bool(found) and found[0].complete

            try:
                await conn.wait_until(answered, config.timeout, what="the model probe")
                offered = outcomes(conn.events, None)[0].status == "completed"
            except (ExpectationTimeout, ConnectionClosedError):
                offered = False
            await conn.close()
        nursery.cancel_scope.cancel()
    if refused is not None:
        raise refused
    return offered
