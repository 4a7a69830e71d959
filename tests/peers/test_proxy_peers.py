"""The real SDKs through ``responses-ws proxy``: they run unchanged, and the proxy judges them.

The ``responses-ws proxy`` command runs as a program in front of the module's reference server;
peer scripts of the ``openai`` SDK (a multi-turn conversation, a tool loop, lanes) and of the
``openai-agents`` SDK (an agent with a function tool) run through it as they run against the
server directly, and report what the SDK saw. The SDKs must see the same thing both ways
(ids and timings aside); then SIGINT ends the session: the proxy prints its summary, finds
nothing the server broke, and writes its reports.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.conftest import REPO_ROOT, PeerServer, run_script

pytestmark = pytest.mark.peers

_LISTENING = re.compile(r"listening on (ws://\S+)")
_SCRIPTS = ("sdk_multi_turn", "sdk_tool_loop", "sdk_lanes", "agents_function_tool")
_START_TIMEOUT_S = 20.0


@dataclass
class ProxyProgram:
    """``responses-ws proxy`` running as a program: its URL and its process."""

    url: str
    process: subprocess.Popen[str]
    report_dir: Path


def _read_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT_S
    seen: list[str] = []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while selector.select(max(0.0, deadline - time.monotonic())):
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = _LISTENING.search(line)
            if found:
                return found.group(1)
    raise RuntimeError(f"the proxy printed no URL: {''.join(seen)}")


@pytest.fixture(scope="module")
def proxy(
    peer_server: PeerServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyProgram]:
    """The proxy program in front of the module's server, until the module's tests end."""
    report_dir = tmp_path_factory.mktemp("proxy-report")
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "proxy", "--listen", "127.0.0.1:0",
         "--upstream", peer_server.ws_url, "--report-dir", str(report_dir),
         "--profile", "multiplex,conformance-model"],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        yield ProxyProgram(_read_url(process), process, report_dir)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _same_story(report: Any) -> Any:
    """A peer script's report without what differs between two runs: ids, times, the URL it
    was given, and the context digests the conformance model answers with (a context holds
    item ids)."""
    if isinstance(report, dict):
        return {
            k: _same_story(v)
            for k, v in report.items()
            if k not in ("id", "ts", "elapsed_s", "websocket_base_url")
            and not k.endswith(("_id", "_at"))
        }
    if isinstance(report, list):
        # Two lanes interleave as they happen to: compare each lane's events in order.
        return [_same_story(v) for v in sorted(report, key=_lane)]
    if isinstance(report, str):
        text = re.sub(r"\b(resp|msg|fc|call|rs)_[0-9a-f]{8,}", r"\1_*", report)
        return re.sub(r"digest=[0-9a-f]{64}", "digest=*", text)
    return report


def _lane(entry: Any) -> tuple[str, str]:
    """Where an event of a report belongs: its direction and lane ("" for anything else)."""
    if not isinstance(entry, dict):
        return ("", "")
    event = entry.get("event", entry)
    lane = event.get("stream_id") if isinstance(event, dict) else None
    return (str(entry.get("dir", "")), "" if lane is None else str(lane))


@pytest.mark.parametrize("script", _SCRIPTS)
def test_sdk_runs_unchanged_through_the_proxy(
    peers_python: str, peer_server: PeerServer, proxy: ProxyProgram, script: str
) -> None:
    direct = run_script(peers_python, peer_server, script)
    through = PeerServer(proxy.url + "/v1/responses", peer_server.api_key)
    proxied = run_script(peers_python, through, script)
    assert _same_story(proxied) == _same_story(direct)


def test_session_ends_on_sigint_with_no_server_violation_and_its_reports(
    peers_python: str, peer_server: PeerServer, proxy: ProxyProgram
) -> None:
    through = PeerServer(proxy.url + "/v1/responses", peer_server.api_key)
    run_script(peers_python, through, "sdk_tool_loop")
    proxy.process.send_signal(signal.SIGINT)
    output, _ = proxy.process.communicate(timeout=60)
    assert "SIGINT: ending the session" in output
    assert "requirements: FAILED 0" in output, output
    assert proxy.process.returncode == 0, output
    report = json.loads((proxy.report_dir / "report.json").read_text(encoding="utf-8"))
    server = next(c for c in report["checks"] if c["id"] == "proxy.server")
    assert server["verdict"] in ("PASSED", "INFORMATIONAL"), server["message"]
    transcripts = sorted((proxy.report_dir / "transcripts").glob("c*.jsonl"))
    assert transcripts
    # The key the SDK sent is in no record and no report.
    for path in (*transcripts, proxy.report_dir / "report.json"):
        assert peer_server.api_key not in path.read_text(encoding="utf-8")
