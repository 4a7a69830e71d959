"""Fixtures for the real-SDK peer tests: a server to talk to and a way to run a peer script.

The SDKs live in their own virtualenv (they pin ``websockets`` below the project's), so each peer
runs as a subprocess with the interpreter named by ``RWS_PEERS_PYTHON`` (``make pytest`` sets
it); without it the tests skip. The server is the reference server started as a separate program
(``python -m reference_impl serve --port 0``) with a fresh data directory per test, unless
``RWS_PEERS_SERVER_URL`` (a ``ws://host:port/v1/responses`` URL) and ``RWS_PEERS_API_KEY`` name
an already running server to test instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["AGING_SERVER_MAX_AGE_S", "PeerServer", "RunPeer", "run_script"]

# The scripts run as modules of this package (``-m tests.peers.scripts.<name>``) from the
# repository root, so they can share ``_common`` and mypy can check them like any module.
REPO_ROOT = Path(__file__).resolve().parents[2]
# Generous for a loaded CI machine; a healthy run of any script takes a few seconds at most.
SCRIPT_TIMEOUT_S = 25.0
START_TIMEOUT_S = 20.0
_LISTENING = re.compile(r"listening on (ws://\S+)")


@dataclass
class PeerServer:
    """A server the peers talk to: its WebSocket URL, the key it accepts, and its logs."""

    ws_url: str
    api_key: str
    logs: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The HTTP base URL the ``openai`` SDK wants as ``base_url``.

        The SDK turns ``http`` into ``ws`` and appends ``/responses`` to the path, so
        ``http://h:p/v1`` makes it open ``ws://h:p/v1/responses``.
        """
        url = self.ws_url.removesuffix("/responses")
        return "http" + url.removeprefix("ws")

    def log_text(self) -> str:
        """Everything the server printed so far (for failure messages)."""
        return "".join(self.logs)


RunPeer = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def peers_python() -> str:
    """The interpreter of the peers virtualenv, or skip."""
    python = os.environ.get("RWS_PEERS_PYTHON")
    if not python:
        pytest.skip("RWS_PEERS_PYTHON is not set (run `make pytest`, which creates .venv-peers)")
    if not Path(python).exists():
        pytest.skip(f"RWS_PEERS_PYTHON names no file: {python}")
    return python


def _drain(stream: Any, sink: list[str]) -> None:
    # Keeps the server's pipe from filling up (a full pipe would block the server).
    for line in iter(stream.readline, b""):
        sink.append(line.decode("utf-8", "replace"))
    stream.close()


def _wait_for_listening(proc: subprocess.Popen[bytes], logs: list[str]) -> str:
    """Read the server's stdout until its ``listening on ws://...`` line; return the URL."""
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    buffered = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server printed no 'listening on' line in time")
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the server exited early (code {proc.wait()})")
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                logs.append(line + "\n")
                found = _LISTENING.search(line)
                if found:
                    if buffered:
                        logs.append(buffered.decode("utf-8", "replace"))
                    return found.group(1)


@contextlib.contextmanager
def _reference_server(data_dir: Path, *extra_args: str) -> Iterator[PeerServer]:
    """Run ``python -m reference_impl serve --port 0`` with ``extra_args`` until the block ends."""
    api_key = "rws-peers-test-key"
    logs: list[str] = []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reference_impl",
            "serve",
            "--port",
            "0",
            "--api-key",
            api_key,
            "--data-dir",
            str(data_dir),
            *extra_args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    drainer: threading.Thread | None = None
    try:
        try:
            ws_url = _wait_for_listening(proc, logs)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}; the server printed:\n{''.join(logs)}") from exc
        assert proc.stdout is not None
        drainer = threading.Thread(target=_drain, args=(proc.stdout, logs), daemon=True)
        drainer.start()
        yield PeerServer(ws_url, api_key, logs)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drainer is not None:
            drainer.join(timeout=10)
        elif proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def peer_server(
    peers_python: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PeerServer]:
    """A running server for one test module (after ``peers_python``, so skips come first).

    Every peer script uses fresh connections and fresh response ids, so the tests of a module
    can share one server; starting one per module keeps the suite fast.
    """
    external = os.environ.get("RWS_PEERS_SERVER_URL")
    if external:
        yield PeerServer(external, os.environ.get("RWS_PEERS_API_KEY", ""))
        return
    with _reference_server(tmp_path_factory.mktemp("server-data")) as server:
        yield server


# The connection-age limit of ``aging_server``: long enough for a short turn to complete well
# inside it, short enough that waiting for it keeps the test fast.
AGING_SERVER_MAX_AGE_S = 1.0


@pytest.fixture(scope="module")
def aging_server(
    peers_python: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PeerServer]:
    """A reference server whose ``max-connection-age`` is ``AGING_SERVER_MAX_AGE_S``."""
    if os.environ.get("RWS_PEERS_SERVER_URL"):
        pytest.skip("the connection-age test needs a reference server it can configure")
    with _reference_server(
        tmp_path_factory.mktemp("aging-server-data"),
        "--max-connection-age",
        str(AGING_SERVER_MAX_AGE_S),
    ) as server:
        yield server


def run_script(python: str, server: PeerServer, name: str, *args: str) -> dict[str, Any]:
    """Run ``-m tests.peers.scripts.<name> [args]`` with ``python`` against ``server``.

    Returns the script's JSON report. A script that fails, times out or prints no JSON fails
    the test with its stderr and the server's log, which is where the wire-level story of a
    failure is.
    """
    env = {
        **os.environ,
        "RWS_URL": server.base_url,
        "RWS_API_KEY": server.api_key,
        "RWS_MODEL": "conformance-1",
        # The SDKs must not pick up credentials or endpoints of the machine running tests.
        "OPENAI_API_KEY": server.api_key,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for variable in ("OPENAI_BASE_URL", "OPENAI_WEBSOCKET_BASE_URL", "OPENAI_ORG_ID"):
        env.pop(variable, None)
    try:
        done = subprocess.run(
            [python, "-m", f"tests.peers.scripts.{name}", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode("utf-8", "replace")
        pytest.fail(
            f"peer script {name} timed out after {SCRIPT_TIMEOUT_S} s\n--- stderr ---\n"
            f"{stderr}\n--- server ---\n{server.log_text()}"
        )
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0 or not stdout.strip():
        pytest.fail(
            f"peer script {name} exited with {done.returncode}\n--- stderr ---\n{stderr}\n"
            f"--- server ---\n{server.log_text()}"
        )
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def run_peer(peers_python: str, peer_server: PeerServer) -> RunPeer:
    """``run_script`` bound to the peers interpreter and ``peer_server``."""
    return functools.partial(run_script, peers_python, peer_server)


@pytest.fixture(scope="module")
def run_aging_peer(peers_python: str, aging_server: PeerServer) -> RunPeer:
    """``run_script`` bound to the peers interpreter and ``aging_server``."""
    return functools.partial(run_script, peers_python, aging_server)
