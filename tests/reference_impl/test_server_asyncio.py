"""The asyncio driver's own duties (``serve --io asyncio``), in process.

RWS-LIMIT-10: a stored run cut off by the client's close after it was persisted, before its
terminal event, is deleted again - the session names it in ``run_cancelled`` and the driver
must act on it, after the save (which a cancelled await does not stop in its thread).
"""

from __future__ import annotations

import asyncio
import json
import threading

from websockets.asyncio.client import connect

from reference_impl.server import DEVELOPMENT_KEY, ServerConfig
from reference_impl.server_asyncio import serve
from reference_impl.store import StoredResponse

__all__: list[str] = []


def test_a_run_cut_off_while_it_is_persisted_is_deleted_again() -> None:
    """RWS-LIMIT-10, RWS-CACHE-11: close during the save of a store=true run: the row the
    save wrote is gone once the connection's tasks have ended."""
    saving = threading.Event()  # the save has started
    release = threading.Event()  # let the save finish
    deleted = threading.Event()

    async def main() -> tuple[str, int]:
        config = ServerConfig(port=0, ping_interval=None)
        async with serve(config) as running:
            store = running.store
            save, delete = store.save, store.delete

            def slow_save(record: StoredResponse, api_key: str) -> None:
                saving.set()
                release.wait(30)
                save(record, api_key)

            def observed_delete(response_id: str) -> None:
                delete(response_id)
                deleted.set()

            store.save = slow_save  # type: ignore[method-assign]
            store.delete = observed_delete  # type: ignore[method-assign]
            headers = {"Authorization": f"Bearer {DEVELOPMENT_KEY}"}
            async with connect(running.url, additional_headers=headers) as ws:
                await ws.send(
                    json.dumps({"type": "response.create", "model": "conformance-1", "input": "hi"})
                )
                created = json.loads(await ws.recv())
                assert created["type"] == "response.created"
                assert await asyncio.to_thread(saving.wait, 30)
            # The client is gone; the save goes on in its thread and then writes the row.
            release.set()
            assert await asyncio.to_thread(deleted.wait, 30)
            return created["response"]["id"], len(store)

    response_id, rows = asyncio.run(main())
    assert response_id.startswith("resp_")
    assert rows == 0
