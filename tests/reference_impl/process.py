"""Run the reference server as a subprocess for tests: ``python -m reference_impl serve``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["rss_bytes", "server_process"]


@contextmanager
def server_process(data_dir: Path, *options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a server on port 0; yield the process and the URL of its ``listening on`` line."""
    command = [sys.executable, "-m", "reference_impl", "serve", "--port", "0"]
    command += ["--data-dir", str(data_dir), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on ws://"), line
        yield process, line.split()[-1]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def rss_bytes(pid: int) -> int:
    """Return the resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
