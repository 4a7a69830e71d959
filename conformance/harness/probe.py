"""Ask a server whether it serves a model, before a run chooses its model."""

from __future__ import annotations

import trio

from conformance.harness.config import SuiteConfig
from conformance.harness.wire import (
    ConnectionClosedError,
    ExpectationTimeout,
    Recorder,
    Rejected,
    open_connection,
)

__all__ = ["offers_model"]


async def offers_model(config: SuiteConfig, model: str) -> bool:
    """Whether the server starts a run for a ``generate: false`` request for ``model``.

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

            def first_answer() -> str | None:
                # The first response.created or error, on any lane: a server that starts a run
                # for the model offers it, whatever else is wrong with the run (a probe that
                # waited for a correct terminal event would call a server with a broken stream
                # "no conformance-1", and its checks would never run and fail).
                for event in conn.events:
                    if event.get("type") in ("response.created", "error"):
                        return str(event["type"])
                return None

            try:
                await conn.wait_until(
                    lambda: first_answer() is not None, config.timeout, what="the model probe"
                )
                offered = first_answer() == "response.created"
            except (ExpectationTimeout, ConnectionClosedError):
                offered = False
            await conn.close()
        nursery.cancel_scope.cancel()
    if refused is not None:
        raise refused
    return offered
