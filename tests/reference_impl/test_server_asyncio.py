"""The asyncio driver's own duties (``serve``, the default driver), in process.

RWS-LIMIT-10: a stored run cut off by the client's close after it was persisted, before its
terminal event, is deleted again - the session names it in ``run_cancelled`` and the driver
must act on it, after the save (which a cancelled await does not stop in its thread); a run
cut off between two paced events is forgotten. The driver writes without a task and steps
runs from event-loop timers: a run larger than the socket takes arrives whole and in order,
and a run step that raises ends its own connection only.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from reference_impl.server import DEVELOPMENT_KEY, ServerConfig
from reference_impl.server_asyncio import serve
from reference_impl.session import RunStep, Session
from reference_impl.store import StoredResponse
from tests.reference_impl.driver import TERMINAL_TYPES, create

HEADERS = {"Authorization": f"Bearer {DEVELOPMENT_KEY}"}


async def _outcome(ws: ClientConnection) -> list[dict[str, Any]]:
    """Read one request's outcome: a run up to its terminal event, or one error."""
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(await ws.recv())
        events.append(event)
        if event["type"] in TERMINAL_TYPES or event["type"] == "error":
            return events


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


def test_a_run_cut_off_between_two_paced_events_is_forgotten() -> None:
    """RWS-LIMIT-7, RWS-LIMIT-10: the client closes while a run waits for its next event:
    the run's timer is cancelled, nothing is stored, the server serves the next client."""

    async def main() -> tuple[str, int]:
        async with serve(ServerConfig(port=0, ping_interval=None)) as running:
            async with connect(running.url, additional_headers=HEADERS) as ws:
                # A minute between events: the run is surely still in flight when we close.
                await ws.send(
                    json.dumps(create("rws:text length=100 chunks=50\nrws:delay ms=60000"))
                )
                created = json.loads(await ws.recv())
                assert created["type"] == "response.created"
            async with connect(running.url, additional_headers=HEADERS) as ws:
                await ws.send(json.dumps(create(previous_response_id=created["response"]["id"])))
                (error,) = await _outcome(ws)
            return error["error"]["code"], len(running.store)

    code, rows = asyncio.run(main())
    assert code == "previous_response_not_found"
    assert rows == 0


@pytest.mark.slow
def test_a_run_larger_than_the_socket_takes_arrives_whole_and_in_order() -> None:
    """100,000 deltas written at once: the transport keeps what the socket does not take,
    and sends it in order, before the next run's events."""

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        config = ServerConfig(port=0, ping_interval=None)
        async with (
            serve(config) as running,
            connect(running.url, additional_headers=HEADERS, max_size=None) as ws,
        ):
            await ws.send(json.dumps(create("rws:text length=1000000 chunks=100000")))
            events = await _outcome(ws)
            await ws.send(json.dumps(create("after")))
            return events, await _outcome(ws)

    events, after = asyncio.run(main())
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert sum(e["type"] == "response.output_text.delta" for e in events) == 100_000
    assert events[-1]["type"] == after[-1]["type"] == "response.completed"


def test_a_failing_run_step_closes_only_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run step that raises (a bug) closes its connection with 1011, as a failing handler's
    does; the other connections' runs go on."""
    step = Session.step
    failed = False

    def fail_once(self: Session, run_id: int, now: float) -> RunStep:
        nonlocal failed
        if not failed:
            failed = True
            raise RuntimeError("a bug in a run step")
        return step(self, run_id, now)

    monkeypatch.setattr(Session, "step", fail_once)

    async def main() -> tuple[int | None, str]:
        async with (
            serve(ServerConfig(port=0, ping_interval=None)) as running,
            connect(running.url, additional_headers=HEADERS) as victim,
            connect(running.url, additional_headers=HEADERS) as other,
        ):
            await victim.send(json.dumps(create()))
            assert json.loads(await victim.recv())["type"] == "response.created"
            with pytest.raises(ConnectionClosed):
                await victim.recv()
            await other.send(json.dumps(create("rws:delay ms=10\nrws:text length=8 chunks=2")))
            return victim.close_code, (await _outcome(other))[-1]["type"]

    assert asyncio.run(main()) == (1011, "response.completed")
