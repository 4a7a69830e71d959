"""store=true responses survive a restart and a ``kill -9`` of the server process.

Each test runs ``python -m reference_impl serve`` as a subprocess on port 0, reads the bound
URL from its ``listening on`` line, stores a response, stops the process, starts a new one on
the same ``--data-dir`` and continues the stored response on a fresh connection
(RWS-CACHE-3, RWS-CACHE-11); each with both I/O drivers (``--io``).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed
from websockets.trio.client import connect

from reference_impl import model
from reference_impl.store import DATABASE_NAME
from tests.reference_impl.driver import TERMINAL_TYPES, create
from tests.reference_impl.process import server_process

__all__: list[str] = []

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("io", ["asyncio", "trio"])]

KEY = "persist-key"


def turn(url: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Open a connection, send one event, return its outcome."""

    async def run() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps(event))
            events: list[dict[str, Any]] = []
            while not events or events[-1]["type"] not in (*TERMINAL_TYPES, "error"):
                events.append(json.loads(await ws.recv()))
            return events

    return trio.run(run)


def continue_after(stop: signal.Signals, data_dir: Path, io: str) -> None:
    with server_process(data_dir, "--io", io, "--api-key", KEY) as (process, url):
        first = turn(url, create("rws:text length=33"))[-1]
        assert first["type"] == "response.completed"
        # Stopped right after the terminal event was received.
        process.send_signal(stop)
        status = process.wait(timeout=30)
        # SIGINT and SIGTERM are clean shutdowns.
        assert status == (-signal.SIGKILL if stop is signal.SIGKILL else 0)
    with server_process(data_dir, "--io", io, "--api-key", KEY) as (_, url):
        events = turn(url, create("rws:context", previous_response_id=first["response"]["id"]))
    end = events[-1]
    assert end["type"] == "response.completed", end
    context = [
        *model.normalize_input("rws:text length=33"),
        *first["response"]["output"],
        *model.normalize_input("rws:context"),
    ]
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    assert done["text"] == f"context items={len(context)} digest={model.context_digest(context)}"
    assert end["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stored_response_survives_a_restart(stop: signal.Signals, tmp_path: Path, io: str) -> None:
    """After a clean shutdown and a new process, the response hydrates with its context."""
    continue_after(stop, tmp_path, io)


def test_shutdown_closes_open_connections_with_1001(tmp_path: Path, io: str) -> None:
    """RWS-ERR-6: on SIGTERM open connections close with 1001 (going away)."""

    async def run(url: str, process: subprocess.Popen[str]) -> int | None:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with connect(url, additional_headers=headers) as ws:
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    with server_process(tmp_path, "--io", io, "--api-key", KEY) as (process, url):
        assert trio.run(run, url, process) == 1001
        assert process.wait(timeout=30) == 0


def test_stored_response_survives_kill_9(tmp_path: Path, io: str) -> None:
    """After SIGKILL right after the terminal event, the response is still there."""
    continue_after(signal.SIGKILL, tmp_path, io)


def test_store_false_response_does_not_survive_a_restart(tmp_path: Path, io: str) -> None:
    """store=false is never written: after a restart it is not found."""
    with server_process(tmp_path, "--io", io, "--api-key", KEY) as (process, url):
        first = turn(url, create(store=False))[-1]
        process.send_signal(signal.SIGKILL)
        process.wait()
    with server_process(tmp_path, "--io", io, "--api-key", KEY) as (_, url):
        (error,) = turn(url, create(previous_response_id=first["response"]["id"]))
    assert error["error"]["code"] == "previous_response_not_found"


def test_a_locked_database_fails_the_stored_run_only(tmp_path: Path, io: str) -> None:
    """Issue 18: while another process holds the database's write lock, a store:true run
    ends response.failed (server_error) after the bounded busy wait; a store:false run on
    another lane of the same connection completes, and the connection stays open."""
    with server_process(tmp_path, "--io", io, "--api-key", KEY) as (_, url):
        other = sqlite3.connect(tmp_path / DATABASE_NAME, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")

        async def run() -> dict[str | None, str]:
            headers = {"Authorization": f"Bearer {KEY}"}
            ends: dict[str | None, str] = {}
            async with connect(url, additional_headers=headers) as ws:
                await ws.send(json.dumps(create("rws:text length=8", stream_id="kept")))
                await ws.send(
                    json.dumps(create("rws:text length=8", stream_id="free", store=False))
                )
                while len(ends) < 2:
                    event = json.loads(await ws.recv())
                    if event["type"] in TERMINAL_TYPES:
                        ends[event.get("stream_id")] = event["type"]
                        if event["type"] == "response.failed":
                            assert event["response"]["error"]["code"] == "server_error"
                other.execute("ROLLBACK")
                # The connection goes on: the next stored run is saved and completes.
                await ws.send(json.dumps(create("rws:text length=8", stream_id="kept")))
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] in TERMINAL_TYPES:
                        ends["after"] = event["type"]
                        return ends

        ends = trio.run(run)
        other.close()
    assert ends == {
        "kept": "response.failed",
        "free": "response.completed",
        "after": "response.completed",
    }
