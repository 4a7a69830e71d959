"""Codex CLI (npm ``@openai/codex``) as a real WebSocket-mode client of the reference server.

One Codex session, recorded by a transparent proxy (``_recording_proxy``) in front of the
reference server, in two ``codex exec`` processes:

1. a tool loop: the prompt is an ``rws:call`` directive naming Codex's own shell tool
   (``exec_command``) with a harmless ``echo``; Codex runs it in a read-only sandbox in an
   empty temporary folder, without approvals, and sends its output back; ``conformance-1``
   skips ``rws:call`` once a tool output follows the user message, so the next answer is the
   text ``received 1 tool outputs`` and the turn ends;
2. ``codex exec resume`` of that session with ``rws:context``: a new process, so a new
   connection, on which Codex replays the session's history.

Codex is configured exactly as the shipped adapter configures it
(:func:`conformance.adapters.codex_cli.config_toml`, a private ``CODEX_HOME``). The tests check
what Codex put on the wire, and validate the recorded transcript for both roles with the
``responses-ws validate`` command. Codex comes from ``RWS_CODEX`` (``make pytest`` sets it) or
``.peers-codex/`` of the checkout (``make peers`` installs it); without it the tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from conformance.adapters.codex_cli import (
    KEY_VARIABLE,
    Turn,
    codex_executable,
    config_toml,
    parse_events,
)
from tests.peers._appendix import context_line, normalise
from tests.peers._recording_proxy import RecordingProxy
from tests.peers.conftest import PeerServer, _reference_server

__all__: list[str] = []

pytestmark = [pytest.mark.peers, pytest.mark.slow]

# A healthy codex exec turn takes about a second; generous for a loaded CI machine.
CODEX_TIMEOUT_S = 60.0
MARKER = "rws-codex-tool"
TOOL_ARGUMENTS = json.dumps({"cmd": f"echo {MARKER}", "login": False}, separators=(",", ":"))
TOOL_PROMPT = f"rws:call name=exec_command arguments={TOOL_ARGUMENTS}"
CONTEXT_PROMPT = "rws:context"
# A.3: rws:call applies only while no tool output follows the latest user message; then the
# model answers with this text.
FINAL_ANSWER = "received 1 tool outputs"


@dataclass(frozen=True)
class CodexRun:
    """One ``codex exec`` process: its exit status, parsed events and stderr."""

    turn: Turn
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class CodexSession:
    """The two runs, the transcript the proxy recorded and the HTTP requests it relayed."""

    first: CodexRun
    resumed: CodexRun
    records: list[dict[str, Any]]
    transcript: Path
    http_requests: list[str]


@pytest.fixture(scope="module")
def codex() -> Path:
    """The Codex executable, or skip."""
    path = codex_executable()
    if path is None:
        pytest.skip("Codex CLI is not installed (make peers installs it into .peers-codex/)")
    return path


@pytest.fixture(scope="module")
def codex_server(codex: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerServer]:
    """The server Codex talks to: the reference server, or ``RWS_PEERS_SERVER_URL``."""
    external = os.environ.get("RWS_PEERS_SERVER_URL")
    if external:
        yield PeerServer(external, os.environ.get("RWS_PEERS_API_KEY", ""))
        return
    with _reference_server(tmp_path_factory.mktemp("codex-server-data")) as server:
        yield server


class CodexTimeout(Exception):
    """A ``codex exec`` process or the proxy did not finish in time."""


async def _codex_exec(codex: Path, home: Path, workdir: Path, api_key: str, *args: str) -> CodexRun:
    env = {**os.environ, "CODEX_HOME": str(home), KEY_VARIABLE: api_key}
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"):
        env.pop(variable, None)
    command = [str(codex), "exec", "--json", "--skip-git-repo-check", "--cd", str(workdir), *args]
    with trio.move_on_after(CODEX_TIMEOUT_S):
        done = await trio.run_process(
            command,
            env=env,
            cwd=workdir,
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        stdout = done.stdout.decode("utf-8", "replace")
        turn = Turn(done.returncode, stderr=done.stderr.decode("utf-8", "replace"))
        parse_events(stdout, turn)
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return CodexRun(turn, events)
    raise CodexTimeout(f"codex exec {' '.join(args)} did not finish in {CODEX_TIMEOUT_S} s")


async def _record_session(
    server: PeerServer, codex: Path, scratch: Path
) -> CodexSession | CodexRun:
    """Both runs through the proxy; the first run alone when its tool loop did not complete."""
    home, workdir = scratch / "codex-home", scratch / "work"
    home.mkdir()
    workdir.mkdir()
    proxy = RecordingProxy(server.ws_url)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(proxy.run)
        config = config_toml(f"http://127.0.0.1:{port}/v1", "conformance-1")
        (home / "config.toml").write_text(config, encoding="utf-8")
        first = await _codex_exec(codex, home, workdir, server.api_key, "--", TOOL_PROMPT)
        session = first.turn.session_id
        if not first.turn.completed or session is None:
            nursery.cancel_scope.cancel()
            return first
        resumed = await _codex_exec(
            codex, home, workdir, server.api_key, "resume", "--", session, CONTEXT_PROMPT
        )
        with trio.move_on_after(CODEX_TIMEOUT_S) as waiting:
            await proxy.wait_idle()
        if waiting.cancelled_caught:
            raise CodexTimeout("a connection to the proxy stayed open after Codex exited")
        nursery.cancel_scope.cancel()
    transcript = scratch / "codex-session.jsonl"
    proxy.write(transcript)
    return CodexSession(first, resumed, proxy.records, transcript, proxy.http_requests)


@pytest.fixture(scope="module")
def session(
    codex: Path, codex_server: PeerServer, tmp_path_factory: pytest.TempPathFactory
) -> CodexSession:
    scratch = tmp_path_factory.mktemp("codex-session")
    try:
        recorded = trio.run(_record_session, codex_server, codex, scratch)
    except BaseExceptionGroup as group:
        timeouts, _ = group.split(CodexTimeout)
        if timeouts is None:
            raise
        leaf: BaseException = timeouts
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        pytest.fail(f"{leaf}\n--- server ---\n{codex_server.log_text()}")
    if isinstance(recorded, CodexRun):
        pytest.fail(
            f"the tool loop did not complete: {recorded.turn}\n--- server ---\n"
            f"{codex_server.log_text()}"
        )
    return recorded


def _bodies(records: Sequence[Mapping[str, Any]], conn: str, direction: str) -> list[Any]:
    return [
        json.loads(r["text"])
        for r in records
        if r["conn"] == conn and r["kind"] == "text" and r["dir"] == direction
    ]


def _terminal(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The responses of the terminal events, in order."""
    ends = ("response.completed", "response.failed", "response.incomplete")
    return [e["response"] for e in events if e["type"] in ends]


