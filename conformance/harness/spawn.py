"""Start the reference server as a separate program for a run (``--spawn-reference``).

The suite never imports the reference server: it starts ``python -m reference_impl serve
--port 0 ...`` as a subprocess, reads the ``listening on ws://...`` line it prints, runs
against that URL and stops it afterwards. The mutation proof uses the same helper with
``--fault NAME``.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "REFERENCE_KEYS",
    "SpawnError",
    "SpawnedServer",
    "drain_output",
    "read_listening_url",
    "spawn_reference",
]

# The two API keys the spawned reference server accepts (RWS-LIMIT-5 needs two).
REFERENCE_KEYS: tuple[str, str] = ("rws-conformance-key-1", "rws-conformance-key-2")

_LISTENING = re.compile(r"listening on (ws://\S+)")


class SpawnError(RuntimeError):
    """The reference server did not start."""


@dataclass(frozen=True)
class SpawnedServer:
    """A running reference server subprocess."""

    url: str
    process: subprocess.Popen[str]
    api_keys: tuple[str, str]


@contextlib.contextmanager
def spawn_reference(
    extra_args: Sequence[str] = (),
    *,
    python: str | None = None,
    startup_timeout: float = 20.0,
) -> Iterator[SpawnedServer]:
    """Run the reference server on a free port for the duration of the ``with`` block."""
    with tempfile.TemporaryDirectory(prefix="rws-reference-") as data_dir:
        argv = [
            python or sys.executable,
            "-m",
            "reference_impl",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            data_dir,
            "--api-key",
            REFERENCE_KEYS[0],
            "--api-key",
            REFERENCE_KEYS[1],
            *extra_args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            url = read_listening_url(process, startup_timeout)
            # Keep reading its output so that a chatty server never blocks on a full pipe.
            threading.Thread(target=drain_output, args=(process,), daemon=True).start()
            yield SpawnedServer(url=url, process=process, api_keys=REFERENCE_KEYS)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def drain_output(process: subprocess.Popen[str]) -> None:
    """Read and drop a server's remaining output, so a full pipe never blocks it."""
    stream = process.stdout
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        for _line in stream:
            pass


def read_listening_url(process: subprocess.Popen[str], timeout: float) -> str:
    """The ``ws://`` URL from a server's ``listening on ...`` line (raises SpawnError)."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip())
            match = _LISTENING.search(line)
            if match:
                return match.group(1)
    output = "\n".join(seen[-20:])
    raise SpawnError(f"the server did not report its URL; its output:\n{output}")
