"""The asyncio I/O layer of the reference server (``serve --io asyncio``), end to end.

The full conformance suite runs against it in ``test_bench_quick.py``; these tests check the
glue's own duties the suite does not reach from one connection: the upgrade refusals, the
limits header, and a clean shutdown on SIGTERM.
"""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

__all__: list[str] = []

pytestmark = pytest.mark.slow

KEY = "rws-test-key"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    argv = [
        sys.executable,
        "-m",
        "reference_impl",
        "serve",
        "--io",
        "asyncio",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        "--api-key",
        KEY,
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = re.search(r"listening on (ws://\S+)", process.stdout.readline())
        assert match is not None
        yield match.group(1), process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _status(url: str, path: str, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_asyncio_server_refuses_bad_upgrades(server: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = server
    # RWS-TRANS-4: a plain GET on the path gets 426; another path 404.
    assert _status(url, "/v1/responses", {}) == 426
    assert _status(url, "/v1/other", {}) == 404
    # RWS-TRANS-2: no accepted credentials, no WebSocket.
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": "Bearer wrong"})
    assert refused.value.response.status_code == 401


def test_asyncio_server_advertises_limits_and_streams_a_run(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = server
    with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        # RWS-TRANS-11: the limits header on a successful upgrade.
        assert ws.response is not None
        assert "max-connection-age=" in ws.response.headers["responses-ws-limits"]
        ws.send('{"type":"response.create","model":"conformance-1","input":"rws:text length=9"}')
        types: list[str] = []
        while not types or types[-1] != "response.completed":
            message = ws.recv(timeout=10)
            assert isinstance(message, str)
            kind = re.search(r'"type":"([^"]+)"', message)
            assert kind is not None
            types.append(kind.group(1))
    assert types[0] == "response.created"
    assert "response.output_text.delta" in types


def test_asyncio_server_closes_connections_with_1001_on_sigterm(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = server
    with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=10)
        # RWS-ERR-6: 1001, the server is going away.
        assert ws.close_code == 1001
    assert process.wait(timeout=10) == 0