def _text(item: Mapping[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))


def _validate(transcript: Path, role: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "conformance.cli", "validate", str(transcript)]
    done = subprocess.run(
        [*command, "--role", role, "--profile", "conformance-model", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_codex_runs_its_shell_tool_and_ends_with_the_models_answer(session: CodexSession) -> None:
    turn = session.first.turn
    assert turn.completed, turn
    assert turn.messages == [FINAL_ANSWER]
    commands = [
        e["item"]
        for e in session.first.events
        if e["type"] == "item.completed" and e["item"].get("type") == "command_execution"
    ]
    assert len(commands) == 1
    assert commands[0]["exit_code"] == 0
    assert MARKER in commands[0]["aggregated_output"]


def test_codex_chains_the_tool_loop_on_one_connection(session: CodexSession) -> None:
    opens = [r["conn"] for r in session.records if r["kind"] == "open"]
    assert opens == ["c1", "c2"]  # one connection per codex exec process
    assert session.http_requests == []  # no fallback to HTTP
    sent = _bodies(session.records, "c1", "c2s")
    responses = _terminal(_bodies(session.records, "c1", "s2c"))
    assert [b["type"] for b in sent] == ["response.create"] * 3
    assert [r["status"] for r in responses] == ["completed"] * 3
    warmup, ask, answer = sent
    # The warm-up: generate: false with the system prompt only (RWS-CREATE-6).
    assert warmup["generate"] is False
    assert "previous_response_id" not in warmup
    assert [item["role"] for item in warmup["input"]] == ["developer"]
    assert responses[0]["output"] == []
    # RWS-CLIENT-1: each continuation names the previous response and sends only new items.
    assert ask["previous_response_id"] == responses[0]["id"]
    assert not [item for item in ask["input"] if item in warmup["input"]]
    assert _text(ask["input"][-1]) == TOOL_PROMPT
    assert answer["previous_response_id"] == responses[1]["id"]
    [call] = responses[1]["output"]
    assert (call["type"], call["name"], call["arguments"]) == (
        "function_call",
        "exec_command",
        TOOL_ARGUMENTS,
    )
    [output] = answer["input"]
    assert (output["type"], output["call_id"]) == ("function_call_output", call["call_id"])
    assert MARKER in output["output"]
    assert [_text(item) for item in responses[2]["output"]] == [FINAL_ANSWER]
    # Every request declares store: false and asks to stream (RWS-CREATE-13 is a SHOULD NOT).
    assert {(b["store"], b["stream"]) for b in sent} == {(False, True)}
    # Codex ends the connection by dropping it: no close frame from either side.
    closes = [r for r in session.records if r["conn"] == "c1" and r["kind"] == "close"]
    assert closes == [{"ts": closes[0]["ts"], "conn": "c1", "kind": "close", "code": 1006}]


def test_codex_resume_replays_the_session_on_a_new_connection(session: CodexSession) -> None:
    turn = session.resumed.turn
    assert turn.completed, turn
    assert turn.session_id == session.first.turn.session_id
    first = _bodies(session.records, "c1", "c2s")
    warmup, replay = _bodies(session.records, "c2", "c2s")
    assert warmup["generate"] is False
    assert warmup["input"] == first[0]["input"]
    # The store=false session's responses died with the first connection: the continuation
    # names only the new warm-up and resends the whole history, then the new prompt.
    responses = _terminal(_bodies(session.records, "c2", "s2c"))
    assert replay["previous_response_id"] == responses[0]["id"]
    c1_responses = _terminal(_bodies(session.records, "c1", "s2c"))
    history = [
        *first[1]["input"],
        *c1_responses[1]["output"],
        *first[2]["input"],
        *c1_responses[2]["output"],
    ]
    kinds = [(item.get("type"), item.get("role"), item.get("call_id")) for item in history]
    assert [
        (item.get("type"), item.get("role"), item.get("call_id")) for item in replay["input"]
    ] == [*kinds, ("message", "user", None)]
    assert _text(replay["input"][-1]) == CONTEXT_PROMPT
    # The model's rws:context reply names the context the server continued from (A.1).
    context = normalise(warmup["input"]) + normalise(replay["input"])
    assert turn.messages == [context_line(context)]


def test_recorded_transcript_conforms_for_both_roles(session: CodexSession) -> None:
    server = _validate(session.transcript, "server")
    assert server["failed"] is False
    # The warm-ups (RWS-CREATE-6, RWS-CACHE-10) and the cached tokens of Codex's
    # continuations (RWS-MODEL-3) were judged.
    for requirement in ("RWS-CREATE-6", "RWS-CACHE-10", "RWS-MODEL-3"):
        assert server["verdicts"][requirement] == "PASSED", requirement
    client = _validate(session.transcript, "client")
    assert client["failed"] is False
    for requirement in ("RWS-CREATE-1", "RWS-CREATE-2", "RWS-CREATE-8", "RWS-TRANS-6"):
        assert client["verdicts"][requirement] == "PASSED", requirement
